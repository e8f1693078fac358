"""No credential reaches a log: every log record, from any logger (ours, uvicorn's, httpx's),
has its credentials replaced by ``[redacted]`` when it is created.

What counts as one: the value of a query parameter whose name says it is secret
(``?token=``, ``access_token``, ``secret``, ``sig``/``signature``, ``key``, ``password``,
``auth``...), a Telegram bot token (``bot123456:ABC...`` in its API paths, written
``bot<token>``), our own API
tokens (``inbx_...``), a ``Bearer`` value, an outbound webhook secret (``whsec_...``) and the
password of a URL (``https://user:password@host``, as an endpoint's URL may hold) wherever
they appear. Installed as the log
record factory (``install``), so it covers records whichever handler or formatter logs
them, including those uvicorn configures for itself: a filter on a handler misses the
handlers added after it.

The patterns are linear-time (bounded or unambiguous repetition): log lines can hold
customer text, which must not make logging slow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_NAMES = ("token", "secret", "sig", "key", "password", "passwd", "auth", "credential")
# A query parameter: its name (bounded, no "="), then the value up to the next separator.
_QUERY_PARAM = re.compile(r"([?&;])([A-Za-z0-9_.\-\[\]]{1,64})=([^&;#\s\"'<>]*)")
_TELEGRAM_BOT = re.compile(r"\bbot\d{1,20}:[A-Za-z0-9_-]{20,}")
_API_TOKEN = re.compile(r"\binbx_[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"\b([Bb]earer\s)[A-Za-z0-9._~+/=-]{8,}")
_WEBHOOK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]{1,256}:)[^/\s@]{1,256}@")
_SCALARS = (int, float, bool, type(None))


def _query_param(m: re.Match[str]) -> str:
    name = m.group(2).lower()
    if m.group(3) and any(word in name for word in SECRET_NAMES):
        return f"{m.group(1)}{m.group(2)}={REDACTED}"
    return m.group(0)


def redact(text: str) -> str:
    """``text`` with every credential in it replaced by ``[redacted]``."""
    if "=" in text:
        text = _QUERY_PARAM.sub(_query_param, text)
    if "bot" in text:
        text = _TELEGRAM_BOT.sub("bot<token>", text)  # as webhooks/telegram/bot_api.py's own log filter writes it
    if "inbx_" in text:
        text = _API_TOKEN.sub(REDACTED, text)
    if "earer" in text:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    if "whsec_" in text:
        text = _WEBHOOK_SECRET.sub(REDACTED, text)
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return text


def _redact_arg(arg: Any) -> Any:
    """A %-argument, redacted. An object (an httpx URL, say) is left as it is unless its
    text holds a credential; then its redacted text replaces it."""
    if isinstance(arg, _SCALARS):
        return arg
    text = arg if isinstance(arg, str) else str(arg)
    cleaned = redact(text)
    return arg if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {k: _redact_arg(v) for k, v in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(a) for a in record.args)
    if record.exc_info and not record.exc_text:  # a traceback's messages can hold a URL too
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def install() -> None:
    """Redact every log record of this process from now on (once; idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record
    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
