"""Takes the reports-*.png screenshots in this folder: a lead's /reports over two weeks of
traffic (customers writing at all hours on weekdays more than weekends, two agents and a
lead answering, an SLA policy kept or missed, labels and a team, resolutions and reopens),
desktop 1440x900 light and dark and a 390 px phone. The state is made the way the app
makes it (signed SMS webhooks, REST, the clock moved). Run from the repository root:
.venv/bin/python docs/screenshots/take_reports.py [--out DIR]."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Browser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staged import staged  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import Live  # noqa: E402

DESKTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
NAMES = ["Jonas Schmidt", "Ana Costa", "Maria Lopez", "Priya Natarajan", "Tom Becker", "Lea Dubois", "Sam Okafor",
         "Mia Rossi", "Noah Kim", "Emma Novak", "Luis Garcia", "Yuki Sato", "Olga Ivanova", "Ben Carter"]
ASKS = ["Where is my order?", "Can I change my delivery address?", "The invoice shows the wrong VAT number.",
        "Is the blue one back in stock?", "My parcel arrived damaged.", "How do I return this?"]


async def call(live: Live, method: str, path: str, who: str = "admin", **kw: Any) -> Any:
    r = await live.client.request(method, path, headers=live.as_(who), **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


async def seed(live: Live, clock: MovableClock, days: int = 14) -> None:
    """``days`` of traffic ending now: the clock moves forward through them."""
    rng = random.Random(16)
    billing = await call(live, "POST", "/api/teams", json={"name": "Billing",
                                                           "member_ids": [live.users["agent"]["id"]]})
    for name, colour in (("Refund", "#b42318"), ("Shipping", "#1f5fbf")):
        await call(live, "POST", "/api/labels", json={"name": name, "colour": colour})
    await call(live, "POST", "/api/sla_policies", json={"name": "Everyone", "first_response_minutes": 30,
                                                        "resolution_minutes": 8 * 60, "position": 0})
    people = ["agent", "agent2", "lead"]
    phones: list[str] = []
    for day in range(days):
        now = clock.now()  # each day's customers write from 07:00 UTC (08:00 in Berlin) on
        opening = now.replace(hour=7, minute=0, second=0, microsecond=0)
        clock.advance((opening if opening > now else opening + timedelta(days=1)) - now)
        weekday = clock.now().weekday()
        arrivals = rng.randint(2, 4) if weekday >= 5 else rng.randint(6, 11)
        for _ in range(arrivals):
            clock.advance(timedelta(minutes=rng.randint(20, 80)))
            reopen = phones and rng.random() < 0.2
            phone = rng.choice(phones) if reopen else f"+1555200{len(phones):04d}"
            if not reopen:
                phones.append(phone)
            assert (await live.sms(phone, rng.choice(ASKS))).status_code == 200
            conv = (await call(live, "GET", "/api/conversations", "lead", params={"q": phone}))["items"][0]
            if not reopen:
                await call(live, "PATCH", f"/api/contacts/{conv['contact']['id']}", "lead",
                           json={"name": NAMES[len(phones) % len(NAMES)] + f" {len(phones)}"})
            who = rng.choice(people)
            body: dict[str, Any] = {"user_id": live.users[who]["id"]}
            if rng.random() < 0.3:
                body["team_id"] = billing["id"]
            await call(live, "POST", f"/api/conversations/{conv['id']}/assignment", "lead", json=body)
            if rng.random() < 0.4:
                await call(live, "POST", f"/api/conversations/{conv['id']}/labels", "lead",
                           json={"add": [rng.choice(["Refund", "Shipping"])]})
            clock.advance(timedelta(minutes=rng.choice([2, 5, 8, 12, 20, 35, 50]) + day % 5))
            await call(live, "POST", f"/api/conversations/{conv['id']}/messages", who, json={"text": "On it!"})
            if rng.random() < 0.75:
                clock.advance(timedelta(minutes=rng.randint(10, 240)))
                await call(live, "POST", f"/api/conversations/{conv['id']}/status", who, json={"status": "resolved"})


async def shoot(browser: Browser, live: Live, path: str, out: Path, *, dark: bool = False,
                viewport: Any = DESKTOP, **context: Any) -> None:
    page = await (await browser.new_context(locale="en-GB", viewport=viewport, timezone_id="Europe/Berlin",
                                            color_scheme="dark" if dark else "light", **context)).new_page()
    await page.goto(live.url + "/login")
    await page.get_by_label("Email").fill("lead@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.goto(live.url + path)
    await page.wait_for_load_state("networkidle")
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(out), full_page=True)
    await page.context.close()
    print("wrote", out)


async def main(out: Path) -> None:
    clock = MovableClock()
    async with staged("reports", clock) as (live, browser):
        await seed(live, clock)
        path = "/reports?tz=Europe/Berlin&group=agent"
        await shoot(browser, live, path, out / "reports-light.png")
        await shoot(browser, live, path, out / "reports-dark.png", dark=True)
        await shoot(browser, live, path, out / "reports-phone.png", viewport=PHONE, is_mobile=True, has_touch=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
