"""The campaign form and results page (ui/pages/campaigns.py, docs/campaigns.md): an audience
of several contact attribute conditions (with "Add condition" with and without JavaScript,
shown again when the draft is edited), the SMS counter asked of the server as the lead
types (domain.campaigns.sms_segments), and a sending campaign's results kept up to date
without a reload, which stop once it is done."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from inbox.domain import campaigns
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.forms import form_login, page_token
from tests.test_accessibility import _axe
from tests.test_campaigns import _campaign, _contacts, _post, _settled

__all__ = ["browser"]  # a fixture

KEYS = re.compile(r'name="attribute_key" value="([^"]*)"')


@asynccontextmanager
async def _session(live: Live, who: str = "lead") -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser's session without the browser: its cookie and the pages' CSRF token."""
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, who)).status_code == 303
        yield client, await page_token(client, "/inbox")


async def _attributes(live: Live, contact_id: int, **attributes: str) -> None:
    r = await live.client.patch(f"/api/contacts/{contact_id}", headers=live.as_("lead"),
                                json={"attributes": attributes})
    assert r.status_code == 200, r.text


def _form(live: Live, token: str, rows: list[tuple[str, str]], then: str = "save") -> dict[str, Any]:
    """The form as a browser posts it: every attribute row, blank ones too, in order."""
    return {"csrf_token": token, "name": "Gold in Oslo", "purpose": "transactional",
            "sms_inbox": str(live.inbox["id"]), "sms_order": "1", "sms_text": "Hi {{contact_name}}",
            "schedule": "now", "quiet": "none", "then": then,
            "attribute_key": [key for key, _ in rows], "attribute_value": [value for _, value in rows]}


async def test_the_audience_takes_several_attribute_conditions_and_the_form_shows_them_again(live: Live) -> None:
    ids = await _contacts(live, "+15550005001", "+15550005002", "+15550005003")
    both, gold_only, neither = ids.values()
    await _attributes(live, both, plan="gold", city="Oslo")
    await _attributes(live, gold_only, plan="gold", city="Bergen")
    await _attributes(live, neither, plan="free", city="Oslo")
    async with _session(live) as (client, token):
        r = await client.post("/campaigns/new", data=_form(live, token, [("plan", "gold"), ("", ""),
                                                                          ("city", "Oslo"), ("", "")]))
        assert r.status_code == 303, r.text
        campaign_id = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
        saved = await live.get(f"/api/campaigns/{campaign_id}", who="lead")
        assert saved["audience"] == {"attributes": {"plan": "gold", "city": "Oslo"}}  # blank rows left out
        check = await _post(live, f"/api/campaigns/{campaign_id}/preflight")
        assert check["recipients"] == 1  # every condition must hold

        # Editing the draft: its conditions, then one empty row for another.
        page = (await client.get(f"/campaigns/{campaign_id}")).text
        assert KEYS.findall(page) == ["plan", "city", ""]

        # "Add condition" without JavaScript: the form as typed with one more row, focused, unsaved.
        rows = [("plan", "gold"), ("city", "Bergen"), ("", "")]
        r = await client.post(f"/campaigns/{campaign_id}/save", data=_form(live, token, rows, then="condition"))
        assert r.status_code == 200, r.text
        assert KEYS.findall(r.text) == ["plan", "city", "", ""]
        assert 'value="Bergen"' in r.text and re.search(r'id="attribute-key-4"[^>]* autofocus', r.text)
        assert (await live.get(f"/api/campaigns/{campaign_id}", who="lead"))["audience"] == saved["audience"]
        # The same from the new form: no draft is made.
        r = await client.post("/campaigns/new", data=_form(live, token, [("plan", "gold")], then="condition"))
        assert r.status_code == 200 and KEYS.findall(r.text) == ["plan", ""]
        assert len((await live.get("/api/campaigns", who="lead"))["items"]) == 1

        # What one object of attributes cannot say is refused, and the rows come back as typed.
        for bad, words in (([("plan", "gold"), ("", "Oslo")], "needs the attribute's name"),
                           ([("plan", "gold"), ("plan", "silver")], "'plan' is in two conditions"),
                           ([("a b", "c")], "must be a plain key")):
            r = await client.post(f"/campaigns/{campaign_id}/save", data=_form(live, token, bad))
            assert r.status_code == 422, (bad, r.text)
            assert words in html.unescape(r.text)
            assert KEYS.findall(r.text) == [key for key, _ in bad] + [""]
        assert (await live.get(f"/api/campaigns/{campaign_id}", who="lead"))["audience"] == saved["audience"]

        # A condition cleared is a condition removed.
        r = await client.post(f"/campaigns/{campaign_id}/save", data=_form(live, token, [("", ""), ("city", "Oslo")]))
        assert r.status_code == 303, r.text
    assert (await live.get(f"/api/campaigns/{campaign_id}", who="lead"))["audience"] == {"attributes": {"city": "Oslo"}}
    assert (await _post(live, f"/api/campaigns/{campaign_id}/preflight"))["recipients"] == 2


