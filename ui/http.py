"""Small HTTP helpers shared by the API and the webhook routes."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.errors import BadRequest, InboxError, Invalid, PayloadTooLarge, TooManyRequests

log = logging.getLogger(__name__)

# Deeper is refused before anything walks it: no provider's webhook or API body comes near
# (WhatsApp's nest about eight levels), and Python's parser and JSON walkers recurse.
MAX_JSON_DEPTH = 64
# Ids are 64-bit signed in SQLite and PostgreSQL (BIGINT); a larger one is no row, not an
# OverflowError in the database driver.
ID_RANGE = range(1 - 2**63, 2**63)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"body over the {limit}-byte limit")
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def load_json(raw: bytes) -> Any:
    """``json.loads`` for a body from anyone (the API's, the JSON webhooks'): nesting
    deeper than MAX_JSON_DEPTH, and NaN or Infinity (not JSON, and not storable in
    PostgreSQL), are a ValueError like any other malformed body, never a RecursionError."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Fewer brackets cannot nest deeper: most bodies are not walked at all.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _depth_over(data, MAX_JSON_DEPTH):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth_over(data: Any, limit: int) -> bool:
    """Whether ``data`` nests arrays and objects more than ``limit`` deep (iteratively)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _unstorable(data: Any) -> bool:
    """Whether a string in ``data`` holds a NUL or half a surrogate pair: JSON can say
    both (``\\u0000``, ``\\ud800``), PostgreSQL's text and UTF-8 cannot store them."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value or not value.isascii() and _lone_surrogate(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
