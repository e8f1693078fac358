"""Data at scale (benchmark 4 of issue 7): a database seeded with 100,000 conversations and
1,000,000 messages (`inbox db seed`), served by a real `inbox serve`, and asked over HTTP
with API tokens for conversation lists under every filter, the 5,000-message
conversation page by page, and full-text searches of common and rare words. The ceiling,
measured in the same run with the same client: a bare Starlette endpoint under the same
uvicorn settings answering a small JSON.

    .venv/bin/python bench/data.py                       # SQLite, then PostgreSQL (a throw-away cluster)
    .venv/bin/python bench/data.py --postgres postgresql://user@host/db   # an existing database
    .venv/bin/python bench/data.py --no-postgres --requests 300

The SQLite file is seeded once and kept, with its summary, under the temp directory
(named by the sizes and a hash of the seeding and indexing code), so a second run
starts at once; the PostgreSQL database is seeded when it has no conversations. Requests
go one at a time over a keep-alive connection: the figures are the latency of one request
on an otherwise idle server. Every query is asked --requests times in each of --rounds
rounds; printed are the medians over rounds of p50 and p99 in ms, the worst round's p99,
and whether p99 is under the target (50 ms).

With --reports (issue 16) the same seeding is asked for reports instead. The seed writes
no report facts, so `inbox reports rebuild` computes them first (timed, in conversations
a second; kept with the cached file, redone when the rules or the seed change), and 8
labels are put on about 40% of the conversations (1 or 2 each) so that the breakdown by
label has something to join. Then, over the 90 days ending on the day of the newest fact:
GET /api/reports/overview without a group and by channel, inbox, team, agent and label, in
calendar and business hours; drill-downs (/api/reports/conversations) of a few figures,
first page and a later page by cursor; target 300 ms at p99. And /api/reports/cycles.csv,
every cycle of the period (about 25,000 rows), fewer times, against no target: it is
measured and reported on its own.

    .venv/bin/python bench/data.py --reports             # ~25 min: both engines, rebuilds included
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from ingest import free_port, wait_healthy  # noqa: E402

TARGET_MS = 50.0
REPORTS_TARGET_MS = 300.0
REPORT_DAYS = 90
BENCH_LABELS, LABELLED = 8, 0.4  # labels, and the share of conversations carrying one or two
CLI = [sys.executable, "-m", "inbox.cli"]
BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ITEMS = [{"id": i, "status": "open", "preview": "x" * 100} for i in range(25)]

async def page(request):
    return JSONResponse({"items": ITEMS, "next_cursor": None})

app = Starlette(routes=[Route('/page', page)])
'''


@dataclass
class Case:
    name: str
    who: str  # "admin" or "agent" (the seeded agent1, who is assigned the big conversation)
    path: str
    params: dict[str, Any]
    target: float | None = TARGET_MS  # p99 in ms; None: measured only
    share: int = 1  # asked requests // share times (the CSV: far fewer)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(client: httpx.Client, path: str, params: dict[str, Any], headers: dict[str, str], n: int) -> list[float]:
    for _ in range(max(3, n // 20)):  # warm the caches and the connection
        client.get(path, params=params, headers=headers).raise_for_status()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(path, params=params, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return times


# -- the databases ----------------------------------------------------------------------------

def seed_version() -> str:
    from inbox.storage import migrate
    sources = [ROOT / "inbox" / "storage" / "seed.py", ROOT / "inbox" / "queries" / "search.py",
               *sorted((ROOT / "inbox" / "storage" / "migrations").rglob("*.py"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]
    return f"{migrate.head()}-{digest}"


def run_seed(url: str, conversations: int, messages: int, cwd: Path) -> dict[str, Any]:
    env = {**os.environ, "INBOX_DATABASE_URL": url, "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning"}
    start = time.monotonic()
    out = subprocess.run([*CLI, "db", "seed", "--conversations", str(conversations), "--messages", str(messages)],
                         env=env, cwd=cwd, check=True, capture_output=True, text=True)
    summary: dict[str, Any] = json.loads(out.stdout)
    print(f"  seeded in {time.monotonic() - start:.0f} s ({url.split('://')[0]})", flush=True)
    return summary


def sqlite_file(conversations: int, messages: int) -> Path:
    cache = Path(tempfile.gettempdir()) / "inbox-bench-data"
    cache.mkdir(exist_ok=True)
    return cache / f"seed-{conversations}-{messages}-{seed_version()}.db"


def sqlite_database(conversations: int, messages: int) -> tuple[str, dict[str, Any]]:
    db = sqlite_file(conversations, messages)
    cache = db.parent
    summary_file = db.with_suffix(".json")
    url = f"sqlite:///{db}"
    if not summary_file.exists():
        for stale in cache.glob(f"seed-{conversations}-{messages}-*"):  # older code's, or a failed seeding
            stale.unlink()
        print(f"seeding {db} ...", flush=True)
        summary_file.write_text(json.dumps(run_seed(url, conversations, messages, cache)))
    else:
        print(f"reusing {db}", flush=True)
    return url, json.loads(summary_file.read_text())


def postgres_database(url: str, conversations: int, messages: int, cwd: Path) -> tuple[str, dict[str, Any]]:
    import psycopg
    from sqlalchemy.engine import make_url

    from inbox.storage.db import make_engine
    from inbox.storage.migrate import upgrade
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        count = conn.execute("SELECT count(*) FROM conversation").fetchone()
        big = conn.execute("SELECT conversation_id FROM message GROUP BY conversation_id ORDER BY count(*) DESC "
                           "LIMIT 1").fetchone() if count and count[0] else None
    if big is None:
        print("seeding PostgreSQL ...", flush=True)
        return url, run_seed(url, conversations, messages, cwd)
    print("reusing the seeded PostgreSQL database", flush=True)
    return url, {"big_conversation_id": big[0], "agent_email": "agent1@seed.example",
                 "admin_email": "admin@seed.example"}


def facts_version() -> str:
    """What the report facts of a seeded database depend on: the seed and the rules."""
    sources = [ROOT / "inbox" / "domain" / "metrics.py", ROOT / "inbox" / "actions" / "reports.py",
               ROOT / "inbox" / "domain" / "rollups.py", ROOT / "inbox" / "actions" / "rollups.py"]
    return seed_version() + "-" + hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]


def prepare_reports(url: str, cwd: Path, summary_file: Path | None) -> dict[str, Any]:
    """Report facts (`inbox reports rebuild`, timed) and labels on a seeded database, unless
    it has them already (the SQLite file's summary says so; PostgreSQL: facts are there)."""
    from sqlalchemy import func, insert, select

    from inbox.domain.tables import CONVERSATION_LABELS, CONVERSATIONS, FACTS, LABELS
    from inbox.storage.db import make_engine
    known = json.loads(summary_file.read_text()) if summary_file is not None else {}
    if known.get("reports", {}).get("version") == facts_version():
        print(f"  report facts kept from before (rebuilt at {known['reports']['conversations_per_second']:,.0f} "
              "conversations/s)", flush=True)
        return dict(known["reports"])
    engine = make_engine(url)
    with engine.connect() as conn:
        facts = conn.execute(select(func.count()).select_from(FACTS)).scalar_one()
        labelled = conn.execute(select(func.count()).select_from(CONVERSATION_LABELS)).scalar_one()
    result: dict[str, Any] = {"version": facts_version()}
    # The labels first: the rebuild folds the label rollups from them (they are put on
    # directly, not through the label action that corrects the rollups).
    if not labelled:
        rng = random.Random(16)
        with engine.begin() as conn:
            ids = list(conn.execute(select(CONVERSATIONS.c.id)).scalars())
            first = conn.execute(select(func.coalesce(func.max(LABELS.c.id), 0))).scalar_one() + 1
            names = ["Billing", "Shipping", "Refund", "Bug", "Account", "Feedback", "Urgent", "VIP"][:BENCH_LABELS]
            now = datetime.now(timezone.utc)
            conn.execute(insert(LABELS), [{"id": first + i, "name": f"Bench {n}", "name_key": f"bench {n.lower()}",
                                           "colour": "#336699", "description": "", "created_at": now}
                                          for i, n in enumerate(names)])
            rows = [{"conversation_id": cid, "label_id": first + label} for cid in ids if rng.random() < LABELLED
                    for label in rng.sample(range(BENCH_LABELS), rng.choice((1, 1, 2)))]
            conn.execute(insert(CONVERSATION_LABELS), rows)
        print(f"  {len(rows):,} labels on conversations", flush=True)
    if summary_file is None and facts:
        print("  report facts kept from before (PostgreSQL)", flush=True)
    else:
        env = {**os.environ, "INBOX_DATABASE_URL": url, "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning"}
        start = time.monotonic()
        out = subprocess.run([*CLI, "reports", "rebuild"], env=env, cwd=cwd, check=True, capture_output=True,
                             text=True)
        seconds = time.monotonic() - start
        done = json.loads(out.stdout)
        rate = done["conversations"] / seconds
        print(f"  inbox reports rebuild: {done['conversations']:,} conversations, {done['facts']:,} facts in "
              f"{seconds:.0f} s ({rate:,.0f} conversations/s, {done['facts'] / seconds:,.0f} facts/s)", flush=True)
        result.update(seconds=round(seconds, 1), conversations=done["conversations"], facts=done["facts"],
                      conversations_per_second=round(rate))
    if engine.dialect.name == "postgresql":  # as autovacuum would: index-only scans over the new facts
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    if summary_file is not None:
        summary_file.write_text(json.dumps({**known, "reports": result}))
    return result


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    from tests.helpers import servers
    with servers.postgres() as admin_url:
        import psycopg
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        yield admin_url.rsplit("/", 1)[0] + "/bench"


# -- the servers ------------------------------------------------------------------------------

@contextlib.contextmanager
def inbox_server(url: str, cwd: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    port = free_port()
    env = {**os.environ, "INBOX_DATABASE_URL": url, "INBOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning", "INBOX_RUN_WORKER": "0",
           "INBOX_SMTP_LISTEN": f"127.0.0.1:{free_port()}"}  # the seeded email inbox starts a receiver
    tokens = {who: subprocess.run([*CLI, "token", "create", "--email", f"{who}@seed.example", "--name", "bench"],
                                  env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()
              for who in ("admin", "agent1")}
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=cwd)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}", proc, tokens
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def bare_ceiling(n: int, cwd: Path) -> list[float]:
    (cwd / "bare_data.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_data:app", "--port", str(port), "--loop", "uvloop",
                             "--http", "httptools", "--no-access-log", "--log-level", "warning"], cwd=cwd)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/page", proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            return timed(client, "/page", {}, {}, n)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


