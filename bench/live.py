"""Inbound-to-agent latency and fan-out: signed Twilio webhooks sent at a fixed rate into
one `inbox serve` process (SQLite), received as `message.created` by N agent WebSockets.
The ceiling, measured in the same run: a bare Starlette app whose POST broadcasts a
300-byte frame to the same number of WebSockets.

    .venv/bin/python bench/live.py [--agents 100] [--rate 100] [--seconds 5]

Prints p50/p99 of webhook-sent -> event-received over all (agent, message) pairs, the
deliveries per second, and the server's resident memory at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).parent))
from ingest import ACCOUNT, NUMBER, TOKEN, free_port, wait_healthy  # noqa: E402

BARE_APP = '''
import asyncio
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

sockets = set()
FRAME = "x" * 300

async def hook(request):
    body = await request.body()
    frame = '{"t": "%s", "pad": "%s"}' % (body.decode(), FRAME)
    for ws in list(sockets):
        try:
            await ws.send_text(frame)
        except Exception:
            sockets.discard(ws)
    return Response("ok")

async def ws_endpoint(ws):
    await ws.accept()
    sockets.add(ws)
    try:
        while True:
            await ws.receive_text()
    except Exception:
        sockets.discard(ws)

app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), WebSocketRoute("/ws", ws_endpoint)])
'''


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def run(url_ws: str, send: object, agents: int, rate: float, seconds: float,
              key_of: object, ready_frame: bool = False) -> tuple[list[float], float]:
    """Connect the agents, send ``rate``/s for ``seconds``; latencies in ms and the wall time."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    expected = int(rate * seconds) * agents
    done = asyncio.Event()
    last = [0.0]

    async def agent() -> None:
        async with websockets.connect(url_ws, max_queue=None, compression=None) as ws:
            if ready_frame:  # the server says when it has subscribed this socket
                await ws.recv()
            ready.release()
            async for frame in ws:
                key = key_of(json.loads(frame))  # type: ignore[operator]
                if key is not None and key in sent_at:
                    now = time.perf_counter()
                    latencies.append((now - sent_at[key]) * 1000)
                    last[0] = now
                    if len(latencies) >= expected:
                        done.set()

    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(agent()) for _ in range(agents)]
    for _ in range(agents):
        await asyncio.wait_for(ready.acquire(), 30)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32)) as client:
        pending = []
        for i in range(int(rate * seconds)):
            target = started + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
            key = secrets.token_hex(8)
            sent_at[key] = time.perf_counter()
            pending.append(asyncio.create_task(send(client, key)))  # type: ignore[operator]
        await asyncio.gather(*pending)
    try:
        await asyncio.wait_for(done.wait(), 30)
    except TimeoutError:
        print(f"  only {len(latencies)} of {expected} deliveries arrived", file=sys.stderr)
    wall = max(last[0] - started, 1e-9)  # from the first send to the last delivery
    for t in tasks:
        t.cancel()
    return latencies, wall


async def bench_bare(agents: int, rate: float, seconds: float) -> tuple[list[float], float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    (tmp / "bare_ws.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_ws:app", "--port", str(port), "--loop", "uvloop",
                             "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
                             "--no-access-log", "--log-level", "warning"], cwd=tmp)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/hook", proc)

        async def send(client: httpx.AsyncClient, key: str) -> None:
            await client.post(f"http://127.0.0.1:{port}/hook", content=key)
        lat, wall = await run(f"ws://127.0.0.1:{port}/ws", send, agents, rate, seconds,
                              lambda e: e.get("t"))
        return lat, wall, rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


async def bench_inbox(agents: int, rate: float, seconds: float) -> tuple[list[float], float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp}/inbox.db", "INBOX_PUBLIC_URL": public,
           "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning", "INBOX_TWILIO_API_BASE": "http://127.0.0.1:9",
           "INBOX_WS_QUEUE_SIZE": "100000"}
    cli = [sys.executable, "-m", "inbox.cli"]
    subprocess.run([*cli, "inbox", "create", "sms", "--name", "bench", "--phone", NUMBER, "--account-sid", ACCOUNT,
                    "--auth-token", TOKEN], env=env, check=True, capture_output=True, cwd=tmp)
    subprocess.run([*cli, "user", "create", "--email", "lead@example.com", "--role", "lead", "--password",
                    "bench password"], env=env, check=True, capture_output=True, cwd=tmp)
    token = subprocess.run([*cli, "token", "create", "--email", "lead@example.com"], env=env, check=True,
                           capture_output=True, cwd=tmp, text=True).stdout.strip()
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=tmp)
    validator = RequestValidator(TOKEN)
    try:
        wait_healthy(public + "/healthz", proc)

        async def send(client: httpx.AsyncClient, key: str) -> None:
            params = {"MessageSid": "SM" + key, "AccountSid": ACCOUNT, "From": "+15550001234", "To": NUMBER,
                      "Body": "latency probe", "NumMedia": "0"}
            sig = validator.compute_signature(public + "/webhooks/twilio", params)
            r = await client.post(public + "/webhooks/twilio", data=params, headers={"X-Twilio-Signature": sig})
            r.raise_for_status()

        def key_of(event: dict) -> str | None:  # type: ignore[type-arg]
            if event.get("type") != "message.created":
                return None
            return str(event["data"]["message"]["provider_message_id"])[2:]
        lat, wall = await run(f"ws://127.0.0.1:{port}/ws?token={token}", send, agents, rate, seconds, key_of,
                              ready_frame=True)
        return lat, wall, rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    print(f"{args.agents} agents, {args.rate:g} webhooks/s for {args.seconds:g} s")
    print(f"{'server':<36}{'p50 ms':>9}{'p99 ms':>9}{'deliveries/s':>14}{'RSS MB':>9}")
    for name, bench in (("bare broadcast (ceiling)", bench_bare), ("inbox: webhook -> agents", bench_inbox)):
        lat, wall, rss = asyncio.run(bench(args.agents, args.rate, args.seconds))
        print(f"{name:<36}{percentile(lat, .5):>9.2f}{percentile(lat, .99):>9.2f}{len(lat) / wall:>14.0f}"
              f"{rss:>9.0f}")


if __name__ == "__main__":
    main()
