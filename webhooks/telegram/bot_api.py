"""Telegram Bot API 10.0, through python-telegram-bot 22.8 (which targets that version).

Bot API reference: https://core.telegram.org/bots/api
Webhooks:          https://core.telegram.org/bots/api#setwebhook (secret_token, allowed_updates)
Update, Message:   https://core.telegram.org/bots/api#update, https://core.telegram.org/bots/api#message
Errors:            https://core.telegram.org/bots/api#making-requests (ok/error_code/description/parameters)
Files:             https://core.telegram.org/bots/api#getfile (bots may download files up to 20 MB)
PTB:               https://docs.python-telegram-bot.org/en/v22.8/telegram.bot.html

One inbox is one bot. Its webhook is registered by us (setWebhook) at
/webhooks/telegram/<inbox id>, with a secret Telegram echoes in a header on every update.
Only private chats are conversations; see docs/channels/telegram.md for the choices made
about groups, edits, blocked bots and media. Updates are read from their JSON, tolerantly
(PTB is used for sending only: see "inbound" below). Provider vocabulary (Update, chat id,
file_id...) stays in this module.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatMemberStatus, ChatType, MessageType
from telegram.error import BadRequest as TelegramBadRequest
from telegram.error import ChatMigrated, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.error import Forbidden as TelegramForbidden
from telegram.request import HTTPXRequest

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
    WebhookRegistrar,
)
from inbox.domain.errors import BadRequest, Forbidden, Invalid, NotFound
from inbox.http import load_json, read_body
from webhooks.http import tls, webhook_context
from webhooks.telegram import KIND

log = logging.getLogger(__name__)
# PTB 22 opt-in to its next major version's time periods as timedelta. Without it, PTB
# emits a deprecation warning from inside RetryAfter's own constructor on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")

WEBHOOK_PATH = "/webhooks/telegram/{inbox_id}"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
# callback_query: a press on a button under one of the bot's messages (a satisfaction survey's).
ALLOWED_UPDATES = ["message", "edited_message", "my_chat_member", "callback_query"]
UPDATE_KINDS = tuple(ALLOWED_UPDATES)
CALLBACK_PREFIX = "callback:"  # the provider id of a stored press: its callback query's id
BOT_TOKEN = re.compile(r"(\d+):[A-Za-z0-9_-]+")
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
# PTB drops the "Bad Request: " prefix of Telegram's description and capitalises the rest.
BAD_REQUESTS = {
    "chat not found": "Chat not found: the customer never started the bot, or deleted their Telegram account.",
    "message is too long": f"Telegram limits a message to {MAX_TEXT_CHARS} characters.",
}
BLOCKED = "The customer has blocked the bot; they must unblock it (or press Start again) before you can reply."


# -- inbound -------------------------------------------------------------------------------
# Updates are read from the JSON itself, not through PTB's Update.de_json: PTB builds each
# object with Class(**data) and refuses a whole update when one sub-object lacks a field
# the current Bot API always sends (User.is_bot, file_unique_id, Sticker.is_video, Poll
# ids...), yet older clients, other bridges and test tools send such updates. We read only
# what we use (chat, sender, text or caption, file ids, the message replied to), each
# checked for its type, keep the whole update as ``raw``, and show the rest as unsupported.
# A customer's message is never refused for a detail we do not use.

def parse_update(raw: bytes) -> dict[str, Any]:
    """The update's JSON; 400 only when it is not JSON or not an Update at all."""
    try:
        data = load_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(data, dict) or _int(data.get("update_id")) is None:
        raise BadRequest("body is not a Telegram Update: no integer 'update_id'", "malformed_update")
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _size(value: Any) -> int | None:
    size = _int(value)
    return size if size is not None and size >= 0 else None


def _time(value: Any) -> datetime | None:
    seconds = _int(value)
    try:
        return datetime.fromtimestamp(seconds, timezone.utc) if seconds is not None else None
    except (OverflowError, OSError, ValueError):
        return None


def message_key(chat_id: int, message_id: int) -> str:
    """Message ids are unique per chat only: the chat makes them unique per bot, and lets
    an edited_message find the message it edits."""
    return f"{chat_id}:{message_id}"


