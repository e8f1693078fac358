"""Facebook Messenger: the Messenger Platform on the Graph API (v23.0 by default,
``INBOX_GRAPH_API_VERSION``), through plain httpx (there is no SDK in our stack).

Webhooks:        https://developers.facebook.com/docs/messenger-platform/webhooks
Webhook events:  https://developers.facebook.com/docs/messenger-platform/reference/webhook-events
Send API:        https://developers.facebook.com/docs/messenger-platform/reference/send-api
Message tags:    https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags
User profile:    https://developers.facebook.com/docs/messenger-platform/identity/user-profile
Errors:          https://developers.facebook.com/docs/messenger-platform/error-codes

One inbox is one Facebook Page; its address is the Page id, which every webhook entry
carries as ``entry[].id``. The customer's handle is their Page-scoped id (PSID). Provider
vocabulary (PSID, mid, echo, watermark, messaging_type...) stays in this module.
Setup and behaviour for admins: docs/channels/messenger.md.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from inbox import actions
from inbox.config import Settings
from inbox.domain.channels import (
    Adapter,
    Attachment,
    InboundMessage,
    Media,
    MediaFetcher,
    MessageEdit,
    OutboundMessage,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    Sender,
    SendError,
    Sent,
    StatusUpdate,
)
from inbox.domain.errors import BadRequest, Forbidden, Invalid, NotFound
from inbox.http import load_json, read_body
from webhooks import download, meta
from webhooks.http import tls, unreachable, webhook_context
from webhooks.messenger import HUMAN_AGENT_WINDOW, KIND

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/messenger"
# Every send carries this marker in ``metadata``; Meta copies it into the message's echo,
# which is how we recognise (and skip) echoes of our own replies.
METADATA_PREFIX = "inbox:"
# Free-form replies are allowed for 24 h after the customer's last message; with the
# HUMAN_AGENT tag (an approved permission) for HUMAN_AGENT_WINDOW (the channel's).
RESPONSE_WINDOW = timedelta(hours=24)
PROFILE_TIMEOUT = 2.0  # seconds: the lookup happens while Meta waits for our 200
PROFILE_MEMO_SIZE = 10_000

# Attachment types we download, as (our kind, a content type to show until it is fetched).
FILE_TYPES = {"image": ("image", "image/jpeg"), "video": ("video", "video/mp4"), "audio": ("audio", "audio/mpeg"),
              "file": ("document", "application/octet-stream"), "sticker": ("sticker", "image/png")}
# Shares we show as a link rather than download (a shared URL, a reel, a post).
LINK_TYPES = frozenset({"fallback", "reel", "ig_reel", "post", "ig_post", "share"})

# Graph error codes: https://developers.facebook.com/docs/messenger-platform/error-codes
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006})
TRANSIENT_CODES = frozenset({1, 2})
ERROR_REASONS: dict[tuple[int, int | None], str] = {
    (10, 2018278): "Meta refused the message: it is outside the allowed reply window (24 hours after the "
                   "customer's last message, or 7 days with the HUMAN_AGENT tag).",
    (551, None): "This person isn't available right now: they may have blocked the Page, turned off its "
                 "messages or deactivated their account.",
    (100, 2018001): "No matching user found: this Page cannot message that person (the Page access token "
                    "belongs to another Page, or the person deleted their account).",
    (190, None): "The Page access token is invalid or has expired: update page_access_token on the inbox.",
    (200, None): "The Page access token lacks a permission for this (pages_messaging, or "
                 "pages_messaging_human_agent for the HUMAN_AGENT tag).",
}


# -- parsing -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Watermark:
    """Every message sent to ``handle`` before ``up_to`` has reached ``status``."""

    inbox_id: int
    handle: str
    status: str  # delivered | read
    up_to: datetime


Update = InboundMessage | StatusUpdate | Watermark | MessageEdit


def parse_body(raw: bytes) -> list[dict[str, Any]]:
    """The entries of a Page webhook, each checked to have an ``id`` (the Page's)."""
    try:
        body = load_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}", "malformed_body") from None
    if not isinstance(body, dict) or body.get("object") != "page" or not isinstance(body.get("entry"), list):
        raise BadRequest("not a Messenger webhook: expected {\"object\": \"page\", \"entry\": [...]}", "malformed_body")
    entries: list[dict[str, Any]] = body["entry"]
    if not all(isinstance(e, dict) and isinstance(e.get("id"), (str, int)) for e in entries):
        raise BadRequest("every entry needs the Page's id", "malformed_body")
    return entries


