"""Outbound benchmark (issue 7, benchmark 5): replies queued through the REST API to one
SMS inbox of an `inbox serve` process (SQLite), drained by its delivery worker to a fake
Twilio REST API on 127.0.0.1 that answers each send in 50 ms and allows at most
``--limit`` sends per second per account (a sliding one-second window); a send over it
gets what Twilio answers, 429 with error code 20429 and ``Retry-After: 1``. The inbox's
``send_rate_per_second`` is set to the same limit (PATCH /api/inboxes/{id}).

    .venv/bin/python bench/outbound.py [--replies 1000] [--limit 40] [--conversations 250]
                                       [--mode live|backlog|both] [--dump records.json]

Each round (default both, about 100 s in all) uses a fresh database, inbox and fake:
create the inbox, an admin and an API token with the CLI; open ``--conversations``
conversations with signed inbound Twilio webhooks; queue ``--replies`` replies, spread
evenly over them, with POST /api/conversations/{id}/messages over 8 connections. ``live``
queues while the worker already drains; ``backlog`` queues with the worker off
(INBOX_RUN_WORKER=0), then restarts the server with it on. The fake posts signed ``sent``
and ``delivered`` status callbacks for each accepted send, as Twilio does.

The ceiling is the limit itself: ``replies / limit`` seconds. Prints per round the drain
time (first send attempt -> last send accepted, at the fake) and the rate achieved; the
most send attempts the fake saw in any one-second window (at most the limit if the
inbox's pacing holds) and the most it accepted; the 429s; and the exactly-once checks:
every reply's text reached the fake once, and every outbound message in the database ends
`delivered` with a provider id the fake issued, its delivery job `done`. The fake runs in
its own process (this script with ``--serve-fake PORT``), so that the load generator's
work does not delay the fake's clock readings; ``--dump`` writes its records.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from ingest import ACCOUNT, TOKEN, create_sms_inbox, free_port, inbox_cli, inbox_env, make_requests, running, serving  # noqa: E402

from tests.fakes.twilio import FakeTwilio, _error  # noqa: E402

ADMIN = "bench-admin@example.com"


class RateLimitedTwilio:
    """tests/fakes/twilio.py's fake behind a per-account limit and a fixed answer time,
    sending Twilio's status callbacks for what it accepted."""

    def __init__(self, limit: int, latency: float) -> None:
        self.fake = FakeTwilio({ACCOUNT: TOKEN})
        self.limit, self.latency = limit, latency
        self.validator = RequestValidator(TOKEN)
        self.windows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.attempts: list[float] = []  # arrival time of every send attempt
        self.accepted: list[float] = []  # arrival time of every accepted send
        self.rejected = 0
        self.callbacks: collections.Counter[int] = collections.Counter()  # status code -> count
        self.client: httpx.AsyncClient | None = None
        self.app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message,
                                           methods=["POST"]),
                                     Route("/2010-04-01/Accounts/{sid}/Messages.json", self.fake.list_messages),
                                     Route("/bench/stats", self.stats)])

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"attempts": self.attempts, "accepted": self.accepted, "rejected": self.rejected,
                             "callbacks": self.callbacks, "sent": [{"sid": m["sid"], "body": m["body"]}
                                                                   for m in self.fake.sent]})

    async def create_message(self, request: Request) -> Response:
        now = time.monotonic()
        self.attempts.append(now)
        window = self.windows[request.path_params["sid"]]
        while window and window[0] <= now - 1.0:
            window.popleft()
        over = len(window) >= self.limit
        if not over:
            window.append(now)
        await asyncio.sleep(self.latency)
        if over:
            self.rejected += 1
            return _error(429, 20429, "Too Many Requests", {"Retry-After": "1"})
        response = await self.fake.create_message(request)
        if response.status_code == 201:
            self.accepted.append(now)
            sid = json.loads(bytes(response.body))["sid"]
            response.background = BackgroundTask(self.report, next(m for m in reversed(self.fake.sent)
                                                                   if m["sid"] == sid))
        return response

    async def report(self, msg: dict[str, Any]) -> None:
        """Twilio's status callbacks: ``sent``, then ``delivered``."""
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=30)
        if not msg["status_callback"]:
            return
        for status in ("sent", "delivered"):
            params = {"MessageSid": msg["sid"], "SmsSid": msg["sid"], "AccountSid": ACCOUNT, "From": msg["from"],
                      "To": msg["to"], "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
            url = msg["status_callback"]
            try:
                response = await self.client.post(url, content=urlencode(params), headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": self.validator.compute_signature(url, params)})
            except httpx.TransportError:  # the server is down (bench/campaigns.py kills it)
                self.callbacks[0] += 1
                return
            self.callbacks[response.status_code] += 1


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most events in any window of ``width`` seconds (half-open, like the limiter's)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + width) - i for i, t in enumerate(times)), default=0)


async def open_conversations(public: str, n: int) -> None:
    """One signed inbound SMS per customer: ``n`` conversations."""
    path = Path(tempfile.mkdtemp(prefix="inbox-bench-inbound-")) / "requests.tsv"
    make_requests(path, public, n, customers=n)
    async with httpx.AsyncClient(base_url=public, timeout=30) as client:
        for line in path.read_text().splitlines():
            sig, body = line.split("\t", 1)
            r = await client.post("/webhooks/twilio", content=body, headers={
                "X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"})
            r.raise_for_status()


async def queue_replies(public: str, token: str, conversations: list[int], n: int,
                        connections: int = 8) -> tuple[float, list[int], list[float]]:
    """POSTs ``n`` replies, round-robin over the conversations. Returns when the first POST
    went out, the message ids, and each POST's latency."""
    ids: list[int] = []
    latencies: list[float] = []
    todo = iter(range(n))
    async with httpx.AsyncClient(base_url=public, timeout=60, headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(max_connections=connections)) as client:
        async def post_some() -> None:
            for i in todo:
                started = time.perf_counter()
                r = await client.post(f"/api/conversations/{conversations[i % len(conversations)]}/messages",
                                      json={"text": f"bench reply {i}"}, headers={"Idempotency-Key": f"bench-{i}"})
                latencies.append(time.perf_counter() - started)
                if r.status_code != 202:
                    raise SystemExit(f"reply {i}: {r.status_code} {r.text}")
                ids.append(int(r.json()["id"]))
        first = time.monotonic()
        await asyncio.gather(*(post_some() for _ in range(connections)))
    return first, ids, latencies


def conversation_ids(public: str, token: str) -> list[int]:
    ids: list[int] = []
    cursor = None
    with httpx.Client(base_url=public, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            page = client.get("/api/conversations", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
            page.raise_for_status()
            body = page.json()
            ids += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                return sorted(ids)


def delivered(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute("SELECT count(*) FROM message WHERE direction = 'out' AND status = 'delivered'")
                   .fetchone()[0])
    finally:
        db.close()


@dataclass
class Round:
    label: str
    stats: dict[str, Any]  # the fake's records
    rows: list[tuple[Any, ...]]  # (message id, status, provider id, job state) of every outbound message
    conversations: int
    queued_s: float
    post_ms: tuple[float, float]  # p50, p99 of the reply POSTs

    @property
    def drain(self) -> float:
        """First send attempt -> last accepted send, at the fake."""
        return max(self.stats["accepted"]) - min(self.stats["attempts"])


def sms_setup(prefix: str) -> tuple[Path, int, int, dict[str, str], int, str]:
    """A fresh directory and SQLite database with an SMS inbox pointed at a fake Twilio on
    its own port, an admin and their API token: (directory, the server's port, the fake's
    port, the environment, the inbox id, the token)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    port, fake_port = free_port(), free_port()
    env = inbox_env(tmp, f"http://127.0.0.1:{port}", INBOX_TWILIO_API_BASE=f"http://127.0.0.1:{fake_port}")
    inbox_id = create_sms_inbox(env, tmp)
    inbox_cli(env, tmp, "user", "create", "--email", ADMIN, "--role", "admin", "--password", "bench-password")
    token = inbox_cli(env, tmp, "token", "create", "--email", ADMIN).strip()
    return tmp, port, fake_port, env, inbox_id, token


def run_round(args: argparse.Namespace, backlog: bool) -> Round:
    """A fresh database, inbox and fake. ``backlog``: queue every reply with the worker off,
    then restart the server with it on; otherwise queue while the worker drains."""
    tmp, port, fake_port, env, inbox_id, token = sms_setup("inbox-bench-")
    public, fake_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fake_port}"
    fake_cmd = [sys.executable, __file__, "--serve-fake", str(fake_port), "--limit", str(args.limit),
                "--latency", str(args.latency)]
    with running(fake_cmd, fake_url + "/bench/stats", tmp), contextlib.ExitStack() as server:
        server.enter_context(serving({**env, "INBOX_RUN_WORKER": "0"} if backlog else env, tmp, port))
        r = httpx.patch(f"{public}/api/inboxes/{inbox_id}", headers={"Authorization": f"Bearer {token}"},
                        json={"settings": {"send_rate_per_second": args.limit}})
        r.raise_for_status()
        asyncio.run(open_conversations(public, args.conversations))
        conversations = conversation_ids(public, token)
        first, ids, latencies = asyncio.run(queue_replies(public, token, conversations, args.replies))
        queued = time.monotonic() - first
        if backlog:
            server.close()  # the worker-less server
            server.enter_context(serving(env, tmp, port))
        deadline = time.monotonic() + 3 * args.replies / args.limit + 60
        while delivered(tmp / "inbox.db") < args.replies and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a send repeated late would show up here
        stats = httpx.get(fake_url + "/bench/stats", timeout=30).json()
    db = sqlite3.connect(tmp / "inbox.db")
    rows = db.execute("SELECT m.id, m.status, m.provider_message_id, j.state FROM message m "
                      "LEFT JOIN delivery_job j ON j.message_id = m.id AND j.kind = 'send' "
                      "WHERE m.direction = 'out'").fetchall()
    db.close()
    latencies.sort()
    p50, p99 = (latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 for q in (0.5, 0.99))
    label = "drained from a full queue" if backlog else "queued while draining"
    return Round(label, stats, rows, len(conversations), queued, (p50, p99))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replies", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=40, help="the provider's sends per second per account")
    ap.add_argument("--conversations", type=int, default=250)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the fake takes to answer a send")
    ap.add_argument("--mode", choices=["live", "backlog", "both"], default="both")
    ap.add_argument("--dump", help="write the fake's records (JSON) to this file")
    ap.add_argument("--serve-fake", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake:
        uvicorn.run(RateLimitedTwilio(args.limit, args.latency).app, host="127.0.0.1", port=args.serve_fake,
                    log_level="warning", access_log=False, lifespan="off")
        return
    rounds = [run_round(args, backlog) for backlog in {"live": [False], "backlog": [True],
                                                       "both": [False, True]}[args.mode]]
    if args.dump:
        Path(args.dump).write_text(json.dumps({r.label: r.stats for r in rounds}))

    n, ceiling = args.replies, args.replies / args.limit
    print(f"{f'{n} replies, SMS inbox at {args.limit}/s':<38}{'drain s':>9}{'sends/s':>9}{'max 1 s':>9}"
          f"{'429s':>7}")
    print(f"{'provider limit (ceiling)':<38}{ceiling:>9.2f}{args.limit:>9.1f}{args.limit:>9}{'-':>7}")
    for r in rounds:
        print(f"{'inbox: ' + r.label:<38}{r.drain:>9.2f}{n / r.drain:>9.1f}{max_in_window(r.stats['attempts']):>9}"
              f"{r.stats['rejected']:>7}")
    print("drain: first send attempt -> last accepted send; "
          "max 1 s: send attempts in any 1 s window")
    for r in rounds:
        sent = r.stats["sent"]
        bodies = collections.Counter(m["body"] for m in sent)
        missing = {f"bench reply {i}" for i in range(n)} - set(bodies)
        twice = sum(1 for c in bodies.values() if c > 1)
        statuses = collections.Counter(row[1] for row in r.rows)
        jobs = collections.Counter(row[3] for row in r.rows)
        unmatched = sum(1 for row in r.rows if row[2] not in {m["sid"] for m in sent})
        ok = (len(sent) == n and not missing and not twice and len(r.rows) == n and statuses == {"delivered": n}
              and jobs == {"done": n} and not unmatched)
        print(f"{r.label}: {r.drain / ceiling:.0%} of the ceiling's time ({ceiling / r.drain:.1%} of the limit); "
              f"{max_in_window(r.stats['accepted'])} accepted in the busiest 1 s")
        print(f"  queued: {n} replies over {r.conversations} conversations in {r.queued_s:.2f} s "
              f"(POST p50 {r.post_ms[0]:.1f} ms, p99 {r.post_ms[1]:.1f} ms)")
        print(f"  provider: {len(sent)} accepted, {len(bodies)} distinct bodies, {twice} sent more than once, "
              f"{len(missing)} never sent; status callbacks answered {r.stats['callbacks']}")
        print(f"  database: {len(r.rows)} outbound messages, statuses {dict(statuses)}, jobs {dict(jobs)}, "
              f"{unmatched} without a provider id the fake issued ({'OK' if ok else 'MISMATCH'})")


if __name__ == "__main__":
    main()
