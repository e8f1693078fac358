"""Several writers on one PostgreSQL, as several processes would be: each "process" here is
its own Database (engine, pool, writer thread) and its own Redis bus, in this test's loop.

What must hold: a provider message stored once whoever receives it; a new customer's
concurrent messages joining one contact; live events reaching every process in id order
with no gap, even when a process's publish comes late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from inbox import actions
from inbox.config import Settings
from inbox.domain.channels import InboundMessage
from inbox.domain.events import LiveEvent
from inbox.domain.tables import CONTACTS, EVENTS, MESSAGES
from inbox.storage.db import Database, Tx
from inbox.storage.redisbus import RedisBus, channel_for
from tests.conftest import Live
from tests.helpers import servers
from tests.helpers.server import free_port


@pytest.fixture
def database_engine() -> str:
    return "postgres"


@dataclass
class Process:
    db: Database
    bus: RedisBus
    ctx: actions.Context
    seen: list[LiveEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, event: LiveEvent) -> None:
        self.seen.append(event)
        self.changed.set()

    async def wait_for(self, event_id: int, timeout: float = 10.0) -> None:
        async def until() -> None:
            while not self.seen or self.seen[-1].id < event_id:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), timeout)


@contextlib.asynccontextmanager
async def process(database_url: str, redis_url: str, *, publish: bool = True) -> AsyncIterator[Process]:
    db = Database(database_url)
    bus = RedisBus(redis_url, channel_for(database_url))
    proc = Process(db, bus, actions.Context(db=db, settings=Settings(database_url=database_url), bus=bus))
    bus.subscribe(proc.record)
    await bus.start(db)
    if publish:
        db.on_commit = bus.publish_committed
    db.start()
    try:
        yield proc
    finally:
        await bus.stop()  # first: no more reads from it once the database closes
        await asyncio.to_thread(db.stop)


def _sms(live: Live, handle: str, sid: str, text: str = "hi") -> InboundMessage:
    return InboundMessage(inbox_id=live.inbox["id"], kind="sms", handle=handle, phone=handle,
                          provider_message_id=sid, text=text, timestamp=datetime.now(timezone.utc))


def _emit(n: int) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        tx.emit("test.event", {"n": n}, ["all"])
    return job


async def test_one_provider_message_received_by_two_processes_is_stored_once(live: Live) -> None:
    url, redis_url = live.app.state.ctx.settings.database_url, live.app.state.ctx.settings.redis_url
    async with process(url, redis_url) as a, process(url, redis_url) as b:
        for i in range(10):  # the same webhook retried into two processes at the same moment
            msg = _sms(live, "+15553330000", f"SMdup{i}")
            results = await asyncio.gather(actions.record_inbound(a.ctx, msg), actions.record_inbound(b.ctx, msg))
            assert sorted(r.duplicate for r in results) == [False, True]
            assert results[0].message_id == results[1].message_id
        count = await a.db.read(lambda c: c.execute(select(func.count()).select_from(MESSAGES)).scalar())
    assert count == 10


async def test_a_new_customers_simultaneous_messages_join_one_contact(live: Live) -> None:
    url, redis_url = live.app.state.ctx.settings.database_url, live.app.state.ctx.settings.redis_url
    async with process(url, redis_url) as a, process(url, redis_url) as b:
        for i in range(10):
            handle = f"+1555444{i:04d}"
            results = await asyncio.gather(actions.record_inbound(a.ctx, _sms(live, handle, f"SMa{i}", "one")),
                                           actions.record_inbound(b.ctx, _sms(live, handle, f"SMb{i}", "two")))
            assert not any(r.duplicate for r in results)
            assert results[0].conversation_id == results[1].conversation_id
        contacts = await a.db.read(lambda c: c.execute(select(func.count()).select_from(CONTACTS)).scalar())
    assert contacts == 10


async def test_events_from_two_writers_reach_a_third_process_in_id_order_without_gaps(live: Live) -> None:
    url, redis_url = live.app.state.ctx.settings.database_url, live.app.state.ctx.settings.redis_url
    async with process(url, redis_url) as a, process(url, redis_url) as b, process(url, redis_url) as watcher:
        start = watcher.bus.last_id
        await asyncio.gather(*((a, b)[i % 2].db.write(_emit(i)) for i in range(300)))
        committed = await a.db.read(lambda c: list(c.execute(select(EVENTS.c.id).where(EVENTS.c.id > start)
                                                             .order_by(EVENTS.c.id)).scalars()))
        assert len(committed) == 300
        for proc in (a, b, watcher):
            await proc.wait_for(committed[-1])
            assert [e.id for e in proc.seen] == committed  # every one, once, in order
        assert sorted(e.data["n"] for e in watcher.seen) == list(range(300))


async def test_events_whose_publish_comes_late_are_read_from_the_database_in_order(live: Live) -> None:
    """A process commits events but has not published them yet (or its publish was lost);
    the next event to arrive reveals the gap and the others read it from the table."""
    url, redis_url = live.app.state.ctx.settings.database_url, live.app.state.ctx.settings.redis_url
    async with process(url, redis_url) as watcher, process(url, redis_url, publish=False) as silent, \
            process(url, redis_url) as loud:
        for i in range(5):
            await silent.db.write(_emit(i))
        await loud.db.write(_emit(5))
        last = await loud.db.read(lambda c: c.execute(select(func.max(EVENTS.c.id))).scalar())
        await watcher.wait_for(last)
        assert [e.data["n"] for e in watcher.seen] == [0, 1, 2, 3, 4, 5]
        ids = [e.id for e in watcher.seen]
        assert ids == sorted(set(ids))
        # the silent process hears of its own events the same way
        await silent.wait_for(last)
        assert [e.data["n"] for e in silent.seen] == [0, 1, 2, 3, 4, 5]


async def test_a_redis_outage_delays_events_between_processes_but_loses_none(live: Live) -> None:
    url, port = live.app.state.ctx.settings.database_url, free_port()

    async def newest() -> int:
        return int(await writer.db.read(lambda c: c.execute(select(func.max(EVENTS.c.id))).scalar()))
    with contextlib.ExitStack() as redis_up:
        redis_url = redis_up.enter_context(servers.redis(port))
        async with process(url, redis_url) as writer, process(url, redis_url) as watcher:
            await writer.db.write(_emit(0))
            await watcher.wait_for(await newest())

            redis_up.close()  # Redis goes away
            for i in range(1, 5):  # committed while the processes cannot tell each other
                await writer.db.write(_emit(i))
            during = await newest()
            await writer.wait_for(during, timeout=30)  # its own sockets still hear of them
            assert [e.data["n"] for e in watcher.seen] == [0]

            redis_up.enter_context(servers.redis(port))  # back: the watcher catches up from the database
            await watcher.wait_for(during, timeout=30)
            await writer.db.write(_emit(5))  # and hears of new events through Redis again
            last = await newest()
            for proc in (writer, watcher):
                await proc.wait_for(last, timeout=30)
                assert [e.data["n"] for e in proc.seen] == [0, 1, 2, 3, 4, 5]  # each once, in order
