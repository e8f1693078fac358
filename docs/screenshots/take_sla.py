"""Takes the sla-*.png screenshots in this folder: the admin's SLA policies and a
conversation with its SLA timers (one due soon, one breached with the panel of every
target open), desktop light and dark and a 390 px phone. The state is made the way the app
makes it (signed SMS webhooks, REST, the clock moved). Run from the repository root:
.venv/bin/python docs/screenshots/take_sla.py [--out DIR]."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staged import staged  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from inbox.domain.tables import CALENDARS  # noqa: E402
from tests.conftest import Live  # noqa: E402

DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}


async def call(live: Live, method: str, path: str, who: str = "admin", **kw: Any) -> Any:
    r = await live.client.request(method, path, headers=live.as_(who), **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


async def customer(live: Live, phone: str, name: str, text: str) -> int:
    assert (await live.sms(phone, text)).status_code == 200
    [conv] = (await call(live, "GET", "/api/conversations", "lead", params={"q": phone}))["items"]
    await call(live, "PATCH", f"/api/contacts/{conv['contact']['id']}", "lead", json={"name": name})
    return int(conv["id"])


async def seed(live: Live, clock: MovableClock) -> dict[str, int]:
    db, now = live.app.state.ctx.db, clock.now()
    calendars = {}
    for name, zone in (("Support EU", "Europe/Berlin"), ("Support US", "America/New_York")):
        calendars[name] = db.write_sync(lambda tx: tx.conn.execute(insert(CALENDARS).values(
            name=name, timezone=zone, intervals=[{"day": d, "start": "09:00", "end": "17:00"}
                                                 for d in ("mon", "tue", "wed", "thu", "fri")],
            exceptions=[], version=1, created_at=now, updated_at=now)).inserted_primary_key[0])
    vip = await call(live, "POST", "/api/labels", json={"name": "VIP", "colour": "#1e7a3c"})
    billing = await call(live, "POST", "/api/teams",
                         json={"name": "Billing", "member_ids": [live.users["agent"]["id"]]})
    await call(live, "POST", "/api/sla_policies", json={
        "name": "VIP customers", "first_response_minutes": 15, "next_response_minutes": 10, "resolution_minutes": 240,
        "conditions": {"label_ids": [vip["id"]], "priorities": ["urgent"]}, "position": 0})
    await call(live, "POST", "/api/sla_policies", json={
        "name": "Billing", "first_response_minutes": 60, "resolution_minutes": 1440, "business_hours": True,
        "calendar_id": calendars["Support EU"], "conditions": {"team_ids": [billing["id"]]}, "position": 1})
    await call(live, "POST", "/api/sla_policies", json={
        "name": "Weekend pilot", "first_response_minutes": 120, "enabled": False, "pause_statuses": ["pending"],
        "conditions": {"inbox_ids": [live.inbox["id"]]}, "warn_percent": 50, "position": 2})
    await call(live, "POST", "/api/sla_policies", json={
        "name": "Everyone", "first_response_minutes": 240, "next_response_minutes": 120, "resolution_minutes": 4320,
        "warn_percent": 80, "position": 3})

    late = await customer(live, "+15557654321", "Jonas Schmidt", "My invoice shows the wrong VAT number.")
    clock.advance(timedelta(hours=4, minutes=10))  # his first response is missed
    paused = await customer(live, "+15551112222", "Ana Costa", "Can I change my delivery address?")
    await call(live, "POST", f"/api/conversations/{paused}/status", "lead", json={"status": "pending"})
    vip_conv = await customer(live, "+15553334444", "Maria Lopez", "Where is my order #1042? It was due Monday.")
    await call(live, "POST", f"/api/conversations/{vip_conv}/labels", "lead", json={"add": ["VIP"]})
    await call(live, "PATCH", f"/api/conversations/{vip_conv}", "lead", json={"priority": "urgent"})
    await call(live, "POST", f"/api/conversations/{vip_conv}/assignment", "lead",
               json={"user_id": live.users["agent"]["id"]})
    answered = await customer(live, "+15559990000", "Priya Natarajan", "Is the blue one back in stock?")
    await call(live, "POST", f"/api/conversations/{answered}/messages", "agent",
               json={"text": "It is! Shall I reserve one for you?"})
    clock.advance(timedelta(minutes=2))
    await customer(live, "+15559990000", "Priya Natarajan", "Yes please, size M.")
    clock.advance(timedelta(minutes=10, seconds=30))  # Maria's first response is due soon
    return {"late": late, "vip": vip_conv}


async def signed_in(browser: Browser, live: Live, who: str, **context: Any) -> Page:
    page = await (await browser.new_context(locale="en-GB", **context)).new_page()
    await page.goto(live.url + "/login")
    await page.get_by_label("Email").fill(f"{who}@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    return page


async def shoot(browser: Browser, live: Live, who: str, path: str, out: Path, *, dark: bool = False,
                viewport: dict[str, int] = DESKTOP, panel: bool = False, unfold: str | None = None,
                **context: Any) -> None:
    """``panel``: with the header's SLA panel open; ``unfold``: the words of a disclosure to open first."""
    page = await signed_in(browser, live, who, viewport=viewport, color_scheme="dark" if dark else "light", **context)
    await page.goto(live.url + path)
    await page.wait_for_load_state("networkidle")
    if unfold is not None:
        await page.get_by_text(unfold, exact=True).click()
        await page.locator("details[open] > form").first.evaluate("form => form.scrollIntoView({block: 'start'})")
    if panel:
        await page.locator("#conversation-state .sla-summary").click()
        await expect(page.locator(".sla-panel")).to_be_visible()
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(out))
    await page.context.close()
    print("wrote", out)


async def main(out: Path) -> None:
    clock = MovableClock()
    async with staged("sla", clock) as (live, browser):
        convs = await seed(live, clock)
        phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        for dark, suffix in ((False, "light"), (True, "dark")):
            await shoot(browser, live, "admin", "/admin/sla", out / f"sla-admin-{suffix}.png", dark=dark)
            await shoot(browser, live, "lead", f"/inbox?tab=all&c={convs['vip']}",
                        out / f"sla-conversation-{suffix}.png", dark=dark)
        await shoot(browser, live, "lead", f"/inbox?tab=all&c={convs['late']}", out / "sla-panel-light.png",
                    panel=True)
        await shoot(browser, live, "admin", "/admin/sla", out / "sla-admin-form-light.png", unfold="Edit Billing")
        await shoot(browser, live, "admin", "/admin/sla", out / "sla-admin-phone.png", **phone)
        await shoot(browser, live, "admin", "/admin/sla", out / "sla-admin-form-phone.png", unfold="Edit Billing",
                    **phone)
        await shoot(browser, live, "lead", "/inbox?tab=all", out / "sla-list-phone.png", **phone)
        await shoot(browser, live, "lead", f"/inbox?tab=all&c={convs['late']}", out / "sla-conversation-phone.png",
                    panel=True, **phone)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
