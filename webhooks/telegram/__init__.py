"""Telegram through the Bot API.

This file declares the channel; ``bot_api`` is its inbound parsing, secret check and
adapter, imported only when an app serves it.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, Setting

KIND = "telegram"


def _adapter(settings: Settings) -> Adapter:
    from webhooks.telegram import bot_api
    return bot_api.make_adapter(settings)


def _routes() -> Sequence[BaseRoute]:
    from webhooks.telegram import bot_api
    return bot_api.routes


CHANNEL = Channel(
    kind=KIND, label="Telegram", adapter=_adapter, routes=_routes,
    settings=(
        Setting("bot-token", "bot_token", label="Bot token",
                help="the bot's token from @BotFather (123456789:AA...)", required=True,
                secret=True),
        Setting("secret-token", "secret_token", label="Webhook secret",
                help="the webhook secret (1-256 of A-Z a-z 0-9 _ -); generated if omitted",
                secret=True),
    ),
    reply_window=None,  # a bot may write to a private chat any time, unless it is blocked
    icon="TG", colour="#1a6fa8", logo="logo-telegram", docs="docs/channels/telegram.md",
)
