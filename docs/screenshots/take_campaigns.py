"""Takes the campaigns-*.png and scheduled-reply-*.png screenshots in this folder: /campaigns
with a campaign sent, one scheduled and a draft, the draft's form with its check (who gets
it, who is skipped and why, the first messages; its audience's two attribute conditions, the
SMS counter with the check's count), the sent campaign's results and recipients, the
scheduled one's results as they follow it (polled while it is to send), and a
conversation with a reply scheduled for the customer's morning and the composer's "Send
later" open; desktop at 1280 px light and
dark, and a 390 px phone. The state is made through the REST API, as the app makes it.
Run from the repository root: .venv/bin/python docs/screenshots/take_campaigns.py [--out DIR]."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from playwright.async_api import Browser  # noqa: E402
from staged import staged  # noqa: E402
from take_reports import shoot  # noqa: E402
from take_sla import PHONE, call, customer, signed_in  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import Live  # noqa: E402

PEOPLE = [("+15557654321", "Maria Lopez"), ("+15557654322", "Tom Becker"), ("+15557654323", "Aiko Tanaka"),
          ("+15557654324", "Sam Okafor"), ("+15557654325", "Lena Fischer")]


async def seed(live: Live) -> dict[str, int]:
    vip = await call(live, "POST", "/api/labels", json={"name": "VIP", "colour": "#7a3fbf"})
    for i, (phone, name) in enumerate(PEOPLE):
        conv = await customer(live, phone, name, "hello")
        contact = (await call(live, "GET", f"/api/conversations/{conv}", "lead"))["contact"]["id"]
        if i < 3:
            await call(live, "POST", f"/api/contacts/{contact}/consent", "lead", json={
                "channel": "sms", "purpose": "marketing", "state": "opt_in", "proof": "Signed up in the shop"})
        if i == 3:
            assert (await live.sms(phone, "STOP")).status_code == 200
        if i != 4:
            await call(live, "POST", f"/api/conversations/{conv}/labels", "lead", json={"add": [vip["id"]]})
            await call(live, "PATCH", f"/api/contacts/{contact}", "lead",
                       json={"attributes": {"plan": "gold", "newsletter": "yes"}})
    sent = await call(live, "POST", "/api/campaigns", "lead", json={
        "name": "Opening hours over the holidays", "purpose": "transactional", "audience": {"channels": ["sms"]},
        "messages": [{"channel": "sms", "inbox_id": live.inbox["id"],
                      "text": "Hi {{contact_name}}: we close at 14:00 on 24 December and open again on 2 January."}]})
    await call(live, "POST", f"/api/campaigns/{sent['id']}/start", "lead")
    await live.fake.wait_for_sent(4)
    await live.app.state.campaigns.settled()
    draft = await call(live, "POST", "/api/campaigns", "lead", json={
        "name": "Winter sale for VIPs", "purpose": "marketing",
        "audience": {"labels": [vip["id"]], "attributes": {"plan": "gold", "newsletter": "yes"}},
        "messages": [{"channel": "sms", "inbox_id": live.inbox["id"],
                      "text": "Hi {{contact_name}}, 20% off everything this week, just for you. "
                              "Reply STOP to opt out."}]})
    tomorrow = (live.app.state.ctx.clock.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    scheduled = await call(live, "POST", "/api/campaigns", "lead", json={
        "name": "Appointment reminders", "purpose": "transactional", "audience": {"channels": ["sms"]},
        "schedule": {"at": tomorrow.isoformat()},
        "messages": [{"channel": "sms", "inbox_id": live.inbox["id"],
                      "text": "Hi {{contact_name}}, a reminder of your appointment tomorrow. Reply to change it."}]})
    await call(live, "POST", f"/api/campaigns/{scheduled['id']}/start", "lead")
    await live.app.state.campaigns.settled()
    maria = (await call(live, "GET", "/api/conversations", "lead", params={"q": PEOPLE[0][0]}))["items"][0]
    await call(live, "PATCH", f"/api/contacts/{maria['contact']['id']}", "lead",
               json={"attributes": {"timezone": "Europe/Madrid"}})
    await call(live, "POST", f"/api/conversations/{maria['id']}/scheduled", "agent", json={
        "text": "Good morning Maria! Your new card is ready: you can pick it up from 10:00.",
        "local": f"{(live.app.state.ctx.clock.now() + timedelta(days=1)).date()}T09:00"})
    return {"sent": sent["id"], "draft": draft["id"], "scheduled": scheduled["id"], "conversation": maria["id"]}


async def main(out: Path) -> None:
    async with staged("campaigns", MovableClock()) as (live, browser):
        ids = await seed(live)
        phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        for name, dark, extra in (("light", False, {}), ("dark", True, {}), ("phone", False, phone)):
            await shoot(browser, live, "/campaigns", out / f"campaigns-list-{name}.png", dark=dark,
                        **extra)  # type: ignore[arg-type]
            await shoot(browser, live, f"/campaigns/{ids['draft']}?check=1#campaign-check",
                        out / f"campaigns-check-{name}.png", dark=dark, **extra)  # type: ignore[arg-type]
            await shoot(browser, live, f"/campaigns/{ids['sent']}", out / f"campaigns-results-{name}.png", dark=dark,
                        **extra)  # type: ignore[arg-type]
            await shoot(browser, live, f"/campaigns/{ids['scheduled']}", out / f"campaigns-live-{name}.png",
                        dark=dark, **extra)  # type: ignore[arg-type]
            await later(browser, live, ids["conversation"], out / f"scheduled-reply-{name}.png", dark, extra)


async def later(browser: Browser, live: Live, conversation: int, out: Path, dark: bool,
                extra: dict[str, object]) -> None:
    """The conversation with a reply scheduled, and the composer's Send later open (the agent)."""
    page = await signed_in(browser, live, "agent", viewport=extra.get("viewport", {"width": 1280, "height": 900}),
                           color_scheme="dark" if dark else "light",
                           **{k: v for k, v in extra.items() if k != "viewport"})
    await page.goto(live.url + f"/inbox?tab=all&c={conversation}")
    await page.get_by_label("Message").fill("Thanks, see you tomorrow!")
    await page.locator("details.send-later summary").click()
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(out))
    await page.context.close()
    print("wrote", out)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
