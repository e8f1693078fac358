"""Automation rules end to end (docs/automation.md): a real server, rules made through the
API, customers writing through the fake providers' signed webhooks; the test awaits the
rule's events on the live socket, and moves time with the clock."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.live import EventStream
from tests.test_outbound_webhooks import Receiver, receiver, verify
from tests.test_outbound_webhooks import create as create_endpoint

__all__ = ["browser", "receiver"]  # fixtures


async def _post(live: Live, path: str, body: dict[str, Any], who: str = "admin", status: int = 201) -> Any:
    r = await live.client.post(path, headers=live.as_(who), json=body)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def rule(live: Live, **fields: Any) -> dict[str, Any]:
    return await _post(live, "/api/automations", {"name": "a rule", **fields})  # type: ignore[no-any-return]


async def _conversation_of(live: Live, phone: str) -> dict[str, Any]:
    found = await live.get("/api/conversations", who="lead")
    return next(c for c in found["items"] if c["contact"]["name"] == phone)


def by_rule(rule_id: int, type_: str | None = None) -> Any:
    return lambda e: (type_ is None or e["type"] == type_) and (e["data"].get("by") or {}).get("rule_id") == rule_id


async def _runs(live: Live, rule_id: int) -> list[dict[str, Any]]:
    return (await live.get(f"/api/automations/{rule_id}/runs", who="admin"))["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_a_keyword_on_sms_assigns_team_billing_and_labels(live: Live) -> None:
    team = await _post(live, "/api/teams", {"name": "Billing"})
    label = await _post(live, "/api/labels", {"name": "invoice", "colour": "#336699"})
    made = await rule(live, name="Invoices to Billing", trigger="message_received", conditions=[
        {"field": "channel", "op": "in", "value": ["sms"]},
        {"field": "text", "op": "contains_words", "value": ["invoice", "credit note"]}],
        actions=[{"type": "assign_team", "team_id": team["id"]}, {"type": "add_label", "label_id": label["id"]}])
    assert made["active"] and made["trigger"] == "message_received"
    watcher: EventStream = await live.events("lead")
    assert (await live.sms("+15550001111", "hello, where is my parcel?")).status_code == 200
    assert (await live.sms("+15550002222", "My INVOICE is wrong!")).status_code == 200
    labelled = await watcher.next(by_rule(made["id"], "conversation.updated"))
    conv = labelled["data"]["conversation"]
    assert conv["contact"]["name"] == "+15550002222"
    assert conv["team_id"] == team["id"] and [x["name"] for x in conv["labels"]] == ["invoice"]
    assert labelled["data"]["by"] == {"rule_id": made["id"], "rule_name": "Invoices to Billing", "depth": 1}
    # Events are asked in order: the parcel question, before it, matched nothing.
    other = await _conversation_of(live, "+15550001111")
    assert other["team_id"] is None and other["labels"] == []
    # The timeline says which rule did it; the log has one line, done.
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline", who="lead")
    by = [item for item in timeline["items"] if (item.get("data") or {}).get("by")]
    assert {item["kind"] for item in by} >= {"assigned", "labelled"}
    runs = await _runs(live, made["id"])
    assert [(r["conversation_id"], r["outcome"]) for r in runs] == [(conv["id"], "done")]
    assert runs[0]["detail"]["done"] == [f"assigned to team {team['id']}", f"added label {label['id']}"]
    # Another message of that customer: the team is theirs already, the label too: the rule
    # runs again (each message is asked) and changes nothing.
    await watcher.close()


async def test_two_rules_that_would_ping_pong_stop_at_the_depth_limit(live: Live) -> None:
    a = await _post(live, "/api/labels", {"name": "ping", "colour": "#336699"})
    b = await _post(live, "/api/labels", {"name": "pong", "colour": "#993366"})
    one = await rule(live, name="ping to pong", trigger="label_added",
                     conditions=[{"field": "label", "op": "has_any", "value": [a["id"]]}],
                     actions=[{"type": "remove_label", "label_id": a["id"]},
                              {"type": "add_label", "label_id": b["id"]}])
    two = await rule(live, name="pong to ping", trigger="label_added",
                     conditions=[{"field": "label", "op": "has_any", "value": [b["id"]]}],
                     actions=[{"type": "remove_label", "label_id": b["id"]},
                              {"type": "add_label", "label_id": a["id"]}])
    assert (await live.sms("+15550003333", "hi")).status_code == 200
    conv = await _conversation_of(live, "+15550003333")
    watcher = await live.events("lead")
    await _post(live, f"/api/conversations/{conv['id']}/labels", {"add": [a["id"]]}, who="agent", status=200)
    # ping (by the agent) -> rule one (depth 1) -> pong -> rule two (2) -> ping -> rule one
    # (3) -> pong -> rule two would be depth 4: stopped, logged.
    for expected in (one, two, one):
        await watcher.next(by_rule(expected["id"], "conversation.updated"))
    await _wait_for_runs(live, two["id"], 2)  # the stop is logged in the pass after the third change
    runs_one, runs_two = await _runs(live, one["id"]), await _runs(live, two["id"])
    assert [(r["outcome"], r["depth"]) for r in reversed(runs_one)] == [("done", 1), ("done", 3)]
    assert [(r["outcome"], r["depth"]) for r in reversed(runs_two)] == [("done", 2), ("stopped", 4)]
    assert runs_two[0]["detail"]["caused_by"]["rule_id"] == one["id"]
    final = await live.get(f"/api/conversations/{conv['id']}", who="lead")
    assert [x["name"] for x in final["labels"]] == ["pong"]
    await watcher.close()


async def _wait_for_runs(live: Live, rule_id: int, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The rule's log once it has ``count`` lines, looked at again after each event on the
    socket (or half a second without one), for at most ``timeout`` seconds."""
    watcher = await live.events("admin")
    try:
        async with asyncio.timeout(timeout):
            while len(got := await _runs(live, rule_id)) < count:
                try:
                    await watcher.next(timeout=0.5)
                except TimeoutError:
                    pass
            return got
    finally:
        await watcher.close()


