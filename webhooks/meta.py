"""What Meta's two messaging platforms share: the X-Hub-Signature-256 check and the
webhook verification handshake (Graph API webhooks,
https://developers.facebook.com/docs/graph-api/webhooks/getting-started)."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from inbox.domain.errors import Forbidden
from webhooks.http import webhook_context

SIGNATURE_HEADER = "x-hub-signature-256"


def verify(raw: bytes, header: str, app_secret: str) -> bool:
    """``sha256=`` + hex HMAC-SHA256 of the raw body, keyed by the app secret."""
    header = header.strip()
    if not header.startswith("sha256=") or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].lower())


async def handshake(request: Request, kind: str) -> Response:
    """Meta's subscription check when the callback URL is saved: echo hub.challenge when
    hub.verify_token is the verify token of any inbox of ``kind`` (one URL serves them all)."""
    _, directory = webhook_context(request)
    q = request.query_params
    token = q.get("hub.verify_token", "")
    if q.get("hub.mode") != "subscribe" or not token:
        raise Forbidden("expected hub.mode=subscribe and a hub.verify_token", "invalid_verify_token")
    if not await directory.matching(kind, "verify_token", token):
        raise Forbidden(f"hub.verify_token matches no {kind} inbox", "invalid_verify_token")
    return PlainTextResponse(q.get("hub.challenge", ""))
