"""Outbound webhooks benchmark (issue 17): events into one `inbox serve` process (SQLite) as
signed Twilio SMS webhooks, each customer message a `message.created` delivered to one
endpoint on a local receiver; then a receiver outage.

    .venv/bin/python bench/webhooks.py [--rate 1000[,300...]] [--seconds 20] [--outage-seconds 300]
                                       [--outage-rate 1000] [--no-outage]

1. **A bare POST loop**: the same kind of body (about 1.5 KB of JSON) posted by one httpx
   client, one request after the other as the worker sends them, at ``--rate`` a second for
   ``--seconds``, to the same receiver. Its latency is from the moment each request was due
   to its arrival at the receiver: what HTTP alone costs at that rate, on this machine.
2. **Through the inbox**: SMS webhooks at ``--rate`` a second for ``--seconds``; each
   committed message is a delivery the worker signs and posts. Latency is from the event's
   commit (the body's ``timestamp``) to its arrival at the receiver. Every delivery must
   arrive once.
3. **An outage** (unless ``--no-outage``): the receiver answers 503 for the first half of
   ``--outage-seconds``, then is down (its process killed: connections refused) for the
   second half, while SMS keep coming at ``--outage-rate``; then it is back, answering 200,
   and the load stops. Counted at the receiver: every message of the outage arrives, once,
   in order; the time from the receiver's return to the last delivery, and the drain rate.

The receiver runs in its own process (this script with ``--serve-receiver PORT``), as does the
inbox; the load comes from this one, over raw keep-alive HTTP/1.1 connections (no client
library: it would cost the server's cores more than the server itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).parent))
from ingest import ACCOUNT, NUMBER, TOKEN, create_sms_inbox, free_port, inbox_cli, inbox_env, running  # noqa: E402

ADMIN = "bench-admin@example.com"
CUSTOMERS = 500


# -- the receiver (its own process) --------------------------------------------------------

class Receiver:
    """Records each POST: arrival time, webhook-id, event id, the body's timestamp, what it
    answered. ``/bench/mode?status=503`` sets the answer; ``/bench/stats`` sums up;
    ``/bench/reset`` forgets."""

    def __init__(self) -> None:
        self.status = 200
        self.reset()

    def reset(self) -> None:
        self.ok: dict[str, int] = {}  # webhook-id -> times answered 2xx
        self.latencies: list[float] = []  # arrival - the body's timestamp, of 2xx answers
        self.events: list[int] = []  # event ids answered 2xx, in arrival order
        self.refused = 0
        self.first_ok: float | None = None
        self.last_ok: float | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived = time.time()
        path, query = scope["path"], scope["query_string"].decode()
        answer, status = b"ok", self.status
        if path == "/bench/stats":
            answer, status = json.dumps(self.stats()).encode(), 200
        elif path == "/bench/mode":
            self.status, answer, status = int(query.split("=")[1]), b"set", 200
        elif path == "/bench/reset":
            self.reset()
            status = 200
        elif status == 200:
            headers = dict(scope["headers"])
            payload = json.loads(body)
            msg_id = headers.get(b"webhook-id", b"bare").decode()
            self.ok[msg_id] = self.ok.get(msg_id, 0) + 1
            sent = payload.get("sent_at") or _epoch(payload["timestamp"])
            self.latencies.append(arrived - sent)
            if payload.get("event_id") is not None:
                self.events.append(payload["event_id"])
            self.first_ok = self.first_ok or arrived
            self.last_ok = arrived
        else:
            self.refused += 1
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    def stats(self) -> dict[str, Any]:
        return {"ok": sum(self.ok.values()), "unique": len(self.ok), "duplicates": sum(n - 1 for n in self.ok.values()),
                "refused": self.refused, "latencies": self.latencies, "in_order": self.events == sorted(self.events),
                "first_ok": self.first_ok, "last_ok": self.last_ok}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(Receiver(), host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools",
                lifespan="off")


# -- load ----------------------------------------------------------------------------------

class Load:
    """Signed Twilio SMS webhooks at a steady rate over keep-alive connections."""

    def __init__(self, public: str, port: int, connections: int = 16) -> None:
        self.public, self.port, self.connections = public, port, connections
        self.validator = RequestValidator(TOKEN)
        self.n = 0
        self.accepted = 0
        self.failed = 0

    def request(self) -> bytes:
        i = self.n = self.n + 1
        sid = f"SM{i:032x}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": f"+1555{i % CUSTOMERS:07d}",
                  "To": NUMBER, "Body": f"benchmark message {i} " + "x" * 100, "NumMedia": "0", "NumSegments": "1",
                  "ApiVersion": "2010-04-01", "SmsStatus": "received"}
        sig = self.validator.compute_signature(self.public + "/webhooks/twilio", params)
        body = urlencode(params).encode()
        return (f"POST /webhooks/twilio HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {sig}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def run(self, rate: float, seconds: float) -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            while (req := await queue.get()) is not None:
                writer.write(req)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status == 200:
                    self.accepted += 1
                else:
                    self.failed += 1
            writer.close()

        workers = [asyncio.create_task(connection()) for _ in range(self.connections)]
        start, sent = time.monotonic(), 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                queue.put_nowait(self.request())
                sent += 1
            await asyncio.sleep(0.005)
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)


async def bare_loop(url: str, rate: float, seconds: float) -> int:
    """One client posting a delivery-sized body, one request after the other, at ``rate``."""
    data = {"message": {"text": "benchmark message " + "x" * 100, "attachments": [], "status": "received"},
            "conversation": {"labels": [], "status": "open", "contact": {"name": "+15550000001"}}}
    filler = json.dumps(data) * 2
    sent = 0
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client:
        start = time.time()
        while time.time() - start < seconds:
            due = start + sent / rate
            if due > time.time():
                await asyncio.sleep(due - time.time())
            body = json.dumps({"type": "bare", "sent_at": due, "event_id": None, "data": filler}).encode()
            await client.post(url, content=body, headers={"content-type": "application/json"})
            sent += 1
    return sent


# -- the run -------------------------------------------------------------------------------

def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p99": q[98] * 1000, "max": max(values) * 1000}


def stats(receiver: str) -> dict[str, Any]:
    return httpx.get(receiver + "/bench/stats", timeout=60).json()  # type: ignore[no-any-return]


def wait_for(receiver: str, n: int, timeout: float) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        s = stats(receiver)
        if s["ok"] >= n or time.time() > deadline:
            return s
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="1000", help="events a second; several, comma-separated, run one after another")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--outage-seconds", type=float, default=300)
    ap.add_argument("--outage-rate", type=float, default=1000)
    ap.add_argument("--no-outage", action="store_true")
    ap.add_argument("--serve-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        port, receiver_port = free_port(), free_port()
        public, receiver = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
        env = inbox_env(tmp, public, INBOX_WEBHOOKS_ALLOW_PRIVATE="1")
        create_sms_inbox(env, tmp)
        inbox_cli(env, tmp, "user", "create", "--email", ADMIN, "--role", "admin", "--password", "bench-password")
        token = inbox_cli(env, tmp, "token", "create", "--email", ADMIN).strip()
        receiver_cmd = [sys.executable, __file__, "--serve-receiver", str(receiver_port)]
        with running(receiver_cmd, receiver + "/bench/stats", tmp) as receiving, \
                running([sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)], public + "/healthz",
                        tmp, env):
            r = httpx.post(public + "/api/webhooks", headers={"Authorization": f"Bearer {token}"},
                           json={"url": receiver + "/hook", "events": ["message.created"]})
            assert r.status_code == 201, r.text
            load = Load(public, port)

            asyncio.run(load.run(250, 2))  # warm up: every customer's conversation made
            wait_for(receiver, load.accepted, 60)
            httpx.post(receiver + "/bench/reset")

            for rate in (float(r) for r in args.rate.split(",")):
                print(f"-- {rate:g} a second for {args.seconds:g} s")
                bare = asyncio.run(bare_loop(receiver + "/bare", rate, args.seconds))
                b = stats(receiver)
                httpx.post(receiver + "/bench/reset")
                print(f"bare POST loop: {bare} posts ({bare / args.seconds:.0f}/s), latency "
                      + " ".join(f"{k} {v:.1f} ms" for k, v in percentiles(b["latencies"]).items()))
                before = load.accepted
                t0 = time.time()
                asyncio.run(load.run(rate, args.seconds))
                offered = time.time() - t0
                n = load.accepted - before
                s = wait_for(receiver, n, 600)
                httpx.post(receiver + "/bench/reset")
                spread = (s["last_ok"] or 0) - (s["first_ok"] or 0)
                print(f"through the inbox: {n} messages in {offered:.1f} s ({n / offered:.0f}/s, {load.failed} "
                      f"refused), {s['ok']} delivered ({s['ok'] / max(spread, 1e-9):.0f}/s at the receiver), "
                      f"{s['duplicates']} duplicates, in order: {s['in_order']}, latency "
                      + " ".join(f"{k} {v:.1f} ms" for k, v in percentiles(s["latencies"]).items()))
            if args.no_outage:
                return

            httpx.post(receiver + "/bench/mode?status=503")
            before = load.accepted
            half = args.outage_seconds / 2

            async def outage() -> None:
                task = asyncio.create_task(load.run(args.outage_rate, args.outage_seconds))
                await asyncio.sleep(half)
                refused = stats(receiver)["refused"]
                receiving.kill()  # down: connections refused from now on
                receiving.wait()
                print(f"outage: answered 503 to {refused} attempts for {half:g} s, then down for {half:g} s")
                await task
            asyncio.run(outage())
            n = load.accepted - before
            back = time.time()
            with running(receiver_cmd, receiver + "/bench/stats", tmp):
                s = wait_for(receiver, n, max(1800, args.outage_seconds * 4))
                done = time.time()
                spread = (s["last_ok"] or done) - (s["first_ok"] or back)
                print(f"after the outage: {n} messages sent during it, {s['unique']} delivered once each, "
                      f"{s['duplicates']} duplicates, in order: {s['in_order']}; the first "
                      f"{(s['first_ok'] or done) - back:.1f} s after the receiver was back, the last "
                      f"{(s['last_ok'] or done) - back:.1f} s after "
                      f"(drained at {s['ok'] / max(spread, 1e-9):.0f}/s)")
                assert s["unique"] == n and s["duplicates"] == 0, s


if __name__ == "__main__":
    main()
