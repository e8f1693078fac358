"""What every action needs, built once per process by the composition root
(``inbox/compose.py``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from dataclasses import dataclass, field

from inbox.config import Settings
from inbox.domain.channels import ReplyWindow
from inbox.domain.clock import Clock, SystemClock
from inbox.storage.bus import Bus
from inbox.storage.db import Database
from inbox.storage.media import MediaStore


async def _no_templates(inbox: Mapping[str, Any]) -> list[dict[str, Any]]:
    return []


@dataclass
class Context:
    """What actions need: built once per process by the composition root (inbox/compose.py)."""

    db: Database
    settings: Settings
    bus: Bus = field(default_factory=Bus)
    media: MediaStore | None = None
    # Per channel kind: how long after the customer's last message a free-form reply may go.
    reply_windows: Mapping[str, ReplyWindow] = field(default_factory=dict)
    # An inbox's message templates (its channel's TemplateSource), to store what a template says.
    templates: Callable[[Mapping[str, Any]], Awaitable[list[dict[str, Any]]]] = field(default=_no_templates)
    wake_delivery: Callable[[], None] = lambda: None
    snoozes_changed: Callable[[], None] = lambda: None
    wake_routing: Callable[[], None] = lambda: None
    rules_changed: Callable[[], None] = lambda: None  # an automation rule was saved (workers/automation.py)
    wake_webhooks: Callable[[], None] = lambda: None  # a delivery to send now (a replay, a resumed endpoint)
    wake_campaigns: Callable[[], None] = lambda: None  # a campaign was started, paused, resumed or cancelled
    # This process's open WebSockets per user id (ui/live.py): who it keeps present.
    connections: Counter[int] = field(default_factory=Counter)
    # When each user's input was last written (actions.agent_active writes it at most every 30 s).
    activity_written: dict[int, datetime] = field(default_factory=dict)
    # "Now", for everything time decides (inbox/domain/clock.py): tests move it.
    clock: Clock = field(default_factory=SystemClock)
