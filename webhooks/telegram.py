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
about groups, edits, blocked bots and media. Provider vocabulary (Update, chat id,
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

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Bot, Message, Update
from telegram.constants import ChatMemberStatus, ChatType, MessageType
from telegram.error import (BadRequest as TelegramBadRequest, ChatMigrated, Forbidden as TelegramForbidden,
                            InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut)
from telegram.request import HTTPXRequest

from inbox import services
from inbox.channels import (Attachment, InboundMessage, Media, MessageEdit, OutboundMessage, ProviderRejected,
                            ProviderUnavailable, RateLimited, SendError, Sent)
from inbox.config import Settings
from inbox.errors import BadRequest, Forbidden, Invalid, NotFound
from inbox.models import ChannelKind
from ui.http import load_json, read_body
from webhooks.http import webhook_context

log = logging.getLogger(__name__)
# PTB 22 opt-in to its next major version's time periods as timedelta. Without it, PTB
# emits a deprecation warning from inside RetryAfter's own constructor on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")

WEBHOOK_PATH = "/webhooks/telegram/{inbox_id}"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ALLOWED_UPDATES = ["message", "edited_message", "my_chat_member"]
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

def parse_update(raw: bytes, bot: Bot) -> tuple[Update, dict[str, Any]]:
    """The Update, and the JSON it came from (kept for messages we cannot show)."""
    try:
        data = load_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", "malformed_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise BadRequest("body is not a Telegram Update: no integer 'update_id'", "malformed_update")
    try:
        update = Update.de_json(data, bot)
    # PTB builds its objects with Class(**data): a hostile or truncated body can raise
    # almost anything (TypeError, KeyError, AttributeError, OverflowError...).
    except Exception as exc:
        raise BadRequest(f"body is not a Telegram Update: {type(exc).__name__}: {exc}", "malformed_update") from None
    for message in (update.message, update.edited_message):
        if message is not None and not (isinstance(message.message_id, int)
                                        and isinstance(getattr(message.chat, "id", None), int)):
            raise BadRequest("body is not a Telegram Update: message_id and chat.id must be integers",
                             "malformed_update")
    return update, data


def message_key(chat_id: int, message_id: int) -> str:
    """Message ids are unique per chat only: the chat makes them unique per bot, and lets
    an edited_message find the message it edits."""
    return f"{chat_id}:{message_id}"


def _sticker(message: Message) -> Attachment:
    sticker = message.sticker
    assert sticker is not None
    content_type = ("application/x-tgsticker" if sticker.is_animated else  # Lottie .tgs
                    "video/webm" if sticker.is_video else "image/webp")
    return Attachment(content_type=content_type, media_id=sticker.file_id, size=sticker.file_size, kind="sticker")


def _attachment(message: Message) -> Attachment | None:
    """The message's file, if it has one. The content type is Telegram's when it gives
    one, otherwise what Telegram converts that kind to (photos are always JPEG)."""
    if message.photo:
        largest = message.photo[-1]
        return Attachment(content_type="image/jpeg", media_id=largest.file_id, size=largest.file_size, kind="image")
    if message.sticker:
        return _sticker(message)
    if doc := message.document:
        return Attachment(content_type=doc.mime_type or "application/octet-stream", media_id=doc.file_id,
                          size=doc.file_size, filename=doc.file_name, kind="document")
    if voice := message.voice:
        return Attachment(content_type=voice.mime_type or "audio/ogg", media_id=voice.file_id, size=voice.file_size,
                          kind="voice")
    if audio := message.audio:
        return Attachment(content_type=audio.mime_type or "audio/mpeg", media_id=audio.file_id, size=audio.file_size,
                          filename=audio.file_name, kind="audio")
    if video := message.video:
        return Attachment(content_type=video.mime_type or "video/mp4", media_id=video.file_id, size=video.file_size,
                          filename=video.file_name, kind="video")
    if note := message.video_note:
        return Attachment(content_type="video/mp4", media_id=note.file_id, size=note.file_size, kind="video")
    if gif := message.animation:  # GIFs arrive converted to silent MP4
        return Attachment(content_type=gif.mime_type or "video/mp4", media_id=gif.file_id, size=gif.file_size,
                          filename=gif.file_name, kind="video")
    return None


def _readable(message: Message) -> tuple[str, dict[str, Any]] | None:
    """Locations, venues and contact cards: a readable text and the structure behind it."""
    if venue := message.venue:
        place = {"latitude": venue.location.latitude, "longitude": venue.location.longitude,
                 "name": venue.title, "address": venue.address}
        return f"[Location] {venue.title}, {venue.address} ({place['latitude']}, {place['longitude']})", \
            {"location": place}
    if loc := message.location:
        place = {"latitude": loc.latitude, "longitude": loc.longitude}
        return f"[Location] {loc.latitude}, {loc.longitude}", {"location": place}
    if card := message.contact:
        name = " ".join(p for p in (card.first_name, card.last_name) if p)
        contact = {"name": name, "phone": card.phone_number, "user_id": card.user_id, "vcard": card.vcard}
        return f"[Contact] {name}, {card.phone_number}", {"contact": {k: v for k, v in contact.items() if v}}
    return None


# Message fields PTB lists as types that say nothing of what the message carries.
_NOT_CONTENT = frozenset({"business_connection_id", "effect_id", "sender_boost_count", "sender_business_bot",
                          "reply_to_story"})


def _kind(message: Message) -> str:
    """Telegram's name for what the message carries (poll, dice, game...)."""
    return next((t.value for t in MessageType if t.value not in _NOT_CONTENT and getattr(message, t.value, None)),
                "unknown")


def parse_message(inbox_id: int, message: Message, raw: Mapping[str, Any]) -> InboundMessage:
    chat_id = message.chat.id
    user = message.from_user
    payload: dict[str, Any] = {}
    attachments: tuple[Attachment, ...] = ()
    unsupported = False
    text = message.text or message.caption or ""
    if (attachment := _attachment(message)) is not None:
        attachments = (attachment,)
        if message.sticker and message.sticker.emoji:
            payload["sticker"] = {"emoji": message.sticker.emoji, "set_name": message.sticker.set_name}
    elif (readable := _readable(message)) is not None:
        text, structure = readable
        payload.update(structure)
    elif message.text is None:
        unsupported = True
        text = f"[Unsupported Telegram message: {_kind(message)}]"
    if user is not None and user.username:
        payload["username"] = user.username
    reply = message.reply_to_message
    return InboundMessage(
        inbox_id=inbox_id, kind=ChannelKind.telegram, handle=str(chat_id),
        provider_message_id=message_key(chat_id, message.message_id), text=text, timestamp=message.date,
        profile_name=user.full_name if user is not None else None, attachments=attachments,
        reply_to=message_key(chat_id, reply.message_id) if reply is not None else None,
        payload=payload or None, unsupported=unsupported, raw=raw)


def parse_edit(inbox_id: int, message: Message) -> MessageEdit | None:
    """The new text or caption of an edited message. Live locations also arrive as edits
    (every few seconds, without text): those are not edits of anything we show."""
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    return MessageEdit(inbox_id=inbox_id, provider_message_id=message_key(message.chat.id, message.message_id),
                       text=text, edited_at=message.edit_date or datetime.now(timezone.utc))


# -- webhook route ---------------------------------------------------------------------------
# Find the inbox by the id in the path, check the secret header before reading anything
# else, then parse and store; answer 200 only after the commit (Telegram redelivers an
# update a limited number of times when we fail).

async def inbound(request: Request) -> Response:
    ctx, directory = webhook_context(request)
    inbox = await directory.by_id(request.path_params["inbox_id"])
    if inbox is None or inbox["kind"] != ChannelKind.telegram:
        raise NotFound("no telegram inbox with this id", "unknown_inbox")
    secret = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(secret, str(inbox["settings"].get("secret_token", "")).encode()):
        raise Forbidden(f"missing or wrong {SECRET_HEADER}", "invalid_secret_token")
    raw = await read_body(request, ctx.settings.max_body_bytes)
    adapter: TelegramAdapter = request.app.state.registry.get(ChannelKind.telegram)
    update, data = parse_update(raw, adapter.bot(inbox["settings"]["bot_token"]))
    try:
        work = _interpret(inbox["id"], update, data)
    # PTB objects are built loosely from untrusted JSON: a field of the wrong shape (a chat
    # without an id, a date that is a string) surfaces only when read. Nothing is stored yet.
    except Exception as exc:
        raise BadRequest(f"body is not a Telegram Update we can read: {type(exc).__name__}: {exc}",
                         "malformed_update") from None
    if isinstance(work, InboundMessage):
        await services.record_inbound(ctx, work)
    elif isinstance(work, MessageEdit) and not await services.record_edit(ctx, work):
        log.info("telegram inbox %s: edit of unknown message %s", inbox["id"], work.provider_message_id)
    return JSONResponse({"ok": True})


def _interpret(inbox_id: int, update: Update, data: Mapping[str, Any]) -> InboundMessage | MessageEdit | None:
    """What the update asks us to store, if anything (pure: reads the update, writes nothing)."""
    if (message := update.message) is not None:
        if message.chat.type != ChatType.PRIVATE:
            # Group chats are not conversations with one customer: see docs/channels/telegram.md.
            log.info("telegram inbox %s: ignored a message in %s chat %s", inbox_id, message.chat.type,
                     message.chat.id)
            return None
        return parse_message(inbox_id, message, data)
    if (edited := update.edited_message) is not None:
        return parse_edit(inbox_id, edited) if edited.chat.type == ChatType.PRIVATE else None
    if (member := update.my_chat_member) is not None:
        # The bot's own membership in a chat. In a private chat, "kicked" means the customer
        # blocked the bot and "member" that they unblocked or restarted it. Nothing is stored:
        # it is not a message from the customer, and a reply fails with the reason anyway.
        status = member.new_chat_member.status
        if member.chat.type == ChatType.PRIVATE and status == ChatMemberStatus.BANNED:
            log.info("telegram inbox %s: chat %s blocked the bot", inbox_id, member.chat.id)
        else:
            log.debug("telegram inbox %s: chat %s: bot is now %s", inbox_id, member.chat.id, status)
        return None
    log.debug("telegram inbox %s: ignored update %s without a message", inbox_id, update.update_id)
    return None


routes = [Route("/webhooks/telegram/{inbox_id:int}", inbound, methods=["POST"])]


# -- the adapter -----------------------------------------------------------------------------

class _HideBotTokens(logging.Filter):
    """Bot API URLs contain the bot's token: httpx logs every request URL at INFO, and
    PTB logs its URLs at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg, record.args = re.sub(r"/(file/)?bot\d+:[A-Za-z0-9_-]+", r"/\1bot<token>", message), None
        return True


for _name in ("httpx", "telegram.Bot", "telegram.request.BaseRequest", "telegram.request.HTTPXRequest"):
    logging.getLogger(_name).addFilter(_HideBotTokens())


class TelegramAdapter:
    """One PTB ``Bot`` per token, built on first use and initialised (getMe) once."""

    kind = ChannelKind.telegram
    reply_window = None  # a bot may write to a private chat any time, unless it is blocked
    supports_templates = False
    cli_options = {
        "bot-token": ("bot_token", True, "the bot's token from @BotFather (123456789:AA...)"),
        "secret-token": ("secret_token", False, "the webhook secret (1-256 of A-Z a-z 0-9 _ -); generated if omitted"),
    }

    def __init__(self, api_base: str, public_url: str, timeout: float = 15.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self._bots: dict[str, Bot] = {}

    def bot(self, token: str) -> Bot:
        bot = self._bots.get(token)
        if bot is None:
            request = HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout,
                                   write_timeout=self.timeout, pool_timeout=self.timeout,
                                   media_write_timeout=self.timeout)
            bot = Bot(token, base_url=f"{self.api_base}/bot", base_file_url=f"{self.api_base}/file/bot",
                      request=request)
            self._bots[token] = bot
        return bot

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
            if not files or (caption is not None and len(caption) > MAX_CAPTION_CHARS):
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

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        return []

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
