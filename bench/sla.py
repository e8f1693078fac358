"""SLA scheduler benchmark (issue 15): with 100,000 SLAs running, how late does a warning
or a breach reach the bus after its time, against the clock's own lateness on the same
event loop in the same run.

    .venv/bin/python bench/sla.py                        # SQLite file, one serving process
    .venv/bin/python bench/sla.py --engine postgres      # PostgreSQL: one process, then two with Redis
    .venv/bin/python bench/sla.py --engine both --quick  # 10,000 running, 200 due in a 6 s window

Set-up, not timed, written in bulk on the driver's connection (``inbox/storage/seed.py``'s
``_Writer``: executemany on SQLite, COPY on PostgreSQL), once per engine:

- 40 agents and 5 leads in 5 teams (a lead in each), one SMS inbox, one policy (first
  and next response in an hour, resolution in a week, warnings at 75%);
- ``--running`` conversations (100,000), open, assigned, each with two targets: its first
  response, met and ended (``fire_at`` NULL, as most targets of a live deployment are),
  and its resolution, running, warning 4 to 5 days ahead (``fire_at``), due 6 to 7 days
  ahead; and the clock's open ``sla_span``.

Timed, per round: a serving process built as in production
(``compose.process(settings).serving()``: the bus, the group-commit writer, the real
``SlaScheduler`` on the system clock) is started and, once it is idle, ``--due`` targets
(2,000) are added to as many of those conversations, a next response each, whose times
fall in the next ``--window`` seconds (25) of real time: two fifths warn (due later), two
fifths breach (warned already), one fifth do both, warned at their time and breached 3 s
later (``--gap``); ``--burst`` of them (200) at one instant in the middle of the window, the rest
spread at random. The serving process is then woken once, as the ``conversation.*``
event that accompanies a change of targets wakes it in production (it would otherwise
look again within ``MAX_WAIT``, 5 s). PostgreSQL runs a second round with two serving
processes on the Redis bus, each scheduler claiming what it can (``FOR UPDATE SKIP
LOCKED``), a fresh slice of conversations getting the due targets.

Measured:

- **lag** per expected event: the wall-clock time a ``sla.warning`` or ``sla.breached``
  reaches a bus subscriber in the serving process (as it would an agent's socket) minus
  the target's warning or due instant: p50, p99, max, over all, over the spread ones and
  over the burst (with two processes: as seen by each process's bus, the worse reported);
- **baseline**, in the same process on the same (uvloop) event loop: ``loop.call_at`` for
  each of the same instants, the lateness of the callback: once while the scheduler works
  (what the loop itself allowed) and once after, on the idle loop at the same instants
  shifted (the clock's own jitter: the floor for any scheduler on this loop);
- **correctness**, from the ``event`` table afterwards: each expected (target, type)
  exactly once, none missing, none twice, nothing else fired; the timeline rows; how many
  each process fired. A target that warns and breaches, reached only after its due time,
  is breached without a warning (``fire_due``: the breach says more): such warnings are
  counted apart, their lag taken at the breach's arrival;
- **the scheduler's work**: each ``fire_due`` transaction (how many, p50 and max seconds,
  most targets in one), each idle ``queries.next_fire`` read as the scheduler made it.

Beside the rounds, on the seeded database: the idle read (``queries.next_fire``) timed
on one connection and through ``Database.read`` (a thread hop and a pooled connection, as
the scheduler pays it), and the plans of it and of ``fire_due``'s claiming query, which
must use ``ix_sla_target_fire``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from sqlalchemy import Engine, func, insert, select, text  # noqa: E402

from bench.routing import children, pct, pg_database, postgres_and_redis  # noqa: E402
from inbox.domain import tables  # noqa: E402
from inbox.domain.events import SLA_BREACHED, SLA_WARNING  # noqa: E402
from inbox.storage.db import make_engine  # noqa: E402

AGENTS, TEAMS = 40, 5  # a lead per team besides
WEEK, HOUR = 7 * 24 * 3600, 3600
TARGET_MS = 1000.0  # the issue's: p99 under 1 s
LEAD_SECONDS = 2.0  # from adding the due targets to the window's start


# -- set-up (not timed) -------------------------------------------------------------------

def setup(url: str, *, running: int) -> None:
    """A migrated database with the people, the policy and ``running`` conversations whose
    resolution targets run, due days ahead, beside their met first-response targets."""
    from inbox.storage.migrate import upgrade
    from inbox.storage.seed import _Writer

    engine = make_engine(url)
    upgrade(engine)
    raw = engine.raw_connection()
    rng = random.Random(15)
    try:
        w = _Writer(raw, engine.dialect.name)
        now = datetime.now(timezone.utc)
        st = w.stamp(now)
        leads = list(range(AGENTS + 1, AGENTS + TEAMS + 1))
        w.insert("user", ("id", "email", "name", "role", "password_hash", "active", "created_at"),
                 [(u, f"user{u}@bench.example", f"User {u}", "lead" if u in leads else "agent", "", True, st)
                  for u in range(1, AGENTS + TEAMS + 1)])
        w.insert("team", ("id", "name", "routing", "created_at"),
                 [(t, f"Team {t}", w.json({}), st) for t in range(1, TEAMS + 1)])
        w.insert("teammember", ("team_id", "user_id"),
                 [((u - 1) % TEAMS + 1, u) for u in range(1, AGENTS + 1)] + [(t, leads[t - 1])
                                                                             for t in range(1, TEAMS + 1)])
        w.insert("inbox", ("id", "kind", "name", "address", "settings", "routing", "created_at"),
                 [(1, "sms", "Bench SMS", "+15550100001", w.json({}), w.json({"mode": "manual"}), st)])
        w.insert("sla_policy", ("id", "name", "position", "enabled", "conditions", "first_response_minutes",
                                "next_response_minutes", "resolution_minutes", "business_hours", "calendar_id",
                                "pause_statuses", "warn_percent", "created_at", "updated_at"),
                 [(1, "Standard", 0, True, w.json({}), 60, 60, WEEK // 60, False, None,
                   w.json(["pending", "snoozed"]), 75, st, st)])
        contacts, identities, convs, targets, spans = [], [], [], [], []
        for i in range(1, running + 1):
            agent = (i - 1) % AGENTS + 1
            created = now - timedelta(seconds=rng.uniform(HOUR, 24 * HOUR))
            answered = created + timedelta(seconds=rng.uniform(60, 1800))
            due = created + timedelta(seconds=WEEK)
            warn = created + timedelta(seconds=WEEK * 0.75)
            c, a, d, wn = w.stamp(created), w.stamp(answered), w.stamp(due), w.stamp(warn)
            phone = f"+1666{i:07d}"
            contacts.append((i, f"Customer {i}", phone, None, w.json({}), c, c))
            identities.append((i, i, "sms", phone, None, False, c))
            convs.append((i, i, "open", agent, (agent - 1) % TEAMS + 1, 0, a, "on its way", "out", c, 1, "sms",
                          None, None, "none", None, "manual", c, "running", d, c, a))
            fr = (answered - created).total_seconds()
            targets.append((2 * i - 1, i, 1, "first_response", 1, c, HOUR, fr, None, w.stamp(created + timedelta(
                seconds=HOUR)), None, None, "met", None, a, None, "met"))
            targets.append((2 * i, i, 1, "resolution", 1, c, WEEK, 0.0, c, d, wn, wn, "running", None, None, None,
                            None))
            spans.append((i, i, "running", "open", c, None))
        w.insert("contact", ("id", "name", "phone", "email", "attributes", "created_at", "updated_at"), contacts)
        w.insert("contact_identity", ("id", "contact_id", "kind", "handle", "profile_name", "opted_out",
                                      "last_seen_at"), identities)
        w.insert("conversation", ("id", "contact_id", "status", "assignee_id", "team_id", "unread_count",
                                  "last_message_at", "last_message_preview", "last_message_direction",
                                  "last_inbound_at", "last_inbound_inbox_id", "channel", "snoozed_until",
                                  "resolved_at", "priority", "waiting_since", "assigned_by", "assigned_at",
                                  "sla_status", "sla_due_at", "created_at", "updated_at"), convs)
        w.insert("sla_target", TARGET_COLUMNS, targets)
        w.insert("sla_span", ("id", "conversation_id", "state", "reason", "started_at", "ended_at"), spans)
        w.finish(w.next_id("message"))
        if not w.sqlite:  # _Writer.finish set the sequences of the tables it knows; ours too
            for table in ("sla_policy", "sla_target", "sla_span"):
                w.cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT coalesce(max(id), 1) FROM {table}))")
    finally:
        raw.close()
        engine.dispose()


TARGET_COLUMNS = ("id", "conversation_id", "policy_id", "kind", "cycle", "started_at", "budget_seconds",
                  "used_seconds", "resumed_at", "due_at", "warn_at", "fire_at", "status", "warned_at", "met_at",
                  "missed_at", "ended")


@dataclass(frozen=True, slots=True)
class Expected:
    target_id: int
    type: str  # sla.warning or sla.breached
    at: float  # epoch seconds: the warning or due instant
    burst: bool


def add_due(url: str, *, first_conversation: int, due: int, burst: int, window: float, gap: float,
            seed: int) -> list[Expected]:
    """Give ``due`` conversations from ``first_conversation`` on a next-response target whose
    warning or due time falls in the next ``window`` seconds (after LEAD_SECONDS), a fifth
    of them breaching ``gap`` seconds after their warning; the events expected, with their
    instants."""
    rng = random.Random(seed)
    start = time.time() + LEAD_SECONDS
    instants = [(start + window / 2, True) if n < burst else (start + rng.uniform(0, window), False)
                for n in range(due)]
    rng.shuffle(instants)
    engine = make_engine(url)
    rows: list[dict[str, Any]] = []
    expected: list[Expected] = []
    try:
        with engine.begin() as conn:
            next_id = int(conn.execute(select(func.coalesce(func.max(tables.SLA_TARGETS.c.id), 0))).scalar_one()) + 1
            for n, (at, is_burst) in enumerate(instants):
                tid, instant = next_id + n, datetime.fromtimestamp(round(at, 6), timezone.utc)
                at = instant.timestamp()
                row: dict[str, Any] = {"id": tid, "conversation_id": first_conversation + n, "policy_id": 1,
                                       "kind": "next_response", "cycle": 1, "used_seconds": 0.0, "status": "running",
                                       "met_at": None, "missed_at": None, "ended": None, "calendar_id": None,
                                       "calendar_version": None}
                shape = n % 5
                if shape in (0, 1):  # warns now, due a quarter of the hour later
                    row.update(budget_seconds=HOUR, started_at=instant - timedelta(seconds=HOUR * 0.75),
                               due_at=instant + timedelta(seconds=HOUR * 0.25), warn_at=instant, fire_at=instant,
                               warned_at=None)
                    expected.append(Expected(tid, SLA_WARNING, at, is_burst))
                elif shape in (2, 3):  # warned a quarter of an hour ago, due now
                    row.update(budget_seconds=HOUR, started_at=instant - timedelta(seconds=HOUR), due_at=instant,
                               warn_at=None, fire_at=instant, warned_at=instant - timedelta(seconds=HOUR * 0.25))
                    expected.append(Expected(tid, SLA_BREACHED, at, is_burst))
                else:  # a budget of 4 gaps (12 s): warns now, breaches a gap later
                    row.update(budget_seconds=max(1, round(gap * 4)), started_at=instant - timedelta(seconds=gap * 3),
                               due_at=instant + timedelta(seconds=gap), warn_at=instant, fire_at=instant,
                               warned_at=None)
                    expected.append(Expected(tid, SLA_WARNING, at, is_burst))
                    expected.append(Expected(tid, SLA_BREACHED, (instant + timedelta(seconds=gap)).timestamp(),
                                             False))
                row["resumed_at"] = row["started_at"]
                rows.append(row)
            conn.execute(insert(tables.SLA_TARGETS), rows)
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT setval(pg_get_serial_sequence('sla_target', 'id'), "
                                  "(SELECT max(id) FROM sla_target))"))
    finally:
        engine.dispose()
    if time.time() > start:
        print(f"warning: adding the due targets took past the window's start ({time.time() - start:.2f} s)",
              file=sys.stderr)
    return expected


# -- the idle read, and the plans ---------------------------------------------------------

def _fire_query(now: datetime, postgres: bool) -> Any:
    """fire_due's claiming query, as inbox/actions/sla.py builds it."""
    t = tables.SLA_TARGETS.c
    query = select(tables.SLA_TARGETS, t.conversation_id).where(
        t.fire_at.is_not(None), t.fire_at <= now).order_by(t.fire_at).limit(500)
    return query.with_for_update(skip_locked=True) if postgres else query