def parse_entry(inbox_id: int, entry: Mapping[str, Any]) -> list[Update]:
    events = entry.get("messaging")
    if not isinstance(events, list):
        log.debug("messenger entry for page %s without messaging events: %s", entry.get("id"), sorted(entry))
        return []
    updates: list[Update] = []
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest("a messaging event is not an object", "malformed_body")
        updates.extend(parse_event(inbox_id, event))
    return updates


def parse_event(inbox_id: int, event: Mapping[str, Any]) -> list[Update]:
    message = event.get("message")
    echo = isinstance(message, dict) and bool(message.get("is_echo"))
    if isinstance(optin := event.get("optin"), dict) and not isinstance(_party(event, "sender"), str):
        # A plugin opt-in (checkbox, "Send to Messenger") names the person by a user_ref
        # only: nobody has written yet, and nothing can be answered by PSID.
        log.debug("messenger optin acknowledged (type %s): no PSID, nothing stored", _bounded(optin.get("type")))
        return []
    # The customer is the sender, or, for an echo of the Page's own message, the recipient.
    customer = _party(event, "recipient" if echo else "sender")
    if not isinstance(customer, str):
        _skip(event, customer)
        return []
    at = _time(event.get("timestamp"))
    if isinstance(message, dict):
        if echo:
            metadata = message.get("metadata")
            if isinstance(metadata, str) and metadata.startswith(METADATA_PREFIX):
                return []  # our own reply, already stored when we sent it
            return [_message(inbox_id, customer, message, at, event, direction="out")]
        return [_message(inbox_id, customer, message, at, event)]
    if isinstance(postback := event.get("postback"), dict):
        return [_postback(inbox_id, customer, postback, at, event)]
    if isinstance(delivery := event.get("delivery"), dict):
        mids: list[Any] = delivery["mids"] if isinstance(delivery.get("mids"), list) else []
        updates: list[Update] = [StatusUpdate(inbox_id, str(mid), "delivered") for mid in mids if mid]
        if delivery.get("watermark"):
            updates.append(Watermark(inbox_id, customer, "delivered", _time(delivery["watermark"])))
        return updates
    if isinstance(read := event.get("read"), dict) and read.get("watermark"):
        return [Watermark(inbox_id, customer, "read", _time(read["watermark"]))]
    if isinstance(edit := event.get("message_edit"), dict) and edit.get("mid") and isinstance(edit.get("text"), str):
        return [MessageEdit(inbox_id, str(edit["mid"]), edit["text"], at)]
    log.debug("messenger event ignored: %s",
              sorted(_bounded(k) for k in event if k not in ("sender", "recipient", "timestamp")))
    return []


def _postback(inbox_id: int, psid: str, postback: Mapping[str, Any], at: datetime,
              event: Mapping[str, Any]) -> InboundMessage:
    """A press on a button (or "Get Started"): shown as the button's title, else its payload."""
    title, data = postback.get("title"), postback.get("payload")
    text = next((v for v in (title, data) if isinstance(v, str) and v), "[Postback]")
    mid = postback.get("mid")
    mid = str(mid) if isinstance(mid, str | int) and mid else f"postback:{psid}:{_bounded(event.get('timestamp'))}"
    return InboundMessage(
        inbox_id=inbox_id, kind=KIND, handle=psid, provider_message_id=mid, text=text,
        timestamp=at, payload={"postback": {k: postback[k] for k in ("title", "payload", "referral")
                                            if k in postback}}, raw=event)


