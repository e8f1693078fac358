"""The routing loop of a serving process: a pass (``actions.run_pass``) at least every
INBOX_ROUTING_INTERVAL_SECONDS, and at once when something happened that may change a
decision: a conversation arrived, was resolved, reopened or reassigned by a person; an
agent's presence or teams changed; the clock moved (tests). Events that arrive during a
pass make one more pass, however many they are. Every serving process runs one; passes
take turns (inbox/actions/routing.py).
"""

from __future__ import annotations

import asyncio
import logging

from inbox import actions
from inbox.domain.events import (
    ACCESS_CHANGED,
    AGENT_PRESENCE_CHANGED,
    CONVERSATION_ASSIGNED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    LiveEvent,
)
from inbox.workers import nap

log = logging.getLogger(__name__)
REOPENED_FROM = ("resolved", "snoozed")


class Router:
    def __init__(self, ctx: actions.Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self.reopened: set[int] = set()  # conversations reopened since the last pass
        self.passes = 0
        # Whether the last pass found anything routed: if not, events wake nothing (an
        # inbox assigned by hand pays no pass per conversation); a routing setting changed
        # here wakes the loop itself, one changed in another process is seen within the interval.
        self.routed = True
        ctx.clock.on_moved(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def on_event(self, event: LiveEvent) -> None:
        """A bus subscriber: wake for what may change a decision."""
        if not self.routed:
            return
        kind = event.type
        if kind in (CONVERSATION_CREATED, AGENT_PRESENCE_CHANGED, ACCESS_CHANGED):
            self.wake()
        elif kind == CONVERSATION_UPDATED:
            previous = event.data.get("previous_status")
            if previous is None:
                return  # an edit, a read, a new message: no load changed
            conv = event.data["conversation"]
            if previous in REOPENED_FROM and conv["status"] == "open" and conv["assignee_id"] is not None:
                self.reopened.add(conv["id"])
            self.wake()
        elif kind == CONVERSATION_ASSIGNED and event.data.get("actor_id") is not None:
            self.wake()  # a person moved one: someone's load changed (routing's own moves need no pass)

    async def run(self) -> None:
        interval = self.ctx.settings.routing_interval_seconds
        while True:
            self._wake.clear()
            reopened, self.reopened = self.reopened, set()
            more = False
            try:
                result = await actions.run_pass(self.ctx, list(self.ctx.connections), reopened)
                self.passes += 1
                more, self.routed = result.more, result.routed
                if result.assigned or result.returned or result.reassigned:
                    log.info("routing: %d assigned, %d returned to the queue, %d reassigned",
                             result.assigned, result.returned, result.reassigned)
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("routing pass failed")
                self.reopened |= reopened
            if more:
                continue
            await nap(self._wake, interval)
