"""SLAs in the UI: the admin's policies (made through the form, in readable units, refused
forms coming back as typed with the reason beside them, moved, deleted after a
confirmation), and what an agent sees in a real browser: the list card's chip and the
header's timers counting down, turning due soon and overdue live as the clock moves, the
filter and the order of the list, the timeline's lines, every target in the header's
panel; the SLA breach notification's setting. Time moves with the clock; every wait is for
something to appear."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect
from sqlalchemy import insert

from inbox.domain.clock import MovableClock
from inbox.domain.tables import CALENDARS
from tests.conftest import Live
from tests.helpers.browser import browser, live_ready, login
from tests.helpers.forms import form_login, page_token
from tests.test_accessibility import _axe
from ui.pages.sla import countdown, duration

__all__ = ["browser"]

AT = r"(?:\w{3} \d{1,2} \w{3}, )?\d\d:\d\d"  # 14:05 today, else Thu 3 Dec, 14:05 (en-GB)


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (0, 59, 60, 719, 3600, 3900, 86400, 86700, 183660)] == [
        "<1 min", "<1 min", "1 min", "11 min", "1 h", "1 h 5 min", "1 day", "1 day", "2 days 3 h"]
    assert duration(86700, exact=True) == "1 day 5 min" and duration(2 * 86400 + 60, exact=True) == "2 days 1 min"
    assert duration(541, up=True) == "10 min" and duration(600, up=True) == "10 min"
    now = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert countdown(now + timedelta(minutes=9, seconds=1), now) == "due in 10 min"
    assert countdown(now - timedelta(hours=1, minutes=5, seconds=30), now) == "overdue by 1 h 5 min"


@asynccontextmanager
async def _session(live: Live) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An admin's browser without JavaScript: logged in through the form, with a CSRF token."""
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "admin")).status_code == 303
        yield client, await page_token(client, "/admin/sla")


def _calendar(live: Live, name: str) -> int:
    db, now = live.app.state.ctx.db, live.app.state.ctx.clock.now()
    return int(db.write_sync(lambda tx: tx.conn.execute(insert(CALENDARS).values(
        name=name, timezone="Europe/Berlin", intervals=[{"day": "mon", "start": "09:00", "end": "17:00"}],
        exceptions=[], version=1, created_at=now, updated_at=now)).inserted_primary_key[0]))


FORM = {"name": "VIP", "enabled": "on", "first_response_amount": "1", "first_response_unit": "h",
        "next_response_amount": "30", "next_response_unit": "min", "resolution_amount": "1",
        "resolution_unit": "day", "clock": "calendar", "pause_statuses": "pending", "warn_percent": "80"}


async def _policies(live: Live) -> list[dict[str, Any]]:
    return (await live.get("/api/sla_policies", who="admin"))["items"]  # type: ignore[no-any-return]