def _message(inbox_id: int, handle: str, message: Mapping[str, Any], at: datetime, event: Mapping[str, Any],
             direction: str = "in") -> InboundMessage:
    mid = message.get("mid")
    if not mid:
        raise BadRequest("a message without 'mid'", "malformed_body")
    lines = [message["text"]] if isinstance(message.get("text"), str) and message["text"] else []
    payload: dict[str, Any] = {}
    files: list[Attachment] = []
    stickers: set[str] = set()
    unsupported: list[str] = []
    for item in message.get("attachments") or []:
        kind = str(item.get("type")) if isinstance(item, dict) else "unknown"
        body: Mapping[str, Any] = item["payload"] if isinstance(item, dict) and isinstance(item.get("payload"), dict) \
            else {}
        if kind in FILE_TYPES and body.get("url"):
            sticker = body.get("sticker_id")
            if sticker is not None:
                # Meta sends a sticker both as "sticker" and as "image" until August 2026: keep one.
                if str(sticker) in stickers:
                    continue
                stickers.add(str(sticker))
                payload["sticker_id"] = sticker
            files.append(_attachment("sticker" if sticker is not None else kind, str(body["url"])))
        elif kind in LINK_TYPES and (link := _link(kind, item, body)) is not None:
            # Before locations: a shared link is never a place, whatever its payload holds.
            payload.setdefault("links", []).append(link)
            lines.append(" ".join(v for v in (link["title"], link["url"]) if v))
        elif kind == "location" and isinstance(body.get("coordinates"), dict):
            where = {"latitude": body["coordinates"].get("lat"), "longitude": body["coordinates"].get("long"),
                     "title": item.get("title"), "url": item.get("url")}
            payload["location"] = where
            lines.append(f"Location: {where['title'] or 'shared location'} ({where['latitude']}, {where['longitude']})")
        else:
            unsupported.append(kind)
    if isinstance(quick := message.get("quick_reply"), dict):
        payload["quick_reply"] = {"payload": quick.get("payload")}
    reply_to = message.get("reply_to", {}).get("mid") if isinstance(message.get("reply_to"), dict) else None
    common: dict[str, Any] = dict(inbox_id=inbox_id, kind=KIND, handle=handle,
                                  provider_message_id=str(mid), timestamp=at, direction=direction,
                                  reply_to=str(reply_to) if reply_to else None)
    if not lines and not files:
        label = unsupported[0] if unsupported else "empty"
        return InboundMessage(text=f"[Unsupported Messenger message: {label}]", unsupported=True, raw=event, **common)
    if unsupported:
        payload["unsupported_attachments"] = unsupported
    return InboundMessage(text="\n".join(lines), attachments=tuple(files), payload=payload or None, raw=event,
                          **common)


