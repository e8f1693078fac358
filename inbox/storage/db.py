"""Database access: one writer that group-commits, and readers on a thread pool.

On SQLite the writer runs on the event loop itself: every write requested during one turn
of the loop is committed together at the end of that turn. With WAL and
synchronous=NORMAL a commit does not wait for the disk, and a statement takes a few
microseconds, so this is faster than handing each job to a thread and back (~100 us a
hop, and the GIL contended between them). On PostgreSQL, where a statement waits on the
network, the writer is a thread of its own with the same batching.

Why not the async ORM: on this machine a SQLModel async session per request commits
about 740 rows/s, a raw sqlite3 insert about 8,000/s (measured on 2 cores). So
every write is a plain function of a synchronous SQLAlchemy ``Connection``, run on one
writer thread. The writer takes every job queued while it was busy and runs them in one
transaction, then commits once: one fsync for a whole burst of webhooks, and a caller's
``await write(...)`` returns only after its job is durable. If a job raises, the batch is
rolled back and each of its jobs is run again in a transaction of its own, so a failure
costs its batch a second pass but never another caller's write. (A SAVEPOINT per job
would do the same at two extra statements per job, on every job.) A job must therefore
touch nothing but the database through its ``Tx``: it may run twice.

Live events written by a job (``Tx.emit``) go to the ``event`` table in the same
transaction, with the outbound webhook deliveries they cause (inbox/storage/subscriptions.py),
and are handed to the bus after the commit, in id order. They are inserted
last, just before the commit, and on PostgreSQL under a transaction-level advisory lock:
with several processes writing, ids drawn from a sequence could otherwise commit out of
order (12 visible while 11 is still uncommitted), and a client resuming after 12 would
never see 11. Under the lock, whoever holds it draws the next ids and releases them only
by committing, so event ids become visible in id order: once id N is visible, every
smaller id is committed or never will be. Only the event inserts and the commit are
serialised, once per group commit, not the jobs themselves. SQLite serialises whole write
transactions (BEGIN IMMEDIATE) and needs no lock. See inbox/storage/redisbus.py for the reader's
side.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from inbox.domain.errors import InboxError
from inbox.domain.models import utcnow
from inbox.domain.tables import EVENTS as _EVENTS
from inbox.storage.prepared import Prepared
from inbox.storage.subscriptions import Subscriptions

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 256
_INSERT_EVENT = Prepared(insert(_EVENTS).values({c: bindparam(c) for c in ("type", "data", "scopes", "created_at")})
                         .returning(_EVENTS.c.id))
_EVENT_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(7470651)")  # any constant every process shares


@dataclass(slots=True)
class PendingEvent:
    id: int
    type: str
    data: dict[str, Any]
    scopes: list[str]


@dataclass(slots=True)
class Tx:
    """What a write job gets: the connection, and a way to emit live events."""

    conn: Connection
    events: list[PendingEvent] = field(default_factory=list)
    # Set while an automation rule acts ({"rule_id", "rule_name", "depth"}): every event and
    # timeline entry written meanwhile carries it as "by" (inbox/actions/automation.py).
    by: dict[str, Any] | None = None

    def emit(self, type: str, data: dict[str, Any], scopes: list[str]) -> None:
        """Queue a live event; it is written with the transaction's other events just before
        the commit (``store_events``), which gives it its id."""
        if self.by is not None:
            data = {**data, "by": self.by}
        self.events.append(PendingEvent(0, type, data, scopes))


def store_events(conn: Connection, events: list[PendingEvent], subscriptions: Subscriptions) -> None:
    """Insert the events, in order, as the last statements before the commit (see above),
    and the outbound webhook deliveries of those an endpoint subscribes to."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_EVENT_ORDER_LOCK)
    now = utcnow()
    for ev in events:
        ev.id = _INSERT_EVENT.scalar(conn, {"type": ev.type, "data": ev.data, "scopes": ev.scopes, "created_at": now})
    subscriptions.deliver(conn, events, now)


@dataclass(slots=True)
class _Job(Generic[T]):
    fn: Callable[[Tx], T]
    loop: asyncio.AbstractEventLoop | None
    future: Any  # asyncio.Future on the caller's loop, or a concurrent Future for sync callers
    result: Any = None
    error: BaseException | None = None


