"""Takes the webhooks-*.png screenshots in this folder: the admin's Webhooks section with three
endpoints (one delivering, with a request folded out; one the worker paused after a 410
Gone, which every admin page points out; one whose name does not resolve, retrying), its
create form, desktop light and dark and a 390 px phone. The state is made the way the app
makes it (signed SMS webhooks, REST) against a receiver on 127.0.0.1. Run from the
repository root: .venv/bin/python docs/screenshots/take_webhooks.py [--out DIR]."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staged import staged  # noqa: E402
from take_sla import DESKTOP, PHONE, call, customer, signed_in  # noqa: E402

from inbox.domain.clock import MovableClock  # noqa: E402
from tests.conftest import Live  # noqa: E402
from tests.helpers.server import serve  # noqa: E402


async def receive(request: Request) -> Response:
    await request.body()
    if request.url.path == "/gone":
        return Response("this integration was removed", status_code=410)
    return Response('{"received": true}', media_type="application/json")


async def seed(live: Live, receiver: str) -> None:
    crm = await call(live, "POST", "/api/webhooks", json={
        "url": receiver + "/hooks/inbox", "events": ["message.created", "conversation.resolved", "csat.received"]})
    await call(live, "POST", f"/api/webhooks/{crm['id']}/test")
    await call(live, "POST", "/api/webhooks", json={"url": receiver + "/gone", "events": ["conversation.created"]})
    await call(live, "POST", "/api/webhooks", json={"url": "https://analytics.example.invalid/ingest/inbox",
                                                    "events": ["message.created", "message.updated"]})
    first = await customer(live, "+15557654321", "Maria Lopez", "Where is my order #1042? It was due Monday.")
    await customer(live, "+15551112222", "Ana Costa", "Can I change my delivery address?")
    await call(live, "POST", f"/api/conversations/{first}/status", "lead", json={"status": "resolved"})
    for _ in range(100):  # until the worker has sent what it can (and paused the endpoint that is gone)
        hooks = (await call(live, "GET", "/api/webhooks"))["items"]
        if not hooks[1]["active"] and hooks[0]["pending"] == 0:
            break
        await asyncio.sleep(0.1)


async def shoot(browser: Browser, live: Live, out: Path, *, dark: bool = False, viewport: dict[str, int] = DESKTOP,
                unfold: str | None = None, **context: object) -> None:
    """/admin/webhooks, with its first delivery's request folded out, or ``unfold`` (a
    disclosure's selector) open and in view."""
    page = await signed_in(browser, live, "admin", viewport=viewport, color_scheme="dark" if dark else "light",
                           **context)
    await page.goto(live.url + "/admin/webhooks")
    await page.wait_for_load_state("networkidle")
    if unfold is None:
        await page.locator("li[data-delivery] summary").first.click()
    else:
        await page.locator(unfold).evaluate("d => { d.open = true; d.scrollIntoView({block: 'start'}); }")
    await page.evaluate("document.fonts.ready")
    await page.screenshot(path=str(out))
    await page.context.close()
    print("wrote", out)


async def main(out: Path) -> None:
    async with serve(Starlette(routes=[Route("/{p:path}", receive, methods=["POST"])])) as receiver, \
            staged("webhooks", MovableClock(), send_timeout_seconds=5.0) as (live, browser):
        await seed(live, receiver)
        tall = {"width": DESKTOP["width"], "height": 1500}
        await shoot(browser, live, out / "webhooks-admin-light.png", viewport=tall)
        await shoot(browser, live, out / "webhooks-admin-dark.png", viewport=tall, dark=True)
        await shoot(browser, live, out / "webhooks-admin-form-light.png", unfold="details.webhook-add")
        await shoot(browser, live, out / "webhooks-admin-phone.png", viewport=PHONE, is_mobile=True, has_touch=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