async def test_a_time_trigger_fires_when_the_clock_moves_and_a_customer_reply_cancels_it(
        live: Live, clock: MovableClock) -> None:
    chase = await rule(live, name="Chase after an hour", trigger="no_customer_reply", delay_minutes=60,
                       actions=[{"type": "add_note", "text": "No answer from {{contact_name}} for an hour"}])
    for phone in ("+15550004444", "+15550005555"):
        assert (await live.sms(phone, "can you help?")).status_code == 200
    quiet, talkative = await _conversation_of(live, "+15550004444"), await _conversation_of(live, "+15550005555")
    watcher = await live.events("lead")
    for conv in (quiet, talkative):
        await _post(live, f"/api/conversations/{conv['id']}/messages", {"text": "Sure, which order?"},
                    who="agent", status=202)
    assert (await live.sms("+15550005555", "order 42")).status_code == 200  # answers: no chase
    await live.app.state.automation.caught_up()  # the timers armed (and one ended) before time moves
    clock.advance(timedelta(minutes=59))
    clock.advance(timedelta(minutes=2))
    note = await watcher.next(by_rule(chase["id"], "note.created"))
    assert note["data"]["conversation_id"] == quiet["id"]
    assert note["data"]["note"]["text"] == "No answer from +15550004444 for an hour"
    assert note["data"]["note"]["author_id"] == live.users["admin"]["id"]  # who made the rule
    assert note["data"]["note"]["by"] == {"rule_id": chase["id"], "rule_name": "Chase after an hour", "depth": 1}
    runs = await _runs(live, chase["id"])
    assert [(r["conversation_id"], r["trigger"], r["outcome"]) for r in runs] == [
        (quiet["id"], "no_customer_reply", "done")]
    await watcher.close()


