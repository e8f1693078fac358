"""Twilio Programmable Messaging: SMS and MMS, and WhatsApp through Twilio, REST API 2010-04-01.

Inbound webhook: https://www.twilio.com/docs/messaging/guides/webhook-request
Status callbacks: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
Signatures:       https://www.twilio.com/docs/usage/webhooks/webhooks-security
Errors:           https://www.twilio.com/docs/api/errors
WhatsApp:         https://www.twilio.com/docs/whatsapp/api
Templates:        https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder

WhatsApp through Twilio is the same API with ``whatsapp:``-prefixed addresses. Its inboxes
are of kind ``whatsapp`` (setting ``provider: twilio``), so the customer is the same
WhatsApp identity as on Meta's Cloud API, and the 24-hour window and templates apply.

Provider vocabulary (MessageSid, MessageStatus, OptOutType...) stays in this module.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from inbox import actions
from inbox.config import Settings
from inbox.domain.channels import (
    Adapter,
    Attachment,
    InboundMessage,
    Media,
    MediaFetcher,
    OutboundMessage,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    Sender,
    Sent,
    SentLookup,
    StatusUpdate,
    TemplateSource,
)
from inbox.domain.errors import BadRequest, Forbidden, Invalid, NotFound
from inbox.domain.identity import normalize_phone
from inbox.http import read_body
from webhooks import download
from webhooks.http import public_url, tls, unreachable, webhook_context
from webhooks.sms import KIND as SMS
from webhooks.whatsapp import KIND as WHATSAPP_KIND

log = logging.getLogger(__name__)
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
# Keywords carriers and Twilio treat as opt-out / opt-in on long codes.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
MAX_MEDIA = 10
LOOKUP_LIMIT = 20  # the recipient's latest messages a retried send looks through
MAX_VALIDITY = 36_000  # seconds: Twilio's longest ValidityPeriod

# MessageStatus -> our delivery status (None: not about a message we sent).
STATUS_MAP = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "read",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}

# Agent-facing reasons for the error codes a reply most often meets.
ERROR_REASONS = {
    "21211": "The 'To' number is not a valid phone number.",
    "21408": "Sending to this region is not enabled on the Twilio account.",
    "21610": "The customer has unsubscribed (replied STOP); they must text START before you can reply.",
    "21612": "Twilio cannot route a message from this number to that recipient.",
    "21614": "The 'To' number is not a mobile number that can receive SMS.",
    "30003": "Unreachable destination handset (phone off or out of coverage).",
    "30004": "Message blocked by the recipient or their carrier.",
    "30005": "Unknown destination handset: the number does not exist.",
    "30006": "Landline or unreachable carrier.",
    "30007": "Message filtered by the carrier as spam.",
    "30008": "Unknown error from the carrier.",
    "63016": "The 24-hour WhatsApp customer service window has closed; send an approved template",
    "63003": "Twilio could not reach this customer on WhatsApp (the number may not use WhatsApp).",
}
OPTED_OUT_CODES = frozenset({"21610"})
WHATSAPP = "whatsapp:"  # the address prefix of WhatsApp senders and recipients
PROVIDER = "twilio"  # the ``provider`` setting of a WhatsApp inbox on Twilio


def parse_form(raw: bytes) -> dict[str, str]:
    """Twilio posts application/x-www-form-urlencoded UTF-8."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not a form-encoded Twilio webhook: {exc}", "malformed_body") from None
    return dict(pairs)


