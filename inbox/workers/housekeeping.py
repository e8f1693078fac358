"""Timed work of the serving process: wake snoozed conversations when their time comes,
prune live events past their retention (and webhook tokens past their use, and the outbound
webhooks' log of what was delivered), and (SQLite)
keep the search index merged. Due times are read on the app's clock (ctx.clock)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from inbox import actions
from inbox.queries import search

log = logging.getLogger(__name__)
MAX_WAIT = 30.0  # also picks up snoozes set by other processes
PRUNE_EVERY = 3600.0
MERGE_EVERY = 300.0


class Housekeeper:
    def __init__(self, ctx: actions.Context) -> None:
        self.ctx = ctx
        self._changed = asyncio.Event()
        self._pruned_at = 0.0
        self._merged_at = time.monotonic()
        ctx.clock.on_moved(self.snoozes_changed)  # a snooze may have run out: look again

    def snoozes_changed(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        while True:
            self._changed.clear()
            next_due = None
            try:  # keep going: the database may be briefly unavailable
                next_due = await actions.wake_snoozed(self.ctx)
                if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                    self._pruned_at = time.monotonic()
                    pruned = await actions.prune_events(
                        self.ctx, timedelta(days=self.ctx.settings.event_retention_days))
                    if pruned:
                        log.info("pruned %d live events older than %g days", pruned,
                                 self.ctx.settings.event_retention_days)
                    await actions.prune_webhook_nonces(self.ctx)
                    await actions.prune_webhook_deliveries(
                        self.ctx, timedelta(days=self.ctx.settings.event_retention_days))
                if self.ctx.db.is_sqlite and time.monotonic() - self._merged_at > MERGE_EVERY:
                    self._merged_at = time.monotonic()
                    await self.ctx.db.write(lambda tx: search.sqlite_merge_step(tx.conn))
            except Exception:
                log.exception("housekeeping failed")
            wait = MAX_WAIT if next_due is None else (next_due - self.ctx.clock.now()).total_seconds()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.0, min(wait, MAX_WAIT)))
            except TimeoutError:
                pass
