"""What a channel is to the domain: its declaration, the capabilities its adapter may
have, the registry of those served, and the normalised values that cross it.

The domain (actions, delivery) knows channels only through these types; a kind is a
registered name (``Channel.kind``), and provider vocabulary stays in ``webhooks/<kind>/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable


from inbox.domain.errors import BadRequest
from inbox.domain.models import utcnow

if TYPE_CHECKING:  # types only: the domain imports nothing of the layers above it
    from starlette.routing import BaseRoute

    from inbox.config import Settings


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
    kind: str  # a registered channel kind
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
    # Sent by a machine, not a person (email: Auto-Submitted, a vacation responder's or a
    # list's headers, a bounce): stored as automatic, never answered automatically.
    automatic: bool = False
    # The sender asked that nothing answer it automatically (email: X-Auto-Response-Suppress).
    no_auto_reply: bool = False
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
    # Sent by us automatically ("out_of_office", "acknowledgement"): email marks it so
    # (Auto-Submitted: auto-replied), so that the customer's own responder does not answer it.
    automatic: str | None = None


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


# -- what a channel declares ------------------------------------------------------------
# Each channel's folder (webhooks/<kind>/__init__.py) holds one ``Channel``; the registry
# (webhooks/registry.py) lists them. The domain knows a channel kind only as that name.

KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")  # it names CSS classes, URLs and CLI subcommands
COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")  # set inline in the page's style


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of an inbox's settings, as ``inbox inbox create <kind> --<flag>`` and the
    admin page's inbox form ask for it. A ``secret`` one is masked wherever an inbox is
    shown, and the CLI reads it from the environment or a prompt rather than from ps."""

    flag: str
    key: str
    help: str
    required: bool = False
    secret: bool = False
    label: str = ""  # the admin form's field name, in words ("Auth token"); the key's words if blank

    @property
    def title(self) -> str:
        return self.label or self.key.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class Channel:
    """Everything the app needs to know about a channel, in one place. ``adapter`` and
    ``routes`` are factories so that reading the declarations (the CLI's subcommands, the
    UI's icons) does not import the provider's SDK."""

    kind: str
    label: str
    adapter: Callable[[Settings], Adapter]
    routes: Callable[[], Sequence[BaseRoute]]
    settings: tuple[Setting, ...] = ()
    # How long after the customer's last message a free-form reply may go (None: any time).
    reply_window: ReplyWindow | None = None
    icon: str = ""  # the short text badge drawn beside its conversations (e.g. "SMS") when it has no logo
    # The badge's background, behind white text or logo: at least 4.5:1 against white
    # (tests/test_contrast.py checks the channels served).
    colour: str = "#5b6472"
    logo: str = ""  # a symbol id in ui/static/icons.svg (scripts/build_icons.py); none: the text badge
    docs: str = ""  # where an admin reads how to connect it

    def __post_init__(self) -> None:
        if not KIND.fullmatch(self.kind):
            raise ValueError(f"channel kind {self.kind!r} must match {KIND.pattern}")
        if not COLOUR.fullmatch(self.colour):
            raise ValueError(f"channel {self.kind}: colour {self.colour!r} must be #rgb or #rrggbb")

    @property
    def cli_options(self) -> dict[str, tuple[str, bool, str]]:
        """flag (without --) -> (settings key, required, help), in declaration order."""
        return {s.flag: (s.key, s.required, s.help) for s in self.settings}

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(s.key for s in self.settings if s.secret)


# -- what an adapter can do ---------------------------------------------------------------
# ``Adapter`` is what every channel's adapter has; the capabilities below are each declared
# by the adapters that have them (as base classes, so mypy checks the signatures), and the
# registry looks for them with isinstance. A channel without one simply lacks it: no no-op
# methods to write.

@runtime_checkable
class Adapter(Protocol):
    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Check an inbox's settings; return its routing address and the settings to store.
        Raise ``inbox.domain.errors.Invalid`` naming what is missing or wrong."""
        ...

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        """The URLs an admin gives the provider for this inbox."""
        ...

    async def aclose(self) -> None:
        """Close the adapter's connections (at shutdown)."""
        ...