# -- the queries --------------------------------------------------------------------------------

def search_words(sqlite_url: str) -> dict[str, str]:
    """Words of the seeded messages by how many contain them (the same seed makes the same
    texts on either engine): very common, common, uncommon and rare."""
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    pick: dict[str, str] = {}
    for label, low, high in (("very common", 300_000, 10**9), ("common", 50_000, 150_000),
                             ("uncommon", 3_000, 8_000), ("rare", 10, 40)):
        row = conn.execute("SELECT term, doc FROM message_search_terms WHERE doc BETWEEN ? AND ? AND length(term) > 3 "
                           "AND term GLOB '[a-z]*' ORDER BY term LIMIT 1", (low, high)).fetchone()
        if row is not None:
            pick[f"{label} word ({row[1]:,} messages)"] = row[0]
    conn.close()
    return pick


def cases(client: httpx.Client, tokens: dict[str, str], summary: dict[str, Any],
          words: dict[str, str]) -> list[Case]:
    def get(who: str, path: str, **params: Any) -> Any:
        r = client.get(path, params=params, headers={"Authorization": f"Bearer {tokens[who]}"})
        r.raise_for_status()
        return r.json()

    me = get("agent1", "/api/me")
    team = me["team_ids"][0]
    inboxes = {i["kind"]: i["id"] for i in get("admin", "/api/inboxes")["items"]}
    big = summary["big_conversation_id"]
    out = [
        Case("list: all (admin)", "admin", "/api/conversations", {}),
        Case("list: status=open", "admin", "/api/conversations", {"status": "open"}),
        Case("list: status=snoozed", "admin", "/api/conversations", {"status": "snoozed"}),
        Case(f"list: team={team}", "admin", "/api/conversations", {"team": team}),
        Case("list: inbox=telegram", "admin", "/api/conversations", {"inbox": inboxes["telegram"]}),
        Case("list: channel=messenger", "admin", "/api/conversations", {"channel": "messenger"}),
        Case("list: pending+whatsapp+team", "admin", "/api/conversations",
             {"status": "pending", "channel": "whatsapp", "team": team}),
        Case("list: agent, all visible", "agent1", "/api/conversations", {}),
        Case("list: agent, tab mine, open", "agent1", "/api/conversations", {"assignee": "me", "status": "open"}),
        Case("list: agent, unassigned, open", "agent1", "/api/conversations", {"assignee": "none", "status": "open"}),
    ]
    cursor = None
    for _ in range(40):  # keyset paging: page 41 costs what page 1 does
        cursor = get("admin", "/api/conversations", **({"cursor": cursor} if cursor else {}))["next_cursor"]
    out.append(Case("list: page 41 (cursor)", "admin", "/api/conversations", {"cursor": cursor}))
    out.append(Case("conversation: open the 5,000-message one", "agent1", f"/api/conversations/{big}", {}))
    out.append(Case("conversation: newest 50 messages", "agent1", f"/api/conversations/{big}/timeline", {}))
    before, page = None, 1
    while page < 61:  # the page `before` asks for
        older = get("agent1", f"/api/conversations/{big}/timeline", **({"before": before} if before else {}))
        if older["next_cursor"] is None:
            break
        before, page = older["next_cursor"], page + 1
    out.append(Case(f"conversation: page {page} of its history (cursor)", "agent1",
                    f"/api/conversations/{big}/timeline", {"before": before} if before else {}))
    for label, word in words.items():
        out.append(Case(f"search: {label} '{word}'", "admin", "/api/conversations", {"q": word}))
    if words:
        rare = list(words.values())[-1]
        out.append(Case(f"search: agent, tab mine, '{rare}'", "agent1", "/api/conversations",
                        {"q": rare, "assignee": "me", "status": "open"}))
    out.append(Case("search: prefix 'refu'", "admin", "/api/conversations", {"q": "refu"}))
    out.append(Case("search: two words 'refund paypal'", "admin", "/api/conversations", {"q": "refund paypal"}))
    out.append(Case("search: contact name 'garcia'", "admin", "/api/conversations", {"q": "garcia"}))
    out.append(Case("search: no match 'zzqx'", "admin", "/api/conversations", {"q": "zzqx"}))
    return out


