"""The contact panel: likely duplicates (query, REST, UI search), the customer's local time
from a time-zone attribute or the phone number's region, and merging in the browser only
after a confirmation that says what moves."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from inbox import queries
from inbox.domain.access import Viewer
from inbox.domain.clock import MovableClock
from inbox.domain.localtime import local_time
from tests.conftest import Live
from tests.helpers.browser import browser, login, until

__all__ = ["browser"]


async def _contact(live: Live, number: str, text: str = "hello", **fields: Any) -> dict[str, Any]:
    """A customer who texted from ``number``: their conversation, with the contact given ``fields``."""
    await live.sms(number, text)
    conv = next(c for c in (await live.get("/api/conversations"))["items"]
                if c["last_message_preview"] == text)
    if fields:
        r = await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"), json=fields)
        assert r.status_code == 200, r.text
    return conv


async def _billing_only(live: Live, conv: dict[str, Any]) -> None:
    """Puts the conversation in a team the agent is not in."""
    team = await live.client.post("/api/teams", headers=live.as_("admin"),
                                  json={"name": "Billing", "member_ids": [live.users["agent2"]["id"]]})
    r = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                               json={"team_id": team.json()["id"]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_likely_duplicates_by_name_email_and_phone_only_those_the_viewer_may_see(live: Live) -> None:
    jonas = await _contact(live, "+15550000001", "first", name="Jonas Schmidt", email="Jonas@Example.com")
    by_name = await _contact(live, "+15550000002", "second", name="  jonas   SCHMIDT ")
    by_email = await _contact(live, "+15550000003", "third", name="J. S.", email="jonas@example.com")
    by_phone = await _contact(live, "+15550000004", "fourth", name="Mr S", phone="(555) 000-0001")
    await _contact(live, "+15550000005", "fifth", name="Jonas Schmidtke")  # a longer name is someone else
    hidden = await _contact(live, "+15550000006", "sixth", name="Jonas Schmidt")
    await _billing_only(live, hidden)
    cid = jonas["contact"]["id"]

    found = (await live.get(f"/api/contacts/{cid}/duplicates"))["items"]
    assert {c["id"]: c["reasons"] for c in found} == {
        by_name["contact"]["id"]: ["name"], by_email["contact"]["id"]: ["email"],
        by_phone["contact"]["id"]: ["phone"]}
    assert [i["handle"] for i in found[-1]["identities"]] == ["+15550000002"]  # newest first, with identities
    as_lead = {c["id"] for c in (await live.get(f"/api/contacts/{cid}/duplicates", who="lead"))["items"]}
    assert hidden["contact"]["id"] in as_lead and cid not in as_lead
    # The query itself, from the hidden contact's side: Jonas, whom the agent may see, is listed.
    agent = Viewer(user_id=live.users["agent"]["id"], role="agent")
    hidden_dups = await live.app.state.ctx.db.read(
        lambda c: queries.likely_duplicates(c, hidden["contact"]["id"], agent))
    assert cid in {c["id"] for c in hidden_dups}  # Jonas's own conversation is one the agent may see
    missing = await live.client.get("/api/contacts/999999/duplicates", headers=live.as_("agent"))
    assert missing.status_code == 404

    # The panel's merge search: by name, phone or email, never the contact kept, never a hidden one.
    def search(q: str, who: str = "agent") -> Any:
        return live.client.get("/ui/contacts/search", headers=live.as_(who),
                               params={"q": q, "exclude": cid, "c": jonas["id"]})
    page = (await search("jonas")).text
    assert f"#{by_name['contact']['id']}" in page and f"#{hidden['contact']['id']}" not in page
    assert f"#{cid}<" not in page
    assert f"#{hidden['contact']['id']}" in (await search("jonas", "lead")).text
    assert f"#{by_phone['contact']['id']}" in (await search("5550000004")).text
    assert "No other contact matches" in (await search("nobody at all")).text
    confirm = await live.client.get(f"/ui/contacts/{cid}/merge", headers=live.as_("agent"),
                                    params={"other": hidden["contact"]["id"], "c": jonas["id"]})
    assert confirm.status_code == 404 and "cannot be merged" in confirm.text  # not one the agent may not see


def _local_time(html: str) -> tuple[str, str] | None:
    """The panel's (time, zone), or None when it shows no local time."""
    m = re.search(r'data-time-zone="([^"]+)"><span class="clock">(\d\d:\d\d)</span>', html)
    return (m.group(2), m.group(1)) if m else None


def _around(clock: MovableClock, zone: str) -> set[str]:
    """What the time is in ``zone`` now, and a moment later (a minute may turn meanwhile)."""
    return {(clock.now() + timedelta(seconds=s)).astimezone(ZoneInfo(zone)).strftime("%H:%M") for s in (0, 5)}