async def test_the_admin_forms_without_javascript_in_readable_units(live: Live) -> None:
    r = await live.client.post("/api/labels", headers=live.as_("admin"), json={"name": "vip", "colour": "#aa0000"})
    label = r.json()["id"]
    calendar = _calendar(live, "Support EU")
    async with _session(live) as (client, token):
        empty = await client.get("/admin/sla")
        assert "No SLA policy yet" in empty.text and "24/7 (calendar time)" in empty.text
        made = await client.post("/admin/sla-policy", data={**FORM, "csrf_token": token, "label_ids": str(label),
                                                             "priorities": ["urgent", "high"]})
        assert made.status_code == 303, made.text
        [vip] = await _policies(live)
        minutes = (vip["first_response_minutes"], vip["next_response_minutes"], vip["resolution_minutes"])
        assert minutes == (60, 30, 1440)
        assert vip["conditions"] == {"label_ids": [label], "priorities": ["high", "urgent"]}
        assert (vip["pause_statuses"], vip["warn_percent"], vip["business_hours"]) == (["pending"], 80, False)
        page = (await client.get(made.headers["location"])).text
        assert "SLA policy VIP created" in page
        assert "First response 1 h · Next response 30 min · Resolution 1 day" in page
        assert "Label vip · Priority High or Urgent" in page and "24/7 (calendar time)" in page

        # Refused: the form again (422), open and as typed, the reason at its top in its words.
        bad = await client.post("/admin/sla-policy", data={
            "csrf_token": token, "name": "Nothing promised", "clock": "calendar", "warn_percent": "75",
            "first_response_amount": "", "first_response_unit": "h", "next_response_amount": "",
            "next_response_unit": "min", "resolution_amount": "", "resolution_unit": "day"})
        assert bad.status_code == 422
        assert ('<p class="error sla-form-error" role="alert" id="sla-new-error">A policy needs at least one '
                'target: First response, Next response or Resolution</p>') in bad.text
        assert 'value="Nothing promised"' in bad.text and '<details class="card sla-add" open>' in bad.text
        for field, value, message in (("resolution_amount", "400", "Resolution: from 1 minute to 366 days"),
                                      ("first_response_amount", "1.5", "First response: a whole number"),
                                      ("warn_percent", "100", "Warn at: a whole number from 1 to 99"),
                                      ("name", "VIP", "Name: a policy called &#39;VIP&#39; exists")):
            again = await client.post("/admin/sla-policy", data={**FORM, "csrf_token": token, "name": "Other",
                                                                  field: value})
            assert again.status_code == 422 and message in again.text, (field, value, again.text[-3000:])
        assert len(await _policies(live)) == 1

        # Edited: business hours of a calendar, a target dropped, the conditions cleared.
        edit = {**FORM, "csrf_token": token, "policy_id": str(vip["id"]), "name": "Standard",
                "clock": f"business:{calendar}", "next_response_amount": "", "pause_statuses": ["pending", "snoozed"]}
        saved = await client.post("/admin/sla-policy-update", data=edit)
        assert saved.status_code == 303, saved.text
        [standard] = await _policies(live)
        assert (standard["name"], standard["business_hours"], standard["calendar_id"]) == ("Standard", True, calendar)
        assert standard["next_response_minutes"] is None and standard["conditions"] == {}
        page = (await client.get("/admin/sla")).text
        assert "First response 1 h · Resolution 1 day" in page and "Business hours of Support EU" in page
        assert "Every conversation no other policy takes" in page and ">Fallback<" in page
        refused = await client.post("/admin/sla-policy-update", data={**edit, "warn_percent": "0"})
        assert refused.status_code == 422 and 'id="sla-{}-error"'.format(standard["id"]) in refused.text
        assert '<details class="sla-edit" open>' in refused.text

        # The order: a new policy goes last; moved up, it is tried first.
        await client.post("/admin/sla-policy", data={**FORM, "csrf_token": token, "name": "Urgent",
                                                     "priorities": "urgent"})
        assert [p["name"] for p in await _policies(live)] == ["Standard", "Urgent"]
        urgent = (await _policies(live))[1]
        moved = await client.post("/admin/sla-policy-move", data={"csrf_token": token, "policy_id": str(urgent["id"]),
                                                                 "direction": "up"})
        assert "is+now+number+1+of+2" in moved.headers["location"]
        assert [(p["name"], p["position"]) for p in await _policies(live)] == [("Urgent", 0), ("Standard", 1)]

        gone = await client.post("/admin/sla-policy-delete", data={"csrf_token": token, "policy_id": str(urgent["id"])})
        assert (await client.get(gone.headers["location"])).text.count("SLA policy Urgent deleted") == 1
        assert [p["name"] for p in await _policies(live)] == ["Standard"]
        missing = await client.post("/admin/sla-policy-update", data={**edit, "policy_id": str(urgent["id"])})
        assert missing.status_code == 303 and "no+such+SLA+policy" in missing.headers["location"]


