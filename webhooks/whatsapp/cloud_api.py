"""WhatsApp Cloud API (Meta Graph API, v23.0 by default: ``INBOX_GRAPH_API_VERSION``).

Webhooks:   https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
Payloads:   https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
Signatures: https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
Sending:    https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
Media:      https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
Templates:  https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
Errors:     https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
BSUIDs:     https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids

Inbound runs on our own route, not pywa's webhook server: pywa 4.5 answers 200 before its
handlers run, and its user parsing raises KeyError on payloads without ``user_id`` and on
statuses without ``contacts``, so a message it cannot parse would be lost without a retry.
Here the signature is checked on the raw bytes, every change is parsed tolerantly, stored
idempotently on the wamid, and only then answered 200. pywa is used for sending and media downloads.

Provider vocabulary (wamid, wa_id, BSUID, phone_number_id, WABA...) stays in this module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from pywa_async.client import WhatsApp
from pywa_async.errors import WhatsAppError
from pywa_async.types.templates import TemplateLanguage
from pywa_async.types.callback import Section, SectionList, SectionRow
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
    SendError,
    Sent,
    StatusUpdate,
    TemplateSource,
)
from inbox.domain.errors import BadRequest, Forbidden, Invalid, NotFound
from inbox.domain.identity import normalize_phone
from inbox.http import load_json, read_body
from webhooks import download, meta
from webhooks.http import tls, unreachable, webhook_context
from webhooks.whatsapp import KIND

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/whatsapp"

WINDOW_CLOSED = "The 24-hour customer service window has closed; send an approved template"
# Agent-facing reasons for the codes a reply most often meets, on a send or in a failed status.
ERROR_REASONS = {
    131047: WINDOW_CLOSED,
    131026: "Message undeliverable: the number may not be on WhatsApp, may use an outdated app, "
            "or has not accepted WhatsApp's latest terms",
    130429: "WhatsApp's message throughput limit for this number was reached",
    131056: "Too many messages to this customer in a short time (pair rate limit)",
    80007: "The WhatsApp Business Account's rate limit was reached",
    131048: "WhatsApp limited this number for spam: too many of its messages were blocked or reported",
    131049: "Meta chose not to deliver this marketing message, to keep engagement healthy",
    131050: "The customer has stopped marketing messages from this business",
    131031: "The WhatsApp Business Account is locked",
    131042: "The WhatsApp Business Account has a payment issue",
    131053: "WhatsApp could not use the file: check its type and size",
    131062: "This message cannot be sent to a customer known only by their WhatsApp username (no phone number)",
    132001: "The template does not exist in this language, or is not approved",
    132015: "The template is paused for low quality",
    132016: "The template is disabled for low quality",
    133010: "The business phone number is not registered on the Cloud API",
    190: "The access token is invalid or has expired: set a new one on the inbox",
}
RATE_LIMIT_CODES = frozenset({130429, 131056, 80007})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})  # unknown error, service (temporarily) unavailable
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
# Where Graph's media URLs point (they need the bearer token too).
MEDIA_HOSTS = ("https://lookaside.fbsbx.com",)
MEDIA_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg", "voice": "audio/ogg",
               "sticker": "image/webp", "document": "application/octet-stream"}


# -- inbound -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Change:
    """One ``entry[].changes[]`` of the ``messages`` field: what one business number received."""

    phone_number_id: str
    value: Mapping[str, Any]


def parse_changes(raw: bytes) -> list[Change]:
    """Every ``messages`` change in a webhook body. Other fields (template status, account
    updates...) are not about conversations and are skipped."""
    try:
        body = load_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise BadRequest("not a WhatsApp Business Account webhook", "malformed_body")
    changes = []
    for entry in _list(body.get("entry"), "entry"):
        for change in _list(_dict(entry, "entry").get("changes"), "entry[].changes"):
            change = _dict(change, "entry[].changes[]")
            if change.get("field") != "messages":
                log.debug("whatsapp webhook field %r skipped", change.get("field"))
                continue
            value = _dict(change.get("value"), "changes[].value")
            phone_number_id = str(_dict(value.get("metadata"), "value.metadata").get("phone_number_id") or "")
            if not phone_number_id:
                raise BadRequest("a change has no metadata.phone_number_id", "malformed_body")
            changes.append(Change(phone_number_id, value))
    return changes


def parse_change(inbox_id: int, value: Mapping[str, Any]) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    contacts = [c for c in _list(value.get("contacts"), "contacts") if isinstance(c, dict)]
    messages = [parse_message(inbox_id, _dict(m, "messages[]"), contacts)
                for m in _list(value.get("messages"), "messages")]
    statuses = [s for s in (parse_status(inbox_id, _dict(s, "statuses[]"))
                            for s in _list(value.get("statuses"), "statuses")) if s is not None]
    return messages, statuses


def parse_message(inbox_id: int, m: Mapping[str, Any], contacts: list[dict[str, Any]]) -> InboundMessage:
    wamid = m.get("id")
    if not isinstance(wamid, str) or not wamid:
        raise BadRequest("a message has no id", "malformed_body")
    wa_id, user_id = m.get("from"), m.get("from_user_id")
    contact = next((c for c in contacts if (wa_id and c.get("wa_id") == wa_id)
                    or (user_id and c.get("user_id") == user_id)), contacts[0] if len(contacts) == 1 else {})
    wa_id = str(wa_id or contact.get("wa_id") or "")
    user_id = str(user_id or contact.get("user_id") or "")
    profile = _obj(contact.get("profile"))
    digits = re.sub(r"\D", "", wa_id)
    # The phone (wa_id) is the handle when known, so the identity joins the same customer's
    # SMS one; a user who hides their number behind a username has only the BSUID.
    if digits:
        handle, phone = digits, normalize_phone("+" + digits)
    elif user_id:
        handle, phone = user_id, None
    else:
        raise BadRequest(f"message {wamid} has neither 'from' nor a user id", "malformed_body")

    text, attachments, payload, reply_to, unsupported = render(m)
    user = {k: v for k, v in (("user_id", user_id), ("username", profile.get("username"))) if v}
    if user:
        payload = {**(payload or {}), "whatsapp_user": user}
    return InboundMessage(
        inbox_id=inbox_id, kind=KIND, handle=handle, phone=phone, provider_message_id=wamid,
        text=text, timestamp=_timestamp(m.get("timestamp")),
        profile_name=profile.get("name") or profile.get("username"), attachments=attachments, reply_to=reply_to,
        payload=payload, unsupported=unsupported, raw=dict(m))


def render(m: Mapping[str, Any]) -> tuple[str, tuple[Attachment, ...], dict[str, Any] | None, str | None, bool]:
    """(text, attachments, payload, reply_to, unsupported) for each message type."""
    kind = str(m.get("type") or "")
    body = _obj(m.get(kind))
    context = _obj(m.get("context"))
    reply_to = context.get("id")
    match kind:
        case "text":
            return str(body.get("body") or ""), (), None, reply_to, False
        case "image" | "video" | "audio" | "voice" | "sticker" | "document" if body.get("id"):
            media_kind = "voice" if kind == "audio" and body.get("voice") else kind
            attachment = Attachment(content_type=body.get("mime_type") or MEDIA_TYPES[kind], media_id=str(body["id"]),
                                    kind=media_kind, filename=body.get("filename"))
            return str(body.get("caption") or ""), (attachment,), None, reply_to, False
        case "location":
            return _location_text(body), (), {"location": body}, reply_to, False
        case "contacts":
            cards = [c for c in m.get("contacts") or [] if isinstance(c, dict)]
            return "\n".join(_contact_text(c) for c in cards), (), {"contacts": cards}, reply_to, False
        case "button":
            return str(body.get("text") or body.get("payload") or ""), (), {"button": body}, reply_to, False
        case "interactive" if (text := _interactive_text(body)) is not None:
            return text, (), {"interactive": body}, reply_to, False
        case "reaction":
            emoji = body.get("emoji")
            text = f"reacted {emoji} to a message" if emoji else "removed a reaction from a message"
            return text, (), {"reaction": body}, body.get("message_id") or reply_to, False
    return f"[Unsupported WhatsApp message: {kind or 'unknown'}]", (), None, reply_to, True


def _rating_list(survey: Mapping[str, Any]) -> SectionList:
    """A survey's five scores as a list message: reply buttons stop at three (PROTOCOLS.md);
    a row's id is what its press returns."""
    rows = [SectionRow(title=str(c["label"])[:24], callback_data=str(c["data"])) for c in survey["choices"]]
    return SectionList(button_title="Rate us", sections=[Section(title="Your rating", rows=rows)])


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the payload, or {} for anything else (a malformed field is ignored)."""
    return value if isinstance(value, dict) else {}


def _location_text(loc: Mapping[str, Any]) -> str:
    place = ", ".join(str(loc[k]) for k in ("name", "address") if loc.get(k))
    where = f"({loc.get('latitude')}, {loc.get('longitude')})"
    return f"Location: {place} {where}" if place else f"Location: {where}"


def _contact_text(card: Mapping[str, Any]) -> str:
    name = _obj(card.get("name"))
    parts = [name.get("formatted_name") or " ".join(filter(None, (name.get("first_name"), name.get("last_name"))))]
    parts += [p.get("phone") for p in card.get("phones") or [] if isinstance(p, dict)]
    parts += [e.get("email") for e in card.get("emails") or [] if isinstance(e, dict)]
    return "Contact: " + ", ".join(str(p) for p in parts if p)


def _interactive_text(body: Mapping[str, Any]) -> str | None:
    reply = body.get(body.get("type") or "")
    if not isinstance(reply, dict):
        return None
    if body.get("type") == "button_reply":
        return str(reply.get("title") or reply.get("id") or "")
    if body.get("type") == "list_reply":
        return " - ".join(str(reply[k]) for k in ("title", "description") if reply.get(k))
    if body.get("type") == "nfm_reply":  # a WhatsApp Flow's answers
        return f"Form response: {reply.get('response_json') or reply.get('body') or ''}"
    return None


def parse_status(inbox_id: int, s: Mapping[str, Any]) -> StatusUpdate | None:
    wamid, status = s.get("id"), s.get("status")
    if not wamid or not status:
        raise BadRequest("a status has no id or status", "malformed_body")
    if status not in STATUSES:
        log.debug("whatsapp status %r for %s skipped", status, wamid)
        return None
    code = reason = None
    if status == "failed":
        error = next((e for e in s.get("errors") or [] if isinstance(e, dict)), {})
        data = _obj(error.get("error_data"))
        code = str(error["code"]) if error.get("code") is not None else None
        reason = failure_reason(error.get("code"), error.get("message") or error.get("title"), data.get("details"))
    return StatusUpdate(inbox_id=inbox_id, provider_message_id=str(wamid), status=status, error_code=code,
                        error_message=reason)


def failure_reason(code: Any, message: str | None, details: str | None) -> str:
    """A clear reason for a known code; otherwise Graph's message with its details."""
    try:
        known = ERROR_REASONS.get(int(code))
    except (TypeError, ValueError):
        known = None
    if known:
        return known
    text = message or "WhatsApp reported the message as failed"
    return f"{text}: {details}" if details and details not in text else text


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"'{where}' is not a list", "malformed_body")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"'{where}' is not an object", "malformed_body")
    return value