async def test_local_time_from_the_attribute_else_the_phone_region(live: Live, clock: MovableClock) -> None:
    conv = await _contact(live, "+4915112345678", "Hallo", name="Jonas Schmidt")

    async def panel() -> str:
        r = await live.client.get(f"/ui/conversations/{conv['id']}", headers=live.as_("agent"))
        assert r.status_code == 200
        return r.text[r.text.index('<aside id="contact"'):]

    expected = _around(clock, "Europe/Berlin")
    shown = _local_time(await panel())
    assert shown is not None and shown[1] == "Europe/Berlin" and shown[0] in expected  # from the German number
    clock.advance(timedelta(hours=5))  # the app's clock, not the machine's
    expected = _around(clock, "Europe/Berlin")
    shown = _local_time(await panel())
    assert shown is not None and shown[0] in expected

    await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"),
                            json={"attributes": {"timezone": "Asia/Tokyo"}})
    expected = _around(clock, "Asia/Tokyo")
    shown = _local_time(await panel())
    assert shown is not None and shown[1] == "Asia/Tokyo" and shown[0] in expected  # the attribute wins

    await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"),
                            json={"attributes": {"timezone": "Mars/Olympus"}})
    html = await panel()
    shown = _local_time(html)
    assert shown is not None and shown[1] == "Europe/Berlin"  # a typo falls back to the number
    assert "“Mars/Olympus” is not a time zone name" in html

    toll_free = await _contact(live, "+18005551234", "US caller")  # a US toll-free number: dozens of zones
    r = await live.client.get(f"/ui/conversations/{toll_free['id']}", headers=live.as_("agent"))
    assert _local_time(r.text) is None and "this number spans" in r.text and "time zones" in r.text


def test_local_time_rules() -> None:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert local_time({"time_zone": "America/Chicago"}, [], at) == {
        "zone": "America/Chicago", "time": "06:00", "source": "attribute", "zones": [], "invalid": None}
    assert local_time({}, ["+4930123456"], at)["zone"] == "Europe/Berlin"  # type: ignore[index]
    assert local_time({}, ["+12125551234"], at)["time"] == "07:00"  # type: ignore[index]  # one zone: New York
    several = local_time({}, ["+18005551234"], at)
    assert several is not None and several["zone"] is None and "America/Los_Angeles" in several["zones"]
    assert local_time({}, ["+15557654321"], at) is None  # a number phonenumbers cannot place
    assert local_time({"timezone": "../../etc/passwd"}, [], at) == {
        "zone": None, "time": None, "source": None, "zones": [], "invalid": "../../etc/passwd"}


async def test_merge_a_suggested_duplicate_after_a_confirmation(live: Live, browser: Browser) -> None:
    other = await _contact(live, "+4915100000002", "Paket von der anderen Nummer", name="Jonas Schmidt")
    note = await live.client.post(f"/api/conversations/{other['id']}/notes", headers=live.as_("agent"),
                                  json={"text": "called twice"})
    assert note.status_code == 201
    keep = await _contact(live, "+4915100000001", "Wo ist mein Paket?", name="Jonas Schmidt")
    keep_id, other_id = keep["contact"]["id"], other["contact"]["id"]
    page = await login(browser, live, "agent")
    await page.goto(live.url + f"/inbox?tab=all&c={keep['id']}")
    panel = page.locator("#contact")
    await expect(panel.locator(".local-time")).to_have_text(re.compile(r"^\d\d:\d\d local time, Europe/Berlin$"))
    await expect(panel.locator(".identities")).to_contain_text("+4915100000001")

    suggestion = panel.get_by_role("region", name="Possible duplicates")
    await expect(suggestion).to_contain_text(f"Jonas Schmidt #{other_id}")
    await expect(suggestion).to_contain_text("same name")
    await suggestion.get_by_role("link", name=re.compile("^Merge Jonas Schmidt")).click()
    question = panel.locator(".merge-confirm")
    await expect(question).to_contain_text(
        f"Jonas Schmidt (#{other_id}): 1 identity (SMS +4915100000002), 1 conversation and 1 note move into "
        f"Jonas Schmidt (#{keep_id}). This cannot be undone.")
    await expect(question).to_be_focused()

    await question.get_by_role("button", name="Cancel").click()
    await expect(question).to_have_count(0)
    assert (await live.get(f"/api/contacts/{other_id}"))["merged_into_id"] is None
    assert [c["id"] for c in (await live.get(f"/api/contacts/{keep_id}"))["conversations"]] == [keep["id"]]

    # This time found by searching for their number.
    await panel.get_by_label("Find the other contact").fill("4915100000002")
    results = panel.locator("#merge-results")
    await expect(results).to_contain_text(f"#{other_id}")
    await results.get_by_role("link", name=re.compile("^Merge Jonas Schmidt")).click()
    await expect(question).to_contain_text("This cannot be undone.")
    await question.get_by_role("button", name="Merge", exact=True).click()

    history = panel.locator(".history li")
    await expect(history).to_have_count(2)
    moved = history.filter(has_text="Paket von der anderen Nummer")
    await expect(moved.locator(".icon.sms")).to_have_count(1)  # with its channel
    await expect(history.filter(has_text="Wo ist mein Paket?")).to_have_class(re.compile(r"\bcurrent\b"))
    await expect(panel.get_by_role("region", name="Possible duplicates")).to_have_count(0)
    await expect(panel.locator(".identities li")).to_have_count(2)
    assert (await live.get(f"/api/contacts/{other_id}"))["merged_into_id"] == keep_id