async def _inbox(browser: Browser, live: Live, who: str = "lead") -> Page:
    page = await login(browser, live, who, locale="en-GB")  # 24-hour times
    await page.goto(live.url + "/inbox?tab=all")
    await live_ready(page)
    return page


async def test_an_agent_sees_each_target_count_down_turn_due_soon_and_overdue_live(
        live: Live, browser: Browser, clock: MovableClock) -> None:
    admin = await login(browser, live, "admin")
    await admin.goto(live.url + "/admin/sla")
    form = admin.locator("form[action='/admin/sla-policy']")
    await form.get_by_label("Name", exact=True).fill("Standard")
    await form.get_by_label("First response", exact=True).fill("10")
    await form.get_by_label("Unit of first response").select_option(label="minutes")
    await form.get_by_label("Resolution", exact=True).fill("4")
    await form.get_by_label("Unit of resolution").select_option(label="hours")
    await form.get_by_role("button", name="Create policy").click()
    await expect(admin.get_by_role("status")).to_have_text("SLA policy Standard created")
    await expect(admin.locator(".sla-promises")).to_have_text("First response 10 min · Resolution 4 h")
    await admin.get_by_text("Edit Standard").click()  # its form holds it as stored, in the units typed
    edit = admin.locator("form[action='/admin/sla-policy-update']")
    await expect(edit.get_by_label("Name", exact=True)).to_have_value("Standard")
    for label, amount, unit in (("First response", "10", "min"), ("Next response", "", "h"), ("Resolution", "4", "h")):
        await expect(edit.get_by_label(label, exact=True)).to_have_value(amount)
        await expect(edit.get_by_label(f"Unit of {label.lower()}")).to_have_value(unit)
    await expect(edit.get_by_label("Pending")).to_be_checked()
    await expect(edit.get_by_label("Warn at")).to_have_value("75")
    await admin.context.close()

    page = await _inbox(browser, live)
    assert (await live.sms("+15550002001", "my order never came")).status_code == 200
    row = page.locator("#list-rows .row", has_text="my order never came")
    chip = row.locator(".sla-chip")
    await expect(chip).to_have_text("SLA Due in 10 min")
    await expect(chip).to_have_attribute("data-sla-state", "running")
    await row.locator("a").click()
    header = page.locator("#conversation-state .sla-summary")
    first = header.locator(".sla-timer", has_text="First response")
    await expect(first).to_contain_text("First response due in 10 min")
    await expect(header.locator(".sla-timer", has_text="Resolution")).to_contain_text("Resolution due in 4 h")
    await expect(first.locator(".visually-hidden time")).to_have_text(re.compile(f"^{AT}$"))  # the exact time
    assert re.fullmatch(r"First response due \w{3} \d{1,2} \w{3}, \d\d:\d\d", await first.get_attribute("title") or "")
    # Between renders the timers tick on in the browser, with no request. (Opening marked the
    # conversation read: its row is drawn again once that is committed; wait for it, or the
    # redrawn chip, from the server's time, would undo the tick.)
    await expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    await page.evaluate("document.querySelectorAll('[data-sla-due]').forEach(el => "
                        "{ el.dataset.slaSkew = Number(el.dataset.slaSkew) + 60000; }); window.inboxSlaTick()")
    await expect(first).to_contain_text("First response due in 9 min")
    await expect(chip).to_have_text("SLA Due in 9 min")

    # Past the warning share (75%) the panes turn due soon live; past the due time, overdue.
    for minutes, state, words, line in (
            (8, "due_soon", "due in 2 min", rf"SLA: First response due soon \(due {AT}\)"),
            (3, "breached", "overdue by 1 min", rf"SLA: First response missed \(was due {AT}\)")):
        clock.advance(timedelta(minutes=minutes))
        for timer, text in ((chip, f"SLA {words.capitalize()}"), (first, f"First response {words}")):
            await expect(timer).to_have_attribute("data-sla-state", state)
            await expect(timer).to_contain_text(text)
        await expect(page.locator("#timeline .sla-event", has_text=re.compile(line))).to_have_count(1)
    resolution = header.locator(".sla-timer", has_text="Resolution")
    await expect(resolution).to_have_attribute("data-sla-state", "running")

    # Another customer writes: the filter "SLA breached" lists only the first; sorted by due time, first first.
    assert (await live.sms("+15550002002", "hello?")).status_code == 200
    await expect(page.locator("#list-rows .row", has_text="hello?")).to_be_visible()
    await page.locator(".filters select[name=sla]").select_option(label="SLA breached")
    await expect(page.locator("#list-rows .row")).to_have_count(1)
    await expect(page.locator("#list-rows .row")).to_contain_text("my order never came")
    await expect(page).to_have_url(re.compile(r"sla=breached"))
    await page.locator(".filters select[name=sla]").select_option(label="Any SLA")
    await page.locator(".filters select[name=sort]").select_option(label="SLA due first")
    await expect(page.locator("#list-rows .row")).to_have_count(2)
    await expect(page.locator("#list-rows .row").first).to_contain_text("my order never came")

    # The header's panel: every target, with what became of it.
    await header.click()
    panel = page.locator("#conversation-state .sla-panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator(".menu-label").first).to_have_text("SLA policy: Standard")
    await expect(panel.locator("[data-sla-outcome=missed]")).to_contain_text(
        re.compile(rf"First response\s+missed at {AT}, still open"))
    await expect(panel.locator("[data-sla-outcome=running]")).to_contain_text(re.compile(rf"Resolution\s+due {AT}"))
    assert not await _axe(page, "conversation with SLA timers, panel open")

    # Answered late: the header keeps the resolution's timer; the panel says how late.
    r = await live.client.post(f"/api/conversations/{await row.get_attribute('data-conversation')}/messages",
                               headers=live.as_("lead"), json={"text": "so sorry, on its way"})
    assert r.status_code == 202, r.text
    await expect(header.locator(".sla-timer", has_text="First response")).to_have_count(0)
    await expect(panel.locator("[data-sla-outcome=missed]")).to_contain_text(
        re.compile(rf"missed \(due {AT}\), met {AT}, 1 min late"))
    await page.emulate_media(color_scheme="dark")
    assert not await _axe(page, "conversation with SLA timers, dark")


async def test_the_sla_breach_notification_can_be_switched_off_in_settings(
        live: Live, browser: Browser, clock: MovableClock) -> None:
    page = await login(browser, live, "lead")
    await page.goto(live.url + "/settings")
    breaches = page.get_by_label("SLA breaches: a target was missed")
    await expect(breaches).to_be_checked()
    await expect(page.get_by_label("SLA warnings: a target is due soon")).to_be_checked()
    await breaches.uncheck()
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".notice")).to_have_text("Saved.")
    prefs = await live.get("/api/me/preferences", who="lead")
    assert prefs["notify"]["sla_breached"] is False and prefs["notify"]["sla_warning"] is True
    await expect(page.get_by_label("SLA breaches: a target was missed")).not_to_be_checked()

    r = await live.client.post("/api/sla_policies", headers=live.as_("admin"),
                               json={"name": "Quick", "first_response_minutes": 4})
    assert r.status_code == 201, r.text
    stream = await live.events("lead")
    assert (await live.sms("+15550002003", "anyone?")).status_code == 200
    clock.advance(timedelta(minutes=3, seconds=30))
    await stream.next(lambda e: e["type"] == "sla.warning")
    clock.advance(timedelta(minutes=1))
    await stream.next(lambda e: e["type"] == "sla.breached")
    await stream.close()
    kinds = [n["kind"] for n in (await live.get("/api/notifications", who="lead"))["items"]]
    assert "sla_warning" in kinds and "sla_breached" not in kinds
    assert (await live.client.patch("/api/me/preferences", headers=live.as_("lead"),
                                    json={"notify": {"sla_breached": True}})).status_code == 200
