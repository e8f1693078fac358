"""Wakes snoozed conversations when their time comes (runs in the serving process)."""

from __future__ import annotations

import asyncio
import logging

from inbox import services
from inbox.models import utcnow

log = logging.getLogger(__name__)
MAX_WAIT = 30.0  # also picks up snoozes set by other processes


class SnoozeWaker:
    def __init__(self, ctx: services.Context) -> None:
        self.ctx = ctx
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        while True:
            self._changed.clear()
            try:
                next_due = await services.wake_snoozed(self.ctx)
            except Exception:  # keep waking others; the database may be briefly unavailable
                log.exception("waking snoozed conversations failed")
                next_due = None
            wait = MAX_WAIT if next_due is None else (next_due - utcnow()).total_seconds()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, min(wait, MAX_WAIT)))
            except TimeoutError:
                pass
