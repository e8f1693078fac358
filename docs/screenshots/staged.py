"""What the take_*.py scripts share: the app on a free 127.0.0.1 port (SQLite in a fresh
folder, Twilio replaced by its fake, the tests' people and one SMS inbox), and Chromium."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, Live, make_settings, seed_people  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.helpers.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.helpers.server import free_port, serve  # noqa: E402
from ui.app import create_app  # noqa: E402


@contextlib.asynccontextmanager
async def staged(name: str, clock: MovableClock, **settings: Any) -> AsyncIterator[tuple[Live, Browser]]:
    """The running app as the tests' ``live`` fixture makes it, and a browser to shoot it with."""
    tmp = Path(tempfile.mkdtemp(prefix=f"inbox-{name}-screenshots-"))
    fake = FakeTwilio({ACCOUNT_SID: AUTH_TOKEN})
    async with serve(fake.app) as twilio_url:
        port = free_port()
        app = create_app(make_settings(tmp, twilio_url, port, **settings), clock)
        tokens, users = seed_people(app)
        async with serve(app, port) as url, httpx.AsyncClient(base_url=url, timeout=10) as client, \
                async_playwright() as pw:
            inbox = (await client.post("/api/inboxes", headers={"Authorization": f"Bearer {tokens['admin']}"}, json={
                "kind": "sms", "name": "Support line", "settings": {
                    "phone_number": "+1 555-000-1111", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}})).json()
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield Live(url, app, client, tokens, users, inbox, fake), browser
            finally:
                await browser.close()
        fake.release.set()
