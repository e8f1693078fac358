"""Who is calling: an API token (``Authorization: Bearer``, or ``?token=`` on the
WebSocket) or the UI's session cookie. Roles are checked here, per route.

A browser sends the session cookie with requests another site makes it send, so a
request the cookie authenticates must also prove it comes from our pages: a state change
(POST and the like) carries the session's CSRF token (the ``X-CSRF-Token`` header htmx
sends, or the ``csrf_token`` field every form has), and a WebSocket comes from our origin.
A token-authenticated request needs neither: no browser adds a Bearer header by itself.
Failed logins are counted per client address and email, and refused with 429 for a while
once there have been too many.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import Connection
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inbox import store
from inbox.auth import hash_token, verify_password
from inbox.errors import Forbidden, TooManyRequests, Unauthenticated
from inbox.events import Viewer
from inbox.models import Role
from ui.http import json_body

RANK = {Role.agent: 0, Role.lead: 1, Role.admin: 2}
Handler = Callable[[Request, Viewer], Awaitable[Response]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER, CSRF_FIELD = "x-csrf-token", "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def load_viewer(conn: Connection, token: str | None, user_id: int | None) -> Viewer | None:
    """The user behind an API token or a session's user id, as they are now; None when
    the token is unknown or revoked, or the user is gone or deactivated."""
    user = None
    if token:
        user = store.user_for_token(conn, hash_token(token))
    elif user_id is not None:
        user = store.get_user(conn, user_id)
    if user is None or not user["active"]:
        return None
    return Viewer(user["id"], user["role"], store.team_ids_of(conn, user["id"]))


def credentials(conn: HTTPConnection) -> tuple[str | None, int | None]:
    """(API token, session user id): at most one of them is set."""
    token = None
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif conn.scope["type"] == "websocket":
        token = conn.query_params.get("token")
    return token, None if token else conn.session.get("uid")


def csrf_token(conn: HTTPConnection) -> str:
    """The session's CSRF token, made on first use; pages put it in every form."""
    token = conn.session.get("csrf")
    if not token:
        token = conn.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state change that lacks the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    given: Any = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        given = (await request.form()).get(CSRF_FIELD)  # cached: the handler reads the same form
    expected = request.session.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given.encode(), str(expected).encode()):
        raise Forbidden("this form has expired or did not come from this site; reload the page and try again",
                        "csrf_failed")


def check_origin(conn: HTTPConnection) -> None:
    """Refuse a cookie-authenticated WebSocket that another site opened."""
    origin = conn.headers.get("origin")
    if origin is None:  # not a browser
        return
    public = conn.app.state.ctx.settings.public_url
    if urlsplit(origin).netloc not in (conn.headers.get("host"), urlsplit(public).netloc):
        raise Forbidden(f"WebSocket from another site ({origin}) refused", "bad_origin")


async def authenticate(conn: HTTPConnection) -> Viewer:
    token, user_id = credentials(conn)
    if not token and user_id is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
    if user_id is not None:  # the session cookie, which a browser sends for other sites too
        if isinstance(conn, Request):
            await check_csrf(conn)
        else:
            check_origin(conn)
    viewer = await conn.app.state.ctx.db.read(lambda c: load_viewer(c, token, user_id))
    if viewer is None:
        raise Unauthenticated("invalid or revoked credentials")
    return viewer


def requires(role: Role = Role.agent) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            viewer = await authenticate(request)
            if RANK[Role(viewer.role)] < RANK[role]:
                raise Forbidden(f"this needs the {role.value} role")
            return await handler(request, viewer)
        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint
    return decorate


class LoginThrottle:
    """Failed logins per key within a sliding window, in this process's memory (each
    process of a multi-process deployment counts its own)."""

    MAX_KEYS = 100_000  # a flood of made-up emails cannot grow it without bound

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts, self.window = attempts, window
        self.failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self.failures.get(key) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait(self, key: tuple[str, str]) -> int:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) < self.attempts:
            return 0
        return max(1, int(times[0] + self.window - now + 1))

    def failed(self, key: tuple[str, str]) -> None:
        now = time.monotonic()
        if len(self.failures) >= self.MAX_KEYS:
            self.failures = {k: t for k, t in self.failures.items() if self._recent(k, now)}
        times = self._recent(key, now)
        times.append(now)
        self.failures[key] = times

    def succeeded(self, key: tuple[str, str]) -> None:
        self.failures.pop(key, None)


async def login(request: Request) -> Response:
    """POST /login with email and password (form or JSON): sets the session cookie."""
    ctx = request.app.state.ctx
    is_form = not request.headers.get("content-type", "").startswith("application/json")
    if is_form:
        await check_csrf(request)  # the login form too: no site logs a browser in as someone else
        data: dict[str, Any] = dict(await request.form())
    else:
        data = await json_body(request, 64 * 1024)
    email, password = str(data.get("email", "")), str(data.get("password", ""))
    throttle: LoginThrottle = request.app.state.login_throttle
    key = (request.client.host if request.client else "", email.strip().lower())
    wait = throttle.wait(key)
    if wait:
        if is_form and "next" in data:
            return RedirectResponse("/login?" + urlencode({"throttled": wait, "next": _local_path(str(data["next"]))}),
                                    status_code=303)
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", wait, "login_throttled")
    user = await ctx.db.read(lambda c: store.get_user_by_email(c, email))
    ok = await asyncio.to_thread(verify_password, user["password_hash"] if user else "", password)
    if user is None or not ok or not user["active"]:
        throttle.failed(key)
        if is_form and "next" in data:  # the login page: back to it, saying why
            return RedirectResponse("/login?" + urlencode({"failed": 1, "next": _local_path(str(data["next"]))}),
                                    status_code=303)
        raise Unauthenticated("wrong email or password", "bad_credentials")
    throttle.succeeded(key)
    request.session.clear()  # a fresh session (and CSRF token) for the user
    request.session["uid"] = user["id"]
    if "next" in data:
        return RedirectResponse(_local_path(str(data["next"])), status_code=303)
    return JSONResponse({"user": store.user_dict(user)})


def _local_path(next_url: str) -> str:
    """Only a path on this site: "//host" and "/\\host" are other sites to a browser."""
    if next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


async def logout(request: Request) -> Response:
    if request.session.get("uid") is not None:
        await check_csrf(request)
    request.session.clear()
    if not request.headers.get("content-type", "").startswith("application/json") and \
            request.headers.get("accept", "").startswith("text/html"):
        return RedirectResponse("/login", status_code=303)  # the UI's log-out button
    return Response(status_code=204)