def _chat(message: Mapping[str, Any]) -> tuple[int, str] | None:
    """The chat's id and type. Old payloads may lack the type: user chats have positive
    ids, groups and channels negative ones."""
    chat = _obj(message.get("chat"))
    chat_id = _int(chat.get("id"))
    if chat_id is None:
        return None
    return chat_id, _str(chat.get("type")) or (ChatType.PRIVATE if chat_id > 0 else ChatType.GROUP)


def _file(obj: Any, content_type: str, kind: str, named: bool = False) -> Attachment | None:
    """A file the delivery worker downloads by ``file_id``: nothing else is required."""
    obj = _obj(obj)
    file_id = _str(obj.get("file_id"))
    if not file_id:
        return None
    return Attachment(content_type=_str(obj.get("mime_type")) or content_type, media_id=file_id,
                      size=_size(obj.get("file_size")), filename=_str(obj.get("file_name")) if named else None,
                      kind=kind)


def _sticker(sticker: Mapping[str, Any]) -> Attachment | None:
    content_type = ("application/x-tgsticker" if sticker.get("is_animated") is True else  # Lottie .tgs
                    "video/webm" if sticker.get("is_video") is True else "image/webp")
    return _file(sticker, content_type, "sticker")


def _attachment(message: Mapping[str, Any]) -> Attachment | None:
    """The message's file, if it has one. The content type is Telegram's when it gives
    one, otherwise what Telegram converts that kind to (photos are always JPEG)."""
    if photo := _list(message.get("photo")):  # sizes, smallest first
        return next((a for size in reversed(photo) if (a := _file(size, "image/jpeg", "image"))), None)
    if isinstance(sticker := message.get("sticker"), dict):
        return _sticker(sticker)
    # A GIF arrives converted to silent MP4, as both "animation" and "document".
    for key, content_type, kind, named in (
            ("animation", "video/mp4", "video", True), ("document", "application/octet-stream", "document", True),
            ("voice", "audio/ogg", "voice", False), ("audio", "audio/mpeg", "audio", True),
            ("video", "video/mp4", "video", True), ("video_note", "video/mp4", "video", False)):
        if key in message:
            return _file(message[key], content_type, kind, named)
    return None


def _coordinates(value: Any) -> dict[str, Any] | None:
    where = _obj(value)
    lat, lon = where.get("latitude"), where.get("longitude")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    return {"latitude": lat, "longitude": lon}