async def test_the_local_time_keeps_ticking_and_attributes_are_edited_in_place(live: Live, browser: Browser) -> None:
    conv = await _contact(live, "+4915112345678", "Hallo", name="Jonas Schmidt", attributes={"plan": "silver"})
    page = await login(browser, live, "agent")
    # The browser's own clock, fixed apart from the server's: what the panel shows is the script's.
    await page.clock.install(time=datetime(2026, 6, 1, 9, 59, 30, tzinfo=timezone.utc))
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    local = page.locator("#contact .local-time")
    await expect(local).to_have_text("11:59 local time, Europe/Berlin")  # summer time: UTC+2
    await page.clock.run_for(60_000)
    await expect(local).to_have_text("12:00 local time, Europe/Berlin")

    value = page.get_by_label("Value of plan")
    await value.fill("gold")
    await value.evaluate("el => el.classList.add('before-save')")
    await value.press("Enter")  # saves; never the Remove button beside it
    await until(page, "!document.querySelector('.before-save')")  # the pane drawn again, saved
    await expect(page.get_by_label("Value of plan")).to_have_value("gold")
    assert (await live.get(f"/api/contacts/{conv['contact']['id']}"))["attributes"] == {"plan": "gold"}
    await page.get_by_role("button", name="Remove plan").click()
    await expect(page.get_by_label("Value of plan")).to_have_count(0)
    assert (await live.get(f"/api/contacts/{conv['contact']['id']}"))["attributes"] == {}


async def test_the_avatar_is_the_providers_picture_else_initials(live: Live) -> None:
    conv = await _contact(live, "+15557654321", "hi", name="jonas peter schmidt")

    async def avatar() -> str:
        html = (await live.client.get(f"/ui/conversations/{conv['id']}", headers=live.as_("agent"))).text
        pane = html[html.index('<aside id="contact"'):]
        m = re.search(r'<span class="avatar avatar-lg avatar-\d" aria-hidden="true">(.*?)</span>'
                      r'|(<img class="avatar avatar-lg"[^>]*>)', pane, re.S)
        assert m is not None
        return m.group(1) or m.group(2)
    assert await avatar() == "JS"  # first and last name
    await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"),
                            json={"avatar_url": "https://cdn.example.com/p.jpg?a=1&b=\"x"})
    assert await avatar() == ('<img class="avatar avatar-lg" src="https://cdn.example.com/p.jpg?a=1&amp;b=&#34;x" '
                              'alt="" referrerpolicy="no-referrer" loading="lazy" decoding="async">')


async def test_on_a_narrow_screen_the_contact_opens_over_the_conversation(live: Live, browser: Browser) -> None:
    """Below 1100 px there is no room beside the conversation: the header's person button
    opens the contact pane over it (consent, identities, attributes and all), Escape closes
    it and gives the focus back."""
    assert (await live.sms("+15557650909", "hello from a phone")).status_code == 200
    page = await login(browser, live, "agent", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    [conv] = (await live.get("/api/conversations", params={"q": "+15557650909"}))["items"]
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    contact = page.locator("#contact")
    await expect(contact).to_be_hidden()
    toggle = page.get_by_role("button", name="Contact details", exact=True)
    await toggle.click()
    await expect(contact).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(contact.get_by_role("heading", name="Consent")).to_be_visible()
    await expect(page.get_by_role("button", name="Close the contact details")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(contact).to_be_hidden()
    await expect(toggle).to_be_focused()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await expect(contact).to_be_visible()  # beside the conversation again, and no toggle
    await expect(toggle).to_be_hidden()
    await page.context.close()
