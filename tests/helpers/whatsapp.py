"""Recorded-shape WhatsApp webhooks (tests/fixtures/whatsapp/), signed exactly as Meta signs them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded payload, for a test to adjust."""
    return copy.deepcopy(_read(name))


def value(body: dict[str, Any], entry: int = 0, change: int = 0) -> dict[str, Any]:
    return body["entry"][entry]["changes"][change]["value"]  # type: ignore[no-any-return]


def message(body: dict[str, Any]) -> dict[str, Any]:
    return value(body)["messages"][0]  # type: ignore[no-any-return]


def status_for(name: str, wamid: str) -> dict[str, Any]:
    body = fixture(name)
    value(body)["statuses"][0]["id"] = wamid
    return body


def signed(body: dict[str, Any] | bytes, app_secret: str) -> dict[str, Any]:
    """httpx keyword arguments for a POST that Meta would have made: compact JSON and
    X-Hub-Signature-256 = sha256=<hex HMAC-SHA256 of those bytes with the app secret>."""
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": signature}}
