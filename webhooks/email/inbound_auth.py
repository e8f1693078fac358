"""Who may post mail to an email inbox's HTTP route, checked in order of cost: the URL
secret before a byte of the body is read, then (Mailgun) the signature, its freshness and
its one-time token before the MIME is parsed.

- The URL secret is a path segment, ``/webhooks/email/{inbox id}/{url secret}`` (SendGrid)
  or ``.../{url secret}/mime`` (Mailgun, whose raw-MIME forward needs a URL ending in
  "mime"). It is derived from the inbox's ``inbound_secret`` (HMAC-SHA256 over the inbox
  id), so every inbox has one without a stored setting, and changing ``inbound_secret``
  changes the URL. A path, unlike ``?secret=``, is what the route matches on; it still
  appears in access logs, so :class:`RedactSecrets` cuts it (and the old ``?secret=``)
  from uvicorn's.
- Mailgun's ``signature`` covers ``timestamp`` + ``token`` only, not the body
  (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks),
  so a captured triple would sign any body: the timestamp must be within five minutes of
  our clock, and each token is accepted once (table ``webhook_nonce``, kept until the
  timestamp is too old anyway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from inbox import actions
from inbox.actions.context import Context
from inbox.domain.errors import Forbidden

FRESHNESS = timedelta(minutes=5)
MAX_TOKEN_CHARS = 200  # Mailgun's are 50
_SECRET_IN_PATH = re.compile(r"(/webhooks/email/\d+/)[^/?\s]+")
_SECRET_IN_QUERY = re.compile(r"([?&]secret=)[^&\s]*")


def url_secret(inbox: Mapping[str, Any]) -> str:
    """The inbox's URL secret: 32 URL-safe characters (192 bits); "" without an inbound_secret."""
    key = str(inbox["settings"].get("inbound_secret") or "")
    if not key:
        return ""
    digest = hmac.new(key.encode(), f"webhooks/email/{inbox['id']}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def check_mailgun(inbox_id: int, fields: Mapping[str, bytes], signing_key: str,
                  now: datetime) -> tuple[str, datetime]:
    """Forbidden unless the post carries a valid, fresh Mailgun signature. Returns the
    one-time key of its token (per inbox: one route may forward a mail to several) and how
    long to remember it."""
    timestamp, token, signature = (fields.get(k, b"").decode("latin-1") for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and equal(signature, mailgun_signature(signing_key, timestamp, token))):
        raise Forbidden("missing or wrong Mailgun signature", "invalid_signature")
    if not timestamp.isdigit() or len(timestamp) > 11 or len(token) > MAX_TOKEN_CHARS:  # 11 digits: year < 5000
        raise Forbidden("malformed Mailgun timestamp or token", "invalid_signature")
    signed_at = datetime.fromtimestamp(int(timestamp), timezone.utc)
    if abs(now - signed_at) > FRESHNESS:
        raise Forbidden(f"the Mailgun signature's timestamp is {abs(now - signed_at)} off this server's clock "
                        "(at most 5 minutes): stale, replayed, or a clock is wrong", "stale_signature")
    return f"mailgun:{inbox_id}:{token}", signed_at + FRESHNESS


async def use_once(ctx: Context, key: str, expires_at: datetime) -> None:
    """Forbidden if ``key`` was used before (a replayed post)."""
    if not await actions.use_webhook_nonce(ctx, key, expires_at):
        raise Forbidden("this signed post was already received once (replayed token)", "replayed_signature")


def redact(text: str) -> str:
    """``text`` (a request line or path) without the email route's secrets."""
    return _SECRET_IN_QUERY.sub(r"\1[redacted]", _SECRET_IN_PATH.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    """On uvicorn's access logger: its records carry the path and query as an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "/webhooks/email/" in a
                                                   for a in record.args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