def _readable(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Locations, venues and contact cards: a readable text and the structure behind it."""
    venue = _obj(message.get("venue"))
    if venue and (place := _coordinates(venue.get("location"))) is not None:
        title, address = _str(venue.get("title")) or "", _str(venue.get("address")) or ""
        place.update(name=title, address=address)
        return f"[Location] {title}, {address} ({place['latitude']}, {place['longitude']})", {"location": place}
    if (place := _coordinates(message.get("location"))) is not None:
        return f"[Location] {place['latitude']}, {place['longitude']}", {"location": place}
    card = _obj(message.get("contact"))
    if phone := _str(card.get("phone_number")):
        name = " ".join(p for p in (_str(card.get("first_name")), _str(card.get("last_name"))) if p)
        contact = {"name": name, "phone": phone, "user_id": _int(card.get("user_id")), "vcard": _str(card.get("vcard"))}
        text = "[Contact] " + ", ".join(p for p in (name, phone) if p)
        return text, {"contact": {k: v for k, v in contact.items() if v}}
    return None


# Message fields PTB lists as types that say nothing of what the message carries.
_NOT_CONTENT = frozenset({"business_connection_id", "effect_id", "sender_boost_count", "sender_business_bot",
                          "reply_to_story"})


def _kind(message: Mapping[str, Any]) -> str:
    """Telegram's name for what the message carries (poll, dice, game...)."""
    return next((t.value for t in MessageType if t.value not in _NOT_CONTENT and message.get(t.value)), "unknown")


def _sender(message: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The sender's full name, and their @username for the payload."""
    user = _obj(message.get("from"))
    name = " ".join(p for p in (_str(user.get("first_name")), _str(user.get("last_name"))) if p) or None
    username = _str(user.get("username"))
    return name, {"username": username} if username else {}


def parse_message(inbox_id: int, chat_id: int, message: Mapping[str, Any],
                  raw: Mapping[str, Any]) -> InboundMessage | None:
    """A customer's message; None when it has no integer message_id (nothing to key it by)."""
    message_id = _int(message.get("message_id"))
    if message_id is None:
        return None
    name, payload = _sender(message)
    attachments: tuple[Attachment, ...] = ()
    unsupported = False
    text = _str(message.get("text")) or _str(message.get("caption")) or ""
    if (attachment := _attachment(message)) is not None:
        attachments = (attachment,)
        sticker = _obj(message.get("sticker"))
        if emoji := _str(sticker.get("emoji")):
            payload["sticker"] = {"emoji": emoji, "set_name": _str(sticker.get("set_name"))}
    elif (readable := _readable(message)) is not None:
        text, structure = readable
        payload.update(structure)
    elif not text:
        unsupported = True
        text = f"[Unsupported Telegram message: {_kind(message)}]"
    reply = _int(_obj(message.get("reply_to_message")).get("message_id"))
    return InboundMessage(
        inbox_id=inbox_id, kind=KIND, handle=str(chat_id),
        provider_message_id=message_key(chat_id, message_id), text=text,
        timestamp=_time(message.get("date")) or datetime.now(timezone.utc), profile_name=name,
        attachments=attachments, reply_to=message_key(chat_id, reply) if reply is not None else None,
        payload=payload or None, unsupported=unsupported, raw=raw)


def parse_edit(inbox_id: int, chat_id: int, message: Mapping[str, Any]) -> MessageEdit | None:
    """The new text or caption of an edited message. Live locations also arrive as edits
    (every few seconds, without text): those are not edits of anything we show."""
    text = _str(message.get("text"))
    text = text if text is not None else _str(message.get("caption"))
    message_id = _int(message.get("message_id"))
    if text is None or message_id is None:
        return None
    return MessageEdit(inbox_id=inbox_id, provider_message_id=message_key(chat_id, message_id), text=text,
                       edited_at=_time(message.get("edit_date")) or datetime.now(timezone.utc))


def parse_callback(inbox_id: int, query: Mapping[str, Any], raw: Mapping[str, Any]) -> InboundMessage | None:
    """A press on an inline keyboard button under one of the bot's messages: shown as the
    button's label (or its data), as the customer's answer to that message."""
    query_id, data = _str(query.get("id")), _str(query.get("data"))
    message = _obj(query.get("message"))
    user_id = _int(_obj(query.get("from")).get("id"))
    chat = _chat(message) if message else ((user_id, ChatType.PRIVATE) if user_id is not None else None)
    if not query_id or data is None or chat is None or chat[1] != ChatType.PRIVATE:
        return None
    name, payload = _sender(query)
    buttons = (b for row in _list(_obj(message.get("reply_markup")).get("inline_keyboard")) for b in _list(row))
    label = next((_str(b.get("text")) for b in buttons if isinstance(b, dict) and b.get("callback_data") == data),
                 None)
    replied = _int(message.get("message_id"))
    return InboundMessage(
        inbox_id=inbox_id, kind=KIND, handle=str(chat[0]), provider_message_id=f"{CALLBACK_PREFIX}{query_id}",
        text=f"[Button] {label or data}", timestamp=datetime.now(timezone.utc), profile_name=name,
        reply_to=message_key(chat[0], replied) if replied is not None else None,
        payload={**payload, "callback_data": data}, raw=raw)


# -- webhook route ---------------------------------------------------------------------------
# Find the inbox by the id in the path, check the secret header before reading anything
# else, then parse and store; answer 200 only after the commit (Telegram redelivers an
# update a limited number of times when we fail).

async def inbound(request: Request) -> Response:
    ctx, directory = webhook_context(request)
    inbox = await directory.by_id(request.path_params["inbox_id"])
    if inbox is None or inbox["kind"] != KIND:
        raise NotFound("no telegram inbox with this id", "unknown_inbox")
    secret = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(secret, str(inbox["settings"].get("secret_token", "")).encode()):
        raise Forbidden(f"missing or wrong {SECRET_HEADER}", "invalid_secret_token")
    raw = await read_body(request, ctx.settings.max_body_bytes)
    work = _interpret(inbox["id"], parse_update(raw))
    if isinstance(work, InboundMessage):
        await actions.record_inbound(ctx, work)
        if work.provider_message_id.startswith(CALLBACK_PREFIX):
            await _answer_callback(request, inbox, work.provider_message_id.removeprefix(CALLBACK_PREFIX))
    elif isinstance(work, MessageEdit) and not await actions.record_edit(ctx, work):
        log.info("telegram inbox %s: edit of unknown message %s", inbox["id"], work.provider_message_id)
    return JSONResponse({"ok": True})


async def _answer_callback(request: Request, inbox: Mapping[str, Any], query_id: str) -> None:
    """Tell Telegram the press was handled, or the customer's client shows a spinner
    (PROTOCOLS.md). Best effort, after the commit: a failure loses nothing we keep."""
    adapter: TelegramAdapter = request.app.state.registry.get(KIND)
    try:
        await adapter.answer_callback(str(inbox["settings"].get("bot_token") or ""), query_id)
    except (TelegramError, OSError) as exc:
        log.info("telegram inbox %s: answerCallbackQuery failed: %s", inbox["id"], type(exc).__name__)


def _rating_keyboard(survey: Mapping[str, Any]) -> InlineKeyboardMarkup:
    """A survey's five scores under the message, one row, best first; each press returns
    its ``csat:<survey>:<score>`` (well under callback_data's 64 bytes)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(str(c["score"]), callback_data=str(c["data"]))
                                  for c in survey["choices"]]])


def _interpret(inbox_id: int, data: Mapping[str, Any]) -> InboundMessage | MessageEdit | None:
    """What the update asks us to store, if anything (pure: reads the update, writes nothing)."""
    update_id = data["update_id"]
    kind = next((k for k in UPDATE_KINDS if k in data), None) or next((k for k in data if k != "update_id"), None)
    if kind in ("message", "edited_message"):
        message = _obj(data[kind])
        chat = _chat(message)
        if chat is None:
            log.warning("telegram inbox %s: update %s has a %s without a chat id: acknowledged, not stored",
                        inbox_id, update_id, kind)
            return None
        chat_id, chat_type = chat
        if chat_type != ChatType.PRIVATE:
            # Group chats are not conversations with one customer: see docs/channels/telegram.md.
            log.info("telegram inbox %s: ignored a message in %s chat %s", inbox_id, chat_type, chat_id)
            return None
        work = parse_message(inbox_id, chat_id, message, data) if kind == "message" else \
            parse_edit(inbox_id, chat_id, message)
        if work is None and kind == "message":
            log.warning("telegram inbox %s: update %s has a message without a message_id: acknowledged, not stored",
                        inbox_id, update_id)
        return work
    if kind == "callback_query":
        return parse_callback(inbox_id, _obj(data[kind]), data)
    if kind == "my_chat_member":
        # The bot's own membership in a chat. In a private chat, "kicked" means the customer
        # blocked the bot and "member" that they unblocked or restarted it. Nothing is stored:
        # it is not a message from the customer, and a reply fails with the reason anyway.
        member = _obj(data[kind])
        chat, status = _chat(member), _obj(member.get("new_chat_member")).get("status")
        if chat is not None and chat[1] == ChatType.PRIVATE and status == ChatMemberStatus.BANNED:
            log.info("telegram inbox %s: chat %s blocked the bot", inbox_id, chat[0])
        else:
            log.debug("telegram inbox %s: chat %s: bot is now %s", inbox_id, chat and chat[0], status)
        return None
    # channel_post and the rest: not a customer writing to the bot (see docs/channels/telegram.md).
    log.debug("telegram inbox %s: ignored update %s (%s)", inbox_id, update_id, kind)
    return None

routes = [Route("/webhooks/telegram/{inbox_id:int}", inbound, methods=["POST"])]


# -- the adapter -----------------------------------------------------------------------------

class _HideBotTokens(logging.Filter):
    """Bot API URLs contain the bot's token: httpx logs every request URL at INFO, and
    PTB logs its URLs (and the results of calls, getFile's file URL among them) at DEBUG.
    A file URL carries the token percent-encoded, because PTB quotes the path before the
    download (':' becomes '%3A'), so each token in use is hidden in both spellings. The
    message is frozen too: PTB logs a result dict it fills in afterwards (getFile's path)."""

    tokens: frozenset[str] = frozenset()  # every token a Bot was built for, in this process

    @classmethod
    def remember(cls, token: str) -> None:
        encoded = quote(token, safe="")
        # A new set, never changed in place: another thread may be logging through it.
        cls.tokens = cls.tokens | {token, encoded, encoded.replace("%3A", "%3a")}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for token in self.tokens:
            if token in message:
                message = message.replace(token, "<token>")
        record.msg, record.args = message, None
        return True


# Loggers that see Bot API URLs; a filter acts on its own logger's records only.
for _name in ("httpx", "telegram", "telegram.Bot", "telegram.request.BaseRequest", "telegram.request.HTTPXRequest"):
    logging.getLogger(_name).addFilter(_HideBotTokens())


class TelegramAdapter(Adapter, Sender, MediaFetcher, WebhookRegistrar):
    """One PTB ``Bot`` per token, built on first use and initialised (getMe) once."""

    def __init__(self, api_base: str, public_url: str, timeout: float = 15.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self._bots: dict[str, Bot] = {}

    def bot(self, token: str) -> Bot:
        bot = self._bots.get(token)
        if bot is None:
            _HideBotTokens.remember(token)
            request = HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout,
                                   write_timeout=self.timeout, pool_timeout=self.timeout,
                                   media_write_timeout=self.timeout, httpx_kwargs={"verify": tls()})
            bot = Bot(token, base_url=f"{self.api_base}/bot", base_file_url=f"{self.api_base}/file/bot",
                      request=request)
            self._bots[token] = bot
        return bot

    async def answer_callback(self, token: str, query_id: str) -> None:
        bot = await self._ready(token)
        await bot.answer_callback_query(query_id)

    async def _ready(self, token: str) -> Bot:
        bot = self.bot(token)
        await bot.initialize()  # getMe, once: a no-op after the first success
        return bot

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        token = str(settings.get("bot_token") or "").strip()
        if not token:
            raise Invalid("a telegram inbox needs bot_token", "missing_settings")
        match = BOT_TOKEN.fullmatch(token)
        if match is None:
            raise Invalid("bot_token is not a Telegram bot token (<bot id>:<secret>, from @BotFather)",
                          "invalid_bot_token")
        secret = str(settings.get("secret_token") or secrets.token_urlsafe(32))
        if not SECRET_TOKEN.fullmatch(secret):
            raise Invalid("secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -", "invalid_secret_token")
        unknown = set(settings) - {"bot_token", "secret_token"}
        if unknown:
            raise Invalid(f"unknown telegram settings: {', '.join(sorted(unknown))}", "unknown_settings")
        # The bot's id (the token's prefix) is the address: one bot, one inbox.
        return match.group(1), {"bot_token": token, "secret_token": secret}

    async def send(self, message: OutboundMessage) -> Sent:
        text = message.text
        if len(text) > MAX_TEXT_CHARS:
            raise ProviderRejected("text_too_long", f"Telegram limits a message to {MAX_TEXT_CHARS} characters")
        files = [a for a in message.attachments if a.url]
        try:
            bot = await self._ready(message.settings["bot_token"])
            chat_id = message.to
            caption: str | None = text or None
            first: Message | None = None
            if survey := (message.payload or {}).get("csat"):
                first = await bot.send_message(chat_id, text, reply_markup=_rating_keyboard(survey))
            elif not files or (caption is not None and len(caption) > MAX_CAPTION_CHARS):
                # Text alone, or too long to be a caption: its own message before the files.
                first = await bot.send_message(chat_id, text)
                caption = None
            # One message per file (a reply rarely has several); the first carries the text.
            for attachment in files:
                sent = await self._send_file(bot, chat_id, attachment, caption)
                first, caption = first or sent, None
        except TelegramError as exc:
            raise _translate(exc) from None
        assert first is not None
        return Sent(message_key(first.chat.id, first.message_id), "sent")  # Telegram has no delivery receipts

    async def _send_file(self, bot: Bot, chat_id: str, attachment: Attachment, caption: str | None) -> Message:
        url = attachment.url
        assert url is not None  # send() passes only the attachments with a URL
        kind = attachment.content_type.split("/")[0]
        if kind == "image" and attachment.content_type != "image/gif":
            return await bot.send_photo(chat_id, url, caption=caption)
        if kind == "video":
            return await bot.send_video(chat_id, url, caption=caption)
        if kind == "audio":
            return await bot.send_audio(chat_id, url, caption=caption)
        return await bot.send_document(chat_id, url, caption=caption)

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """getFile, then a GET on the file URL it names (valid for at least an hour)."""
        if not attachment.media_id:
            raise ProviderRejected("no_file_id", "the attachment has no Telegram file_id to download")
        if attachment.size and attachment.size > MAX_DOWNLOAD_BYTES:
            raise _too_big(attachment.size)
        try:
            bot = await self._ready(settings["bot_token"])
            file = await bot.get_file(attachment.media_id)
            if file.file_size and file.file_size > MAX_DOWNLOAD_BYTES:
                raise _too_big(file.file_size)
            content = await file.download_as_bytearray()
        except TelegramBadRequest as exc:
            if "too big" in exc.message:
                raise _too_big(attachment.size) from None
            raise _translate(exc) from None
        except TelegramError as exc:
            raise _translate(exc) from None
        if len(content) > MAX_DOWNLOAD_BYTES:
            raise _too_big(len(content))
        return Media(bytes(content), attachment.content_type, attachment.filename)

    async def register(self, inbox: Mapping[str, Any]) -> None:
        """setWebhook with the inbox's secret: Telegram then sends it in every update."""
        settings = inbox["settings"]
        try:
            bot = await self._ready(settings["bot_token"])
            await bot.set_webhook(url=self.webhook_urls(inbox)["webhook_url"], secret_token=settings["secret_token"],
                                  allowed_updates=ALLOWED_UPDATES)
        except TelegramError as exc:
            raise _translate(exc) from None

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return {"webhook_url": self.public_url + WEBHOOK_PATH.format(inbox_id=inbox["id"])}

    async def aclose(self) -> None:
        for bot in self._bots.values():
            await bot.shutdown()
        self._bots.clear()


def _too_big(size: int | None) -> ProviderRejected:
    of = f" ({size:,} bytes)" if size else ""
    return ProviderRejected("file_too_big", f"the file is too big for a bot to download{of}: "
                                            f"Telegram lets bots download files up to 20 MB")


def _retry_after(exc: RetryAfter) -> float:
    value = exc.retry_after  # a timedelta with PTB_TIMEDELTA (set above), seconds without
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _translate(exc: TelegramError) -> SendError:
    """PTB raises one class per kind of Bot API failure (it reads error_code and
    parameters); ours say whether retrying can help."""
    if isinstance(exc, RetryAfter):
        seconds = _retry_after(exc)
        return RateLimited("429", f"Telegram is rate limiting this bot (retry after {seconds:g} s)",
                           retry_after=seconds)
    if isinstance(exc, ChatMigrated):
        return ProviderRejected("chat_migrated", f"The group became a supergroup with chat id {exc.new_chat_id}")
    if isinstance(exc, TelegramForbidden):
        # "Forbidden: bot was blocked by the user", "...user is deactivated", "...bot can't initiate conversation"
        return ProviderRejected("403", BLOCKED if "blocked" in exc.message else exc.message)
    if isinstance(exc, InvalidToken):  # its message repeats the token: never show it
        return ProviderRejected("invalid_token", "Telegram rejected the bot token (revoked or mistyped?)")
    if isinstance(exc, TelegramBadRequest):  # a subclass of NetworkError, yet permanent
        return ProviderRejected("400", BAD_REQUESTS.get(exc.message.lower(), exc.message))
    if isinstance(exc, TimedOut):
        return ProviderUnavailable("timeout", "Telegram did not answer in time")
    if isinstance(exc, NetworkError):  # connection errors and 5xx
        return ProviderUnavailable("network", f"could not reach Telegram: {exc.message}")
    return ProviderRejected(None, exc.message)


def make_adapter(settings: Settings) -> TelegramAdapter:
    return TelegramAdapter(settings.telegram_api_base, settings.public_url, settings.send_timeout_seconds)
