"""Who is calling: an API token (``Authorization: Bearer``, or ``?token=`` on the
WebSocket) or the UI's session cookie. Roles are checked here, per route."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inbox import store
from inbox.auth import hash_token, verify_password
from inbox.errors import Forbidden, Unauthenticated
from inbox.events import Viewer
from inbox.models import Role
from ui.http import json_body

RANK = {Role.agent: 0, Role.lead: 1, Role.admin: 2}
Handler = Callable[[Request, Viewer], Awaitable[Response]]


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


async def authenticate(conn: HTTPConnection) -> Viewer:
    token, user_id = credentials(conn)
    if not token and user_id is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
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


async def login(request: Request) -> Response:
    """POST /login with email and password (form or JSON): sets the session cookie."""
    ctx = request.app.state.ctx
    is_form = not request.headers.get("content-type", "").startswith("application/json")
    if is_form:
        data: dict[str, Any] = dict(await request.form())
    else:
        data = await json_body(request, 64 * 1024)
    email, password = str(data.get("email", "")), str(data.get("password", ""))
    user = await ctx.db.read(lambda c: store.get_user_by_email(c, email))
    ok = await asyncio.to_thread(verify_password, user["password_hash"] if user else "", password)
    if user is None or not ok or not user["active"]:
        if is_form and "next" in data:  # the login page: back to it, saying why
            return RedirectResponse("/login?" + urlencode({"failed": 1, "next": _local_path(str(data["next"]))}),
                                    status_code=303)
        raise Unauthenticated("wrong email or password", "bad_credentials")
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
    request.session.clear()
    if not request.headers.get("content-type", "").startswith("application/json") and \
            request.headers.get("accept", "").startswith("text/html"):
        return RedirectResponse("/login", status_code=303)  # the UI's log-out button
    return Response(status_code=204)
