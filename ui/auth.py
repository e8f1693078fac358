"""Who is calling: an API token (``Authorization: Bearer``; on the WebSocket also the
``token.<token>`` subprotocol or ``?token=``) or the UI's session cookie. Roles are
checked here, per route.

A session holds the user's ``session_version`` from the time of login, and is honoured
only while the user's row still has that version: logging out, "log out everywhere", a
new password and a deactivation bump it, so a copied cookie stops working at once (not
when it expires 14 days later) and open WebSockets opened with it are closed.

A browser sends the session cookie with requests another site makes it send, so a
request the cookie authenticates must also prove it comes from our pages: a state change
(POST and the like) carries the session's CSRF token (the ``X-CSRF-Token`` header htmx
sends, or the ``csrf_token`` field every form has), and a WebSocket comes from our origin.
A token-authenticated request needs neither: no browser adds a Bearer header by itself.
Failed logins are counted per client address and email, and per email from any address,
and refused with 429 for a while once there have been too many. The client address is the
connection's, or with INBOX_TRUSTED_PROXIES the one those proxies report (inbox/cli.py).
An unknown email costs the same argon2 verification as a wrong password, so the time
taken does not tell which emails have accounts.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from sqlalchemy import Connection
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inbox import actions, queries
from inbox.domain import serialize
from inbox.domain.access import Viewer
from inbox.domain.credentials import hash_password, hash_token, verify_password
from inbox.domain.errors import Forbidden, TooManyRequests, Unauthenticated
from inbox.domain.models import Role
from ui.http import json_body

RANK = {Role.agent: 0, Role.lead: 1, Role.admin: 2}
Handler = Callable[[Request, Viewer], Awaitable[Response]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER, CSRF_FIELD = "x-csrf-token", "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
WS_PROTOCOL, WS_TOKEN_PROTOCOL = "inbox", "token."  # new WebSocket(url, ["inbox", "token." + token])


class Credentials(NamedTuple):
    """What a request presents: an API token, or a session's user id and session version."""

    token: str | None
    user_id: int | None
    session_version: int | None = None


def load_viewer(conn: Connection, token: str | None, user_id: int | None,
                session_version: int | None = None) -> Viewer | None:
    """The user behind an API token or a session, as they are now; None when the token is
    unknown or revoked, the session was ended (its version is not the user's), or the user
    is gone or deactivated."""
    user = None
    if token:
        user = queries.user_for_token(conn, hash_token(token))
    elif user_id is not None:
        user = queries.get_user(conn, user_id)
        if user is not None and user["session_version"] != session_version:
            return None
    if user is None or not user["active"]:
        return None
    return Viewer(user["id"], user["role"], queries.team_ids_of(conn, user["id"]), user["name"])


def credentials(conn: HTTPConnection) -> Credentials:
    """The API token, or else the session's user and version."""
    token = None
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif conn.scope["type"] == "websocket":
        offered = [p for p in conn.scope.get("subprotocols", []) if p.startswith(WS_TOKEN_PROTOCOL)]
        token = offered[0][len(WS_TOKEN_PROTOCOL):] if offered else conn.query_params.get("token")
    if token:
        return Credentials(token, None)
    uid, version = conn.session.get("uid"), conn.session.get("sv")
    return Credentials(None, uid if isinstance(uid, int) else None, version if isinstance(version, int) else None)


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
    creds = credentials(conn)
    token, user_id = creds.token, creds.user_id
    if not token and user_id is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
    if user_id is not None:  # the session cookie, which a browser sends for other sites too
        if isinstance(conn, Request):
            await check_csrf(conn)
        else:
            check_origin(conn)
    viewer: Viewer | None = await conn.app.state.ctx.db.read(lambda c: load_viewer(c, *creds))
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
    """Failed logins within a sliding window, in this process's memory (each process of a
    multi-process deployment counts its own): per (client address, email), and per email
    from any address with a higher limit, so that a guesser spreading one account's
    guesses over many addresses is stopped too. A success forgets its address's failures
    only: the account's count runs out with the window."""

    MAX_KEYS = 100_000  # a flood of made-up emails cannot grow it without bound
    ANY_ADDRESS = "*"  # the account's own count (no client address is "*")

    def __init__(self, attempts: int, window: float, account_attempts: int | None = None) -> None:
        self.attempts, self.window = attempts, window
        self.account_attempts = account_attempts if account_attempts is not None else 3 * attempts
        self.failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self.failures.get(key) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _keys(self, address: str, email: str) -> tuple[tuple[tuple[str, str], int], ...]:
        return ((address, email), self.attempts), ((self.ANY_ADDRESS, email), self.account_attempts)

    def wait(self, address: str, email: str) -> int:
        """Seconds until ``email`` may be tried again from ``address``; 0 when it may now."""
        now = time.monotonic()
        waits = [0]
        for key, limit in self._keys(address, email):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(max(1, int(times[-limit] + self.window - now + 1)))
        return max(waits)

    def failed(self, address: str, email: str) -> None:
        now = time.monotonic()
        if len(self.failures) >= self.MAX_KEYS:
            self.failures = {k: t for k, t in self.failures.items() if self._recent(k, now)}
        for key, _ in self._keys(address, email):
            times = self._recent(key, now)
            times.append(now)
            self.failures[key] = times

    def succeeded(self, address: str, email: str) -> None:
        self.failures.pop((address, email), None)


