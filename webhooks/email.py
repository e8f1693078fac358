"""Email: not built yet (issue 4). Until it is, ``make_adapter`` returns None and the channel
kind is refused as unsupported."""

from __future__ import annotations

from starlette.routing import BaseRoute

from inbox.channels import ChannelAdapter
from inbox.config import Settings

routes: list[BaseRoute] = []


def make_adapter(settings: Settings) -> ChannelAdapter | None:
    return None
