"""The ASGI application: composition of storage, bus, delivery worker and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox import redact
from inbox.actions.context import Context
from inbox.config import Settings
from inbox.domain.channels import ReplyWindow
from inbox.domain.events import may_queue_delivery
from inbox.queries.directory import InboxDirectory
from inbox.storage.db import Database
from inbox.storage.media import MediaStore
from inbox.storage.redisbus import make_bus
from inbox.workers.delivery import DeliveryWorker
from inbox.workers.housekeeping import Housekeeper
from ui import live
from ui.api import media
from ui.api import rest as api
from ui.api.openapi import openapi
from ui.auth import LoginThrottle, login, logout, logout_everywhere
from ui.http import EXCEPTION_HANDLERS, BodyLimit
from ui.pages import admin
from ui.pages import agent as views
from webhooks import routes as webhook_routes
from webhooks.registry import build_registry

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


async def healthz(request: Request) -> Response:
    try:
        await request.app.state.ctx.db.read(lambda c: c.execute(text("SELECT 1")).scalar())
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


# Every response's defaults (a response that sets its own, as /media does, keeps it). Pages
# load scripts only from /static (htmx, app.js); styles may be inline because a customer's
# email is shown in a sandboxed srcdoc frame, which inherits this policy, and mail is styled
# inline; images may come from anywhere, for the remote images of an email the agent asks
# to see. No other site may frame our pages (clickjacking), no page address (conversation
# ids) leaks to other sites in the Referer, and no file is sniffed into a script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: "
       "http:; media-src 'self' blob:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {b"content-security-policy": CSP.encode(), b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin", b"x-content-type-options": b"nosniff"}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                missing = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                if missing:
                    message = {**message, "headers": [*message.get("headers", []), *missing]}
            await send(message)
        await self.app(scope, receive, with_headers)


@contextlib.contextmanager
def settled_garbage_collector() -> Iterator[None]:
    """While serving: keep the start-up objects (modules, tables, compiled statements) out
    of every collection, and collect the young generation less often. A full collection
    otherwise walks the whole heap on the event loop, every request waiting meanwhile:
    about 8% of a busy process's time when profiled under ingest load. Undone at shutdown
    (an app started again in the same process, as in the tests, starts from scratch)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def create_app(settings: Settings | None = None) -> Starlette:
    redact.install()  # before anything logs: uvicorn's lines hold /ws?token=... (inbox/redact.py)
    settings = settings or Settings.from_env()
    db = Database(settings.database_url)
    bus = make_bus(settings)
    registry = build_registry(settings)
    ctx = Context(db=db, settings=settings, bus=bus, media=MediaStore(settings.media_dir, settings.max_media_bytes),
                  reply_windows={kind: ReplyWindow(a.reply_window, a.supports_templates) for kind in registry.kinds()
                                 if (a := registry.get(kind)).reply_window is not None})
    directory = InboxDirectory(db)
    worker = DeliveryWorker(ctx, registry)
    ctx.wake_delivery = worker.wake
    if settings.run_worker:  # replies queued by other processes too (with the Redis bus)
        bus.subscribe(lambda event: worker.wake() if may_queue_delivery(event) else None)
    housekeeper = Housekeeper(ctx)
    ctx.snoozes_changed = housekeeper.snoozes_changed

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate)
        await bus.start(db)
        db.on_commit = bus.publish_committed
        db.start()
        await directory.reload()
        await registry.start(ctx, directory)  # what channels run beside HTTP (email's SMTP listener)
        task = asyncio.create_task(worker.run()) if settings.run_worker else None
        housekeeping = asyncio.create_task(housekeeper.run())
        try:
            with settled_garbage_collector():
                yield
        finally:
            housekeeping.cancel()
            if task is not None:
                await worker.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await registry.aclose()
            await bus.stop()  # first: no more reads from it once the database closes
            await asyncio.to_thread(db.stop)

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
        Route("/api/openapi.json", openapi),
        *api.routes,
        *webhook_routes.routes,
        *live.routes,
        *media.routes,
        *views.routes,
        *admin.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(SecurityHeaders),
                    Middleware(BodyLimit, limit=max(settings.max_body_bytes, settings.max_media_bytes,
                                                    settings.max_email_bytes) + 1024 * 1024),
                    Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="inbox_session",
                               same_site="lax", https_only=settings.public_url.startswith("https://"))],
    )
    app.state.ctx = ctx
    app.state.login_throttle = LoginThrottle(settings.login_attempts, settings.login_window_seconds,
                                             settings.login_account_attempts)
    app.state.online = Counter()  # user id -> open WebSockets (ui/live.py)
    app.state.registry = registry
    app.state.directory = directory
    app.state.worker = worker
    return app
