"""The one interface every channel implements, and the normalised values that cross it.

The domain (services, delivery) knows channels only through these types and the
registry below; provider vocabulary stays in ``webhooks/<provider>.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from inbox.domain.errors import BadRequest
from inbox.domain.models import ChannelKind, utcnow


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on a message. Inbound, ``media_id`` (or ``url``) says where the provider keeps
    it; the delivery worker then downloads it with the inbox's credentials (``fetch``) and
    records ``path`` (our stored copy, served at /media/...) or ``error``."""

    content_type: str
    url: str | None = None
    size: int | None = None
    filename: str | None = None
    path: str | None = None  # our stored copy, relative to INBOX_MEDIA_DIR
    media_id: str | None = None  # the provider's id, for channels that download by id
    kind: str | None = None  # image | video | audio | voice | document | sticker
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attachment:
        return cls(**{k: v for k, v in d.items() if k in cls.__slots__})


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """What every channel adapter produces from an inbound webhook."""

    inbox_id: int
    kind: ChannelKind
    handle: str  # normalised: E.164 phone, WhatsApp id, PSID, chat id, lower-cased email
    provider_message_id: str
    text: str
    timestamp: datetime
    profile_name: str | None = None
    phone: str | None = None  # E.164 when the handle is (or includes) a phone: joins SMS and WhatsApp
    email: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    opt_out: bool | None = None  # True: the customer asked to stop; False: to start again
    avatar_url: str | None = None
    # Locations, contact cards, button replies, templates: the structured content behind
    # ``text`` (which is always a readable rendering of it).
    payload: Mapping[str, Any] | None = None
    # A kind we cannot show: ``text`` is a labelled placeholder and ``raw`` is stored.
    unsupported: bool = False
    # "out" for an echo: a message the business sent from elsewhere (e.g. the Facebook Page
    # inbox), stored as outbound so the timeline is complete, never sent again.
    direction: str = "in"
    # Provider ids of earlier messages this one answers (email's In-Reply-To and References):
    # when one is a message of this contact's, the new one joins that message's conversation
    # (reopening it if need be), whatever the subject or the reopen window.
    thread_refs: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Adapters build this from untrusted JSON: a field of the wrong type is the
        # provider's malformed payload (400), never a crash in storage (500).
        for name in ("handle", "provider_message_id", "text"):
            if not isinstance(getattr(self, name), str):
                raise BadRequest(f"the message's {name} is not text", "malformed_body")
        for name in ("profile_name", "phone", "email", "reply_to", "avatar_url"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise BadRequest(f"the message's {name} is not text", "malformed_body")
        if not self.handle or not self.provider_message_id:
            raise BadRequest("the message has no sender or no id", "malformed_body")


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """The customer edited a message they sent (Telegram): the new text replaces the old,
    the message is marked edited."""

    inbox_id: int
    provider_message_id: str
    text: str
    edited_at: datetime


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery receipt: the provider's id of a message we sent and its new status."""

    inbox_id: int
    provider_message_id: str
    status: str  # sent | delivered | read | failed
    error_code: str | None = None
    error_message: str | None = None
    # The failure says the customer has opted out (Twilio's 21610 reported by a callback).
    recipient_opted_out: bool = False


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    inbox_id: int
    settings: Mapping[str, Any] = field(repr=False)
    address: str = ""  # the inbox's own address (our number)
    to: str = ""
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    message_id: int = 0
    payload: Mapping[str, Any] | None = None  # e.g. {"template": {"name", "language", "parameters"}}
    # When the customer last wrote on this identity (for channels with a reply window).
    last_inbound_at: datetime | None = None
    # The customer's latest message on this identity: its provider id and payload (email
    # threads a reply on its Message-ID, References and subject).
    reply_to_id: str | None = None
    reply_to_payload: Mapping[str, Any] | None = None
    # When this attempt goes, by the app's clock: a reply window is judged against it.
    attempted_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Sent:
    """A provider accepted a send: its id for the message, and the status it reported."""

    provider_message_id: str
    status: str = "sent"


class SendError(Exception):
    """A provider refused or failed a send, translated at the adapter boundary."""

    transient = False

    def __init__(self, code: str | None, message: str, retry_after: float | None = None,
                 recipient_opted_out: bool = False) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.recipient_opted_out = recipient_opted_out


class ProviderRejected(SendError):
    """Permanent: retrying the same request cannot succeed (invalid number, opted out...)."""


class ProviderUnavailable(SendError):
    """Transient: timeouts, connection errors, 5xx. Retried with backoff."""

    transient = True


def unreachable(exc: BaseException, provider: str, timeout: float) -> ProviderUnavailable:
    """A transport failure talking to ``provider`` over HTTP (httpx, or the OS beneath it):
    transient, worded for the agent."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable("timeout", f"{provider} did not answer within {timeout:g} s")
    return ProviderUnavailable("network", f"could not reach {provider}: {exc or type(exc).__name__}")


class RateLimited(ProviderUnavailable):
    """Transient, with the provider's Retry-After when it gave one."""


@dataclass(frozen=True, slots=True)
class Media:
    content: bytes
    content_type: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyWindow:
    """How long after the customer's last message a free-form reply may go, and whether an
    approved template may still be sent once it has closed (WhatsApp) or nothing (Messenger)."""

    length: timedelta
    templates: bool = False


class ChannelAdapter(Protocol):
    kind: ChannelKind
    # How long after the customer's last message a free-form reply is allowed (None: always).
    reply_window: timedelta | None
    # Whether approved templates may be sent outside that window.
    supports_templates: bool
    # ``inbox inbox create <kind>`` flags: flag name (without --) -> (settings key, required, help)
    cli_options: Mapping[str, tuple[str, bool, str]]

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Check an inbox's settings; return its routing address and the settings to store.
        Raise ``inbox.errors.Invalid`` naming what is missing or wrong."""
        ...

    async def send(self, message: OutboundMessage) -> Sent:
        """Send; raise a SendError subclass (translated from the provider's) on failure."""
        ...

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """Download an inbound attachment with the inbox's credentials; SendError on failure."""
        ...

    async def register(self, inbox: Mapping[str, Any]) -> None:
        """Tell the provider where to send this inbox's webhooks, where its API allows it
        (Telegram's setWebhook); elsewhere nothing. SendError when the provider refuses."""
        ...

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        """The URLs an admin gives the provider for this inbox."""
        ...

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Message templates usable when the reply window is closed ([] where none exist)."""
        ...

    async def start(self, ctx: Any, directory: Any) -> None:
        """Start what the channel runs beside the HTTP server (email's SMTP listener)."""
        ...

    async def aclose(self) -> None: ...


class Registry:
    def __init__(self) -> None:
        self._adapters: dict[ChannelKind, ChannelAdapter] = {}

    def supports(self, kind: str) -> bool:
        return kind in self._adapters

    def kinds(self) -> list[ChannelKind]:
        return list(self._adapters)

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.kind] = adapter

    def get(self, kind: str) -> ChannelAdapter:
        try:
            return self._adapters[ChannelKind(kind)]
        except (KeyError, ValueError):
            raise ProviderRejected("no_adapter", f"no channel adapter for {kind!r}") from None

    async def start(self, ctx: Any, directory: Any) -> None:
        for adapter in self._adapters.values():
            start = getattr(adapter, "start", None)
            if start is not None:
                await start(ctx, directory)

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
