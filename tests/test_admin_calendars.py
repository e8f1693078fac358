"""The admin's Calendars section and a team's calendar: through the browser (create with
several intervals a day, a night shift and exceptions; a refused edit that keeps what was
typed; a team pointed at the calendar; a delete refused while it is in use), the same forms
posted without JavaScript, and the section at a phone's width."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.forms import form_login, page_token
from tests.test_calendars_api import EU

__all__ = ["browser"]


async def _calendars(live: Live) -> list[dict[str, Any]]:
    return (await live.get("/api/calendars"))["items"]  # type: ignore[no-any-return]


async def _team(live: Live, name: str) -> dict[str, Any]:
    r = await live.client.post("/api/teams", headers=live.as_("admin"), json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _fill_row(form: Any, n: int, date: str, name: str = "", hours: str = "") -> None:
    await form.get_by_label(f"Date of exception {n}", exact=True).fill(date)
    await form.get_by_label(f"Name of exception {n}", exact=True).fill(name)
    await form.get_by_label(f"Hours of exception {n}", exact=True).fill(hours)


async def _now_shown(page: Page, live: Live, calendar_id: int) -> None:
    """The card's "open now" agrees with the API's answer for now."""
    state = await live.get(f"/api/calendars/{calendar_id}/open")
    now = page.locator(f"[data-calendar='{calendar_id}'] .calendar-now")
    await expect(now).to_have_attribute("data-open", "true" if state["open"] else "false")
    await expect(now).to_contain_text("Open now, until" if state["open"] else "Closed now, opens")
    await expect(now.locator("[data-next-change]")).to_have_attribute("data-next-change", state["next_change"])


async def test_an_admin_creates_edits_points_a_team_at_and_deletes_a_calendar(live: Live, browser: Browser) -> None:
    team = await _team(live, "Billing")
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/calendars")
    await expect(page.get_by_text("No calendar yet.")).to_be_visible()

    await page.get_by_text("Add a calendar").click()
    form = page.locator("details.add-calendar form")
    await form.get_by_label("Name", exact=True).fill("Support EU")
    await form.get_by_label("Time zone").fill("Europe/Berlin")
    await expect(form.get_by_label("Tuesday")).to_have_value("09:00-17:00")  # a new calendar's suggestion
    await form.get_by_label("Monday").fill("09:00-12:00, 13:00-17:00")
    await form.get_by_label("Friday").fill("9:00-12:00, 22:00–06:00")  # 9:00 and an en dash are read too
    await _fill_row(form, 1, "2027-03-17", "St Patrick's Day")
    await _fill_row(form, 2, "2027-12-24", "", "09:00-12:00")
    await form.get_by_role("button", name="Create calendar").click()
    await expect(page.get_by_role("status")).to_have_text("Calendar Support EU created")

    [made] = await _calendars(live)
    assert made["timezone"] == "Europe/Berlin" and made["version"] == 1
    assert made["intervals"] == [
        {"day": "mon", "start": "09:00", "end": "12:00"}, {"day": "mon", "start": "13:00", "end": "17:00"},
        *({"day": d, "start": "09:00", "end": "17:00"} for d in ("tue", "wed", "thu")),
        {"day": "fri", "start": "09:00", "end": "12:00"}, {"day": "fri", "start": "22:00", "end": "06:00"}]
    assert made["exceptions"] == [{"date": "2027-03-17", "closed": True, "name": "St Patrick's Day"},
                                  {"date": "2027-12-24", "intervals": [{"start": "09:00", "end": "12:00"}], "name": ""}]
    card = page.locator(f"[data-calendar='{made['id']}']")
    friday = card.locator(".calendar-week div", has_text="Friday").locator("dd")
    await expect(friday).to_have_text("09:00–12:00, 22:00–06:00")
    await expect(card).to_contain_text("Nothing uses it yet.")
    await _now_shown(page, live, made["id"])

    # A refused edit: the form comes back open, as typed, with the reason; nothing changed.
    await card.get_by_text("Edit Support EU").click()
    form = card.locator("form.calendar-form")
    await form.get_by_label("Sunday").fill("10:00-14:00")
    await form.get_by_label("Saturday").fill("25:00-26:00")
    await form.get_by_label("Remove the exception of 2027-03-17").check()
    await form.get_by_role("button", name="Save Support EU").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Saturday: '25:00' is not a time of day (24:00 only as an end)")
    form = page.locator(f"[data-calendar='{made['id']}'] form.calendar-form")
    await expect(form).to_be_visible()
    await expect(form.get_by_label("Saturday")).to_have_value("25:00-26:00")
    await expect(form.get_by_label("Sunday")).to_have_value("10:00-14:00")
    await expect(form.get_by_label("Date of exception 1", exact=True)).to_have_value("2027-12-24")  # removed stays so
    assert await _calendars(live) == [made]

    await form.get_by_label("Saturday").fill("")
    await form.get_by_role("button", name="Save Support EU").click()
    await expect(page.get_by_role("status")).to_have_text("Calendar Support EU saved")
    [saved] = await _calendars(live)
    assert saved["version"] == 2 and saved["exceptions"] == made["exceptions"][1:]
    assert saved["intervals"][-1] == {"day": "sun", "start": "10:00", "end": "14:00"}

    # The team's calendar, on the Teams section.
    await page.goto(live.url + "/admin/teams")
    team_card = page.locator(f"[data-team='{team['id']}']")
    await team_card.get_by_label("Business hours").select_option(label="Support EU (Europe/Berlin)")
    await team_card.get_by_role("button", name="Save business hours of Billing").click()
    await expect(page.get_by_role("status")).to_have_text("Business hours of Billing: Support EU")
    assert [t["calendar_id"] for t in (await live.get("/api/teams"))["items"]] == [made["id"]]
    await expect(page.locator(f"[data-team='{team['id']}']").get_by_label("Business hours")).to_have_value(
        str(made["id"]))

    # In use: the dialog says so, and the delete is refused with the reason.
    await page.goto(live.url + "/admin/calendars")
    card = page.locator(f"[data-calendar='{made['id']}']")
    await expect(card).to_contain_text("Used by team Billing.")
    await card.get_by_role("button", name="Delete Support EU").click()
    dialog = page.get_by_role("dialog", name="Delete calendar Support EU?")
    await expect(dialog).to_contain_text("It is used by team Billing: it cannot be deleted")
    await dialog.get_by_role("button", name="Delete calendar").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "calendar Support EU is in use by team Billing: point them at another calendar first")
    assert len(await _calendars(live)) == 1

    await page.goto(live.url + "/admin/teams")
    team_card = page.locator(f"[data-team='{team['id']}']")
    await team_card.get_by_label("Business hours").select_option(label="None: its inboxes' hours")
    await team_card.get_by_role("button", name="Save business hours of Billing").click()
    await expect(page.get_by_role("status")).to_have_text("Business hours of Billing: none (its inboxes')")
    await page.goto(live.url + "/admin/calendars")
    await page.get_by_role("button", name="Delete Support EU").click()
    await page.get_by_role("dialog", name="Delete calendar Support EU?").get_by_role(
        "button", name="Delete calendar").click()
    await expect(page.get_by_role("status")).to_have_text("Calendar deleted")
    assert await _calendars(live) == []


async def test_the_forms_without_javascript(live: Live) -> None:
    team = await _team(live, "Billing")
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "admin")).status_code == 303
        token = await page_token(client, "/admin/calendars")
        week = {f"day-{d}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        made = await client.post("/admin/calendar", data={
            "csrf_token": token, "name": "Support US", "timezone": "America/New_York", **week,
            "day-fri": "22:00-02:00", "exc-0-date": "", "exc-7-date": "2027-07-05", "exc-7-name": "Observed",
            "exc-7-hours": "", "exc-3-date": "2027-11-26", "exc-3-hours": "10:00-14:00"})
        assert made.status_code == 303 and "done=" in made.headers["location"], made.text
        [us] = await _calendars(live)
        assert us["intervals"] == [{"day": "fri", "start": "22:00", "end": "02:00"}]
        # Rows read whatever their numbers; stored by date.
        short_day = {"date": "2027-11-26", "intervals": [{"start": "10:00", "end": "14:00"}], "name": ""}
        assert us["exceptions"] == [{"date": "2027-07-05", "closed": True, "name": "Observed"}, short_day]

        # Refused: 422 and the page with the form as typed (the name escaped as HTML).
        refused = await client.post("/admin/calendar", data={
            "csrf_token": token, "name": "<b>Nights</b>", "timezone": "Mars/Olympus", **week, "day-mon": "22-06"})
        assert refused.status_code == 422
        assert "Monday: &#39;22&#39; is not a time as HH:MM" in refused.text
        assert 'value="&lt;b&gt;Nights&lt;/b&gt;"' in refused.text and 'value="22-06"' in refused.text
        refused = await client.post("/admin/calendar", data={
            "csrf_token": token, "name": "Nights", "timezone": "Mars/Olympus", **week})
        assert refused.status_code == 422
        assert "Time zone: &#39;Mars/Olympus&#39; is not an IANA time zone" in refused.text
        refused = await client.post("/admin/calendar-update", data={
            "csrf_token": token, "calendar_id": str(us["id"]), "name": "Support US", "timezone": "America/New_York",
            **week, "exc-0-date": "2027-07-05", "exc-1-date": "2027-07-05"})
        assert refused.status_code == 422 and "Date of exception row 2: 2027-07-05 is listed twice" in refused.text
        assert await _calendars(live) == [us]

        pointed = await client.post("/admin/team-calendar", data={
            "csrf_token": token, "team_id": str(team["id"]), "calendar_id": str(us["id"])})
        assert pointed.status_code == 303 and "done=" in pointed.headers["location"]
        unknown = await client.post("/admin/team-calendar", data={
            "csrf_token": token, "team_id": str(team["id"]), "calendar_id": "999999"})
        assert unknown.status_code == 303 and "error=no+such+calendar" in unknown.headers["location"]
        in_use = await client.post("/admin/calendar-delete", data={"csrf_token": token, "calendar_id": str(us["id"])})
        assert in_use.status_code == 303 and "in+use+by+team+Billing" in in_use.headers["location"]
        assert len(await _calendars(live)) == 1
        assert (await client.post("/admin/calendar", data={"name": "No token"})).status_code == 403
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as agent:
        assert (await form_login(agent, "agent")).status_code == 303
        token = await page_token(agent, "/inbox")
        assert (await agent.post("/admin/calendar", data={"csrf_token": token, "name": "x"})).status_code == 403
        assert (await agent.get("/admin/calendars")).status_code == 403
    assert [c["name"] for c in await _calendars(live)] == ["Support US"]


async def test_the_section_fits_a_phone(live: Live, browser: Browser) -> None:
    long = {**EU, "name": "Support Europe, Middle East and Africa " * 2,
            "exceptions": [*EU["exceptions"], {"date": "2027-05-01", "closed": True, "name": "Labour Day " * 10}]}
    assert (await live.client.post("/api/calendars", headers=live.as_("admin"), json=long)).status_code == 201
    await _team(live, "Billing")
    page = await login(browser, live, "admin", viewport={"width": 390, "height": 844})
    for section in ("calendars", "teams"):
        await page.goto(f"{live.url}/admin/{section}")
        await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390, section
    await page.goto(f"{live.url}/admin/calendars")
    await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    box = await page.get_by_label("Hours of exception 3", exact=True).first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
