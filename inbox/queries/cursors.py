"""Opaque keyset cursors for paginated lists.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> tuple[datetime, list[int]]:
    """A cursor of ``n`` parts, as ``encode_cursor`` wrote it: an ISO time, then integers.
    Anything else (another route's cursor, a forged one) is a 400, never a failed query."""
    from inbox.domain.errors import BadRequest

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded))
        if (not isinstance(parts, list) or len(parts) != n or not isinstance(parts[0], str)
                or not all(type(p) is int and abs(p) < 2**63 for p in parts[1:])):
            raise ValueError
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError
        return at, parts[1:]
    except ValueError:
        raise BadRequest("invalid cursor", "invalid_cursor") from None
