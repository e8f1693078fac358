"""HTTP helpers of the UI and API: the JSON errors every route answers with, the app's
context and channel kinds, ids from paths and forms, and the body limit on every request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.domain.errors import BadRequest, InboxError, Invalid, NotFound, PayloadTooLarge, TooManyRequests
from inbox.http import _unstorable, error_response, load_json, read_body

if TYPE_CHECKING:
    from inbox.actions.context import Context

log = logging.getLogger(__name__)


# Ids are 64-bit signed in SQLite and PostgreSQL (BIGINT); a larger one is no row, not an
# OverflowError in the database driver.
ID_RANGE = range(1 - 2**63, 2**63)


async def json_body(request: Request, limit: int) -> dict[str, Any]:
    raw = await read_body(request, limit)
    if not raw:
        return {}
    try:
        data = load_json(raw)
    except ValueError as exc:  # UnicodeDecodeError is one
        raise BadRequest(f"body is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object", "malformed_json")
    # Refused here rather than failing the write (only escapes can put them in a string).
    if (b"\\u0000" in raw or b"\\ud" in raw.lower()) and _unstorable(data):
        raise BadRequest("strings may not contain NUL (\\u0000) or half a surrogate pair", "malformed_json")
    return data


def parse_id(value: object) -> int | None:
    """An id given as a JSON integer or a decimal string (a path, a query, a form), or
    None when it is not one or is outside the 64-bit range the database stores."""
    if isinstance(value, bool) or not isinstance(value, int | str) or isinstance(value, str) and len(value) > 20:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number in ID_RANGE else None


def ctx_of(request: Request) -> Context:
    """The ``Context`` the app was built with (inbox/compose.py), which actions and reads take."""
    return request.app.state.ctx  # type: ignore[no-any-return]


def kinds_of(request: Request) -> list[str]:
    """The channel kinds registered, which the checks of campaigns and rules take."""
    return list(request.app.state.registry.kinds())


def path_id(request: Request, what: str, name: str = "id") -> int:
    """The id in the path's ``name``; 404 "no such <what>" for one that no row can have."""
    number = parse_id(request.path_params[name])
    if number is None:
        raise NotFound(f"no such {what}")
    return number


def form_id(value: object, name: str) -> int:
    """An id a form posted: a clear 422 for anything else, never a 500."""
    number = parse_id(value)
    if number is None:
        raise Invalid(f"{name} must be a number", "invalid_id")
    return number


async def on_inbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InboxError)
    response = error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; it has been logged")


EXCEPTION_HANDLERS = {InboxError: on_inbox_error, HTTPException: on_http_error, Exception: on_unexpected}


class BodyLimit:
    """Refuse (413) any request body over ``limit`` bytes, by its Content-Length or as it
    streams in, before a route reads it: a multipart upload is spooled to disk whole before
    the route sees its size, so without this a logged-in user could fill the disk. Routes
    apply their own, smaller limits on top (webhooks, uploads, emails)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(413, "payload_too_large", f"body over the {self.limit}-byte limit")(
                scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise PayloadTooLarge(f"body over the {self.limit}-byte limit")
            return message
        await self.app(scope, counted, send)
