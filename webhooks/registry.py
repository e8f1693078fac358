"""Which adapter serves which channel kind: built once per process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inbox.config import Settings
from inbox.domain.channels import Attachment, ChannelAdapter, Media, OutboundMessage, Registry, Sent
from inbox.domain.errors import Invalid
from webhooks import email
from webhooks.messenger import graph_api as messenger
from webhooks.sms import twilio
from webhooks.telegram import bot_api as telegram
from webhooks.whatsapp import cloud_api as whatsapp


def build_registry(settings: Settings) -> Registry:
    registry = Registry()
    for module in (twilio, whatsapp, messenger, telegram, email):
        adapter = module.make_adapter(settings)
        if adapter is not None:  # a channel still being built has none yet
            registry.register(adapter)
    # WhatsApp has two providers: Meta's Cloud API, and Twilio (an inbox with provider: twilio).
    registry.register(ByProvider(registry.get("whatsapp"), {twilio.PROVIDER: twilio.make_whatsapp_adapter(settings)},
                                 "twilio for a sender on Twilio (with --phone, --account-sid, --auth-token); "
                                 "omit for Meta's Cloud API"))
    return registry


class ByProvider:
    """One channel kind carried by several providers' APIs: an inbox's ``provider`` setting
    picks the adapter (none: ``default``). They share the kind's reply window and template
    rule, so identities, windows and templates work the same whoever carries a message."""

    def __init__(self, default: ChannelAdapter, others: Mapping[str, ChannelAdapter], help_text: str) -> None:
        self.default, self.others = default, dict(others)
        self.kind = default.kind
        self.reply_window = default.reply_window
        self.supports_templates = default.supports_templates
        # Every provider's flags; which are required depends on the provider, so configure() says.
        self.cli_options: dict[str, tuple[str, bool, str]] = {
            "provider": ("provider", False, help_text),
            **{flag: (key, False, text) for adapter in (default, *self.others.values())
               for flag, (key, _, text) in adapter.cli_options.items()}}

    def _pick(self, settings: Mapping[str, Any]) -> ChannelAdapter:
        provider = settings.get("provider")
        if not provider:
            return self.default
        if provider not in self.others:
            raise Invalid(f"unknown {self.kind.value} provider {provider!r}: {', '.join(sorted(self.others))} "
                          "or none", "unknown_provider")
        return self.others[provider]

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        adapter = self._pick(settings)
        return adapter.configure({k: v for k, v in settings.items() if k != "provider" or adapter is not self.default})

    async def send(self, message: OutboundMessage) -> Sent:
        return await self._pick(message.settings).send(message)

    async def fetch(self, settings: Mapping[str, Any], attachment: Attachment) -> Media:
        return await self._pick(settings).fetch(settings, attachment)

    async def register(self, inbox: Mapping[str, Any]) -> None:
        await self._pick(inbox["settings"]).register(inbox)

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return self._pick(inbox["settings"]).webhook_urls(inbox)

    async def templates(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        return await self._pick(settings).templates(settings)

    async def aclose(self) -> None:
        for adapter in (self.default, *self.others.values()):
            await adapter.aclose()
