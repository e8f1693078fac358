"""A loft's webhook: POST /webhooks/pigeon/{inbox_id} with a JSON body
``{"id", "from", "name", "text"}`` and ``X-Pigeon-Signature``, the hex HMAC-SHA256 of the
raw body keyed by the inbox's signing secret. Checked before anything is parsed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions
from inbox.domain.channels import InboundMessage
from inbox.domain.errors import BadRequest, Forbidden, NotFound
from inbox.http import load_json, read_body
from tests.channels.pigeon import KIND
from webhooks.http import webhook_context

SIGNATURE_HEADER = "x-pigeon-signature"


def sign(raw: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def parse(inbox_id: int, body: Any) -> InboundMessage:
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("id", "from", "text")):
        raise BadRequest('expected a JSON object with "id", "from" and "text"', "malformed_body")
    return InboundMessage(inbox_id=inbox_id, kind=KIND, handle=body["from"], provider_message_id=body["id"],
                          text=body["text"], profile_name=body.get("name"), timestamp=datetime.now(timezone.utc),
                          raw=body)


async def receive(request: Request) -> Response:
    ctx, directory = webhook_context(request)
    inbox = await directory.by_id(request.path_params["inbox_id"])
    if inbox is None or inbox["kind"] != KIND:
        raise NotFound("no pigeon inbox with this id", "unknown_inbox")
    raw = await read_body(request, ctx.settings.max_body_bytes)
    expected = sign(raw, inbox["settings"]["signing_secret"])
    if not hmac.compare_digest(expected, request.headers.get(SIGNATURE_HEADER, "")):
        raise Forbidden(f"missing or wrong {SIGNATURE_HEADER}", "invalid_signature")
    try:
        body = load_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON", "malformed_body") from None
    await actions.record_inbound(ctx, parse(inbox["id"], body))
    return JSONResponse({"ok": True})


routes = [Route("/webhooks/pigeon/{inbox_id:int}", receive, methods=["POST"])]
