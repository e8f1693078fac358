"""The one list of the channels an app serves. Each channel declares itself in its folder
(``webhooks/<kind>/__init__.py``: ``CHANNEL = Channel(...)``); adding one is a line here,
or a ``register()`` call for a channel that lives elsewhere (tests/channels/pigeon)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Channel, Registry
from webhooks import email, messenger, sms, telegram, whatsapp

_CHANNELS: list[Channel] = [sms.CHANNEL, whatsapp.CHANNEL, messenger.CHANNEL, telegram.CHANNEL, email.CHANNEL]


def register(channel: Channel) -> None:
    """Serve one more channel in the apps built from now on (``build_registry``, ``routes``)."""
    if any(c.kind == channel.kind for c in _CHANNELS):
        raise ValueError(f"a channel of kind {channel.kind!r} is registered already")
    _CHANNELS.append(channel)


def unregister(kind: str) -> None:
    """Undo ``register`` (a test's channel, once its test is over)."""
    _CHANNELS[:] = [c for c in _CHANNELS if c.kind != kind]


def channels() -> list[Channel]:
    """The declarations alone, for what needs no adapter (the CLI's subcommands)."""
    return list(_CHANNELS)


def build_registry(settings: Settings) -> Registry:
    """Every channel with its adapter built: once per process."""
    registry = Registry()
    for channel in _CHANNELS:
        registry.add(channel, channel.adapter(settings))
    return registry


def routes() -> list[BaseRoute]:
    """Every channel's webhook routes, for the app."""
    return [route for channel in _CHANNELS for route in channel.routes()]