async def test_the_sms_counter_is_the_servers_count(live: Live) -> None:
    async with _session(live) as (client, token):
        for text, recipients in (("a" * 161, "3"), ("€" * 80, ""), ("ć" * 71, "1"), ("😀" * 35, "")):
            r = await client.post("/campaigns/sms-count", headers={"X-CSRF-Token": token},
                                  data={"sms_text": text, "recipients": recipients})
            assert r.status_code == 200, r.text
            s = campaigns.sms_segments(text)
            words = f"{s['length']} characters · {s['encoding']} · {s['segments']} segment"
            assert r.text.startswith(words), (text, r.text)
            if recipients:
                n = int(recipients)
                assert f"× {n} recipient{'s' if n > 1 else ''} by SMS = {s['segments'] * n} segments" in r.text
            else:
                assert "×" not in r.text
        assert "161 characters · GSM-7 · 2 segments × 3 recipients by SMS = 6 segments" in \
            (await client.post("/campaigns/sms-count", headers={"X-CSRF-Token": token},
                               data={"sms_text": "a" * 161, "recipients": "3"})).text
        r = await client.post("/campaigns/sms-count", data={"sms_text": "hi"})  # no CSRF token
        assert r.status_code == 403
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        # A lapsed session: nothing to swap in (htmx would swap the login page a redirect gives).
        for path, method in (("/campaigns/sms-count", "POST"), ("/campaigns/condition", "GET"),
                             ("/campaigns/1/results", "GET")):
            r = await client.request(method, path, headers={"HX-Request": "true"})
            assert r.status_code == (286 if path.endswith("results") else 204) and r.text == "", (path, r.text)
        assert (await client.get("/campaigns/1")).status_code == 303  # a page still goes to the login
    async with _session(live, "agent") as (client, token):
        r = await client.post("/campaigns/sms-count", headers={"X-CSRF-Token": token}, data={"sms_text": "hi"})
        assert r.status_code == 403


