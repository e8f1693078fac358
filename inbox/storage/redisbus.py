"""The event bus across processes: Redis pub/sub carries committed events, the database
keeps them in order.

Every process publishes each group commit's events (one PUBLISH per commit) and delivers
to its own subscribers only what comes back from Redis, so all processes see one stream.
Redis does not make that stream gap-free by itself: two processes commit ids 11 and 12 in
that order, but their PUBLISHes can cross, and 12 arrives first. Had a socket been sent 12,
it would skip 11 as already seen, and a client resuming ``after=12`` would never replay it.

How ids become safe to trust: db.py inserts events under a PostgreSQL advisory lock held
until the commit, so ids become visible in id order (SQLite commits one writer at a time).
Once event N is committed, every smaller id is committed or never will be. So when the
next event to arrive is N but the last delivered is below N - 1, the gap is read from the
``event`` table (everything in it is already committed), delivered in order, then N; a
late copy from Redis is dropped as already delivered. A gap is rare (crossed publishes, or
an id lost to a failed commit) and costs one indexed read.

Why this and not the alternatives: ids from a Redis counter at commit time would need a
round trip inside every writing transaction and still could not order the commits
themselves; holding back events younger than a horizon adds that horizon to every
event's latency and is only probably right. The lock serialises only the event inserts
and the commit of each group commit, which are short.

If Redis is unreachable, publishing falls back to delivering this process's own events
locally, and the listener subscribes again and, once Redis confirms the subscription,
catches up from the database: whatever was published before the confirmation was
committed before it too, so a Redis outage delays other processes' events but loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url

from inbox.config import Settings
from inbox.domain.events import LiveEvent
from inbox.domain.tables import EVENTS
from inbox.storage.bus import Bus
from inbox.storage.db import Database, PendingEvent

log = logging.getLogger(__name__)
PAGE = 1000
RETRY_SECONDS = 1.0
_CATCH_UP = object()  # delivered after (re)subscribing: read whatever was missed from the database


def make_bus(settings: Settings) -> Bus:
    """Redis when INBOX_REDIS_URL is set (several processes), else the in-process bus."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, channel_for(settings.database_url))
    return Bus()


def channel_for(database_url: str) -> str:
    """Processes of one deployment share a database, and so a channel: two deployments on
    one Redis stay apart as long as their databases are named differently."""
    return f"inbox:events:{make_url(database_url).database or ''}"


class RedisBus(Bus):
    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._db: Database | None = None
        self._redis: aioredis.Redis | None = None
        self._outbox: asyncio.Queue[list[PendingEvent]] = asyncio.Queue()
        self._inbox: asyncio.Queue[list[LiveEvent] | object] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self, db: Database) -> None:
        self._db = db
        self._redis = aioredis.from_url(self.url)
        pubsub = await self._subscribe()
        await super().start(db)  # after subscribing: what commits from here on arrives
        self._tasks = [asyncio.create_task(self._listen(pubsub)), asyncio.create_task(self._publish()),
                       asyncio.create_task(self._deliver())]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    def publish_committed(self, events: list[PendingEvent]) -> None:
        """Called by the database writer after a commit (any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, events)

    async def _publish(self) -> None:
        """PUBLISH each group commit's events. When that fails, this process's own sockets
        get them at once, and the newest is published again every RETRY_SECONDS until Redis
        takes it (or takes newer events): from it the other processes learn that they
        missed some, and read them from the database. Without it, a quiet spell after an
        outage would leave them unaware until the next event."""
        assert self._redis is not None
        unsent: list[PendingEvent] = []  # the newest event that failed to go out, if any
        while True:
            try:
                events = await (asyncio.wait_for(self._outbox.get(), RETRY_SECONDS) if unsent
                                else self._outbox.get())
            except TimeoutError:
                events = []
            while not self._outbox.empty() and len(events) < PAGE:  # commits that queued meanwhile
                events = events + self._outbox.get_nowait()
            batch = events or unsent
            payload = json.dumps([[e.id, e.type, e.data, e.scopes] for e in batch], default=str)
            try:
                await self._redis.publish(self.channel, payload)
                unsent = []
            except RedisError as exc:
                log.warning("publishing %d events to redis failed: %r", len(batch), exc)
                if events:
                    self._inbox.put_nowait([LiveEvent(e.id, e.type, e.data, e.scopes) for e in events])
                    unsent = events[-1:]

    async def _subscribe(self) -> Any:
        """A pub/sub connection whose subscription Redis has confirmed: every event
        published from then on reaches it."""
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            while (reply := await pubsub.get_message(timeout=10)) is None or reply["type"] != "subscribe":
                if reply is None:
                    raise TimeoutError("redis did not confirm the subscription")
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed in newer redis only
            raise
        return pubsub

    async def _listen(self, pubsub: Any) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._inbox.put_nowait([LiveEvent(*row) for row in json.loads(message["data"])])
            except (RedisError, OSError) as exc:
                log.warning("redis event bus disconnected (%r); subscribing again", exc)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            while True:
                await asyncio.sleep(RETRY_SECONDS)
                try:
                    pubsub = await self._subscribe()
                    break
                except (RedisError, OSError) as exc:
                    log.warning("redis event bus still unreachable (%r)", exc)
            self._inbox.put_nowait(_CATCH_UP)  # what was published meanwhile is in the database

    async def _deliver(self) -> None:
        """The only place events reach subscribers: one task, so one order."""
        while True:
            item = await self._inbox.get()
            if item is _CATCH_UP:
                await self._fill(None)
                continue
            assert isinstance(item, list)
            for event in sorted(item, key=lambda e: e.id):
                if event.id <= self.last_id:
                    continue  # delivered already, from the database or an earlier copy
                if event.id > self.last_id + 1:
                    await self._fill(event.id)
                self.publish([event])

    async def _fill(self, before: int | None) -> None:
        """Deliver the committed events after ``last_id`` (and below ``before``) from the
        database, retrying while it is unavailable: skipping them would lose them."""
        assert self._db is not None
        db = self._db
        while True:
            try:
                while True:
                    after = self.last_id
                    rows = await db.read(lambda c: _events_between(c, after, before))
                    self.publish(rows)
                    if len(rows) < PAGE:
                        return
            except Exception:
                if self._stopping:
                    return
                log.exception("reading missed events from the database failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)


def _events_between(conn: Connection, after: int, before: int | None) -> list[LiveEvent]:
    query = select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.data, EVENTS.c.scopes).where(EVENTS.c.id > after)
    if before is not None:
        query = query.where(EVENTS.c.id < before)
    return [LiveEvent(*row) for row in conn.execute(query.order_by(EVENTS.c.id).limit(PAGE))]
