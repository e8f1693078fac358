"""Facebook Messenger through Meta's Graph API.

This file declares the channel; ``graph_api`` is its inbound parsing, signature check and
adapter, imported only when an app serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, ReplyWindow, Setting

KIND = "messenger"
# With the HUMAN_AGENT tag (an approved permission) a reply may go up to 7 days after the
# customer's last message: the channel's window, the longest any inbox may reply.
HUMAN_AGENT_WINDOW = timedelta(days=7)


def _adapter(settings: Settings) -> Adapter:
    from webhooks.messenger import graph_api
    return graph_api.make_adapter(settings)


def _routes() -> Sequence[BaseRoute]:
    from webhooks.messenger import graph_api
    return graph_api.routes


CHANNEL = Channel(
    kind=KIND, label="Messenger", adapter=_adapter, routes=_routes,
    settings=(
        Setting("page-id", "page_id", label="Page ID", help="the Facebook Page's numeric id", required=True),
        Setting("page-access-token", "page_access_token", label="Page access token",
                help="a Page access token with pages_messaging", required=True,
                secret=True),
        Setting("app-secret", "app_secret", label="App secret",
                help="the Meta app's secret (checks webhook signatures)", required=True,
                secret=True),
        Setting("verify-token", "verify_token", label="Verify token",
                help="any secret string, also entered in the app dashboard",
                required=True, secret=True),
        Setting("human-agent-tag", "human_agent_tag", label="Human agent tag (7-day replies)",
                help="true (default) or false: reply up to 7 days with HUMAN_AGENT"),
    ),
    reply_window=ReplyWindow(HUMAN_AGENT_WINDOW),
    icon="FB", colour="#0866ff", logo="logo-messenger", docs="docs/channels/messenger.md",
)