async def test_the_dry_run_says_what_would_match_and_changes_nothing(live: Live) -> None:
    for phone, text in (("+15550006666", "refund please"), ("+15550007777", "thanks!")):
        assert (await live.sms(phone, text)).status_code == 200
    label = await _post(live, "/api/labels", {"name": "refund", "colour": "#336699"})
    draft = {"name": "Refunds", "trigger": "message_received", "active": False,
             "conditions": [{"field": "text", "op": "matches", "value": r"\brefunds?\b"}],
             "actions": [{"type": "add_label", "label_id": label["id"]}, {"type": "set_priority", "priority": "high"}]}
    got = await _post(live, "/api/automations/dry_run", {"rule": draft, "last": 10}, status=200)
    assert got["checked"] == 2
    refund = await _conversation_of(live, "+15550006666")
    assert got["matched"] == [{"conversation_id": refund["id"], "contact_name": "+15550006666",
                               "would": [f"add label {label['id']}", "set priority high"]}]
    assert (await _conversation_of(live, "+15550006666"))["labels"] == []
    assert (await live.get("/api/automations", who="admin"))["items"] == []  # not saved


async def test_an_automatic_message_obeys_the_opt_out(live: Live) -> None:
    made = await rule(live, name="Greet", trigger="message_received",
                      actions=[{"type": "send_message", "text": "Hello {{contact_name}}, we got it."},
                               {"type": "set_priority", "priority": "low"}])
    watcher = await live.events("lead")
    assert (await live.sms("+15550008888", "STOP")).status_code == 200
    await watcher.next(by_rule(made["id"], "conversation.updated"))
    runs = await _runs(live, made["id"])
    assert runs[0]["outcome"] == "done" and runs[0]["detail"]["done"] == ["priority low"]
    assert runs[0]["detail"]["skipped"][0].startswith("send_message: ")
    assert (await live.sms("+15550009999", "hi there")).status_code == 200
    sent = await watcher.next(by_rule(made["id"], "message.created"))
    assert sent["data"]["message"]["text"] == "Hello +15550009999, we got it."
    assert sent["data"]["message"]["automatic"] == "automation" and sent["data"]["message"]["author_id"] is None
    await watcher.close()


async def test_rules_are_checked_and_for_admins(live: Live) -> None:
    r = await live.client.get("/api/automations", headers=live.as_("lead"))
    assert r.status_code == 403
    for body, words in (
            ({"trigger": "message_received", "actions": [{"type": "resolve"}],
              "conditions": [{"field": "text", "op": "matches", "value": "(a"}]}, "not a pattern RE2 accepts"),
            ({"trigger": "no_customer_reply", "actions": [{"type": "resolve"}]}, "delay_minutes"),
            ({"trigger": "message_received", "actions": []}, "actions must be a list of 1 to"),
            ({"trigger": "message_received", "actions": [{"type": "send_message", "text": "{{secret}}"}]},
             "no variable {{secret}}"),
            ({"trigger": "message_received", "actions": [{"type": "resolve"}],
              "conditions": [{"field": "channel", "op": "in", "value": ["pigeon"]}]}, "'pigeon' is not one of")):
        r = await live.client.post("/api/automations", headers=live.as_("admin"), json={"name": "x", **body})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_rule", r.text
        assert words in r.json()["error"]["message"], r.text


async def test_the_timeline_says_which_rule_acted(live: Live, browser: Browser, tmp_path: Path) -> None:
    label = await _post(live, "/api/labels", {"name": "vip", "colour": "#336699"})
    made = await rule(live, name="VIPs first", trigger="message_received",
                      conditions=[{"field": "text", "op": "matches", "value": r"\bvip\b"}],
                      actions=[{"type": "add_label", "label_id": label["id"]},
                               {"type": "add_note", "text": "{{contact_name}} says they are a VIP"},
                               {"type": "send_message", "text": "Thanks {{contact_name}}, a person will answer."}])
    watcher = await live.events("lead")
    assert (await live.sms("+15550001212", "I am a VIP customer")).status_code == 200
    await watcher.next(by_rule(made["id"], "message.created"))
    await watcher.close()
    conv = await _conversation_of(live, "+15550001212")
    for scheme, width in (("light", 1280), ("dark", 390)):
        page = await login(browser, live, "lead", color_scheme=scheme, viewport={"width": width, "height": 900})
        await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
        timeline = page.locator("#timeline")
        await expect(timeline.locator("li.event", has_text="label added: vip")).to_contain_text(
            "by automation “VIPs first”")
        await expect(timeline.locator("li.note")).to_contain_text("Private note by automation “VIPs first”")
        await expect(timeline.locator("li.note p")).to_have_text("+15550001212 says they are a VIP")
        await expect(timeline.get_by_text("Sent by automation")).to_be_visible()
        await page.screenshot(path=str(tmp_path / f"automation-timeline-{scheme}.png"), full_page=True)
        await page.close()


