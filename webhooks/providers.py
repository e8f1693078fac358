"""One channel kind carried by several providers' APIs (WhatsApp: Meta's Cloud API, or
Twilio): an inbox's ``provider`` setting picks the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from inbox.domain.channels import (
    Adapter,
    Attachment,
    Media,
    MediaFetcher,
    OutboundMessage,
    Sender,
    Sent,
    TemplateSource,
)
from inbox.domain.errors import Invalid


class Provider(Adapter, Sender, MediaFetcher, TemplateSource, Protocol):
    """What each provider behind a ``ByProvider`` does, so the kind can do it whoever carries it."""


class ByProvider(Adapter, Sender, MediaFetcher, TemplateSource):
    """The providers of one kind (none set: ``default``). They share the kind's declaration
    (reply window, templates rule), so identities, windows and templates work the same
    whoever carries a message."""

    def __init__(self, kind: str, default: Provider, others: Mapping[str, Provider]) -> None:
        self.kind, self.default, self.others = kind, default, dict(others)

    def _pick(self, settings: Mapping[str, Any]) -> Provider:
        provider = settings.get("provider")
        if not provider:
            return self.default
        if provider not in self.others:
            raise Invalid(f"unknown {self.kind} provider {provider!r}: {', '.join(sorted(self.others))} "
                          "or none", "unknown_provider")
        return self.others[provider]

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        adapter = self._pick(settings)
        return adapter.configure({k: v for k, v in settings.items() if k != "provider" or adapter is not self.default})

    async def send(self, message: OutboundMessage) -> Sent:
        return await self._pick(message.settings).send(message)

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        return await self._pick(settings).fetch(settings, attachment)

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return self._pick(inbox["settings"]).webhook_urls(inbox)

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        return await self._pick(settings).templates(settings)

    async def aclose(self) -> None:
        for adapter in (self.default, *self.others.values()):
            await adapter.aclose()