def verify(url: str, params: Mapping[str, str], signature: str, auth_token: str) -> bool:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the public URL and the sorted POST params.
    The URL exactly as configured is tried first (one HMAC); the SDK's validate() then
    also tries it with and without an explicit port, as Twilio's own signing varies."""
    if not signature or not auth_token:
        return False
    validator = RequestValidator(auth_token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return bool(validator.validate(url, dict(params), signature))


def destination(params: Mapping[str, str]) -> tuple[str, str]:
    """The channel and our number the customer wrote to: the inbox's routing address."""
    to = params.get("To", "").strip()
    if not to:
        raise BadRequest("missing 'To'", "malformed_body")
    kind = WHATSAPP_KIND if to.startswith(WHATSAPP) else SMS
    return kind, normalize_phone(to) or to


def parse_inbound(inbox_id: int, params: Mapping[str, str], kind: str = SMS) -> InboundMessage:
    sid = params.get("MessageSid") or params.get("SmsSid")
    sender = params.get("From", "").strip()
    if not sid or not sender:
        raise BadRequest("missing 'MessageSid' or 'From'", "malformed_body")
    body = params.get("Body", "")
    try:
        num_media = min(int(params.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        raise BadRequest("'NumMedia' is not a number", "malformed_body") from None
    attachments = tuple(
        Attachment(content_type=params.get(f"MediaContentType{i}", "application/octet-stream"),
                   url=params[f"MediaUrl{i}"])
        for i in range(num_media) if params.get(f"MediaUrl{i}"))
    text, payload, opt_out = body, None, None
    if kind == WHATSAPP_KIND:
        handle, phone = _whatsapp_sender(params, sender)
        text, payload = _whatsapp_content(params, body)
    else:
        phone = normalize_phone(sender)
        handle = phone or sender
        keyword = (params.get("OptOutType") or body.strip().upper())
        opt_out = True if keyword in STOP_WORDS else False if keyword in START_WORDS else None
    return InboundMessage(
        inbox_id=inbox_id, kind=kind, handle=handle, phone=phone, provider_message_id=sid, text=text,
        timestamp=datetime.now(timezone.utc), profile_name=params.get("ProfileName") or None,
        attachments=attachments, opt_out=opt_out, payload=payload,
        reply_to=params.get("OriginalRepliedMessageSid") or None, raw=dict(params))


def _whatsapp_sender(params: Mapping[str, str], sender: str) -> tuple[str, str | None]:
    """(handle, phone). The handle is the number as digits (``WaId``), as Meta's Cloud API
    gives it, so one customer is one identity whichever provider carries the message, and
    joins their SMS identity by phone. Opt-out keywords are SMS rules: not applied here."""
    address = sender.removeprefix(WHATSAPP).strip()
    wa_id = params.get("WaId", "")
    phone = normalize_phone("+" + wa_id) if wa_id.isdigit() else normalize_phone(address)
    return (phone[1:] if phone else address), phone  # a username-only customer has an id, not a number


def _whatsapp_content(params: Mapping[str, str], body: str) -> tuple[str, dict[str, Any] | None]:
    """(text, payload) of a shared location or a template's quick-reply button."""
    if params.get("Latitude") and params.get("Longitude"):
        place = {k.lower(): params[k] for k in ("Latitude", "Longitude", "Address", "Label") if params.get(k)}
        return body or f"Location: ({place['latitude']}, {place['longitude']})", {"location": place}
    if params.get("ButtonPayload") or params.get("ButtonText"):
        button = {"text": params.get("ButtonText", ""), "payload": params.get("ButtonPayload", "")}
        return body or button["text"] or button["payload"], {"button": button}
    return body, None


def parse_status(inbox_id: int, params: Mapping[str, str]) -> StatusUpdate | None:
    sid = params.get("MessageSid") or params.get("SmsSid")
    raw_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not raw_status:
        raise BadRequest("missing 'MessageSid' or 'MessageStatus'", "malformed_body")
    status = STATUS_MAP.get(raw_status)
    if status is None:
        return None
    code = params.get("ErrorCode") or None
    message = None
    if status == "failed":
        message = ERROR_REASONS.get(code or "", params.get("ErrorMessage") or f"Twilio reported '{raw_status}'")
    # Sent through a Messaging Service, a reply to an opted-out customer is accepted first
    # and fails in its callback with 21610.
    return StatusUpdate(inbox_id=inbox_id, provider_message_id=sid, status=status, error_code=code,
                        error_message=message, recipient_opted_out=status == "failed" and code in OPTED_OUT_CODES)


# -- webhook routes ------------------------------------------------------------------------
# Read the raw body (bounded), find the inbox, verify the signature, and only then parse
# and store; answer 200 only after the commit, so Twilio retries anything we did not keep.

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def inbound(request: Request) -> Response:
    ctx, directory = webhook_context(request)
    params = parse_form(await read_body(request, ctx.settings.max_body_bytes))
    kind, address = destination(params)
    inbox = await directory.by_address(kind, address)
    if inbox is None:
        log.warning("twilio webhook for unknown number %r", params.get("To"))
        raise NotFound(f"no {kind} inbox for this number", "unknown_inbox")
    signature = request.headers.get("x-twilio-signature", "")
    if not verify(public_url(ctx, request), params, signature, inbox["settings"].get("auth_token", "")):
        raise Forbidden("invalid X-Twilio-Signature", "invalid_signature")
    await actions.record_inbound(ctx, parse_inbound(inbox["id"], params, kind))
    return Response(TWIML_EMPTY, media_type="text/xml")


async def status(request: Request) -> Response:
    ctx, directory = webhook_context(request)
    params = parse_form(await read_body(request, ctx.settings.max_body_bytes))
    account = params.get("AccountSid", "")
    inboxes = [*await directory.matching(SMS, "account_sid", account),
               *await directory.matching(WHATSAPP_KIND, "account_sid", account)]
    if not inboxes:
        raise NotFound("no sms or whatsapp inbox for this account", "unknown_inbox")
    signature = request.headers.get("x-twilio-signature", "")
    url = public_url(ctx, request)
    verified = [i for i in inboxes if verify(url, params, signature, i["settings"]["auth_token"])]
    if not verified:
        raise Forbidden("invalid X-Twilio-Signature", "invalid_signature")
    # Several inboxes may share the account (SMS and WhatsApp of one number): the sender
    # (our number, the callback's From) says whose message it is.
    sender = (WHATSAPP_KIND if params.get("From", "").startswith(WHATSAPP) else SMS,
              normalize_phone(params.get("From", "")))
    inbox = next((i for i in verified if (i["kind"], i["address"]) == sender), verified[0])
    update = parse_status(inbox["id"], params)
    if update is not None and not await actions.record_status(ctx, update):
        log.info("twilio status %s for unknown message %s", update.status, update.provider_message_id)
    return Response(status_code=204)


routes = [
    Route("/webhooks/twilio", inbound, methods=["POST"]),
    Route(STATUS_CALLBACK_PATH, status, methods=["POST"]),
]


# -- sending -------------------------------------------------------------------------------

class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The twilio SDK's async transport on httpx (our HTTP client everywhere), instead of
    the SDK's aiohttp one, which warns of deprecated aiohttp calls on every request. It
    also raises ``RateLimited`` with Twilio's Retry-After itself: the SDK's exception
    drops the response headers."""

    def __init__(self, timeout: float = 15.0) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self.session = httpx.AsyncClient(timeout=timeout, verify=tls())

    async def request(self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None,
                      auth: Any = None, timeout: float | None = None, allow_redirects: bool = False) -> TwilioResponse:
        response = await self.session.request(method.upper(), url, params=params, data=data, headers=headers,
                                              auth=auth, timeout=timeout or self.timeout,
                                              follow_redirects=allow_redirects)
        if response.status_code == 429:
            raise RateLimited(_error_code(response), "Twilio is rate limiting this account (429)",
                              retry_after=_retry_after(response.headers.get("retry-after")))
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self.session.aclose()


class TwilioAdapter(Adapter, Sender, SentLookup, MediaFetcher):
    """Sends through the twilio SDK's async client, one client per account. Its webhook
    URL is set on the number in Twilio's console (docs/channels/sms.md)."""

    kind = SMS

    def __init__(self, api_base: str, public_url: str, downloader: download.Downloader,
                 timeout: float = 15.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.downloader = downloader
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.status_callback = public_url.rstrip("/") + STATUS_CALLBACK_PATH
        self._clients: dict[tuple[str, str], Client] = {}

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        missing = [k for k in ("phone_number", "account_sid", "auth_token") if not settings.get(k)]
        if missing:
            raise Invalid(f"{'an' if self.kind == SMS else 'a'} {self.kind} inbox needs {', '.join(missing)}",
                          "missing_settings")
        phone = normalize_phone(str(settings["phone_number"]))
        if phone is None:
            raise Invalid("phone_number is not a valid phone number", "invalid_phone")
        unknown = set(settings) - {"phone_number", "account_sid", "auth_token", "messaging_service_sid"}
        if unknown:
            raise Invalid(f"unknown {self.kind} settings: {', '.join(sorted(unknown))}", "unknown_settings")
        clean = {k: str(v) for k, v in settings.items() if v}
        clean["phone_number"] = phone
        return phone, clean

    def _client(self, settings: Mapping[str, Any]) -> Client:
        key = (settings["account_sid"], settings["auth_token"])
        client = self._clients.get(key)
        if client is None:
            client = Client(key[0], key[1], http_client=HttpxTwilioClient(self.timeout))
            client.api.base_url = self.api_base  # the SDK has no base-url option; see PROTOCOLS.md
            self._clients[key] = client
        return client

    async def send(self, message: OutboundMessage) -> Sent:
        s = message.settings
        kwargs: dict[str, Any] = {"to": self.recipient(message.to), "status_callback": self.status_callback,
                                  **self.content(message)}
        if s.get("messaging_service_sid"):
            kwargs["messaging_service_sid"] = s["messaging_service_sid"]
        else:
            kwargs["from_"] = self.sender(s["phone_number"])
        validity = (message.payload or {}).get("validity_seconds")
        if isinstance(validity, int) and 1 <= validity <= MAX_VALIDITY:  # a campaign's, before its fallback
            kwargs["validity_period"] = validity
        try:
            result = await self._client(s).messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise _translate(exc) from None
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "Twilio", self.timeout) from None
        return Sent(str(result.sid), STATUS_MAP.get(str(result.status), "queued"))

    async def find_sent(self, message: OutboundMessage, since: datetime) -> list[Sent]:
        """Twilio keeps every message it took: the account's latest ones to this recipient
        from this sender (GET Messages.json?To=&From=, newest first), those created since
        ``since`` with this body. Twilio has no idempotency key on sending; this is how a
        retried send learns that an earlier attempt went through."""
        s = message.settings
        filters: dict[str, Any] = {"to": self.recipient(message.to)}
        if not s.get("messaging_service_sid"):
            filters["from_"] = self.sender(s["phone_number"])
        body = self.content(message)["body"]
        try:
            found = await self._client(s).messages.list_async(**filters, limit=LOOKUP_LIMIT, page_size=LOOKUP_LIMIT)
        except TwilioRestException as exc:
            raise _translate(exc) from None
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "Twilio", self.timeout) from None
        return [Sent(str(m.sid), STATUS_MAP.get(str(m.status), "queued")) for m in found
                if m.body == body and m.date_created is not None and m.date_created >= since]

    def recipient(self, handle: str) -> str:
        return handle

    def sender(self, phone: str) -> str:
        return phone

    def content(self, message: OutboundMessage) -> dict[str, Any]:
        """The Messages API fields that carry the reply: its text and media."""
        media = [a.url for a in message.attachments if a.url]
        # A satisfaction survey has no buttons here: its words ask for a digit (docs/csat.md).
        text = ((message.payload or {}).get("csat") or {}).get("plain") or message.text
        return {"body": text, **({"media_url": media} if media else {})}

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """MMS media: a GET on the MediaUrl, which Twilio redirects to its storage. The
        account's credentials (needed when the account enforces HTTP auth on media) go only
        to the account's own resources on the API host, never to the storage it redirects
        to or to any other host a MediaUrl might name."""
        if not attachment.url:
            raise ProviderRejected("no_url", "the attachment has no URL to download")
        found = await self.downloader.get(attachment.url, "Twilio", self._media_credentials(settings))
        return Media(found.content, found.content_type or attachment.content_type)

    def _media_credentials(self, settings: Mapping[str, Any]) -> download.Credentials:
        sid = settings["account_sid"]
        token = base64.b64encode(f"{sid}:{settings['auth_token']}".encode()).decode()
        api, prefix = download.origin(self.api_base), f"{urlsplit(self.api_base).path}/2010-04-01/Accounts/{sid}/"

        def credentials(url: httpx.URL) -> Mapping[str, str]:
            mine = download.origin(url) == api and url.path.startswith(prefix)
            return {"authorization": f"Basic {token}"} if mine else {}
        return credentials

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return {"messaging": f"{self.public_url}/webhooks/twilio", "status_callback": self.status_callback}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.http_client.close()
        self._clients.clear()
        await self.downloader.aclose()


class TwilioWhatsAppAdapter(TwilioAdapter, TemplateSource):
    """WhatsApp through Twilio: a ``whatsapp`` inbox with ``provider: twilio``. The same
    Messages API, with ``whatsapp:``-prefixed From and To; outside the 24-hour window only
    an approved template goes, as ``ContentSid`` and ``ContentVariables`` (Twilio's Content
    API). The templates are the inbox's own list: each names its ``content_sid``."""

    kind = WHATSAPP_KIND

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        address, clean = super().configure({k: v for k, v in settings.items() if k not in ("provider", "templates")})
        clean["provider"] = PROVIDER
        if settings.get("templates"):
            clean["templates"] = _content_templates(settings["templates"])
        return address, clean

    def recipient(self, handle: str) -> str:
        return WHATSAPP + ("+" + handle if handle.isdigit() else handle)  # digits: the number; else a user id

    def sender(self, phone: str) -> str:
        return WHATSAPP + phone

    def content(self, message: OutboundMessage) -> dict[str, Any]:
        template = (message.payload or {}).get("template")
        if not template:
            return super().content(message)
        name, language = template.get("name"), template.get("language")
        found = next((t for t in message.settings.get("templates") or []
                      if t["name"] == name and t["language"] == language), None)
        if found is None:
            raise ProviderRejected("unknown_template", f"the template {name} ({language}) is not one of this "
                                                       "inbox's templates, so it has no Twilio ContentSid")
        # Twilio's variables are the template's {{1}}, {{2}}...: the parameters in order.
        variables = {str(i): str(p) for i, p in enumerate(template.get("parameters") or [], start=1)}
        return {"content_sid": found["content_sid"], **({"content_variables": json.dumps(variables)}
                                                         if variables else {})}

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{**t, "source": "configured"} for t in settings.get("templates") or []]


def _content_templates(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]
            and isinstance(t.get("content_sid"), str) and t["content_sid"].startswith("HX")
            and isinstance(t.get("language", "en"), str) and isinstance(t.get("parameters", []), list)
            for t in value):
        raise Invalid('templates must be a list of {"name": str, "content_sid": "HX...", "language": str, '
                      '"parameters": [str, ...]}', "invalid_templates")
    return [{"name": t["name"], "content_sid": t["content_sid"], "language": t.get("language", "en"),
             "parameters": [str(p) for p in t.get("parameters", [])]} for t in value]


def _translate(exc: TwilioRestException) -> Exception:
    code = str(exc.code) if exc.code is not None else None
    text = str(exc.msg or "")
    if text.startswith("Unable to create record: "):
        text = text[len("Unable to create record: "):]
    reason = ERROR_REASONS.get(code or "", text or f"Twilio answered HTTP {exc.status}")
    if exc.status == 429 or code == "20429":
        return RateLimited(code, reason)
    if exc.status >= 500:
        return ProviderUnavailable(code, reason)
    return ProviderRejected(code, reason, recipient_opted_out=code in OPTED_OUT_CODES)


def _error_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return str(code) if code is not None else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (Twilio sends seconds; an HTTP date is not used by Twilio)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def make_whatsapp_adapter(settings: Settings) -> TwilioWhatsAppAdapter:
    return TwilioWhatsAppAdapter(settings.twilio_api_base, settings.public_url, download.make_downloader(settings),
                                 settings.send_timeout_seconds)


def make_adapter(settings: Settings) -> TwilioAdapter:
    return TwilioAdapter(settings.twilio_api_base, settings.public_url, download.make_downloader(settings),
                         settings.send_timeout_seconds)