# -- macros ----------------------------------------------------------------------------------

async def test_a_macro_runs_its_steps_as_the_agent_in_one_go(live: Live) -> None:
    label = await _post(live, "/api/labels", {"name": "refund", "colour": "#336699"})
    shared = await _post(live, "/api/macros", {"name": "Refund done", "shared": True, "steps": [
        {"type": "add_label", "label_id": label["id"]},
        {"type": "add_note", "text": "Refund sent to {{contact_name}}"},
        {"type": "reply", "text": "Your refund is on its way, {{contact_name}}."},
        {"type": "resolve"}]}, who="lead")
    assert shared["shared"] and shared["owner_id"] is None
    mine = await _post(live, "/api/macros", {"name": "Urgent", "steps": [
        {"type": "set_priority", "priority": "urgent"}]}, who="agent2")
    # Everyone sees the shared ones, each their own too; an agent makes no shared one.
    assert [m["name"] for m in (await live.get("/api/macros", who="agent"))["items"]] == ["Refund done"]
    assert [m["name"] for m in (await live.get("/api/macros", who="agent2"))["items"]] == ["Refund done", "Urgent"]
    r = await live.client.post("/api/macros", headers=live.as_("agent"), json={"name": "x", "shared": True,
                                                                              "steps": [{"type": "resolve"}]})
    assert r.status_code == 403
    r = await live.client.post("/api/macros", headers=live.as_("agent"), json={"name": "x", "steps": [
        {"type": "send_csat"}]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_macro"
    assert (await live.sms("+15550001313", "where is my refund?")).status_code == 200
    conv = await _conversation_of(live, "+15550001313")
    r = await live.client.post(f"/api/conversations/{conv['id']}/macros/{mine['id']}", headers=live.as_("agent"))
    assert r.status_code == 404  # agent2's own
    ran = await _post(live, f"/api/conversations/{conv['id']}/macros/{shared['id']}", {}, who="agent", status=200)
    assert ran["done"] == [f"added label {label['id']}", "added a note", "replied", "resolved"]
    assert ran["conversation"]["status"] == "resolved" and ran["conversation"]["assignee_id"] in (
        None, live.users["agent"]["id"])
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline", who="agent"))["items"]
    reply = next(i for i in timeline if i["type"] == "message" and i["direction"] == "out")
    assert reply["text"] == "Your refund is on its way, +15550001313."
    assert reply["author_id"] == live.users["agent"]["id"]
    note = next(i for i in timeline if i["type"] == "note")
    assert note["author_id"] == live.users["agent"]["id"] and note["by"]["macro_name"] == "Refund done"
    steps = [i for i in timeline if i["type"] == "event" and (i.get("data") or {}).get("by")]
    assert {"labelled", "status_changed"} <= {i["kind"] for i in steps} <= {"labelled", "status_changed", "assigned"}
    assert all(i["actor_id"] == live.users["agent"]["id"] for i in steps)


async def test_a_macro_refused_at_a_step_does_nothing(live: Live) -> None:
    label = await _post(live, "/api/labels", {"name": "spam", "colour": "#336699"})
    macro = await _post(live, "/api/macros", {"name": "Say bye", "steps": [
        {"type": "add_label", "label_id": label["id"]}, {"type": "reply", "text": "Bye"}]}, who="agent")
    assert (await live.sms("+15550001414", "STOP")).status_code == 200  # opted out: no reply can go
    conv = await _conversation_of(live, "+15550001414")
    r = await live.client.post(f"/api/conversations/{conv['id']}/macros/{macro['id']}", headers=live.as_("agent"))
    assert r.status_code == 409, r.text
    assert (await live.get(f"/api/conversations/{conv['id']}", who="agent"))["labels"] == []


async def test_an_agent_runs_a_macro_from_the_header_and_from_the_composer(live: Live, browser: Browser) -> None:
    await _post(live, "/api/macros", {"name": "Needs billing", "steps": [
        {"type": "set_priority", "priority": "high"}, {"type": "add_note", "text": "Billing to check"}]}, who="agent")
    await _post(live, "/api/macros", {"name": "Close politely", "steps": [{"type": "resolve"}]}, who="agent")
    assert (await live.sms("+15550001515", "my bill is wrong")).status_code == 200
    conv = await _conversation_of(live, "+15550001515")
    page = await login(browser, live, "agent")
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await page.locator("details[data-keep=macros] summary").click()
    await page.locator("details[data-keep=macros]").get_by_role("button", name="Needs billing").click()
    await expect(page.locator("#timeline li.note")).to_contain_text("via macro “Needs billing”")
    await expect(page.locator("#timeline li.event", has_text="priority set to high")).to_contain_text(
        "by Agent via macro “Needs billing”")
    composer = page.locator("#composer-text")
    await composer.fill("/close")
    suggestions = page.get_by_role("listbox", name="Canned responses and macros")
    await expect(suggestions).to_contain_text("Run macro · Close politely")
    await composer.press("Enter")
    await expect(page.locator("#timeline li.event", has_text="resolved")).to_contain_text("via macro “Close politely”")
    assert (await live.get(f"/api/conversations/{conv['id']}", who="agent"))["status"] == "resolved"
    await page.close()


# -- the admin page ----------------------------------------------------------------------------

async def test_an_admin_makes_a_rule_on_the_page_dry_runs_it_and_reads_its_log(
        live: Live, browser: Browser, tmp_path: Path) -> None:
    team = await _post(live, "/api/teams", {"name": "Billing"})
    label = await _post(live, "/api/labels", {"name": "invoice", "colour": "#336699"})
    assert (await live.sms("+15550003030", "my invoice is wrong")).status_code == 200
    assert (await live.sms("+15550003131", "hello")).status_code == 200
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/automation")
    form = page.locator("details.sla-add form")
    await expect(page.locator(".sla-none")).to_have_text("No rule yet: the inbox does nothing by itself.")
    await form.get_by_label("Name").fill("Invoices to Billing")
    await form.get_by_label("Trigger").select_option(label="A customer writes")
    await form.get_by_label("The message contains any of the words").fill("invoice, credit note")
    await form.get_by_label("Action 1", exact=True).select_option(label="Assign to the team")
    await expect(form.get_by_label("Team of action 1")).to_be_visible()
    await expect(form.get_by_label("Text of action 1")).to_be_hidden()  # only what the action needs
    await form.get_by_label("Team of action 1").select_option(label="Billing")
    await form.get_by_label("Action 2", exact=True).select_option(label="Add the label")
    await form.get_by_label("Label of action 2").select_option(label="invoice")
    await form.get_by_role("button", name="Dry run on the last 50 conversations").click()
    dry = page.locator(".automation-dry")
    await expect(dry).to_contain_text("1 of the last 2 conversations would have matched")
    await expect(dry).to_contain_text(f"+15550003030: assign to team {team['id']}, add label {label['id']}")
    assert (await live.get("/api/automations", who="admin"))["items"] == []  # a dry run saves nothing
    await page.locator("details.sla-add form").get_by_role("button", name="Create rule").click()
    await expect(page.get_by_role("status").first).to_have_text("Rule Invoices to Billing created")
    card = page.locator("article[data-rule]")
    await expect(card.locator("dd").nth(2)).to_have_text("assign to the team Billing, then add the label invoice")
    [made] = (await live.get("/api/automations", who="admin"))["items"]
    assert made["conditions"] == [{"field": "text", "op": "contains_words", "value": ["invoice", "credit note"]}]
    watcher = await live.events("lead")
    assert (await live.sms("+15550003232", "Credit note please")).status_code == 200
    await watcher.next(by_rule(made["id"], "conversation.updated"))
    await watcher.close()
    await page.reload()
    await page.locator("article[data-rule] details.automation-log summary").click()
    await expect(page.locator("article[data-rule] .automation-log tbody tr")).to_have_count(1)
    await expect(page.locator("article[data-rule] .automation-log tbody tr")).to_contain_text("done")
    # Refused in the form's words, kept as typed.
    await page.locator("article[data-rule] details.sla-edit summary").click()
    edit = page.locator("article[data-rule] details.sla-edit form")
    await edit.get_by_label("The message matches the pattern").fill("(unclosed")
    await edit.get_by_role("button", name="Save Invoices to Billing").click()
    await expect(page.get_by_role("alert")).to_contain_text("Condition 2: not a pattern RE2 accepts")
    await expect(page.locator("article[data-rule] details.sla-edit form").get_by_label(
        "The message matches the pattern")).to_have_value("(unclosed")
    for scheme, width in (("light", 1280), ("dark", 390)):
        shot = await login(browser, live, "admin", color_scheme=scheme, viewport={"width": width, "height": 900})
        await shot.goto(live.url + "/admin/automation")
        await shot.locator("article[data-rule] details.sla-edit summary").click()
        await shot.screenshot(path=str(tmp_path / f"admin-automation-{scheme}.png"), full_page=True)
        wide = await shot.evaluate("""[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
        assert await shot.evaluate("document.documentElement.scrollWidth") <= width, wide
        await shot.close()


async def test_an_sla_warning_triggers_a_rule(live: Live, clock: MovableClock) -> None:
    await _post(live, "/api/sla_policies", {"name": "Fast", "first_response_minutes": 10, "warn_percent": 50})
    made = await rule(live, name="Near breach: urgent", trigger="sla_warning",
                      actions=[{"type": "set_priority", "priority": "urgent"}])
    assert (await live.sms("+15550004040", "anyone there?")).status_code == 200
    watcher = await live.events("lead")
    clock.advance(timedelta(minutes=6))
    changed = await watcher.next(by_rule(made["id"], "conversation.updated"))
    assert changed["data"]["conversation"]["priority"] == "urgent"
    assert changed["data"]["previous_priority"] == "none"
    await watcher.close()


async def test_a_rule_posts_to_an_outbound_webhook_signed(live: Live, receiver: Receiver) -> None:
    endpoint = await create_endpoint(live, receiver.url + "/hooks", ["conversation.created"])
    made = await rule(live, name="Tell the CRM", trigger="message_received",
                      conditions=[{"field": "text", "op": "contains_words", "value": ["cancel"]}],
                      actions=[{"type": "webhook", "endpoint_id": endpoint["id"]}])
    assert (await live.sms("+15550005050", "please cancel my plan")).status_code == 200
    got = await receiver.wait_for(2)  # the conversation.created it subscribes to, and the rule's post
    posted = next(r for r in got if r.json["type"] == "automation.rule")
    assert posted.json["data"]["rule"] == {"rule_id": made["id"], "rule_name": "Tell the CRM", "depth": 1}
    assert posted.json["data"]["conversation"]["contact"]["name"] == "+15550005050"
    assert verify(endpoint["secret"], posted.headers, posted.body, time.time()) == 1
    runs = await _runs(live, made["id"])
    assert runs[0]["detail"]["done"] == [f"posted to webhook {endpoint['id']}"]


async def test_each_event_trigger_fires_once_for_its_own_event(live: Live) -> None:
    """created, an agent's reply, assigned, status changed, priority changed: each rule notes
    its trigger; each fires for its event only (an automatic message is no agent reply)."""
    made = {trigger: await rule(live, name=f"on {trigger}", trigger=trigger,
                                actions=[{"type": "add_note", "text": f"{trigger} fired"}])
            for trigger in ("conversation_created", "message_sent", "assigned", "status_changed",
                            "priority_changed")}
    watcher = await live.events("lead")
    noted: set[int] = set()

    async def fired(trigger: str) -> None:  # its note (others' may come first: kept)
        while made[trigger]["id"] not in noted:
            event = await watcher.next(lambda e: e["type"] == "note.created" and e["data"]["note"].get("by"))
            noted.add(event["data"]["note"]["by"]["rule_id"])
    assert (await live.sms("+15550006060", "hello")).status_code == 200
    await fired("conversation_created")
    conv = await _conversation_of(live, "+15550006060")
    path = f"/api/conversations/{conv['id']}"
    await _post(live, f"{path}/messages", {"text": "Hi, how can I help?"}, who="agent", status=202)
    await fired("message_sent")
    await _post(live, f"{path}/assignment", {"user_id": live.users["lead"]["id"]}, who="lead", status=200)
    await fired("assigned")
    r = await live.client.patch(path, headers=live.as_("lead"), json={"priority": "high"})
    assert r.status_code == 200, r.text
    await fired("priority_changed")
    await _post(live, f"{path}/status", {"status": "resolved"}, who="lead", status=200)
    await fired("status_changed")
    await live.app.state.automation.caught_up()
    for trigger, made_rule in made.items():
        runs = await _runs(live, made_rule["id"])
        assert {(r["conversation_id"], r["trigger"], r["outcome"]) for r in runs} == {
            (conv["id"], trigger, "done")}, trigger
    timeline = await live.get(f"{path}/timeline", who="lead")
    notes = {item["text"] for item in timeline["items"] if item["type"] == "note"}
    assert notes == {f"{trigger} fired" for trigger in made}
    await watcher.close()


async def test_waiting_for_an_agent_fires_after_its_delay_unless_an_agent_answers(
        live: Live, clock: MovableClock) -> None:
    waited = await rule(live, name="Waiting half an hour", trigger="waiting_for_agent", delay_minutes=30,
                        actions=[{"type": "set_priority", "priority": "high"}])
    for phone in ("+15550007070", "+15550008080"):
        assert (await live.sms(phone, "hello?")).status_code == 200
    ignored, answered = await _conversation_of(live, "+15550007070"), await _conversation_of(live, "+15550008080")
    await _post(live, f"/api/conversations/{answered['id']}/messages", {"text": "Here!"}, who="agent", status=202)
    await live.app.state.automation.caught_up()
    watcher = await live.events("lead")
    clock.advance(timedelta(minutes=31))
    changed = await watcher.next(by_rule(waited["id"], "conversation.updated"))
    assert changed["data"]["conversation"]["id"] == ignored["id"]
    assert changed["data"]["conversation"]["priority"] == "high"
    runs = await _runs(live, waited["id"])
    assert [(r["conversation_id"], r["trigger"]) for r in runs] == [(ignored["id"], "waiting_for_agent")]
    assert (await live.get(f"/api/conversations/{answered['id']}", who="lead"))["priority"] == "none"
    await watcher.close()


async def test_texts_take_the_contacts_fields_and_attributes(live: Live) -> None:
    made = await rule(live, name="Greet by plan", trigger="message_received", actions=[
        {"type": "add_note", "text": "{{contact_name}} ({{contact_phone}}) is on {{contact.plan}}; "
                                     "renews {{contact.renews}}, seats {{contact.seats}}, tier {{contact.tier}}."}])
    watcher = await live.events("lead")
    assert (await live.sms("+15550009090", "first")).status_code == 200
    conv = await _conversation_of(live, "+15550009090")
    await watcher.next(by_rule(made["id"], "note.created"))
    r = await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"),
                                json={"name": "Ada", "attributes": {"plan": "Gold <b>", "seats": 12, "renews": None}})
    assert r.status_code == 200, r.text
    assert (await live.sms("+15550009090", "second")).status_code == 200
    note = await watcher.next(lambda e: by_rule(made["id"], "note.created")(e)
                              and "Gold" in e["data"]["note"]["text"])
    # Missing and null attributes are empty; a value is put in as it is, never read again.
    assert note["data"]["note"]["text"] == "Ada (+15550009090) is on Gold <b>; renews , seats 12, tier ."
    r = await live.client.post("/api/automations", headers=live.as_("admin"), json={
        "name": "x", "trigger": "message_received",
        "actions": [{"type": "send_message", "text": "{{contact.no spaces}}"}]})
    assert r.status_code == 422 and "{{contact.<attribute>}}" in r.json()["error"]["message"], r.text
    await watcher.close()