def newest_day(url: str) -> date:
    """The day of the newest report fact: the period ends there, whenever the file was seeded."""
    from sqlalchemy import func, select

    from inbox.domain.tables import FACTS
    from inbox.storage.db import make_engine
    from inbox.storage.prepared import as_utc
    engine = make_engine(url)
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(FACTS.c.at))).scalar_one()
    engine.dispose()
    return as_utc(newest).date()


def report_cases(client: httpx.Client, tokens: dict[str, str], last: date) -> list[Case]:
    period = {"from": (last - timedelta(days=REPORT_DAYS - 1)).isoformat(), "to": last.isoformat()}

    def get(path: str, **params: Any) -> Any:
        r = client.get(path, params={**period, **params}, headers={"Authorization": f"Bearer {tokens['admin']}"})
        r.raise_for_status()
        return r.json()

    T = REPORTS_TARGET_MS
    out = []
    for hours in ("calendar", "business"):
        extra = {"hours": "business"} if hours == "business" else {}
        out.append(Case(f"overview, {hours} hours", "admin", "/api/reports/overview", {**period, **extra}, T))
        for group in ("channel", "inbox", "team", "agent", "label"):
            out.append(Case(f"overview by {group}, {hours} hours", "admin", "/api/reports/overview",
                            {**period, "group": group, **extra}, T))
    agents = get("/api/reports/overview", group="agent")["groups"]
    busiest = max((g for g in agents if g["key"] is not None), key=lambda g: g["metrics"]["messages_out"])
    labels = [g for g in get("/api/reports/overview", group="label")["groups"] if g["key"] is not None]
    for metric, extra in (("reply", {}), ("messages_in", {}),
                          ("resolution", {"group": "agent", "key": busiest["key"]}),
                          ("messages_in", {"group": "label", "key": labels[0]["key"]} if labels else {})):
        what = f"drill-down {metric}" + (f" of {extra['group']} {extra['key']}" if extra else "")
        first = get("/api/reports/conversations", metric=metric, **extra)
        out.append(Case(f"{what}, first page (of {first['total']:,})", "admin", "/api/reports/conversations",
                        {**period, "metric": metric, **extra}, T))
        after, page = first["next_after"], 2
        while after is not None and page < 20:  # keyset paging: a later page costs what the first does
            found = get("/api/reports/conversations", metric=metric, after=after, **extra)
            if found["next_after"] is None:
                break
            after, page = found["next_after"], page + 1
        if after is not None:
            out.append(Case(f"{what}, page {page} (cursor)", "admin", "/api/reports/conversations",
                            {**period, "metric": metric, "after": after, **extra}, T))
    out.append(Case("cycles.csv, every cycle of the period", "admin", "/api/reports/cycles.csv", period, None,
                    share=10))
    return out


