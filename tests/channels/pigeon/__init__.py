"""Pigeon post: a made-up sixth channel, the worked example of docs/architecture.md's
"How to add a channel". Lofts post a JSON webhook signed with the inbox's signing secret;
replies go to the loft's HTTP API with the inbox's API key.

This file is the declaration; ``inbound`` is the route and signature check, ``adapter``
the outbound side.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, Setting

KIND = "pigeon"
ICON = "PG"
COLOUR = "#b5651d"


def _adapter(settings: Settings) -> Adapter:
    from tests.channels.pigeon.adapter import PigeonAdapter
    return PigeonAdapter(settings.public_url, settings.send_timeout_seconds)


def _routes() -> Sequence[BaseRoute]:
    from tests.channels.pigeon import inbound
    return inbound.routes


CHANNEL = Channel(
    kind=KIND, label="Pigeon post", adapter=_adapter, routes=_routes,
    settings=(
        Setting("loft", "loft", "the loft's name: the inbox's address", required=True),
        Setting("api-url", "api_url", "the loft's HTTP API", required=True),
        Setting("api-key", "api_key", "the key replies are sent with", required=True, secret=True),
        Setting("signing-secret", "signing_secret", "signs the loft's webhooks", required=True, secret=True),
    ),
    icon=ICON, colour=COLOUR, docs="docs/architecture.md#how-to-add-a-channel",
)