def sync_url(url: str) -> str:
    """Accept async driver names too (sqlite+aiosqlite, postgresql+asyncpg) and map them
    to the synchronous driver the writer thread uses."""
    u = make_url(url)
    if u.drivername in ("sqlite+aiosqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite")
    elif u.drivername in ("postgresql+asyncpg", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    url = sync_url(url)
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        _create_private(Path(u.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8)

    # pysqlite's own transaction handling breaks SAVEPOINT; take it over, as the
    # SQLAlchemy docs recommend, and open write transactions with BEGIN IMMEDIATE so a
    # second process waits for the lock instead of failing mid-transaction.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (kill -9);
        # only an OS crash or power loss can lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _create_private(path: Path) -> None:
    """Create the SQLite file (it holds provider secrets) readable by this user alone, before
    SQLite would create it under the umask: an empty file is an empty database, and SQLite
    gives the -wal and -shm files the main file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("%s is open to other users (mode %o) but holds provider secrets: chmod 600 it",
                        path, path.stat().st_mode & 0o777)


class Checkpointer:
    """Copies SQLite's write-ahead log back into the database file on a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, and
    our commits run on the event loop: every few thousand webhooks one of them would stall
    every request for as long as the copy and its fsync take. So automatic checkpoints are
    off (``wal_autocheckpoint=0``) and this thread runs a PASSIVE checkpoint, which never
    blocks the writer or readers, whenever there have been commits. The sqlite3 module
    releases the GIL while SQLite works, so the loop keeps serving meanwhile."""

    INTERVAL = 0.2  # seconds between checkpoints while commits keep coming

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dirty = threading.Event()
        self.stopping = False
        self._halt = threading.Event()  # set by stop: ends the pause between checkpoints at once
        self.thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)

    def start(self) -> None:
        """From now on this process's connections leave checkpoints to this thread (a CLI
        process, which never starts one, keeps SQLite's automatic checkpoints)."""
        @event.listens_for(self.engine, "checkout")
        def _no_autocheckpoint(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            if not record.info.get("checkpointer"):
                dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
                record.info["checkpointer"] = True
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self._halt.set()
        self.dirty.set()
        self.thread.join()

    def _run(self) -> None:
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            while True:
                self.dirty.wait()
                if self.stopping:
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave a short WAL behind
                    return
                self.dirty.clear()
                try:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("WAL checkpoint failed")
                self._halt.wait(self.INTERVAL)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self.inline = self.is_sqlite
        self._pending: list[_Job[Any]] = []  # inline mode: the jobs of this loop turn
        self.on_commit: Callable[[list[PendingEvent]], None] | None = None
        self.subscriptions = Subscriptions()  # outbound webhooks' (inbox/storage/subscriptions.py)
        self._reading = 0  # reads in flight on other threads: stop() waits for them
        self._idle = threading.Condition()
        file_db = self.is_sqlite and make_url(self.engine.url).database not in (None, "", ":memory:")
        self.checkpointer = Checkpointer(self.engine) if file_db else None

    def migrate(self) -> None:
        """Bring the schema to the latest migration (safe while other processes do too)."""
        from inbox.storage import migrate  # alembic is needed at start-up only

        migrate.upgrade(self.engine)

    # -- writes -------------------------------------------------------------------------

    def start(self) -> None:
        if self.checkpointer is not None and not self.checkpointer.thread.is_alive():
            self.checkpointer.start()
        if self._writer is None and not self.inline:
            self._writer = threading.Thread(target=self._run_writer, name="db-writer", daemon=True)
            self._writer.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join()
            self._writer = None
        if self.checkpointer is not None and self.checkpointer.thread.is_alive():
            self.checkpointer.stop()
        # A read still running (its caller cancelled) would return its connection to the
        # disposed pool, which leaves it to the garbage collector to close.
        with self._idle:
            self._idle.wait_for(lambda: self._reading == 0, timeout=10)
        self.engine.dispose()

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in the next group commit; return its result once committed."""
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(fn, loop, loop.create_future())
        if self.inline:
            self._pending.append(job)
            if len(self._pending) == 1:
                loop.call_soon(self._flush_inline)
        else:
            self.start()
            self._jobs.put(job)
        return await job.future  # type: ignore[no-any-return]

    def _flush_inline(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush_inline)
        self._commit_batch(batch)

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """For the CLI and start-up: one transaction on the calling thread, events published
        to nobody but the ``event`` table (a serving process replays them from there)."""
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            tx = Tx(conn)
            result = fn(tx)
            store_events(conn, tx.events, self.subscriptions)
            return result

    def _run_writer(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Job[Any]]) -> None:
        events = self._run_in_one_transaction(batch)
        if events is None:  # something failed: isolate every job in its own transaction
            events = []
            for job in batch:
                job.error = None
                events.extend(self._run_in_one_transaction([job]) or [])
        if self.checkpointer is not None:
            self.checkpointer.dirty.set()
        if events and self.on_commit is not None:
            self.on_commit(events)
        for job in batch:
            if job.loop is not None:
                job.loop.call_soon_threadsafe(_settle, job)

    def _run_in_one_transaction(self, jobs: list[_Job[Any]]) -> list[PendingEvent] | None:
        """Run the jobs and commit; the committed events, or None if anything failed (then
        every job has ``error`` set or, when another job failed, nothing durable)."""
        events: list[PendingEvent] = []
        try:
            with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
                for job in jobs:
                    tx = Tx(conn)
                    job.result = job.fn(tx)
                    events.extend(tx.events)
                store_events(conn, events, self.subscriptions)
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            if len(jobs) == 1:
                jobs[0].error = exc
            elif not isinstance(exc, _EXPECTED):
                log.warning("a batch of %d writes failed (%r); retrying them one by one", len(jobs), exc)
            return None
        return events

    # -- reads --------------------------------------------------------------------------

    async def read(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.to_thread(self.read_sync, fn)

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self._idle:
            self._reading += 1
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        finally:
            with self._idle:
                self._reading -= 1
                self._idle.notify_all()


# Failures that are part of normal operation (a permission check, a duplicate's unique key).
_EXPECTED: tuple[type[Exception], ...] = (IntegrityError, InboxError)


def _settle(job: _Job[Any]) -> None:
    if job.future.done():  # the caller was cancelled; the write stands
        return
    if job.error is not None:
        job.future.set_exception(job.error)
    else:
        job.future.set_result(job.result)
