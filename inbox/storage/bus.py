"""The in-process event bus: fans committed events out to this process's subscribers.
With several processes, ``inbox/storage/redisbus.py`` replaces it behind the same
``start``/``subscribe``/``publish_committed``/``last_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from inbox.domain.events import LiveEvent
from inbox.storage.db import Database, PendingEvent

log = logging.getLogger(__name__)


Subscriber = Callable[[LiveEvent], None]


class Bus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_id = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def start(self, db: Database) -> None:
        """Deliver events committed from now on (``last_id``: the latest already committed)."""
        from inbox import queries  # store imports this module

        self.bind(asyncio.get_running_loop())
        self.last_id = await db.read(queries.last_event_id)

    async def stop(self) -> None:
        pass

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn)

    def publish_committed(self, events: list[PendingEvent]) -> None:
        """Called by the database writer thread after a commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, [LiveEvent(e.id, e.type, e.data, e.scopes) for e in events])

    def publish(self, events: list[LiveEvent]) -> None:
        for ev in events:
            self.last_id = max(self.last_id, ev.id)
            for fn in list(self._subscribers):
                try:
                    fn(ev)
                except Exception:  # one broken subscriber must not starve the others
                    log.exception("event subscriber failed on %s", ev.type)