# -- webhook routes ------------------------------------------------------------------------

async def handshake(request: Request) -> Response:
    return await meta.handshake(request, KIND)


async def receive(request: Request) -> Response:
    """Find the inboxes the body's changes are for, check the signature with their app
    secret, parse every change (a malformed one stores nothing), then store and answer 200.

    Changes for a phone_number_id we do not know are logged and skipped; if no change
    matches any inbox the answer is 404, so Meta retries (for up to 7 days) and nothing is
    lost while an inbox is being set up. Different inboxes may belong to different Meta
    apps: a change is accepted only if the body is signed with its own inbox's app secret."""
    ctx, directory = webhook_context(request)
    raw = await read_body(request, ctx.settings.max_body_bytes)
    changes = parse_changes(raw)
    numbers = {c.phone_number_id for c in changes}
    inboxes = {pid: await directory.by_address(KIND, pid) for pid in numbers}
    known = {pid: inbox for pid, inbox in inboxes.items() if inbox is not None}
    if changes and not known:
        log.warning("whatsapp webhook for unknown phone_number_id(s) %s", ", ".join(sorted(inboxes)))
        raise NotFound("no whatsapp inbox for this phone_number_id", "unknown_inbox")
    signature = request.headers.get(meta.SIGNATURE_HEADER, "")
    trusted = {pid: inbox for pid, inbox in known.items()
               if meta.verify(raw, signature, inbox["settings"].get("app_secret", ""))}  # none: a Twilio inbox
    if known and not trusted:
        raise Forbidden("invalid X-Hub-Signature-256", "invalid_signature")
    for pid in sorted(set(inboxes) - set(trusted)):
        log.warning("whatsapp change for phone_number_id %s skipped: %s", pid,
                    "unknown inbox" if pid not in known else "signed with another app's secret")

    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for change in changes:
        if (inbox := trusted.get(change.phone_number_id)) is not None:
            found, updates = parse_change(inbox["id"], change.value)
            messages += found
            statuses += updates
    for message in messages:
        await actions.record_inbound(ctx, message)
    for update in statuses:
        if not await actions.record_status(ctx, update):
            log.info("whatsapp status %s for unknown message %s", update.status, update.provider_message_id)
    return Response(status_code=200)


