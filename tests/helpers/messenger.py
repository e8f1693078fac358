"""Build Messenger webhooks from the recorded payloads in tests/fixtures/messenger, signed
exactly as Meta signs them (X-Hub-Signature-256 over the raw body with the app secret)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "messenger"


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def now_ms() -> int:
    return int(time.time() * 1000)


def new_mid() -> str:
    return "m_" + secrets.token_urlsafe(40)


def event(name: str, page_id: str, psid: str, *, mid: str | None = None, **message: Any) -> dict[str, Any]:
    """A messaging event from a fixture, between ``psid`` and ``page_id`` (the other way
    round for an echo), at the current time, with a fresh mid unless given, and ``message``
    fields replaced."""
    e = copy.deepcopy(_fixture(name))
    echo = bool(e.get("message", {}).get("is_echo"))
    e["sender"], e["recipient"] = ({"id": page_id}, {"id": psid}) if echo else ({"id": psid}, {"id": page_id})
    e["timestamp"] = now_ms()
    for key in ("message", "postback"):
        if key in e:
            e[key]["mid"] = mid or new_mid()
            e[key].update(message)
    return e


def body(*entries: tuple[str, list[dict[str, Any]]]) -> bytes:
    """A Page webhook body: one entry per (page id, messaging events)."""
    return json.dumps({"object": "page", "entry": [
        {"id": page_id, "time": now_ms(), "messaging": events} for page_id, events in entries]}).encode()


def signed(raw: bytes, app_secret: str) -> dict[str, Any]:
    """httpx keyword arguments for the POST Meta would have made."""
    signature = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": signature}}