def idle_read(url: str, reads: int) -> dict[str, Any]:
    """``queries.next_fire`` timed on one connection and through Database.read, and the plans."""
    from inbox import queries
    from inbox.storage.db import Database

    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            queries.next_fire(conn)  # compiled once
            times = []
            for _ in range(reads):
                t = time.perf_counter()
                queries.next_fire(conn)
                times.append((time.perf_counter() - t) * 1e6)
            out["conn_us"] = (pct(times, 50), pct(times, 99))
            out["plans"] = {"next_fire": _plan(conn, engine, select(func.min(tables.SLA_TARGETS.c.fire_at)),
                                               postgres),
                            "fire_due": _plan(conn, engine, _fire_query(datetime.now(timezone.utc), postgres),
                                              postgres)}
    finally:
        engine.dispose()
    db = Database(url)

    async def through_db() -> list[float]:
        await db.read(queries.next_fire)
        times = []
        for _ in range(reads):
            t = time.perf_counter()
            await db.read(queries.next_fire)
            times.append((time.perf_counter() - t) * 1e6)
        return times
    try:
        times = asyncio.run(through_db())
    finally:
        db.stop()
    out["db_us"] = (pct(times, 50), pct(times, 99))
    return out


def _plan(conn: Any, engine: Engine, query: Any, postgres: bool) -> list[str]:
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    if postgres:
        return [r[0] for r in conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"))]
    return [r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]


# -- a serving process (child) ------------------------------------------------------------

async def serve_and_listen(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in a child: serve as production does; on the schedule (a line on stdin), wake the
    scheduler once, time a callback at each instant beside it, note each SLA event's arrival
    until every expected one came (or the deadline), then time the same instants, shifted,
    on the idle loop."""
    import logging

    from inbox import actions, compose, queries
    from inbox.config import Settings

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(database_url=job["url"], redis_url=job.get("redis_url", ""), secret_key="bench",
                        log_level="warning", run_worker=False, media_dir=job["media_dir"],
                        public_url="http://127.0.0.1:9", twilio_api_base="http://127.0.0.1:9")
    calls: list[tuple[float, float, int]] = []  # fire_due: started (epoch), seconds, fired
    reads: list[float] = []  # next_fire seconds, in the reading thread
    real_fire, real_next = actions.fire_due, queries.next_fire

    profile = cProfile.Profile() if job["profile"] else None

    def timed_fire(tx: Any, now: datetime, limit: int = actions.sla.FIRE_BATCH) -> int:
        started, t = time.time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            fired = real_fire(tx, now, limit)
        finally:
            if profile is not None:
                profile.disable()
        calls.append((started, time.perf_counter() - t, fired))
        return fired

    def timed_next(conn: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_next(conn)
        finally:
            reads.append(time.perf_counter() - t)
    actions.fire_due, queries.next_fire = timed_fire, timed_next  # instrumentation only

    proc = compose.process(settings)
    arrivals: list[tuple[int, str, float, str | None]] = []  # target id, type, arrived, instant in the payload
    loop = asyncio.get_running_loop()
    async with proc.serving():
        expected_keys: set[tuple[int, str]] = set()
        all_seen = asyncio.Event()
        seen: set[tuple[int, str]] = set()

        def on_event(event: Any) -> None:
            if event.type in (SLA_WARNING, SLA_BREACHED):
                arrived = time.time()
                target = event.data["target"]
                key = (target["id"], event.type)
                arrivals.append((*key, arrived, target["warned_at"] if event.type == SLA_WARNING
                                 else target["missed_at"]))
                seen.add(key)
                if event.type == SLA_BREACHED:  # fired after its due time, a warning goes as the breach
                    seen.add((target["id"], SLA_WARNING))
                if expected_keys and expected_keys <= seen:
                    all_seen.set()
        proc.bus.subscribe(on_event)
        print("ready", flush=True)
        schedule = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        expected_keys.update((tid, kind) for tid, kind, _ in schedule)
        instants = [at for _, _, at in schedule]
        beside = timers(loop, instants)
        proc.sla.wake()  # what the conversation.* event of a change of targets does
        timed_out = False
        try:
            await asyncio.wait_for(all_seen.wait(), timeout=max(instants) - time.time() + job["grace"])
        except TimeoutError:
            timed_out = True
        await asyncio.sleep(job["settle"])  # a second firing of one target would come now, if ever
        beside_late = await beside
        shift = time.time() + 1.0 - min(instants)
        idle_late = await timers(loop, [at + shift for at in instants])
        fired = proc.sla.fired
    stats_text = None
    if profile is not None:
        buf = io.StringIO()
        st = pstats.Stats(profile, stream=buf)
        st.sort_stats("cumulative").print_stats(r"inbox/", 30)
        st.sort_stats("tottime").print_stats(15)
        stats_text = buf.getvalue()
    return {"arrivals": arrivals, "beside": beside_late, "idle": idle_late, "calls": calls, "reads": reads,
            "fired": fired, "timed_out": timed_out, "profile": stats_text}


def timers(loop: asyncio.AbstractEventLoop, instants: list[float]) -> asyncio.Future[list[float]]:
    """A callback at each wall-clock instant (``loop.call_at``); resolves to their lateness in s."""
    done: asyncio.Future[list[float]] = loop.create_future()
    late: list[float] = []

    def ring(at: float) -> None:
        late.append(time.time() - at)
        if len(late) == len(instants):
            done.set_result(late)
    offset = loop.time() - time.time()
    for at in instants:
        loop.call_at(at + offset, ring, at)
    return done


def child_main(spec: str) -> None:
    job = json.loads(spec)
    if job["loop"] == "uvloop":  # what uvicorn runs the serving process on (inbox/compose.py)
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(serve_and_listen(job))
    else:
        result = asyncio.run(serve_and_listen(job))
    Path(job["result"]).write_text(json.dumps(result))  # not stdout: a pipe left full would cut it


# -- a round --------------------------------------------------------------------------------

@dataclass
class Round:
    label: str
    processes: int
    expected: list[Expected]
    results: list[dict[str, Any]]
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)  # from the event table
    timeline: int = 0  # sla_warning / sla_breached timeline rows of the round's conversations


def run_round(url: str, args: argparse.Namespace, *, processes: int, redis_url: str, first_conversation: int,
              tmp: Path, label: str) -> Round:
    jobs = [{"url": url, "redis_url": redis_url if processes > 1 else "", "media_dir": str(tmp / "media"),
             "loop": args.loop, "grace": args.grace, "settle": args.settle, "profile": args.profile,
             "result": str(tmp / f"result-{first_conversation}-{part}.json")} for part in range(processes)]
    with children(jobs, tmp, __file__) as procs:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit(f"a serving process did not start: {line!r}")
        time.sleep(1.0)  # let them settle into their idle waits
        expected = add_due(url, first_conversation=first_conversation, due=args.due, burst=args.burst,
                           window=args.window, gap=args.gap, seed=first_conversation)
        line = json.dumps([[e.target_id, e.type, e.at] for e in expected]) + "\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(line)
            p.stdin.flush()
        results = []
        for p, job in zip(procs, jobs):
            try:
                out, _ = p.communicate(timeout=args.window + args.grace + 120)
            except subprocess.TimeoutExpired:
                raise SystemExit("a serving process did not finish in time") from None
            if p.returncode != 0:
                raise SystemExit(f"a serving process failed ({p.returncode}):\n{out}")
            results.append(json.loads(Path(job["result"]).read_text()))
    rnd = Round(label, processes, expected, results)
    engine = make_engine(url)
    ev, ce = tables.EVENTS.c, tables.CONV_EVENTS.c
    with engine.connect() as conn:
        for kind, data in conn.execute(select(ev.type, ev.data).where(ev.type.in_((SLA_WARNING, SLA_BREACHED)))):
            rnd.counts[(data["target"]["id"], kind)] += 1
        rnd.timeline = int(conn.execute(select(func.count()).select_from(tables.CONV_EVENTS).where(
            ce.kind.in_(("sla_warning", "sla_breached")), ce.conversation_id >= first_conversation,
            ce.conversation_id < first_conversation + args.due)).scalar_one())
    engine.dispose()
    return rnd


# -- counting afterwards ------------------------------------------------------------------

def stats(values: list[float]) -> tuple[int, float, float, float]:
    """count, p50, p99, max, in ms (from seconds)."""
    ms = [v * 1000 for v in values]
    return len(ms), pct(ms, 50), pct(ms, 99), max(ms, default=float("nan"))


def summarize(rnd: Round, before: set[tuple[int, str]]) -> dict[str, Any]:
    """Lags per process, the baselines, the checks. ``before``: (target, type) already in the
    event table from earlier rounds on this database (not this round's to count)."""
    at = {(e.target_id, e.type): e for e in rnd.expected}
    per_process = []
    payload_off = 0
    for r in rnd.results:
        first: dict[tuple[int, str], float] = {}
        for tid, kind, arrived, instant in r["arrivals"]:
            key = (tid, kind)
            if key in at and key not in first:
                first[key] = arrived
                if instant is None or abs(datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()
                                          - at[key].at) > 1e-3:
                    payload_off += 1
        for tid, kind in list(first):  # a warning fired after its due time goes as the breach alone
            if kind == SLA_BREACHED and (tid, SLA_WARNING) in at and (tid, SLA_WARNING) not in first:
                first[(tid, SLA_WARNING)] = first[(tid, kind)]
        lags = {k: v - at[k].at for k, v in first.items()}
        per_process.append({
            "all": stats(list(lags.values())),
            "spread": stats([v for k, v in lags.items() if not at[k].burst]),
            "burst": stats([v for k, v in lags.items() if at[k].burst]),
        })
    worst = max(per_process, key=lambda s: s["all"][2])
    counts = {k: n for k, n in rnd.counts.items() if k not in before}
    superseded = {k for k in at if k[1] == SLA_WARNING and not counts.get(k) and counts.get((k[0], SLA_BREACHED))}
    missing = sum(1 for k in at if counts.get(k, 0) == 0 and k not in superseded)
    twice = sum(1 for k in at if counts.get(k, 0) > 1)
    unexpected = sum(n for k, n in counts.items() if k not in at)
    calls = [c for r in rnd.results for c in r["calls"]]
    firing = [c for c in calls if c[2]]
    reads = [x for r in rnd.results for x in r["reads"]]
    return {
        **worst, "expected": len(at), "seen": worst["all"][0],
        "beside": stats([x for r in rnd.results for x in r["beside"]]),
        "idle": stats([x for r in rnd.results for x in r["idle"]]),
        "missing": missing, "superseded": len(superseded), "twice": twice, "unexpected": unexpected,
        "timeline": rnd.timeline,
        "payload_off": payload_off, "fired": [r["fired"] for r in rnd.results],
        "timed_out": any(r["timed_out"] for r in rnd.results),
        "calls": len(firing), "empty_calls": len(calls) - len(firing),
        "call_p50": pct([c[1] * 1000 for c in firing], 50), "call_max": max((c[1] * 1000 for c in firing),
                                                                            default=float("nan")),
        "most": max((c[2] for c in firing), default=0),
        "per_target": sum(c[1] for c in firing) * 1000 / max(1, sum(c[2] for c in firing)),
        "reads": len(reads), "read_p50": pct([x * 1e6 for x in reads], 50),
        "read_p99": pct([x * 1e6 for x in reads], 99),
    }


def checks_pass(s: dict[str, Any]) -> bool:
    """Every expected event once, in the event table, the timeline and on the bus; nothing else."""
    return bool(not s["missing"] and not s["twice"] and not s["unexpected"] and not s["timed_out"]
                and s["timeline"] == s["expected"] - s["superseded"] and s["seen"] == s["expected"]
                and not s["payload_off"])


def print_round(engine: str, args: argparse.Namespace, rnd: Round, s: dict[str, Any]) -> bool:
    procs = "1 process" if rnd.processes == 1 else f"{rnd.processes} processes, Redis bus"
    print(f"\n{engine}, {procs}: {args.running:,} SLAs running (and {args.running:,} met), {args.due:,} due in a "
          f"{args.window:g} s window ({args.burst:,} at one instant), {s['expected']:,} events expected, "
          f"{args.loop} loop")
    print(f"{'':<52}{'events':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, key in (("scheduler: due time -> event on the bus, all", "all"), ("  the spread ones", "spread"),
                       (f"  the burst ({args.burst:,} at one instant)", "burst"),
                       ("baseline: a timer at each instant, beside it", "beside"),
                       ("baseline: the same instants, idle loop", "idle")):
        n, p50, p99, mx = s[key]
        print(f"{label:<52}{n:>8,}{p50:>9.1f}{p99:>9.1f}{mx:>9.1f}")
    print(f"fire_due: {s['calls']} transactions that fired (and {s['empty_calls']} that found nothing), "
          f"p50 {s['call_p50']:.0f} ms, max {s['call_max']:.0f} ms, most in one {s['most']}, "
          f"{s['per_target']:.2f} ms per target; next_fire reads: {s['reads']}, p50 {s['read_p50']:.0f} us, "
          f"p99 {s['read_p99']:.0f} us")
    ok = checks_pass(s)
    met = s["all"][2] < TARGET_MS
    print(f"checks: {s['expected'] - s['missing'] - s['superseded']:,}/{s['expected']:,} fired; missing "
          f"{s['missing']}; warnings that went as their breach (fired after the due time) {s['superseded']}; twice "
          f"{s['twice']}, unexpected {s['unexpected']}; timeline rows {s['timeline']:,}; seen on the bus "
          f"{s['seen']:,}; fired per process {s['fired']} -> {'OK' if ok else 'FAILED'}; "
          f"p99 {'<' if met else '>='} {TARGET_MS:.0f} ms -> {'met' if met else 'NOT met'}")
    return ok


def print_idle(engine: str, args: argparse.Namespace, idle: dict[str, Any]) -> None:
    print(f"\n{engine}: the idle read (queries.next_fire, min(fire_at)) with {args.running:,} running and "
          f"{args.running:,} ended targets: p50 {idle['conn_us'][0]:.0f} us, p99 {idle['conn_us'][1]:.0f} us "
          f"on one connection; p50 {idle['db_us'][0]:.0f} us, p99 {idle['db_us'][1]:.0f} us through Database.read")
    for name, lines in idle["plans"].items():
        print(f"  plan of {name}:")
        for line in lines:
            print(f"    {line}")


# -- the engines --------------------------------------------------------------------------

def bench_engine(engine: str, args: argparse.Namespace, tmp: Path, admin_url: str = "",
                 redis_url: str = "") -> list[tuple[Round, dict[str, Any]]]:
    name = f"bench_sla_{random.randrange(1 << 30)}"
    url = f"sqlite:///{tmp}/{name}.db" if engine == "sqlite" else pg_database(admin_url, name)
    t = time.perf_counter()
    setup(url, running=args.running)
    print(f"[{engine}] set-up: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    print_idle(engine, args, idle_read(url, args.reads))
    out = []
    before: set[tuple[int, str]] = set()
    for n, processes in enumerate(args.processes if engine == "postgres" else [1]):
        if (n + 1) * args.due > args.running:
            raise SystemExit("--running must be at least --due times the number of rounds")
        rnd = run_round(url, args, processes=processes, redis_url=redis_url, first_conversation=n * args.due + 1,
                        tmp=tmp, label=f"{processes} process(es)")
        s = summarize(rnd, before)
        before |= set(rnd.counts)
        out.append((rnd, s))
        print_round(engine, args, rnd, s)
        for i, r in enumerate(rnd.results if args.profile else []):
            print(f"\n[{engine}] process {i + 1}: fire_due by cumulative time\n{r['profile']}", file=sys.stderr)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--running", type=int, default=100_000, help="conversations with a running SLA")
    ap.add_argument("--due", type=int, default=2000, help="targets due in the window")
    ap.add_argument("--burst", type=int, default=200, help="of the due targets, how many at one instant")
    ap.add_argument("--window", type=float, default=25.0, help="seconds the due times spread over")
    ap.add_argument("--processes", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2],
                    help="PostgreSQL rounds: serving processes in each (default 1,2)")
    ap.add_argument("--gap", type=float, default=3.0,
                    help="seconds from warning to breach of the targets that do both in the window")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--reads", type=int, default=2000, help="idle reads timed")
    ap.add_argument("--grace", type=float, default=30.0, help="seconds past the last instant to wait for events")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait for duplicates afterwards")
    ap.add_argument("--profile", action="store_true", help="cProfile of fire_due in each serving process")
    ap.add_argument("--quick", action="store_true", help="10,000 running, 200 due (20 at once) in a 6 s window")
    args = ap.parse_args(argv)
    if args.quick:
        args.running, args.due, args.burst, args.window, args.reads = 10_000, 200, 20, 6.0, 500
    if args.burst > args.due:
        raise SystemExit("--burst must not exceed --due")
    return args


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
        return
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-sla-"))
    rounds = []
    if args.engine in ("sqlite", "both"):
        rounds += bench_engine("sqlite", args, tmp)
    if args.engine in ("postgres", "both"):
        with postgres_and_redis() as (admin_url, redis_url):
            rounds += bench_engine("postgres", args, tmp, admin_url, redis_url)
    sys.exit(0 if all(checks_pass(s) for _, s in rounds) else 1)


if __name__ == "__main__":
    main()