async def test_a_lead_counts_segments_and_adds_conditions_as_they_write(live: Live, browser: Browser) -> None:
    await _contacts(live, "+15550005101", "+15550005102")
    page = await login(browser, live, "lead")
    await page.goto(live.url + "/campaigns/new")
    counter = page.locator("#sms-count")
    await expect(counter).to_have_attribute("aria-live", "polite")
    await page.get_by_label("Name").fill("Counted")
    await page.get_by_label("Send through").select_option(str(live.inbox["id"]))
    await page.get_by_label("Text").fill("a" * 161)
    await expect(counter).to_have_text("161 characters · GSM-7 · 2 segments")
    await page.get_by_label("Text").press_sequentially("😀")  # one emoji: every part is shorter
    await expect(counter).to_contain_text("163 characters · UCS-2 · 3 segments")
    await page.get_by_label("Text").fill("Hi {{contact_name}}, 20% off")
    await page.locator("input[name=purpose][value=transactional]").check()
    await page.locator("input[name=quiet][value=none]").check()

    # Add condition with JavaScript: a row is added in place, focused, and nothing is posted.
    await page.get_by_label("Attribute", exact=True).fill("plan")
    await page.get_by_label("Value", exact=True).fill("gold")
    await page.evaluate("window.notReloaded = true")
    for n, (key, value) in ((2, ("city", "Oslo")), (3, ("tier", "1"))):
        await page.get_by_role("button", name="Add condition").click()
        row = page.get_by_label(f"Attribute {n}", exact=True)
        await expect(row).to_be_focused()
        await row.fill(key)
        await page.get_by_label(f"Value {n}", exact=True).fill(value)
    assert await page.evaluate("window.notReloaded === true") and page.url == live.url + "/campaigns/new"
    await expect(page.locator("input[name=attribute_key]")).to_have_count(3)
    found = await _axe(page, "the campaign form, three conditions")
    await page.get_by_label("Value 3", exact=True).press("Enter")  # saves and checks, adds no row
    await expect(page.locator("#campaign-check")).to_contain_text("Will get it")
    [item] = (await live.get("/api/campaigns", who="lead"))["items"]
    assert item["audience"]["attributes"] == {"plan": "gold", "city": "Oslo", "tier": "1"}
    # Shown again, with an empty row after them; nobody matches, so the counter knows no count.
    await expect(page.get_by_label("Attribute 3", exact=True)).to_have_value("tier")
    await expect(page.get_by_label("Attribute 4", exact=True)).to_have_value("")
    # Each brace counts 2 septets; the check counts each message as it will read.
    await expect(counter).to_have_text("32 characters · GSM-7 · 1 segment · variables counted as written")

    # With an audience the check counts, the counter says what the campaign costs.
    for n in (1, 2, 3):
        await page.get_by_label(f"Attribute{' ' + str(n) if n > 1 else ''}", exact=True).fill("")
        await page.get_by_label(f"Value{' ' + str(n) if n > 1 else ''}", exact=True).fill("")
    await page.get_by_role("button", name="Save and check").click()
    await expect(page.locator("#campaign-check .stat").nth(1)).to_contain_text("2")
    await expect(counter).to_have_text("32 characters · GSM-7 · 1 segment × 2 recipients by SMS = 2 segments"
                                       " · variables counted as written")
    await page.get_by_label("Text").fill("x" * 200)
    await expect(counter).to_have_text("200 characters · GSM-7 · 2 segments × 2 recipients by SMS = 4 segments")
    found += await _axe(page, "the campaign form, checked")
    await page.context.close()
    assert not found, "\n".join(found)


async def test_a_sending_campaigns_results_follow_it_without_a_reload(live: Live, browser: Browser) -> None:
    await _contacts(live, "+15550005201", "+15550005202")
    later = (live.app.state.ctx.clock.now() + timedelta(hours=1)).isoformat()
    campaign = await _campaign(live, purpose="transactional", schedule={"at": later})
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    await _settled(live, campaign["id"], "scheduled")
    page = await login(browser, live, "lead")
    await page.goto(live.url + f"/campaigns/{campaign['id']}")
    results = page.locator("#campaign-results")
    await expect(page.locator("#campaign-head .campaign-status")).to_have_text("Scheduled")
    await expect(results.locator("[data-result=pending] .stat-value")).to_have_text("2")
    await expect(results).to_have_attribute("hx-trigger", "every 2s")
    await expect(results).to_contain_text("updating as it sends")
    await page.evaluate("window.notReloaded = true")

    live.app.state.ctx.clock.advance(timedelta(hours=2))
    await live.fake.wait_for_sent(2)
    done = await _settled(live, campaign["id"])
    # Done: the page stops following it (no more polling, no Pause), with its figures.
    await expect(page.locator("#campaign-head .campaign-status")).to_have_text("Done")
    await expect(results).not_to_have_attribute("hx-trigger", "every 2s")
    assert done["totals"]["pending"] == 0 and done["totals"]["queued"] + done["totals"]["sent"] == 2, done
    for key in ("pending", "queued", "sent", "delivered", "failed", "skipped"):
        await expect(results.locator(f"[data-result={key}] .stat-value")).to_have_text(str(done["totals"][key]))
    await expect(page.locator("#recipients tr[data-recipient]")).to_have_count(2)
    await expect(page.locator("#recipients .result.is-pending")).to_have_count(0)
    await expect(results).not_to_contain_text("updating as it sends")
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    assert await page.evaluate("window.notReloaded === true")
    # What the page was given is what a fresh load renders (but the recipients' details: a
    # message the provider did not answer in time under load is retried after Done).
    fresh = await page.context.new_page()
    await fresh.goto(live.url + f"/campaigns/{campaign['id']}")
    for part in ("#campaign-head", "#campaign-results"):
        assert await page.locator(part).inner_text() == await fresh.locator(part).inner_text(), part
    found = await _axe(page, "a campaign's results, updated live")
    await page.context.close()
    assert not found, "\n".join(found)
