"""The ASGI application: every route (ours and the channels'), the middleware, and the
lifespan that starts the process's parts built by inbox/compose.py."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox import compose, queries, redact
from inbox.config import Settings
from inbox.domain.clock import Clock
from ui import live
from ui.api import media
from ui.api import rest as api
from ui.api.openapi import openapi
from ui.auth import LoginThrottle, login, logout, logout_everywhere
from ui.http import EXCEPTION_HANDLERS, BodyLimit
from ui.pages import (
    admin,
    admin_automation,
    admin_keywords,
    admin_sla,
    admin_webhooks,
    campaigns,
    csat,
    macros,
    reports,
)
from ui.pages import unsubscribe
from ui.pages import agent as views
from ui.timing import ServerTiming
from ui.pages import notifications

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


async def healthz(request: Request) -> Response:
    try:
        await request.app.state.ctx.db.read(queries.ping)
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


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    """The ASGI app of ``inbox serve`` (uvicorn's factory, once per worker process): the
    process's parts from the composition root (inbox/compose.py), started by the lifespan,
    behind our routes and middleware."""
    redact.install()  # before anything logs: uvicorn's lines hold /ws?token=... (inbox/redact.py)
    settings = settings or Settings.from_env()
    process = compose.process(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with process.serving():
            with settled_garbage_collector():
                yield

    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/favicon.ico", RedirectResponse("/static/favicon.svg", status_code=301)),  # for browsers that ask
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
        Route("/api/openapi.json", openapi),
        *api.routes,
        *compose.webhook_routes(),
        *live.routes,
        *media.routes,
        *views.routes,
        *admin.routes,
        *admin_sla.routes,
        *admin_automation.routes,
        *admin_webhooks.routes,
        *macros.routes,
        *admin_keywords.routes,
        *reports.routes,
        *campaigns.routes,
        *notifications.routes,
        *csat.routes,
        *unsubscribe.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(ServerTiming), Middleware(SecurityHeaders),
                    Middleware(BodyLimit, limit=max(settings.max_body_bytes, settings.max_media_bytes,
                                                    settings.max_email_bytes) + 1024 * 1024),
                    Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="inbox_session",
                               same_site="lax", https_only=settings.public_url.startswith("https://"))],
    )
    app.state.ctx = process.ctx
    app.state.login_throttle = LoginThrottle(settings.login_attempts, settings.login_window_seconds,
                                             settings.login_account_attempts)
    app.state.online = process.ctx.connections  # user id -> open WebSockets in this process (ui/live.py)
    app.state.registry = process.registry
    app.state.directory = process.directory
    app.state.webhooks = process.webhooks  # the outbound webhook worker: its test sends
    app.state.automation = process.automation  # the rules' runner (tests await it caught up)
    app.state.campaigns = process.campaigns  # the campaign worker (tests await a pass)
    app.state.rollups = process.rollups  # the report rollup worker (tests await it caught up)
    return app