Rounds = list[list[float]]  # the times of each round


Make = Callable[[httpx.Client, dict[str, str]], list[Case]]


def bench_engine(label: str, url: str, make: Make, n: int, rounds: int, cwd: Path
                 ) -> list[tuple[str, Rounds, float | None]]:
    """Every query ``n`` times, then again, ``rounds`` times: a burst of load from elsewhere
    on the machine spoils one round of a query, not its figure (the median of rounds)."""
    with inbox_server(url, cwd) as (base, _, tokens), httpx.Client(base_url=base, timeout=120) as client:
        todo = make(client, tokens)
        results: list[tuple[str, Rounds, float | None]] = [(f"{label} {case.name}", [], case.target)
                                                           for case in todo]
        for r in range(rounds):
            for case, (_, times, _) in zip(todo, results):
                headers = {"Authorization": f"Bearer {tokens[case.who]}"}
                times.append(timed(client, case.path, case.params, headers, max(3, n // case.share)))
            print(f"  {label}: round {r + 1} of {rounds} done", flush=True)
    return results


def table(rows: list[tuple[str, Rounds, float | None]], ceiling: Rounds) -> None:
    width = max(len(name) for name, _, _ in rows) + 2
    print(f"\n{'query (median of rounds)':<{width}}{'p50 ms':>9}{'p99 ms':>9}{'worst p99':>11}  p99 under target")
    for name, rounds, target in [("ceiling: bare Starlette JSON endpoint", ceiling, None), *rows]:
        p50 = statistics.median(statistics.median(times) for times in rounds)
        p99s = [percentile(times, 99) for times in rounds]
        p99 = statistics.median(p99s)
        verdict = "" if target is None else (f"yes (< {target:g})" if p99 < target else f"NO (>= {target:g})")
        print(f"{name:<{width}}{p50:>9.2f}{p99:>9.2f}{max(p99s):>11.2f}  {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, help="timed requests per query and round (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over every query; figures are their medians")
    ap.add_argument("--postgres", help="a PostgreSQL URL to use (seeded if empty); default: a throw-away cluster")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--reports", action="store_true",
                    help=f"the reports over {REPORT_DAYS} days instead (default --requests 30)")
    args = ap.parse_args()
    n = args.requests or (30 if args.reports else 200)
    cwd = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    sqlite_url, sqlite_summary = sqlite_database(args.conversations, args.messages)

    def make(url: str, summary: dict[str, Any], words: dict[str, str], summary_file: Path | None) -> Make:
        if not args.reports:
            return lambda client, tokens: cases(client, tokens, summary, words)
        prepare_reports(url, cwd, summary_file)
        last = newest_day(url)
        print(f"  reports over {REPORT_DAYS} days to {last}", flush=True)
        return lambda client, tokens: report_cases(client, tokens, last)

    words = {} if args.reports else search_words(sqlite_url)
    sqlite_make = make(sqlite_url, sqlite_summary, words,
                       sqlite_file(args.conversations, args.messages).with_suffix(".json"))
    ceiling = [bare_ceiling(n, cwd) for _ in range(args.rounds)]
    rows = bench_engine("sqlite", sqlite_url, sqlite_make, n, args.rounds, cwd)
    if not args.no_postgres:
        with (contextlib.nullcontext(args.postgres) if args.postgres else throwaway_postgres()) as pg:
            pg_url, pg_summary = postgres_database(pg, args.conversations, args.messages, cwd)
            rows += bench_engine("postgres", pg_url, make(pg_url, pg_summary, words, None), n, args.rounds, cwd)
        ceiling += [bare_ceiling(n, cwd) for _ in range(args.rounds)]  # the same endpoint, later in the run
    table(rows, ceiling)


if __name__ == "__main__":
    main()