routes = [
    Route(WEBHOOK_PATH, handshake, methods=["GET"]),
    Route(WEBHOOK_PATH, receive, methods=["POST"]),
]


# -- sending -------------------------------------------------------------------------------

SETTINGS_REQUIRED = ("phone_number_id", "access_token", "app_secret", "verify_token")
SETTINGS_OPTIONAL = ("waba_id", "templates", "display_phone_number")


class WhatsAppAdapter(Adapter, Sender, MediaFetcher, TemplateSource):
    """Sends through pywa's async client, one per phone number and token, on an httpx
    session pointed at ``graph_api_base`` (pywa forces graph.facebook.com in its constructor).
    The callback URL and verify token are set in the Meta app dashboard (docs/channels/whatsapp.md)."""

    def __init__(self, api_base: str, api_version: str, public_url: str, timeout: float = 15.0,
                 max_media_bytes: int | None = None, downloader: download.Downloader | None = None) -> None:
        self.api_base = api_base.rstrip("/")
        self.downloader = downloader or download.Downloader([api_base], max_media_bytes or 25 << 20, timeout)
        self.api_version = api_version
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.max_media_bytes = max_media_bytes
        # pywa refuses to share a session between clients: one client and session per number and token.
        self._clients: dict[tuple[str, str], tuple[WhatsApp, httpx.AsyncClient]] = {}

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        missing = [k for k in SETTINGS_REQUIRED if not settings.get(k)]
        if missing:
            raise Invalid(f"a whatsapp inbox needs {', '.join(missing)}", "missing_settings")
        unknown = set(settings) - {*SETTINGS_REQUIRED, *SETTINGS_OPTIONAL}
        if unknown:
            raise Invalid(f"unknown whatsapp settings: {', '.join(sorted(unknown))}", "unknown_settings")
        clean: dict[str, Any] = {k: str(v).strip() for k, v in settings.items() if k != "templates" and v}
        if not clean["phone_number_id"].isdigit():
            raise Invalid("phone_number_id is the numeric Phone Number ID from WhatsApp > API Setup, "
                          "not the phone number", "invalid_phone_number_id")
        if settings.get("templates"):
            clean["templates"] = _configured_templates(settings["templates"])
        return clean["phone_number_id"], clean

    def _client(self, settings: Mapping[str, Any]) -> WhatsApp:
        return self._session(settings)[0]

    def _session(self, settings: Mapping[str, Any]) -> tuple[WhatsApp, httpx.AsyncClient]:
        key = (settings["phone_number_id"], settings["access_token"])
        found = self._clients.get(key)
        if found is None:
            session = httpx.AsyncClient(timeout=self.timeout, verify=tls())
            client = WhatsApp(phone_id=key[0], token=key[1], session=session,
                              api_version=float(self.api_version.lstrip("v")))
            session.base_url = f"{self.api_base}/{self.api_version}"  # after construction: see PROTOCOLS.md
            found = self._clients[key] = (client, session)
        return found

    async def send(self, message: OutboundMessage) -> Sent:
        wa = self._client(message.settings)
        template = (message.payload or {}).get("template")
        try:
            if template:
                sent = await self._send_template(wa, message.to, template)
            elif survey := (message.payload or {}).get("csat"):
                sent = await wa.send_message(message.to, message.text, buttons=_rating_list(survey))
            elif message.attachments:
                sent = await self._send_media(wa, message)
            else:
                sent = await wa.send_message(message.to, message.text)
        except WhatsAppError as exc:
            raise _translate(exc) from None
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "WhatsApp", self.timeout) from None
        except ValueError as exc:  # pywa refuses a recipient or argument before calling the API
            raise ProviderRejected("invalid_request", str(exc)) from None
        # Graph accepted the message ("accepted"); the status webhook says when it is sent.
        return Sent(sent.id, "queued")

    async def _send_template(self, wa: WhatsApp, to: str, template: Mapping[str, Any]) -> Any:
        try:
            language = TemplateLanguage(template.get("language") or "en_US")
        except ValueError:
            raise ProviderRejected("invalid_template_language",
                                   f"{template.get('language')!r} is not a WhatsApp template language") from None
        parameters = [{"type": "text", "text": str(p)} for p in template.get("parameters") or []]
        params: list[dict[str, Any]] = [{"type": "body", "parameters": parameters}] if parameters else []
        # Quick-reply buttons defined in the template, each given the payload its press returns
        # (a satisfaction survey's scores, best first: docs/csat.md).
        params += [{"type": "button", "sub_type": "quick_reply", "index": str(i),
                    "parameters": [{"type": "payload", "payload": str(data)}]}
                   for i, data in enumerate(template.get("buttons") or [])]
        return await wa.send_template(to, name=str(template["name"]), language=language, params=params or None)

    async def _send_media(self, wa: WhatsApp, message: OutboundMessage) -> Any:
        # One file per WhatsApp message, and an id we record per message: several files
        # would be several sends, and a retry after a partial failure would repeat some.
        if len(message.attachments) > 1:
            raise ProviderRejected("too_many_attachments", "WhatsApp carries one file per message: "
                                                           "send each attachment as its own reply")
        a = message.attachments[0]
        if not a.url:
            raise ProviderRejected("no_url", "the attachment has no URL WhatsApp could fetch it from")
        caption = message.text or None
        major = a.content_type.split("/")[0]
        if major == "image":
            return await wa.send_image(message.to, a.url, caption=caption)
        if major == "video":
            return await wa.send_video(message.to, a.url, caption=caption)
        if major == "audio":
            if caption:
                raise ProviderRejected("caption_unsupported", "WhatsApp audio messages carry no text: "
                                                              "send the text as its own reply")
            return await wa.send_audio(message.to, a.url)
        # Always named: pywa 4.5 sends an unserialisable placeholder for a link without a filename.
        filename = a.filename or PurePosixPath(urlsplit(a.url).path).name or "document"
        return await wa.send_document(message.to, a.url, caption=caption, filename=filename)

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """GET /{version}/{media-id} gives a short-lived URL (about 5 minutes) on Meta's media
        host; a GET on it with the same bearer token gives the bytes. Media ids expire after
        7 days. The token goes only to the Graph API and to Meta's media host."""
        if not attachment.media_id:
            raise ProviderRejected("no_media_id", "the attachment has no WhatsApp media id")
        wa = self._client(settings)
        try:
            found = await wa.get_media_url(attachment.media_id)
        except WhatsAppError as exc:
            raise _translate(exc) from None
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "WhatsApp", self.timeout) from None
        if self.max_media_bytes is not None and int(found.file_size or 0) > self.max_media_bytes:
            raise ProviderRejected("too_large", f"file of {found.file_size:,} bytes is over the "
                                                f"{self.max_media_bytes:,}-byte limit")
        bearer = {"authorization": f"Bearer {settings['access_token']}"}
        got = await self.downloader.get(found.url, "WhatsApp",
                                        download.for_origins((self.api_base, *MEDIA_HOSTS), bearer))
        content_type = (found.mime_type or got.content_type or attachment.content_type).split(";")[0].strip()
        return Media(got.content, content_type or attachment.content_type, attachment.filename)

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        # The verify token to enter beside it is the inbox's own (a secret: not shown again).
        return {"callback_url": self.public_url + WEBHOOK_PATH}

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The inbox's configured templates, plus the WABA's approved ones when waba_id is
        set. If Graph cannot be asked, the configured ones alone.

        The listing uses pywa's session directly: pywa's ``get_templates`` parses every
        template into its typed model and raises on the whole list for one language,
        category or component it does not know, and we only need names, languages and
        body parameters."""
        configured = [{**t, "source": "configured"} for t in settings.get("templates") or []]
        if not settings.get("waba_id"):
            return configured
        session = self._session(settings)[1]
        try:
            response = await session.get(f"/{settings['waba_id']}/message_templates",
                                         params={"status": "APPROVED", "fields": "name,language,status,components",
                                                 "limit": "200"})
            data = response.json().get("data") if response.status_code == 200 else None
        except (httpx.HTTPError, OSError, ValueError, AttributeError) as exc:
            log.warning("whatsapp templates of WABA %s: %s", settings["waba_id"], exc)
            return configured
        if not isinstance(data, list):
            log.warning("whatsapp templates of WABA %s: HTTP %s", settings["waba_id"], response.status_code)
            return configured
        seen = {(t["name"], t["language"]) for t in configured}
        listed = [t for t in (_listed_template(d) for d in data if isinstance(d, dict)) if t is not None]
        return configured + [t for t in listed if (t["name"], t["language"]) not in seen]

    async def aclose(self) -> None:
        for _, session in self._clients.values():
            await session.aclose()
        self._clients.clear()
        await self.downloader.aclose()


def _configured_templates(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]
            and isinstance(t.get("language", "en_US"), str)
            and isinstance(t.get("parameters", []), list) for t in value):
        raise Invalid('templates must be a list of {"name": str, "language": str, "parameters": [str, ...]}',
                      "invalid_templates")
    return [{"name": t["name"], "language": t.get("language", "en_US"),
             "parameters": [str(p) for p in t.get("parameters", [])]} for t in value]


def _listed_template(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Graph's template: name, language and the BODY text's {{1}}/{{name}} placeholders."""
    if data.get("status", "APPROVED") != "APPROVED" or not data.get("name"):
        return None
    body = next((c for c in data.get("components") or []
                 if isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY"), {})
    text = str(body.get("text") or "")
    return {"name": str(data["name"]), "language": str(data.get("language") or "en_US"),
            "parameters": list(dict.fromkeys(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))), "text": text,
            "category": data.get("category"), "source": "whatsapp"}


def _translate(exc: WhatsAppError) -> SendError:
    """Graph's ``{"error": {"code", "message", "error_data": {"details"}}}`` to our types."""
    status = exc.status_code or 0
    code = exc.code
    reason = failure_reason(code, exc.message, exc.details)
    if code in RATE_LIMIT_CODES or status == 429:
        retry_after = exc.raw_response.headers.get("retry-after") if exc.raw_response is not None else None
        return RateLimited(str(code), reason, retry_after=_seconds(retry_after))
    if status >= 500 or code in TRANSIENT_CODES or exc.is_transient:
        return ProviderUnavailable(str(code), reason)
    return ProviderRejected(str(code), reason)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def make_adapter(settings: Settings) -> WhatsAppAdapter:
    return WhatsAppAdapter(settings.graph_api_base, settings.graph_api_version, settings.public_url,
                           settings.send_timeout_seconds, settings.max_media_bytes, download.make_downloader(settings))
