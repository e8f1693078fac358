"""The automation runner of a serving process (docs/automation.md): asks the rules about
each committed live event, and fires the timed rules at their time.

Events: woken by every event on the bus (this process's and, through Redis, the others'),
it moves the shared cursor a batch at a time (``actions.automation.run_events``); whichever
process moves it first does that batch. With no rule switched on it writes nothing at all.
Timers: like the SLA scheduler (inbox/workers/sla.py), it sleeps until the earliest due
time, one indexed read, and looks again when the clock moves or after MAX_WAIT.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from inbox.actions import Context
from inbox.actions import automation as rules
from inbox.actions.csat import SurveyPolicy
from inbox.domain.events import LiveEvent
from inbox.workers import nap

log = logging.getLogger(__name__)
MAX_WAIT = 5.0


class AutomationRunner:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self.active = True  # whether any rule is on, as last read: off, events wake nothing
        self.passes = 0
        self.upto = 0  # the events up to this id have been asked of the rules
        self._asked = asyncio.Condition()
        ctx.clock.on_moved(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def rules_changed(self) -> None:
        self.active = True
        self._wake.set()

    def on_event(self, event: LiveEvent) -> None:
        if self.active:
            self._wake.set()

    def policy(self) -> rules.Policy:
        ctx = self.ctx
        return rules.Policy(ctx.reply_windows, timedelta(hours=ctx.settings.auto_reply_interval_hours),
                            SurveyPolicy.of(ctx))

    def _after(self, outcome: rules.Outcome) -> None:
        if outcome.sent:
            self.ctx.wake_delivery()
        if outcome.snoozed:
            self.ctx.snoozes_changed()
        if outcome.routed:
            self.ctx.wake_routing()
        if outcome.posted:
            self.ctx.wake_webhooks()

    async def run_once(self) -> bool:
        """One pass over new events and due timers; whether there may be more right now."""
        ctx, policy = self.ctx, self.policy()
        self.active = await ctx.db.read(rules.any_active)
        more = False
        if self.active:
            events = await ctx.db.write(lambda tx: rules.run_events(tx, ctx.clock.now(), policy))
            self._after(events)
            more = events.more
            async with self._asked:
                self.upto = max(self.upto, events.upto)
                self._asked.notify_all()
        due = await ctx.db.read(rules.next_timer)
        if due is not None and due <= ctx.clock.now():
            fired = await ctx.db.write(lambda tx: rules.fire_timers(tx, ctx.clock.now(), policy))
            self._after(fired)
            more = more or fired.more
        self.passes += 1
        return more

    async def caught_up(self, timeout: float = 10.0) -> None:
        """Until every event committed so far has been asked of the rules (at once when no
        rule is on): what a test awaits before it moves the clock past a timed rule."""
        newest = await self.ctx.db.read(rules.newest_event)
        self.wake()
        async with self._asked:
            await asyncio.wait_for(self._asked.wait_for(lambda: not self.active or self.upto >= newest), timeout)

    async def run(self) -> None:
        ctx = self.ctx
        while True:
            self._wake.clear()
            wait = MAX_WAIT
            try:
                if await self.run_once():
                    continue
                due = await ctx.db.read(rules.next_timer)
                if due is not None:
                    wait = max(0.0, min(MAX_WAIT, (due - ctx.clock.now()).total_seconds()))
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("automation runner failed")
            await nap(self._wake, wait)
