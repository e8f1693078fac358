"""The SLA scheduler of a serving process: warnings and breaches at their time.

It never walks the conversations: the next time anything falls due is the minimum of an
indexed column (``sla_target.fire_at``), one read; it sleeps until then, and looks again
when a change may have brought that time nearer (a conversation event, from this process
or, through the Redis bus, another; the clock moved) or after MAX_WAIT. Every serving
process runs one; a target is fired by whichever claims it first (inbox/actions/sla.py).
"""

from __future__ import annotations

import asyncio
import logging

from inbox import actions, queries
from inbox.domain.events import LiveEvent
from inbox.workers import nap

log = logging.getLogger(__name__)
MAX_WAIT = 5.0  # also the longest a due time set in a process without a shared bus waits
RUNNING = ("running", "due_soon")  # an SLA summary with a due time ahead (inbox.domain.sla.Summary)


class SlaScheduler:
    def __init__(self, ctx: actions.Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self.fired = 0
        self.batch = actions.FIRE_BATCH  # targets one transaction fires at most
        ctx.clock.on_moved(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def on_event(self, event: LiveEvent) -> None:
        """A bus subscriber: a conversation whose SLA runs changed, so a due time may have
        been set or moved. Events of conversations without a running SLA (every one, where
        no policy is on) wake nothing: under a burst of webhooks a read per event cost
        ingest 13% (bench/ingest.py)."""
        if not event.type.startswith(("conversation.", "message.created")):
            return
        conv = event.data.get("conversation")
        summary = conv.get("sla") if isinstance(conv, dict) else None
        if summary and summary.get("status") in RUNNING:
            self._wake.set()

    async def run(self) -> None:
        ctx = self.ctx
        while True:
            self._wake.clear()
            wait = MAX_WAIT
            try:
                due = await ctx.db.read(queries.next_fire)
                if due is not None and due <= ctx.clock.now():
                    fired = await ctx.db.write(lambda tx: actions.fire_due(tx, ctx.clock.now(), self.batch))
                    self.fired += fired
                    if fired:
                        continue  # there may be more due
                    wait = 0.05  # another process holds them: look again shortly
                elif due is not None:
                    wait = min(MAX_WAIT, (due - ctx.clock.now()).total_seconds())
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("SLA scheduler failed")
            await nap(self._wake, max(wait, 0.0))