@runtime_checkable
class Sender(Protocol):
    async def send(self, message: OutboundMessage) -> Sent:
        """Send; raise a SendError subclass (translated from the provider's) on failure."""
        ...


@runtime_checkable
class SentLookup(Protocol):
    async def find_sent(self, message: OutboundMessage, since: datetime) -> list[Sent]:
        """The messages the provider holds that match this one (same recipient and content)
        and were created at ``since`` or later, newest first: asked before a send is tried
        again after an attempt whose outcome is unknown (a timeout, a worker that died), so
        a send the provider took is recorded, not repeated. SendError when it cannot tell."""
        ...


@runtime_checkable
class MediaFetcher(Protocol):
    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        """Download an inbound attachment with the inbox's credentials; SendError on failure."""
        ...


@runtime_checkable
class WebhookRegistrar(Protocol):
    async def register(self, inbox: Mapping[str, Any]) -> None:
        """Tell the provider where to send this inbox's webhooks, where its API allows it
        (Telegram's setWebhook). SendError when the provider refuses."""
        ...


@runtime_checkable
class TemplateSource(Protocol):
    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Message templates usable when the reply window is closed."""
        ...


@runtime_checkable
class Companion(Protocol):
    async def start(self, ctx: Any, directory: Any) -> None:
        """Start what the channel runs beside the HTTP server (email's SMTP listener), with
        the app's Context and InboxDirectory. Stopped by the adapter's aclose."""
        ...


class Registry:
    """The channels this process serves, each with its adapter built. Callers ask for a
    capability (``sender``, ``fetcher``...) rather than an adapter, so a channel that
    lacks one is answered for here, once."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}
        self._adapters: dict[str, Adapter] = {}

    def add(self, channel: Channel, adapter: Adapter) -> None:
        self._channels[channel.kind] = channel
        self._adapters[channel.kind] = adapter

    def supports(self, kind: str) -> bool:
        return kind in self._channels

    def kinds(self) -> list[str]:
        return list(self._channels)

    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def channel(self, kind: str) -> Channel:
        try:
            return self._channels[kind]
        except KeyError:
            raise ProviderRejected("no_adapter", f"no channel adapter for {kind!r}") from None

    def get(self, kind: str) -> Adapter:
        try:
            return self._adapters[kind]
        except KeyError:
            raise ProviderRejected("no_adapter", f"no channel adapter for {kind!r}") from None

    def reply_windows(self) -> dict[str, ReplyWindow]:
        """Each kind's reply window, for the kinds that have one."""
        return {c.kind: c.reply_window for c in self._channels.values() if c.reply_window is not None}

    def secret_settings(self) -> frozenset[str]:
        return frozenset(key for c in self._channels.values() for key in c.secrets)

    def sender(self, kind: str) -> Sender:
        adapter = self.get(kind)
        if not isinstance(adapter, Sender):
            raise ProviderRejected("cannot_send", f"{kind} inboxes cannot send replies")
        return adapter

    def lookup(self, kind: str) -> SentLookup | None:
        """The channel's way of finding a send it took, if its API has one (Twilio's)."""
        adapter = self.get(kind)
        return adapter if isinstance(adapter, SentLookup) else None

    def fetcher(self, kind: str) -> MediaFetcher:
        adapter = self.get(kind)
        if not isinstance(adapter, MediaFetcher):
            raise ProviderRejected("not_downloadable", f"{kind} attachments are stored as they arrive")
        return adapter

    async def register_webhook(self, inbox: Mapping[str, Any]) -> None:
        """Where the provider's API allows, point its webhooks at this inbox; elsewhere the
        admin does it by hand with the inbox's webhook_urls."""
        adapter = self.get(inbox["kind"])
        if isinstance(adapter, WebhookRegistrar):
            await adapter.register(inbox)

    async def templates(self, inbox: Mapping[str, Any]) -> list[dict[str, Any]]:
        adapter = self.get(inbox["kind"])
        return await adapter.templates(inbox["settings"]) if isinstance(adapter, TemplateSource) else []

    async def start(self, ctx: Any, directory: Any) -> None:
        for adapter in self._adapters.values():
            if isinstance(adapter, Companion):
                await adapter.start(ctx, directory)

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
