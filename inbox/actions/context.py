"""What every action needs, built once per process by the composition root
(``inbox/compose.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from inbox.config import Settings
from inbox.domain.channels import ReplyWindow
from inbox.domain.models import utcnow
from inbox.storage.bus import Bus
from inbox.storage.db import Database
from inbox.storage.media import MediaStore


@dataclass
class Context:
    """What services need: built once per process by the app (ui/app.py) or the CLI."""

    db: Database
    settings: Settings
    bus: Bus = field(default_factory=Bus)
    media: MediaStore | None = None
    # Per channel kind: how long after the customer's last message a free-form reply may go.
    reply_windows: Mapping[str, ReplyWindow] = field(default_factory=dict)
    wake_delivery: Callable[[], None] = lambda: None
    snoozes_changed: Callable[[], None] = lambda: None
    # "Now", for checks against a provider's clock (signed timestamps): tests move it.
    clock: Callable[[], datetime] = utcnow
