"""Takes the screenshots in this folder: a live inbox with a fake Twilio, a few customers,
and Debian's chromium. Run from the repository root: .venv/bin/python docs/screenshots/take.py"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, make_settings, seed_people  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.helpers.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.helpers.server import free_port, serve  # noqa: E402
from tests.helpers.twilio import inbound_params, signed  # noqa: E402
from ui.app import create_app  # noqa: E402

OUT = Path(__file__).parent
CUSTOMERS = [("+15557654321", "Hi, my order #1234 hasn't arrived yet"),
             ("+15551112222", "Can I change my delivery address?"),
             ("+15553334444", "Do you ship to Canada?"), ("+15557654321", "It was due Monday")]


async def main() -> None:
    fake = FakeTwilio({ACCOUNT_SID: AUTH_TOKEN})
    async with serve(fake.app) as fake_url:
        fake.url = fake_url  # type: ignore[attr-defined]
        port = free_port()
        app = create_app(make_settings(Path(tempfile.mkdtemp()), fake_url, port))
        tokens, users = seed_people(app)
        async with serve(app, port) as url, httpx.AsyncClient(base_url=url) as c:
            def auth(who: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[who]}"}
            settings = {"phone_number": OUR_NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
            await c.post("/api/inboxes", headers=auth("admin"),
                         json={"kind": "sms", "name": "Support line", "settings": settings})
            for sender, body in CUSTOMERS:
                params = inbound_params(OUR_NUMBER, sender, body, AccountSid=ACCOUNT_SID)
                await c.post("/webhooks/twilio", **signed(url, "/webhooks/twilio", params, AUTH_TOKEN))
            convs = (await c.get("/api/conversations", headers=auth("agent"))).json()["items"]
            first = next(x for x in convs if x["contact"]["name"] == "+15557654321")
            await c.patch(f"/api/contacts/{first['contact']['id']}", headers=auth("agent"),
                          json={"name": "Dana Scully", "attributes": {"plan": "gold", "city": "Washington"}})
            await c.post(f"/api/conversations/{first['id']}/messages", headers=auth("agent"),
                         json={"text": "Sorry about that, Dana! Let me check with the carrier."})
            await c.post(f"/api/conversations/{first['id']}/notes", headers=auth("agent"),
                         json={"text": "Carrier reports delays in the region; offer a refund of shipping."})
            await fake.wait_for_sent(1)
            await c.post(f"/api/conversations/{first['id']}/assignment", headers=auth("agent"),
                         json={"user_id": users["agent"]["id"]})
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                for who, path, name, viewport in (
                        ("agent", f"/inbox?tab=all&c={first['id']}", "inbox.png", (1280, 800)),
                        ("lead", "/queue", "queue.png", (1280, 800)),
                        ("admin", "/admin", "admin.png", (1280, 800)),
                        ("agent", f"/inbox?tab=all&c={first['id']}", "phone.png", (390, 844))):
                    page = await browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                    await page.goto(url + "/login")
                    await page.fill("input[name=email]", f"{who}@example.com")
                    await page.fill("input[name=password]", "correct horse battery")
                    await page.click("button[type=submit]")
                    await page.goto(url + path)
                    await page.wait_for_function(
                        "window.inboxSocket === undefined || window.inboxSocket.readyState === 1")
                    await page.screenshot(path=str(OUT / name))
                    await page.close()
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
