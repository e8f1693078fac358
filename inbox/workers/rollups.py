"""The report rollup worker (inbox/actions/rollups.py): folds new report facts into the
rollups, a batch a transaction, off the hot path. Every serving process runs one; the state
row makes their folds take turns, and whoever moves the mark first has done that batch.

Woken by committed events (facts are written with them), it waits DEBOUNCE seconds first so
that a burst is one fold, and looks anyway every MAX_WAIT (facts written by another process
without the Redis bus). A lagging worker costs a report time, never exactness: reports fold
the facts above the mark themselves.
"""

from __future__ import annotations

import asyncio
import logging

from inbox.actions import Context
from inbox.actions import rollups
from inbox.domain.events import LiveEvent
from inbox.queries.rollups import newest_fact
from inbox.workers import nap

log = logging.getLogger(__name__)
MAX_WAIT = 30.0
DEBOUNCE = 1.0


class RollupWorker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._urgent = False
        self.upto = 0
        self.paused = False
        self._folded = asyncio.Condition()

    def wake(self) -> None:
        self._wake.set()

    def on_event(self, event: LiveEvent) -> None:
        self._wake.set()

    async def run_once(self) -> bool:
        """One batch; whether there is more to fold now."""
        db = self.ctx.db
        bound = await db.read(rollups.safe_bound)
        if not self.upto and bound > rollups.BATCH and await db.read(rollups.state) == (0, False):
            # Nothing folded and a backlog (the facts from before the upgrade): all at once.
            try:
                await asyncio.to_thread(lambda: rollups.refold(db, rebuilding=False))
            except RuntimeError:  # another process folded meanwhile: on from its mark
                pass
        mark, more, paused = await db.write(lambda tx: rollups.fold_next(tx, bound))
        async with self._folded:
            self.upto, self.paused = max(self.upto, mark), paused
            self._folded.notify_all()
        return more

    async def caught_up(self, timeout: float = 10.0) -> None:
        """Until every fact committed so far is folded (at once while a rebuild runs)."""
        newest = await self.ctx.db.read(newest_fact)
        self._urgent = True
        self.wake()
        async with self._folded:
            await asyncio.wait_for(self._folded.wait_for(lambda: self.paused or self.upto >= newest), timeout)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self.run_once():
                    continue
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("report rollup worker failed")
            await nap(self._wake, MAX_WAIT)
            if not self._urgent:
                await asyncio.sleep(DEBOUNCE)
            self._urgent = False

