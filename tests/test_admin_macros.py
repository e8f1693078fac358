"""Macros made on their pages (docs/automation.md, "Macros"; ui/pages/macros.py): an admin
makes a shared macro in /admin/macros with the step editor, a refused form comes back as
typed with the reason, and an agent runs it from a conversation's header; an agent keeps
their own macros in /settings and reads the shared ones there."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.forms import form_login, page_token

__all__ = ["browser"]  # the fixture


async def _post(live: Live, path: str, body: dict[str, Any], who: str = "admin") -> Any:
    r = await live.client.post(path, headers=live.as_(who), json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _conversation_of(live: Live, phone: str) -> dict[str, Any]:
    found = await live.get("/api/conversations", who="lead")
    return next(c for c in found["items"] if c["contact"]["name"] == phone)


async def test_an_admin_makes_a_shared_macro_and_an_agent_runs_it_from_the_header(
        live: Live, browser: Browser) -> None:
    await _post(live, "/api/labels", {"name": "refund", "colour": "#336699"})
    assert (await live.sms("+15550004040", "I was charged twice")).status_code == 200
    conv = await _conversation_of(live, "+15550004040")

    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/macros")
    await expect(page.locator(".sla-none")).to_contain_text("No macro yet")
    form = page.locator("details.sla-add form")
    await form.get_by_label("Name").fill("Refund done")
    await form.get_by_label("Everyone (shared)").check()
    await form.get_by_label("Step 1", exact=True).select_option(label="Add the label")
    await expect(form.get_by_label("Label of step 1")).to_be_visible()
    await expect(form.get_by_label("Text of step 1")).to_be_hidden()  # only what the step needs
    await form.get_by_label("Label of step 1").select_option(label="refund")
    await form.get_by_label("Step 2", exact=True).select_option(label="Add the private note")
    await form.get_by_label("Step 3", exact=True).select_option(label="Resolve")
    await form.get_by_role("button", name="Create macro").click()  # the note has no text: refused

    form = page.locator("details.sla-add form")
    await expect(form.get_by_role("alert")).to_have_text("Step 2: text must be text of 1 to 2000 characters")
    await expect(form.get_by_label("Name")).to_have_value("Refund done")  # nothing typed is lost
    await expect(form.get_by_label("Everyone (shared)")).to_be_checked()
    await expect(form.get_by_label("Step 1", exact=True)).to_have_value("add_label")
    await expect(form.get_by_label("Step 3", exact=True)).to_have_value("resolve")
    assert (await live.get("/api/macros", who="admin"))["items"] == []
    await form.get_by_label("Text of step 2").fill("Refund sent to {{contact_name}}")
    await form.get_by_role("button", name="Create macro").click()
    await expect(page.get_by_role("status").first).to_have_text("Macro Refund done created")
    card = page.locator("article[data-macro]")
    await expect(card.locator(".tag")).to_have_text("Shared")
    await expect(card.locator(".macro-said li")).to_have_text(
        ["Add the label refund", "Add the note “Refund sent to {{contact_name}}”", "Resolve"])
    [macro] = (await live.get("/api/macros", who="agent"))["items"]
    assert macro["shared"] and [s["type"] for s in macro["steps"]] == ["add_label", "add_note", "resolve"]
    await page.context.close()

    page = await login(browser, live, "agent")
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    menu = page.locator("details[data-keep=macros]")
    await menu.locator("summary").click()
    await menu.get_by_role("button", name="Refund done").click()
    timeline = page.locator("#timeline")
    await expect(timeline.locator("li.event", has_text="label added: refund")).to_contain_text(
        "by Agent via macro “Refund done”")
    await expect(timeline.locator("li.note")).to_contain_text("Refund sent to +15550004040")
    await expect(timeline.locator("li.note")).to_contain_text("via macro “Refund done”")
    await expect(timeline.locator("li.event", has_text="resolved")).to_contain_text("via macro “Refund done”")
    assert (await live.get(f"/api/conversations/{conv['id']}", who="agent"))["status"] == "resolved"
    await page.context.close()


async def test_an_agent_keeps_their_own_macros_in_settings(live: Live, browser: Browser) -> None:
    await _post(live, "/api/macros", {"name": "Close politely", "shared": True, "steps": [{"type": "resolve"}]})
    page = await login(browser, live, "agent")
    await page.goto(live.url + "/settings")
    section = page.locator("section#macros")
    shared = section.locator("article[data-macro]", has_text="Close politely")
    await expect(shared).to_contain_text("Shared: leads and admins change it.")
    await expect(shared.get_by_text("Edit Close politely")).to_have_count(0)
    await section.get_by_text("Add a macro").click()
    form = section.locator("details.sla-add form")
    await expect(form.get_by_label("Everyone (shared)")).to_have_count(0)  # an agent's are their own
    await form.get_by_label("Name").fill("Urgent")
    await form.get_by_label("Step 1", exact=True).select_option(label="Set the priority")
    await form.get_by_label("Priority of step 1").select_option(label="Urgent")
    await form.get_by_role("button", name="Create macro").click()
    await expect(page).to_have_url(live.url + "/settings?done=Macro+Urgent+created#macros")
    mine = section.locator("article[data-macro]", has_text="Urgent")
    await expect(mine.locator(".tag")).to_have_text("Only you")
    await expect(mine.locator(".macro-said li")).to_have_text(["Set priority urgent"])

    await mine.get_by_text("Edit Urgent").click()
    edit = mine.locator("form")
    await edit.get_by_label("Name").fill("Urgent, then a note")
    await edit.get_by_label("Step 2", exact=True).select_option(label="Add the private note")
    await edit.get_by_label("Text of step 2").fill("Escalated")
    await edit.get_by_role("button", name="Save Urgent").click()
    await expect(page.get_by_role("status").first).to_have_text("Macro Urgent, then a note saved")
    theirs = (await live.get("/api/macros", who="agent"))["items"]
    assert {m["name"]: m["shared"] for m in theirs} == {"Close politely": True, "Urgent, then a note": False}
    assert [m["name"] for m in (await live.get("/api/macros", who="agent2"))["items"]] == ["Close politely"]

    mine = section.locator("article[data-macro]", has_text="Urgent, then a note")
    await mine.locator("details.confirm-delete summary").click()
    await mine.get_by_role("button", name="Delete Urgent, then a note").click()
    await expect(page.get_by_role("status").first).to_have_text("Macro Urgent, then a note deleted")
    assert [m["name"] for m in (await live.get("/api/macros", who="agent"))["items"]] == ["Close politely"]
    await page.context.close()


# -- an inbox's keywords ------------------------------------------------------------------------

async def test_an_admin_edits_an_sms_inboxs_keywords_and_a_customer_gets_the_reply(
        live: Live, browser: Browser) -> None:
    await _post(live, "/api/labels", {"name": "hours", "colour": "#336699"})
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/inboxes")
    card = page.locator(f"[data-inbox='{live.inbox['id']}']")
    await card.get_by_text("Keywords and opt-out").click()
    form = card.locator("form[action='/admin/inbox-keywords']")
    opt_out = form.locator("fieldset", has=page.locator("legend", has_text="Opt-out"))
    await expect(opt_out.get_by_label("Words")).to_have_value("STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, "
                                                              "REVOKE, OPTOUT")  # the carriers' words
    await expect(opt_out.get_by_label("Confirmation")).to_have_value("")
    await expect(opt_out).to_contain_text("Default: none (Twilio confirms).")
    await form.get_by_label("Keyword 1", exact=True).fill("stop")
    await form.get_by_label("Reply to keyword 1").fill("We are open 9:00-17:00, Monday to Friday.")
    await form.get_by_label("hours").first.check()
    await form.get_by_role("button", name="Save keywords of Support line").click()  # STOP is an opt-out word

    form = card.locator("form[action='/admin/inbox-keywords']")
    await expect(form.get_by_role("alert")).to_have_text("STOP is both a stop word and a keyword rule's")
    await expect(form.get_by_label("Keyword 1", exact=True)).to_have_value("stop")  # as typed
    await expect(form.get_by_label("Reply to keyword 1")).to_have_value("We are open 9:00-17:00, Monday to Friday.")
    await expect(form.locator("input[name=r0_labels]").first).to_be_checked()
    await form.get_by_label("Keyword 1", exact=True).fill("hours")
    await form.get_by_role("button", name="Save keywords of Support line").click()
    await expect(page.get_by_role("status").first).to_have_text("Keywords of Support line saved")
    await expect(card.locator(".keywords-setting summary")).to_contain_text("8 opt-out words · 1 keyword reply")
    stored = (await live.get("/api/inboxes", who="admin"))["items"][0]["keywords"]
    assert stored["rules"] == [{"word": "HOURS", "reply": "We are open 9:00-17:00, Monday to Friday.",
                                "label_ids": [stored["rules"][0]["label_ids"][0]]}]
    assert stored["stop_reply"] == "" and "CANCEL" in stored["stop"]  # the defaults kept
    await page.context.close()

    assert (await live.sms("+15550004141", "Hours? Are you open on Sunday")).status_code == 200
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["to"] == "+15550004141" and sent["body"] == "We are open 9:00-17:00, Monday to Friday."
    conv = await _conversation_of(live, "+15550004141")
    assert [x["name"] for x in conv["labels"]] == ["hours"]


async def test_an_agents_form_cannot_share_a_macro_nor_reach_the_admin_page(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as agent:
        assert (await form_login(agent, "agent")).status_code == 303
        token = await page_token(agent, "/settings")
        r = await agent.post("/macros/save", data={
            "csrf_token": token, "page": "admin", "name": "For all", "shared": "true", "s0_type": "resolve"})
        assert r.status_code == 403 and "<h1>Your settings</h1>" in r.text  # back on /settings, not the admin's
        assert "Only a lead or an admin makes or changes a shared macro" in r.text
        assert 'value="For all"' in r.text  # as typed
        assert (await live.get("/api/macros", who="agent"))["items"] == []
        r = await agent.post("/macros/save", data={"csrf_token": token, "name": "Mine", "s0_type": "resolve"})
        assert r.status_code == 303 and r.headers["location"] == "/settings?done=Macro+Mine+created#macros"
        r = await agent.post("/macros/save", data={"name": "No token", "s0_type": "resolve"})
        assert r.status_code == 403  # a form without the session's CSRF token changes nothing
    assert [m["name"] for m in (await live.get("/api/macros", who="agent"))["items"]] == ["Mine"]


async def test_a_refused_keywords_form_says_which_row_in_its_words(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as admin:
        assert (await form_login(admin, "admin")).status_code == 303
        token = await page_token(admin, "/admin/inboxes")
        form = {"csrf_token": token, "inbox_id": str(live.inbox["id"]), "stop": "STOP, ARRET", "start": "START",
                "help": "HELP", "stop_reply": "", "start_reply": "", "help_reply": "",
                "r0_word": "HOURS", "r0_reply": "9 to 5", "r1_word": "MENU"}
        r = await admin.post("/admin/inbox-keywords", data=form)
        assert r.status_code == 422
        assert "Keyword 2: a keyword replies, labels, or both" in r.text
        assert ">STOP, ARRET</textarea>" in r.text and 'value="MENU"' in r.text  # as typed
        r = await admin.post("/admin/inbox-keywords", data={**form, "stop": "STOP ARRET?", "r1_word": ""})
        assert r.status_code == 303, r.text
    stored = (await live.get("/api/inboxes", who="admin"))["items"][0]["keywords"]
    assert stored["stop"] == ["STOP", "ARRET"] and stored["start"] == ["START"]
    assert stored["rules"] == [{"word": "HOURS", "reply": "9 to 5", "label_ids": []}]
