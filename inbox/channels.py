"""The one interface every channel implements, and the normalised values that cross it.

The domain (services, delivery) knows channels only through these types and the
registry below; provider vocabulary stays in ``webhooks/<provider>.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inbox.models import ChannelKind


@dataclass(frozen=True, slots=True)
class Attachment:
    content_type: str
    url: str | None = None
    size: int | None = None
    filename: str | None = None
    path: str | None = None  # a stored file, when we keep a copy

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("content_type", self.content_type), ("url", self.url), ("size", self.size),
                                  ("filename", self.filename), ("path", self.path)) if v is not None}


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
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery receipt: the provider's id of a message we sent and its new status."""

    inbox_id: int
    provider_message_id: str
    status: str  # sent | delivered | read | failed
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    inbox_id: int
    settings: Mapping[str, Any] = field(repr=False)
    address: str = ""  # the inbox's own address (our number)
    to: str = ""
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    message_id: int = 0


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


class ChannelAdapter(Protocol):
    kind: ChannelKind

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Check an inbox's settings; return its routing address and the settings to store.
        Raise ``inbox.errors.Invalid`` naming what is missing or wrong."""
        ...

    async def send(self, message: OutboundMessage) -> Sent:
        """Send; raise a SendError subclass (translated from the provider's) on failure."""
        ...

    async def aclose(self) -> None: ...


class Registry:
    def __init__(self) -> None:
        self._adapters: dict[ChannelKind, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.kind] = adapter

    def supports(self, kind: str) -> bool:
        return kind in self._adapters

    def get(self, kind: str) -> ChannelAdapter:
        try:
            return self._adapters[ChannelKind(kind)]
        except (KeyError, ValueError):
            raise ProviderRejected("no_adapter", f"no channel adapter for {kind!r}") from None

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