def _link(kind: str, item: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
    """A shared link as {type, title, url}: the URL only when it is http(s), so the UI can
    show it as a link; None when there is no such URL."""
    url = next((u for u in (item.get("url"), body.get("url")) if isinstance(u, str)), "")
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    title = next((t for t in (item.get("title"), body.get("title")) if isinstance(t, str) and t), None)
    return {"type": kind, "title": title, "url": url}


def _attachment(kind: str, url: str) -> Attachment:
    ours, default_type = FILE_TYPES[kind]
    name = PurePosixPath(urlsplit(url).path).name or None
    content_type = (mimetypes.guess_type(name)[0] if name else None) or default_type
    return Attachment(content_type=content_type, url=url, kind=ours, filename=name if ours == "document" else None)


def is_graph_id(value: str) -> bool:
    """PSIDs, Page ids and app ids are decimal numbers. Anything else never goes into a
    Graph URL: an id like "../../<page>/subscribed_apps?x=" would reach another path of
    the API, with the Page token."""
    return 0 < len(value) <= 32 and value.isascii() and value.isdigit()


def _party(event: Mapping[str, Any], key: str) -> str | Mapping[str, Any] | None:
    """The numeric id of ``sender`` or ``recipient``; otherwise the object itself (e.g. a
    ``user_ref`` from a plugin, or a malformed id), or None when there is none."""
    party = event.get(key)
    if not isinstance(party, dict):
        return None
    value = party.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and is_graph_id(value) else party


def _skip(event: Mapping[str, Any], party: Mapping[str, Any] | None) -> None:
    """An event we cannot file under a PSID: acknowledged (Meta would retry it for days)
    and logged, never stored."""
    if party is not None and "id" not in party and "user_ref" in party:
        log.debug("messenger event from a user_ref (plugin guest) skipped: no PSID to file it under")
    else:
        log.warning("messenger event skipped: no numeric PSID (got %s)",
                    _bounded(party.get("id") if party is not None else None))


def _bounded(value: Any) -> str:
    """Customer-controlled text for a log line: one line, short."""
    return repr(value)[:80]


def _time(millis: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(millis) / 1000, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


# -- webhook routes ------------------------------------------------------------------------

async def subscribe(request: Request) -> Response:
    return await meta.handshake(request, KIND)


async def receive(request: Request) -> Response:
    """Route each entry to its Page's inbox, check the signature with that inbox's app
    secret, then store everything; 200 only after the commit, so Meta retries the rest."""
    ctx, directory = webhook_context(request)
    raw = await read_body(request, ctx.settings.max_body_bytes)
    routed = []
    for entry in parse_body(raw):
        inbox = await directory.by_address(KIND, str(entry["id"]))
        if inbox is None:
            log.warning("messenger webhook for unknown page %s", entry["id"])
        else:
            routed.append((inbox, entry))
    if not routed:
        raise NotFound("no messenger inbox for this page", "unknown_inbox")
    signature = request.headers.get(meta.SIGNATURE_HEADER, "")
    secrets = {i["settings"]["app_secret"] for i, _ in routed}
    secret = next((s for s in secrets if meta.verify(raw, signature, s)), None)
    if secret is None:
        raise Forbidden("invalid X-Hub-Signature-256", "invalid_signature")
    updates: list[Update] = []
    for inbox, entry in routed:
        if inbox["settings"]["app_secret"] != secret:  # another app's page: not vouched for by this signature
            log.warning("messenger entry for page %s signed with another app's secret: skipped", entry["id"])
            continue
        updates.extend(parse_entry(inbox["id"], entry))
    adapter: MessengerAdapter = request.app.state.registry.get(KIND)
    settings = {inbox["id"]: inbox["settings"] for inbox, _ in routed}
    for update in await adapter.with_profiles(settings, updates):
        await _record(ctx, update)
    return PlainTextResponse("EVENT_RECEIVED")


async def _record(ctx: actions.Context, update: Update) -> None:
    if isinstance(update, InboundMessage):
        await actions.record_inbound(ctx, update)
    elif isinstance(update, StatusUpdate):
        if not await actions.record_status(ctx, update):
            log.debug("messenger delivery for unknown message %s", update.provider_message_id)
    elif isinstance(update, Watermark):
        await actions.record_watermark(ctx, update.inbox_id, KIND, update.handle, update.status,
                                        update.up_to)
    elif not await actions.record_edit(ctx, update):
        log.debug("messenger edit of unknown message %s", update.provider_message_id)


routes = [
    Route(WEBHOOK_PATH, subscribe, methods=["GET"]),
    Route(WEBHOOK_PATH, receive, methods=["POST"]),
]


# -- the adapter ---------------------------------------------------------------------------

class MessengerAdapter(Adapter, Sender, MediaFetcher):
    """Sends through the Send API with the Page access token; downloads attachments; looks
    customers' names up once per process. The callback URL is set in the Meta app
    dashboard (docs/channels/messenger.md). An inbox with human_agent_tag off refuses
    replies after 24 h in send(), within the channel's 7-day window."""

    def __init__(self, api_base: str, version: str, public_url: str, timeout: float = 15.0,
                 max_media_bytes: int = 25 * 1024 * 1024, downloader: download.Downloader | None = None) -> None:
        self.api_base = api_base.rstrip("/")
        self.downloader = downloader or download.Downloader([api_base], max_media_bytes, timeout)
        self.graph_host = urlsplit(self.api_base).netloc
        self.version = version
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.max_media_bytes = max_media_bytes
        self.http = httpx.AsyncClient(timeout=timeout, verify=tls())
        self._profiles: OrderedDict[tuple[str, str], tuple[str | None, str | None]] = OrderedDict()
        self._sent_parts: dict[int, list[str]] = {}  # message id -> mids of the parts already sent

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        required = ("page_id", "page_access_token", "app_secret", "verify_token")
        missing = [k for k in required if not str(settings.get(k) or "").strip()]
        if missing:
            raise Invalid(f"a messenger inbox needs {', '.join(missing)}", "missing_settings")
        unknown = set(settings) - {*required, "human_agent_tag"}
        if unknown:
            raise Invalid(f"unknown messenger settings: {', '.join(sorted(unknown))}", "unknown_settings")
        clean: dict[str, Any] = {k: str(settings[k]).strip() for k in required}
        if not is_graph_id(clean["page_id"]):
            raise Invalid("page_id must be the Page's numeric id", "invalid_page_id")
        clean["human_agent_tag"] = _flag(settings.get("human_agent_tag", True))
        return clean["page_id"], clean

    # -- sending

    async def send(self, message: OutboundMessage) -> Sent:
        """The text first, then one request per attachment. Parts already accepted are
        remembered, so a retry after a transient failure does not send them twice."""
        if message.payload and message.payload.get("template"):
            raise ProviderRejected("templates_unsupported", "Messenger has no message templates")
        envelope = self._envelope(message)
        parts: list[dict[str, Any]] = [{"text": message.text}] if message.text else []
        if parts and (survey := (message.payload or {}).get("csat")):
            # A satisfaction survey's scores as quick replies, each returning its payload.
            parts[0]["quick_replies"] = [{"content_type": "text", "title": str(c["label"])[:20],
                                          "payload": str(c["data"])} for c in survey["choices"]]
        for a in message.attachments:
            if not a.url:
                raise ProviderRejected("no_url", "an attachment has no URL for Messenger to fetch")
            parts.append({"attachment": {"type": _send_type(a.content_type),
                                         "payload": {"url": a.url, "is_reusable": False}}})
        if not parts:
            raise ProviderRejected("empty_message", "nothing to send")
        done = self._sent_parts.setdefault(message.message_id, [])
        try:
            for part in parts[len(done):]:
                body = {**envelope, "message": {**part, "metadata": f"{METADATA_PREFIX}{message.message_id}"}}
                done.append(await self._post(message.settings, body))
        except SendError as err:
            if err.transient:
                raise  # kept in _sent_parts for the retry
            self._sent_parts.pop(message.message_id, None)
            if not done:
                raise
            raise type(err)(err.code, f"{err.message} ({len(done)} of {len(parts)} parts had been sent)") from None
        self._sent_parts.pop(message.message_id, None)
        return Sent(done[0], "sent")

    def _envelope(self, message: OutboundMessage) -> dict[str, Any]:
        if not is_graph_id(message.to):
            raise ProviderRejected("invalid_recipient", "The customer's Messenger id is not a PSID (a number): "
                                                        "nothing was sent")
        envelope: dict[str, Any] = {"recipient": {"id": message.to}}
        last = message.last_inbound_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=timezone.utc)
        age = message.attempted_at - last if last is not None else None
        if age is not None and age <= RESPONSE_WINDOW:
            return {**envelope, "messaging_type": "RESPONSE"}
        if age is None or age > HUMAN_AGENT_WINDOW:
            raise ProviderRejected("window_closed", "More than 7 days since the customer's last message: Messenger "
                                                    "allows no reply until they write again.")
        if not message.settings.get("human_agent_tag", True):
            raise ProviderRejected("window_closed", "More than 24 hours since the customer's last message, and this "
                                                    "inbox does not use the HUMAN_AGENT tag: no reply until they "
                                                    "write again.")
        return {**envelope, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}

    def _url(self, node: str, edge: str = "") -> str:
        """The Graph URL of a node (a Page or a PSID), or of one of its fixed edges. The id
        is checked to be a number, and quoted all the same."""
        if not is_graph_id(node):
            raise ProviderRejected("invalid_id", f"not a Graph id (a number): {_bounded(node)}")
        return f"{self.api_base}/{self.version}/{quote(node, safe='')}" + (f"/{edge}" if edge else "")

    async def _post(self, settings: Mapping[str, Any], body: dict[str, Any]) -> str:
        url = self._url(str(settings["page_id"]), "messages")
        try:
            # The token goes in a header, never the query string: httpx logs every request
            # line at INFO, query included. Graph accepts "Authorization: Bearer".
            response = await self.http.post(url, headers=_auth(settings), json=body)
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "Meta", self.timeout) from None
        if response.status_code == 200:
            mid = _json(response).get("message_id")
            if mid:
                return str(mid)
        raise _translate(response)

    # -- media and profiles

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """Attachment URLs are public CDN links (they expire after a while); only a URL on
        the Graph API itself gets the Page token (as a header: never in a logged URL). The
        URL is a customer's for a shared link: downloads are guarded (webhooks/download.py)."""
        if not attachment.url:
            raise ProviderRejected("no_url", "the attachment has no URL to download")
        found = await self.downloader.get(attachment.url, "the media host",
                                          download.for_origins([self.api_base], _auth(settings)))
        return Media(found.content, found.content_type or attachment.content_type, attachment.filename)

    async def with_profiles(self, settings: Mapping[int, Mapping[str, Any]], updates: list[Update]) -> list[Update]:
        """Name and picture for the customers of these messages, looked up concurrently."""
        wanted = {(u.inbox_id, u.handle) for u in updates if isinstance(u, InboundMessage)}
        found = await asyncio.gather(*(self.profile(settings[i], psid) for i, psid in wanted))
        profiles = dict(zip(wanted, found))
        out: list[Update] = []
        for u in updates:
            if isinstance(u, InboundMessage) and (p := profiles.get((u.inbox_id, u.handle))) and p[0]:
                u = replace(u, profile_name=u.profile_name or p[0], avatar_url=u.avatar_url or p[1])
            out.append(u)
        return out

    async def profile(self, settings: Mapping[str, Any], psid: str) -> tuple[str | None, str | None]:
        """(name, avatar URL) from the User Profile API, or (None, None). Asked once per
        customer per process, with a short timeout, failures included: Meta grants this
        API to few apps, and a message is never held up or lost for a name."""
        key = (settings["page_id"], psid)
        if key in self._profiles:
            return self._profiles[key]
        result: tuple[str | None, str | None] = (None, None)
        try:
            response = await self.http.get(self._url(psid), timeout=PROFILE_TIMEOUT, headers=_auth(settings),
                                           params={"fields": "first_name,last_name,profile_pic"})
            data = _json(response)
            name = " ".join(str(data[k]) for k in ("first_name", "last_name") if data.get(k))
            if response.status_code == 200 and name:
                result = (name, str(data["profile_pic"]) if data.get("profile_pic") else None)
            else:
                log.info("messenger profile of %s unavailable: %s", psid, data.get("error", {}).get("message"))
        except (httpx.HTTPError, OSError, ProviderRejected) as exc:
            log.info("messenger profile of %s unavailable: %s", _bounded(psid), exc or type(exc).__name__)
        self._profiles[key] = result
        if len(self._profiles) > PROFILE_MEMO_SIZE:
            self._profiles.popitem(last=False)
        return result

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return {"callback_url": self.public_url + WEBHOOK_PATH}

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.downloader.aclose()


