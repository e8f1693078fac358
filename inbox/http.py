"""HTTP plumbing both edges share (``ui/`` and ``webhooks/``): a bounded body read and
JSON that refuses what we could not store.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from inbox.domain.errors import BadRequest, PayloadTooLarge

# Deeper is refused before anything walks it: no provider's webhook or API body comes near
# (WhatsApp's nest about eight levels), and Python's parser and JSON walkers recurse.
MAX_JSON_DEPTH = 64


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
