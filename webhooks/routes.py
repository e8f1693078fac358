"""HTTP routes for provider webhooks: read the raw body (bounded), find the inbox, verify
the signature on the raw bytes, and only then parse and store. Answer 200 only after the
commit, so a provider retries anything we did not keep."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import services
from inbox.directory import InboxDirectory
from inbox.errors import Forbidden, NotFound
from inbox.models import ChannelKind
from inbox.services import Context
from ui.http import read_body
from webhooks import twilio

log = logging.getLogger(__name__)
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _ctx(request: Request) -> tuple[Context, InboxDirectory]:
    return request.app.state.ctx, request.app.state.directory


def _public_url(ctx: Context, request: Request) -> str:
    """The URL the provider called, as the provider saw it (behind any proxy)."""
    url = ctx.settings.public_url + request.url.path
    return url + ("?" + request.url.query if request.url.query else "")


async def twilio_inbound(request: Request) -> Response:
    ctx, directory = _ctx(request)
    params = twilio.parse_form(await read_body(request, ctx.settings.max_body_bytes))
    inbox = await directory.by_address(ChannelKind.sms, twilio.destination(params))
    if inbox is None:
        log.warning("twilio webhook for unknown number %r", params.get("To"))
        raise NotFound("no sms inbox for this number", "unknown_inbox")
    signature = request.headers.get("x-twilio-signature", "")
    if not twilio.verify(_public_url(ctx, request), params, signature, inbox["settings"].get("auth_token", "")):
        raise Forbidden("invalid X-Twilio-Signature", "invalid_signature")
    await services.record_inbound(ctx, twilio.parse_inbound(inbox["id"], params))
    return Response(TWIML_EMPTY, media_type="text/xml")


async def twilio_status(request: Request) -> Response:
    ctx, directory = _ctx(request)
    params = twilio.parse_form(await read_body(request, ctx.settings.max_body_bytes))
    inboxes = await directory.matching(ChannelKind.sms, "account_sid", params.get("AccountSid", ""))
    if not inboxes:
        raise NotFound("no sms inbox for this account", "unknown_inbox")
    signature = request.headers.get("x-twilio-signature", "")
    url = _public_url(ctx, request)
    inbox = next((i for i in inboxes if twilio.verify(url, params, signature, i["settings"]["auth_token"])), None)
    if inbox is None:
        raise Forbidden("invalid X-Twilio-Signature", "invalid_signature")
    update = twilio.parse_status(inbox["id"], params)
    if update is not None and not await services.record_status(ctx, update):
        log.info("twilio status %s for unknown message %s", update.status, update.provider_message_id)
    return Response(status_code=204)


routes = [
    Route("/webhooks/twilio", twilio_inbound, methods=["POST"]),
    Route(twilio.STATUS_CALLBACK_PATH, twilio_status, methods=["POST"]),
]
