"""Takes the macros-*.png and keywords-*.png screenshots in this folder: /admin/macros with a
shared macro and the admin's own (one form open), an agent's /settings with their macros, and
the SMS inbox's keywords form on its admin card (a keyword reply with a label); desktop at
1280 px light and dark, and a 390 px phone. The state is made through the REST API, as the app
makes it. Run from the repository root: .venv/bin/python docs/screenshots/take_macros.py [--out DIR]."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.async_api import Browser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staged import staged  # noqa: E402
from take_sla import PHONE, call, customer, signed_in  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import Live  # noqa: E402

DESKTOP = {"width": 1280, "height": 1100}


async def seed(live: Live) -> None:
    await call(live, "POST", "/api/teams", json={"name": "Billing"})
    refund = await call(live, "POST", "/api/labels", json={"name": "Refund", "colour": "#b42318"})
    hours = await call(live, "POST", "/api/labels", json={"name": "Opening hours", "colour": "#1f5fbf"})
    await call(live, "POST", "/api/macros", json={"name": "Refund done", "shared": True, "steps": [
        {"type": "add_label", "label_id": refund["id"]},
        {"type": "reply", "text": "Hi {{contact_name}}, your refund is on its way: 3 to 5 working days."},
        {"type": "resolve"}]})
    await call(live, "POST", "/api/macros", json={"name": "Waiting on the courier", "steps": [
        {"type": "add_note", "text": "Asked the courier; check again tomorrow."}, {"type": "snooze", "minutes": 1440}]})
    await call(live, "POST", "/api/macros", "agent", json={"name": "Urgent", "steps": [
        {"type": "set_priority", "priority": "urgent"}]})
    await call(live, "PATCH", f"/api/inboxes/{live.inbox['id']}", json={"keywords": {"rules": [
        {"word": "HOURS", "reply": "We are open 9:00-17:00, Monday to Friday.", "label_ids": [hours["id"]]}]}})
    await customer(live, "+15557654321", "Maria Lopez", "HOURS")


async def shoot(browser: Browser, live: Live, who: str, path: str, out: Path, *, dark: bool = False,
                viewport: dict[str, int] = DESKTOP, unfold: str | None = None, **context: object) -> None:
    page = await signed_in(browser, live, who, viewport=viewport, color_scheme="dark" if dark else "light",
                           **context)
    await page.goto(live.url + path)
    await page.wait_for_load_state("networkidle")
    if unfold is not None:
        await page.locator(unfold).first.evaluate("d => { d.open = true; d.scrollIntoView({block: 'start'}); }")
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(out))
    await page.context.close()
    print("wrote", out)


async def main(out: Path) -> None:
    async with staged("macros", MovableClock()) as (live, browser):
        await seed(live)
        phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        await shoot(browser, live, "admin", "/admin/macros", out / "macros-admin-light.png")
        await shoot(browser, live, "admin", "/admin/macros", out / "macros-admin-dark.png", dark=True)
        await shoot(browser, live, "admin", "/admin/macros", out / "macros-admin-form-light.png",
                    unfold="article[data-macro] details.sla-edit")
        await shoot(browser, live, "admin", "/admin/macros", out / "macros-admin-phone.png",
                    unfold="article[data-macro] details.sla-edit", **phone)
        await shoot(browser, live, "agent", "/settings#macros", out / "macros-settings-light.png")
        await shoot(browser, live, "agent", "/settings#macros", out / "macros-settings-phone.png",
                    unfold="details.sla-add", **phone)
        for name, dark, extra in (("light", False, {}), ("dark", True, {}), ("phone", False, phone)):
            await shoot(browser, live, "admin", "/admin/inboxes", out / f"keywords-admin-{name}.png", dark=dark,
                        unfold="details.keywords-setting", **extra)  # type: ignore[arg-type]


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