def _auth(settings: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings['page_access_token']}"}


def _send_type(content_type: str) -> str:
    major = content_type.split("/")[0].lower()
    return major if major in ("image", "video", "audio") else "file"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _translate(response: httpx.Response) -> SendError:
    """A Graph error body {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}
    as our error type; its code is "code" or "code/subcode"."""
    error = _json(response).get("error")
    error = error if isinstance(error, dict) else {}
    code, subcode = _int(error.get("code")), _int(error.get("error_subcode"))
    status = response.status_code
    label = str(status) if code is None else f"{code}/{subcode}" if subcode is not None else str(code)
    text = str(error.get("message") or f"Meta answered HTTP {status}")
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimited(label, f"Meta is rate limiting this Page: {text}",
                           retry_after=_seconds(response.headers.get("retry-after")))
    if status >= 500 or code in TRANSIENT_CODES:
        return ProviderUnavailable(label, text)
    reason = ERROR_REASONS.get((code or 0, subcode)) or ERROR_REASONS.get((code or 0, None))
    return ProviderRejected(label, reason or f"Meta refused the message: {text}")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise Invalid("human_agent_tag must be true or false", "invalid_human_agent_tag")


def make_adapter(settings: Settings) -> MessengerAdapter:
    return MessengerAdapter(settings.graph_api_base, settings.graph_api_version, settings.public_url,
                            settings.send_timeout_seconds, settings.max_media_bytes, download.make_downloader(settings))
