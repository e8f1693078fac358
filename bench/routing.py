"""Routing benchmark (issue 14): a burst of new conversations assigned by the routing
engine while 1,000 agents are online and a deep queue waits that nobody can take.

    .venv/bin/python bench/routing.py                    # SQLite (one process), then PostgreSQL (two)
    .venv/bin/python bench/routing.py --engine sqlite --quick     # 100 agents, 1,000 waiting, 200 burst
    .venv/bin/python bench/routing.py --engine postgres --profile # where a routing pass spends its time

Set-up, not timed, written in bulk on the driver's connection (``inbox/storage/seed.py``'s
``_Writer``: executemany on SQLite, COPY on PostgreSQL), on a fresh migrated database per
round:

- ``--agents`` agents (1,000) in ``--teams`` teams (20, of 50 each), all online: an
  ``agent_state`` row with status online and a fresh ``last_seen_at``. Inside each serving
  process their ids are put in ``ctx.connections``, as ui/live.py does for an open socket, so
  every pass's presence sweep keeps them seen (no real sockets are held: fan-out has its own
  benchmark, bench/live.py);
- one SMS inbox per team whose ``routing`` is ``{"mode": "balanced", "capacity": 3,
  "team_ids": [that team]}``, so a new conversation's pool is one team;
- ``--waiting`` conversations (10,000) waiting that nobody can take: open, unassigned,
  spread over the same routed inboxes but in an extra team whose 50 members are offline. A
  pass must not pay for them (inbox/actions/routing.py reads only what someone online could
  take).

Timed: ``--burst`` new customers (2,000) each write once, 1/teams of them to each inbox,
through the real ingest path (``actions.record_inbound`` with ``InboundMessage`` values,
as the channels' webhooks call it), ``--concurrency`` (64) in flight at a time like 64
webhook connections. The routing loop runs as in production: each serving process is
``compose.process(settings).serving()`` (bus, group-commit writer, the Router woken by
``conversation.created``). Both run in a child process of this script, which does the
set-up and counts afterwards:

- SQLite: one serving process takes the whole burst and holds all agents;
- PostgreSQL: two serving processes with the Redis bus (each holds half the agents and
  takes half the burst, started at the same moment); passes take turns under the advisory
  lock, so the count of double assignments afterwards is the point.

Measured:

- **burst**: from the first ``record_inbound`` call to the last routing assignment
  (``conversation_event.created_at`` of the last one), and to the last message stored;
- **decision latency** per assignment: its ``conversation_event.created_at`` (the pass's
  "now") minus the conversation's ``created_at`` (the ingest transaction's "now"): p50, p99,
  max;
- **fairness**: per team, the most minus the fewest open conversations (weight 1) among its
  agents at the end; the worst team is printed (target: at most 1);
- **correctness**: every burst conversation assigned, exactly one routing ``assigned``
  event per conversation (none twice), none of the waiting ones touched, no agent over
  its capacity;
- **passes**: how many routing passes ran and how long ``route()`` took inside its
  transaction (p50, max), and the assignments per pass.

Baseline, in the same run, on a database set up the same way: the same burst with
routing off (every inbox's mode manual, the Router still running as it does in
production): the time to ingest the burst without routing. A burst cannot be assigned
faster than it is stored, so "burst to all assigned" over "burst stored without routing"
is the cost routing adds. Beside it, the floor of routing's own writes: a bare
``UPDATE conversation SET assignee_id ...`` (conditional, as routing's is) plus the
``conversation_event`` insert of the burst's rows, in one transaction, no decisions.

``--profile`` wraps ``route()`` (the pass inside its transaction) in cProfile in every
serving process and prints its top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from sqlalchemy import insert, select, update  # noqa: E402

from inbox.domain import tables  # noqa: E402
from inbox.storage.db import make_engine  # noqa: E402

Row = tuple[str, dict[str, Any], "tuple[float, float] | None"]  # label, summary, floors (baseline only)
UNSTAFFED = 50  # offline members of the team that holds the waiting queue
BURST_PREFIX = "+1777"  # burst customers' phones; the waiting ones are +1666...


# -- set-up (not timed) -------------------------------------------------------------------

def setup(url: str, *, agents: int, teams: int, waiting: int, capacity: int, mode: str) -> dict[str, Any]:
    """A migrated database with the agents, teams, inboxes and waiting queue; returns ids."""
    from inbox.storage.migrate import upgrade
    from inbox.storage.seed import _Writer

    engine = make_engine(url)
    upgrade(engine)
    raw = engine.raw_connection()
    try:
        w = _Writer(raw, engine.dialect.name)
        now = datetime.now(timezone.utc)
        st = w.stamp(now)
        per_team = agents // teams
        n_users = agents + UNSTAFFED
        w.insert("user", ("id", "email", "name", "role", "password_hash", "active", "created_at"),
                 [(u, f"agent{u}@bench.example", f"Agent {u}", "agent", "", True, st) for u in range(1, n_users + 1)])
        w.insert("team", ("id", "name", "routing", "created_at"),
                 [(t, f"Team {t}", w.json({}), st) for t in range(1, teams + 2)])  # teams + 1: unstaffed
        unstaffed_team = teams + 1
        members = [((u - 1) // per_team + 1, u) for u in range(1, agents + 1)]
        members += [(unstaffed_team, u) for u in range(agents + 1, n_users + 1)]
        w.insert("teammember", ("team_id", "user_id"), members)
        w.insert("agent_state", ("user_id", "status", "since", "chosen", "capacity", "last_seen_at", "last_active_at",
                                 "last_assigned_at"),
                 [(u, "online" if u <= agents else "offline", st, "online", None, st if u <= agents else None, st,
                   None) for u in range(1, n_users + 1)])
        policy = {"mode": mode, "capacity": capacity} if mode != "manual" else {"mode": "manual"}
        w.insert("inbox", ("id", "kind", "name", "address", "settings", "routing", "created_at"),
                 [(t, "sms", f"Bench SMS {t}", f"+1555010{t:04d}", w.json({}), w.json({**policy, "team_ids": [t]}),
                   st) for t in range(1, teams + 1)])
        first_message = w.next_id("message")
        contacts, identities, convs, msgs = [], [], [], []
        for i in range(1, waiting + 1):
            inbox_id = (i - 1) % teams + 1
            phone = f"+1666{i:07d}"
            created = w.stamp(now - timedelta(seconds=waiting - i + 60))
            contacts.append((i, f"Waiting {i}", phone, None, w.json({}), created, created))
            identities.append((i, i, "sms", phone, None, False, created))
            convs.append((i, i, "open", None, unstaffed_team, 1, created, "still waiting", "in", created, inbox_id,
                          "sms", None, None, "none", created, created, created))
            msgs.append((i, i, inbox_id, "in", i, None, "still waiting", "[]", f"wait-{i}", "received", created,
                         created))
        w.insert("contact", ("id", "name", "phone", "email", "attributes", "created_at", "updated_at"), contacts)
        w.insert("contact_identity", ("id", "contact_id", "kind", "handle", "profile_name", "opted_out",
                                      "last_seen_at"), identities)
        w.insert("conversation", ("id", "contact_id", "status", "assignee_id", "team_id", "unread_count",
                                  "last_message_at", "last_message_preview", "last_message_direction",
                                  "last_inbound_at", "last_inbound_inbox_id", "channel", "snoozed_until",
                                  "resolved_at", "priority", "waiting_since", "created_at", "updated_at"), convs)
        w.insert("message", ("id", "conversation_id", "inbox_id", "direction", "identity_id", "author_id", "text",
                             "attachments", "provider_message_id", "status", "created_at", "updated_at"), msgs)
        w.finish(first_message)
    finally:
        raw.close()
        engine.dispose()
    return {"agents": list(range(1, agents + 1)), "inboxes": list(range(1, teams + 1)), "per_team": per_team,
            "unstaffed_team": unstaffed_team}


# -- a serving process (child) ------------------------------------------------------------

def burst_messages(inboxes: list[int], burst: int, part: int, parts: int) -> list[Any]:
    from inbox.domain.channels import InboundMessage

    now = datetime.now(timezone.utc)
    out = []
    for i in range(burst):
        if i % parts != part:
            continue
        phone = f"{BURST_PREFIX}{i:07d}"
        out.append(InboundMessage(inbox_id=inboxes[i % len(inboxes)], kind="sms", handle=phone,
                                  provider_message_id=f"burst-{i}", text=f"hello, burst message {i}", timestamp=now,
                                  phone=phone))
    return out


async def serve_and_send(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in a child: serve as production does, hold the agents, send this part of the burst
    on "go" (a line on stdin), wait for every burst conversation to be assigned (counted from
    the bus's conversation.assigned events, which with Redis come from both processes)."""
    import logging

    from inbox import actions, compose
    from inbox.actions import routing as routing_actions
    from inbox.config import Settings
    from inbox.domain.events import CONVERSATION_ASSIGNED

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(database_url=job["url"], redis_url=job.get("redis_url", ""), secret_key="bench",
                        log_level="warning", run_worker=False, media_dir=job["media_dir"],
                        public_url="http://127.0.0.1:9", twilio_api_base="http://127.0.0.1:9")
    passes: list[tuple[float, int, bool]] = []  # route() seconds, assigned, more
    profile = cProfile.Profile() if job["profile"] else None
    real_route = routing_actions.route

    def timed_route(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        if profile is not None:
            profile.enable()
        try:
            result = real_route(*a, **kw)
        finally:
            if profile is not None:
                profile.disable()
        passes.append((time.perf_counter() - t, result.assigned, result.more))
        return result
    routing_actions.route = timed_route  # instrumentation only

    proc = compose.process(settings)
    assigned: set[int] = set()
    all_assigned = asyncio.Event()
    total = job["burst"]

    def on_event(event: Any) -> None:
        if event.type == CONVERSATION_ASSIGNED and event.data.get("routing") and \
                event.data["previous_assignee_id"] is None:
            assigned.add(event.data["conversation"]["id"])
            if len(assigned) >= total:
                all_assigned.set()

    messages = burst_messages(job["inboxes"], job["burst"], job["part"], job["parts"])
    async with proc.serving():
        proc.ctx.connections.update({u: 1 for u in job["agents"]})  # as ui/live.py does per socket
        proc.bus.subscribe(on_event)
        proc.router.wake()
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "go"
        passes.clear()
        if profile is not None:
            profile = cProfile.Profile()
        sem = asyncio.Semaphore(job["concurrency"])
        done_at: list[float] = []

        async def send(msg: Any) -> None:
            async with sem:
                await actions.record_inbound(proc.ctx, msg)
                done_at.append(time.time())
        t0 = time.time()
        await asyncio.gather(*(send(m) for m in messages))
        t_stored = time.time()
        timed_out = False
        if job["expect_assigned"]:
            try:
                await asyncio.wait_for(all_assigned.wait(), timeout=job["timeout"])
            except TimeoutError:
                timed_out = True
        t_seen = time.time()
        await asyncio.sleep(0.2)  # the other process's last events
    stats = None
    if profile is not None:
        dump = Path(job["media_dir"]).parent / f"route-{job['part']}-{os.getpid()}.prof"
        profile.dump_stats(dump)
        buf = io.StringIO()
        st = pstats.Stats(profile, stream=buf)
        st.sort_stats("cumulative").print_stats(r"inbox/", 40)
        st.sort_stats("tottime").print_stats(15)
        stats = f"(pstats file: {dump})\n" + buf.getvalue()
    return {"t0": t0, "t_stored": t_stored, "t_seen": t_seen, "timed_out": timed_out, "sent": len(messages),
            "passes": passes, "seen_assigned": len(assigned), "profile": stats}


def child_main(spec: str) -> None:
    job = json.loads(spec)
    result = asyncio.run(serve_and_send(job))
    print("RESULT " + json.dumps(result), flush=True)


@contextlib.contextmanager
def children(jobs: list[dict[str, Any]], cwd: Path, script: str = __file__) -> Iterator[list[subprocess.Popen[str]]]:
    """``script --child <job>`` per job (this script's, or another bench's), killed on the way out."""
    procs = [subprocess.Popen([sys.executable, script, "--child", json.dumps(j)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=cwd,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
             for j in jobs]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_round(url: str, ids: dict[str, Any], args: argparse.Namespace, *, parts: int, redis_url: str,
              expect_assigned: bool, tmp: Path) -> list[dict[str, Any]]:
    jobs = []
    for part in range(parts):
        agents = ids["agents"][part::parts]
        jobs.append({"url": url, "redis_url": redis_url, "media_dir": str(tmp / "media"), "profile": args.profile,
                     "inboxes": ids["inboxes"], "burst": args.burst, "part": part, "parts": parts,
                     "agents": agents, "concurrency": max(1, args.concurrency // parts),
                     "expect_assigned": expect_assigned, "timeout": args.timeout})
    with children(jobs, tmp) as procs:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit(f"a serving process did not start: {line!r}")
        time.sleep(0.5)  # a first pass each, then idle
        for p in procs:  # "go" to both at once
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            assert p.stdout is not None
            try:
                out, _ = p.communicate(timeout=args.timeout + 120)
            except subprocess.TimeoutExpired:
                raise SystemExit("a serving process did not finish in time") from None
            found = [line for line in out.splitlines() if line.startswith("RESULT ")]
            if p.returncode != 0 or not found:
                raise SystemExit(f"a serving process failed ({p.returncode}):\n{out}")
            results.append(json.loads(found[-1][len("RESULT "):]))
    return results


# -- counting afterwards ------------------------------------------------------------------

def epoch(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def analyse(url: str, ids: dict[str, Any], args: argparse.Namespace, results: list[dict[str, Any]]) -> dict[str, Any]:
    c, e = tables.CONVERSATIONS.c, tables.CONV_EVENTS.c
    engine = make_engine(url)
    with engine.connect() as conn:
        convs = {r.id: r for r in conn.execute(select(c.id, c.created_at, c.assignee_id, c.assigned_by, c.team_id,
                                                      c.status))}
        events = conn.execute(select(e.conversation_id, e.kind, e.data, e.created_at)
                              .where(e.kind.in_(("assigned", "reassigned", "unassigned")))).all()
        stored = conn.execute(select(tables.MESSAGES.c.created_at).where(
            tables.MESSAGES.c.provider_message_id.like("burst-%"))).scalars().all()
    engine.dispose()
    burst = {i: r for i, r in convs.items() if r.team_id is None}
    routing_events = [ev for ev in events if (ev.data or {}).get("by") == "routing"]
    per_conv = Counter(ev.conversation_id for ev in routing_events if ev.kind == "assigned")
    first = {}
    for ev in routing_events:
        if ev.kind == "assigned" and ev.conversation_id not in first:
            first[ev.conversation_id] = ev
    latencies = [(epoch(first[i].created_at) - epoch(r.created_at)) * 1000 for i, r in burst.items() if i in first]
    t0 = min(r["t0"] for r in results)
    load: Counter[int] = Counter(r.assignee_id for r in convs.values()
                                 if r.assignee_id is not None and r.status in ("open", "pending"))
    per_team = ids["per_team"]
    spreads = []
    for t in range(len(ids["inboxes"])):
        team_loads = [load.get(u, 0) for u in ids["agents"][t * per_team:(t + 1) * per_team]]
        spreads.append(max(team_loads) - min(team_loads))
    passes = [p for r in results for p in r["passes"]]
    pass_ms = [p[0] * 1000 for p in passes]
    return {
        "burst": len(burst), "assigned": sum(1 for r in burst.values() if r.assignee_id is not None),
        "stored_s": max(epoch(s) for s in stored) - t0 if stored else float("nan"),
        "assigned_s": max(epoch(ev.created_at) for ev in first.values()) - t0 if first else float("nan"),
        "p50": pct(latencies, 50), "p99": pct(latencies, 99), "max": max(latencies, default=float("nan")),
        "twice": sum(1 for n in per_conv.values() if n > 1),
        "other_events": sum(1 for ev in events if ev.conversation_id not in burst or ev.kind != "assigned"),
        "waiting_touched": sum(1 for i, r in convs.items() if r.team_id is not None and r.assignee_id is not None),
        "over_capacity": sum(1 for n in load.values() if n > args.capacity), "max_load": max(load.values(), default=0),
        "spread": max(spreads, default=0),
        "passes": len(passes), "pass_p50": pct(pass_ms, 50), "pass_max": max(pass_ms, default=float("nan")),
        "per_pass_max": max((p[1] for p in passes), default=0),
        "timed_out": any(r["timed_out"] for r in results),
    }


def bare_driver_floor(url: str) -> float:
    """The same writes as ``bare_update_floor`` through the driver's executemany, no SQLAlchemy."""
    engine = make_engine(url)
    c = tables.CONVERSATIONS.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.id).where(c.team_id.is_(None))).scalars().all()
    stamp = datetime.now(timezone.utc)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        sqlite = engine.dialect.name == "sqlite"
        at = stamp.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else stamp
        mark = "?" if sqlite else "%s"
        t = time.perf_counter()
        # assignee_id IS NOT NULL here (the SQLAlchemy floor ran first): reassign them, same work
        cur.executemany(f"UPDATE conversation SET assignee_id = {mark}, assigned_by = 'routing', assigned_at = {mark}, "
                        f"updated_at = {mark} WHERE id = {mark} AND status IN ('open', 'pending')",
                        [((n + 7) % 50 + 1, at, at, cid) for n, cid in enumerate(rows)])
        cur.executemany(f"INSERT INTO conversation_event (conversation_id, kind, actor_id, data, created_at) "
                        f"VALUES ({mark}, 'reassigned', NULL, '{{\"by\": \"floor\"}}', {mark})",
                        [(cid, at) for cid in rows])
        raw.commit()
        seconds = time.perf_counter() - t
    finally:
        raw.close()
        engine.dispose()
    return seconds


def bare_update_floor(url: str) -> float:
    """Seconds for the writes routing makes, with no decision: a conditional UPDATE per burst
    conversation (still unassigned, still open) and a conversation_event row, one transaction."""
    c = tables.CONVERSATIONS.c
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(c.id).where(c.team_id.is_(None), c.assignee_id.is_(None))).scalars().all()
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    with engine.begin() as conn:
        for n, cid in enumerate(rows):
            conn.execute(update(tables.CONVERSATIONS).where(c.id == cid, c.assignee_id.is_(None),
                                                            c.status.in_(("open", "pending")))
                         .values(assignee_id=n % 50 + 1, assigned_by="routing", assigned_at=now, updated_at=now))
            conn.execute(insert(tables.CONV_EVENTS).values(conversation_id=cid, kind="assigned", actor_id=None,
                                                           data={"by": "routing"}, created_at=now))
    seconds = time.perf_counter() - t
    engine.dispose()
    return seconds


# -- the engines --------------------------------------------------------------------------

@contextlib.contextmanager
def postgres_and_redis() -> Iterator[tuple[str, str]]:
    from tests.helpers import servers
    with servers.postgres() as admin_url, servers.redis() as redis_url:
        yield admin_url, redis_url


def pg_database(admin_url: str, name: str) -> str:
    import psycopg
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def bench_engine(engine: str, args: argparse.Namespace, tmp: Path, admin_url: str = "",
                 redis_url: str = "") -> list[Row]:
    rows = []
    parts = 1 if engine == "sqlite" else 2
    for label, mode in (("routing off (manual): baseline", "manual"), ("routing on (balanced)", "balanced")):
        name = f"bench_{mode}_{random.randrange(1 << 30)}"
        url = f"sqlite:///{tmp}/{name}.db" if engine == "sqlite" else pg_database(admin_url, name)
        t = time.perf_counter()
        ids = setup(url, agents=args.agents, teams=args.teams, waiting=args.waiting, capacity=args.capacity,
                    mode=mode)
        print(f"[{engine}] set-up for {label}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        results = run_round(url, ids, args, parts=parts, redis_url=redis_url, expect_assigned=mode != "manual",
                            tmp=tmp)
        summary = analyse(url, ids, args, results)
        floor = (bare_update_floor(url), bare_driver_floor(url)) if mode == "manual" else None
        rows.append((label, summary, floor))
        if args.profile and mode != "manual":
            for i, r in enumerate(results):
                print(f"\n[{engine}] process {i + 1}: route() by cumulative time\n{r['profile']}", file=sys.stderr)
    return rows


def print_table(engine: str, args: argparse.Namespace, rows: list[Row]) -> None:
    procs = "1 process" if engine == "sqlite" else "2 processes, Redis bus"
    print(f"\n{engine} ({procs}): {args.agents:,} agents online in {args.teams} teams, {args.waiting:,} waiting "
          f"nobody can take, burst of {args.burst:,}, capacity {args.capacity}, {args.concurrency} in flight")
    base = rows[0][1]
    print(f"{'':<34}{'stored s':>10}{'assigned s':>12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'passes':>8}"
          f"{'pass p50':>10}{'pass max':>10}")
    for label, s, _ in rows:
        assigned = f"{s['assigned_s']:.2f}" if s["assigned"] else "-"
        lat = (f"{s['p50']:>9.0f}{s['p99']:>9.0f}{s['max']:>9.0f}" if s["assigned"] else f"{'-':>9}" * 3)
        print(f"{label:<34}{s['stored_s']:>10.2f}{assigned:>12}{lat}{s['passes']:>8}{s['pass_p50']:>9.1f} "
              f"{s['pass_max']:>8.1f} ")
    floor = rows[0][2]
    assert floor is not None
    s = rows[1][1]
    print(f"floor, the writes alone (conditional UPDATE + event row each, {base['burst']:,} rows, one transaction): "
          f"{floor[0]:.2f} s as SQLAlchemy Core statements, {floor[1]:.3f} s as the driver's executemany")
    print(f"routing: all {s['burst']:,} assigned {s['assigned_s']:.2f} s after the first message = "
          f"{s['assigned_s'] / base['stored_s']:.2f}x the time to store the burst without routing "
          f"({base['stored_s']:.2f} s); most assigned in one pass: {s['per_pass_max']}")
    ok = (s["assigned"] == s["burst"] and not s["twice"] and not s["other_events"] and not s["waiting_touched"]
          and not s["over_capacity"] and s["spread"] <= 1 and not s["timed_out"])
    print(f"checks: {s['assigned']:,}/{s['burst']:,} assigned; assigned twice: {s['twice']}; other routing events: "
          f"{s['other_events']}; waiting ones touched: {s['waiting_touched']}; over capacity: {s['over_capacity']} "
          f"(most open per agent: {s['max_load']}); fairness, worst team max-min: {s['spread']} "
          f"-> {'OK' if ok else 'FAILED'}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--teams", type=int, default=20)
    ap.add_argument("--waiting", type=int, default=10000)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--capacity", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64, help="record_inbound calls in flight (all processes)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for every assignment")
    ap.add_argument("--quick", action="store_true", help="100 agents in 10 teams, 1,000 waiting, a burst of 200")
    ap.add_argument("--profile", action="store_true", help="cProfile of route() in each serving process")
    args = ap.parse_args()
    if args.quick:
        args.agents, args.teams, args.waiting, args.burst = 100, 10, 1000, 200
    if args.agents % args.teams:
        raise SystemExit("--agents must be a multiple of --teams")
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-routing-"))
    if args.engine in ("sqlite", "both"):
        print_table("sqlite", args, bench_engine("sqlite", args, tmp))
    if args.engine in ("postgres", "both"):
        with postgres_and_redis() as (admin_url, redis_url):
            print_table("postgres", args, bench_engine("postgres", args, tmp, admin_url, redis_url))


if __name__ == "__main__":
    main()
