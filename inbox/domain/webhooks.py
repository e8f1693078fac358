"""Outbound webhooks (docs/webhooks.md): what an endpoint may subscribe to, its secret, the
Standard Webhooks signature (https://www.standardwebhooks.com, spec v1.0.0), the body of a
delivery, the retry schedule, and what the sender of the requests must do (``Poster``).

Signing: ``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``,
keyed with the bytes the secret's base64 (after ``whsec_``) encodes; while a rotated
secret is still valid both sign, the signatures separated by a space.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from inbox.domain.addresses import internal, literal
from inbox.domain.errors import Invalid
from inbox.domain.events import ALL_TYPES

# What an endpoint may subscribe to: every live event type (docs/events.md).
SUBSCRIBABLE: tuple[str, ...] = ALL_TYPES
TEST_TYPE = "webhook.test"  # "send test": goes to the endpoint whatever it subscribes to
PAUSED_BY_ADMIN = "paused by an admin"  # the reason of a pause no admin needs telling about

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # the scheme's minimum, 192 bits
ROTATION_GRACE = timedelta(hours=24)  # how long the previous secret still signs

MAX_URL_CHARS = 2000
EXCERPT_CHARS = 1000  # of an answer's body, kept in the log
MAX_RESPONSE_BYTES = 16 * 1024  # read of an answer's body at most: the rest is never read

# Retries: the n-th failure in a row waits base * 2^(n-1), at most MAX_DELAY, plus up to
# JITTER of that; once a delivery has failed for RETRY_WINDOW the endpoint is paused.
MAX_DELAY = timedelta(hours=6)
JITTER = 0.1
RETRY_WINDOW = timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_msg_id() -> str:
    """A delivery's ``webhook-id``: unique, and without the "." the signed content splits on."""
    return "msg_" + secrets.token_urlsafe(18)


def key_of(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ and base64") from None


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key_of(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(endpoint: Mapping[str, Any], now: datetime) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one while
    its grace period runs."""
    valid = [endpoint["secret"]]
    until = endpoint.get("previous_until")
    if endpoint.get("previous_secret") and until is not None and until > now:
        valid.append(endpoint["previous_secret"])
    return valid


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "user-agent": "inbox-webhooks/1",
            "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets_)}


def mask(secret: str) -> str:
    """How a secret is shown after its creation: enough to tell two apart, never to sign."""
    return f"{SECRET_PREFIX}…{secret[-4:]}"


def body(type_: str, at: datetime, data: Mapping[str, Any], event_id: int | None) -> str:
    """The JSON posted: ``{"type", "timestamp", "event_id", "data"}``, compact; stored as it
    is posted, so every attempt signs and sends the same bytes."""
    envelope = {"type": type_, "timestamp": at.isoformat().replace("+00:00", "Z"), "event_id": event_id,
                "data": data}
    return json.dumps(envelope, separators=(",", ":"), default=str, ensure_ascii=False)


# -- what an admin gives --------------------------------------------------------------------

def check_url(url: Any, allow_private: bool) -> str:
    """An endpoint's URL, or Invalid saying why not. An address written as an IP literal is
    refused here when it is private, loopback, link-local (cloud metadata) or otherwise
    not public, unless ``allow_private``; a name is checked each time it is connected to,
    against every address it resolves to then (webhooks/outbound.py)."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid("url is required", "missing_field")
    text: str = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise Invalid(f"url: at most {MAX_URL_CHARS} characters", "invalid_url")
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # a malformed port raises
    except ValueError:
        raise Invalid("url is not a valid URL", "invalid_url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise Invalid("url must be an http:// or https:// URL with a host", "invalid_url")
    if any(c.isspace() for c in text):
        raise Invalid("url must not contain spaces", "invalid_url")
    address = literal(host)
    if address is not None and internal(address) and not allow_private:
        raise Invalid(f"url: {host} is a private or local address, which webhooks may not reach "
                      "(INBOX_WEBHOOKS_ALLOW_PRIVATE=1 allows it)", "blocked_address")
    return text


def check_events(events: Any) -> list[str]:
    """The subscribed event types: a non-empty list of known ones, each once, in order."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise Invalid("events must be a non-empty list of event types", "invalid_events")
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise Invalid(f"events: unknown event type {unknown[0]!r}; one of {', '.join(SUBSCRIBABLE)}",
                      "invalid_events")
    return [e for e in SUBSCRIBABLE if e in events]


# -- retries --------------------------------------------------------------------------------

def retry_delay(failures: int, base: float, spread: float = 0.0) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: base * 2^(failures-1),
    at most MAX_DELAY, stretched by ``spread`` (0 to 1) times JITTER."""
    delay = min(MAX_DELAY.total_seconds(), base * 2.0 ** max(0, failures - 1))
    return delay * (1 + JITTER * spread)


def schedule(base: float) -> list[float]:
    """When each attempt of a delivery that keeps failing is made, in seconds after the
    first, without jitter, until the endpoint is paused (docs/webhooks.md has the table)."""
    times, at = [0.0], 0.0
    while at < RETRY_WINDOW.total_seconds():
        at += retry_delay(len(times), base)
        times.append(at)
    return times


# -- sending --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came to: the status and the start of the body, or (``status`` None)
    why there was no answer; how long it took; the answer's Retry-After, in seconds."""

    status: int | None
    duration_ms: float
    response: str = ""
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Poster(Protocol):
    """Makes the requests (webhooks/outbound.py): no redirect followed, bounded in time and
    in the body read, and no connection to an internal address unless allowed."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer: ...

    async def aclose(self) -> None: ...


def problem(answer: Answer) -> str | None:
    """What went wrong beyond the status: why there was no answer, or a redirect."""
    if answer.status is None:
        return answer.error or "no answer"
    if 300 <= answer.status < 400:
        return f"redirected ({answer.status}), not followed: give the final URL"
    return None


def reason(answer: Answer) -> str:
    """A failed attempt in words (the pause's reason)."""
    return problem(answer) or f"answered {answer.status}"


def subscribed(endpoints: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, ...]]:
    """Event type -> the ids of the endpoints that subscribe to it."""
    by_type: dict[str, list[int]] = {}
    for e in endpoints:
        for t in e["events"]:
            by_type.setdefault(t, []).append(int(e["id"]))
    return {t: tuple(ids) for t, ids in by_type.items()}