@functools.cache
def _dummy_hash() -> str:
    """An argon2 hash of nothing anyone knows, made with the same parameters as real ones:
    an unknown email is verified against it, which takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(32))


def _check_password(password_hash: str | None, password: str) -> bool:
    return verify_password(password_hash or _dummy_hash(), password) and bool(password_hash)


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
    wait = throttle.wait(*key)
    if wait:
        if is_form and "next" in data:
            return RedirectResponse("/login?" + urlencode({"throttled": wait, "next": _local_path(str(data["next"]))}),
                                    status_code=303)
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", wait, "login_throttled")
    user = await ctx.db.read(lambda c: queries.get_user_by_email(c, email))
    ok = await asyncio.to_thread(_check_password, user["password_hash"] if user else None, password)
    if user is None or not ok or not user["active"]:
        throttle.failed(*key)
        if is_form and "next" in data:  # the login page: back to it, saying why
            return RedirectResponse("/login?" + urlencode({"failed": 1, "next": _local_path(str(data["next"]))}),
                                    status_code=303)
        raise Unauthenticated("wrong email or password", "bad_credentials")
    throttle.succeeded(*key)
    request.session.clear()  # a fresh session (and CSRF token) for the user
    request.session["uid"] = user["id"]
    request.session["sv"] = user["session_version"]
    if "next" in data:
        return RedirectResponse(_local_path(str(data["next"])), status_code=303)
    return JSONResponse({"user": serialize.user_dict(user)})


def _local_path(next_url: str) -> str:
    """Only a path on this site: "//host" and "/\\host" are other sites to a browser."""
    if next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


async def logout(request: Request) -> Response:
    """POST /logout: ends the session. The server keeps one session version per user, so
    this ends the user's other sessions too (every browser, and their sockets)."""
    creds = credentials(request)
    if creds.user_id is not None and creds.token is None:
        await check_csrf(request)
        user_id = creds.user_id
        if await request.app.state.ctx.db.read(lambda c: load_viewer(c, *creds)) is not None:
            await request.app.state.ctx.db.write(lambda tx: actions.end_sessions(tx, user_id))
    request.session.clear()
    return _logged_out(request)


async def logout_everywhere(request: Request) -> Response:
    """POST /logout/everywhere: ends every session of the caller, who may also use an API
    token (a script, after a laptop went missing). The token itself stays valid."""
    viewer = await authenticate(request)
    await request.app.state.ctx.db.write(lambda tx: actions.end_sessions(tx, viewer.user_id))
    request.session.clear()
    return _logged_out(request)


def _logged_out(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/json") and \
            request.headers.get("accept", "").startswith("text/html"):
        return RedirectResponse("/login", status_code=303)  # the UI's log-out buttons
    return Response(status_code=204)
