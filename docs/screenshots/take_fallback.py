"""Takes the admin-fallback-*.png screenshots in this folder: Admin, Inboxes, a WhatsApp
inbox (Twilio) whose channel fallback is open and set to the SMS inbox after 10 minutes;
desktop light and dark, and a 390 px phone. The state is made through the REST API.
Run from the repository root: .venv/bin/python docs/screenshots/take_fallback.py [--out DIR]."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playwright.async_api import Browser  # noqa: E402
from staged import staged  # noqa: E402
from take_reports import DESKTOP, PHONE  # noqa: E402
from take_sla import call  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import Live  # noqa: E402
from tests.test_twilio_whatsapp import create_inbox  # noqa: E402


async def shoot(browser: Browser, live: Live, inbox_id: int, out: Path, *, dark: bool, phone: bool) -> None:
    context = await browser.new_context(locale="en-GB", viewport=PHONE if phone else DESKTOP,
                                        color_scheme="dark" if dark else "light",
                                        **({"is_mobile": True, "has_touch": True} if phone else {}))
    page = await context.new_page()
    await page.goto(live.url + "/login")
    await page.get_by_label("Email").fill("admin@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.goto(live.url + "/admin/inboxes")
    card = page.locator(f'article[data-inbox="{inbox_id}"]')
    await card.locator(f"#inbox-{inbox_id}-fallback summary").click()
    await page.evaluate("document.fonts.ready")
    await card.screenshot(path=str(out))
    await context.close()
    print("wrote", out)


async def main(out: Path) -> None:
    async with staged("fallback", MovableClock()) as (live, browser):
        wa = await create_inbox(live)
        assert wa.status_code == 201, wa.text
        inbox_id = wa.json()["id"]
        await call(live, "PATCH", f"/api/inboxes/{inbox_id}", "admin", json={
            "settings": {"fallback_inbox_id": live.inbox["id"], "fallback_minutes": 10}})
        for name, dark, phone in (("light", False, False), ("dark", True, False), ("phone", False, True)):
            await shoot(browser, live, inbox_id, out / f"admin-fallback-{name}.png", dark=dark, phone=phone)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[args.index("--out") + 1]) if "--out" in args else Path(__file__).resolve().parent))
