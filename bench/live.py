"""Inbound-to-agent latency and fan-out: signed Twilio webhooks sent into one `inbox serve`
process (SQLite), received as `message.created` by N agent WebSockets (benchmarks 2 and 3
of issue 7). The ceiling, measured in the same run with the same clients and sender: a
bare Starlette app whose POST broadcasts a frame of the same size to the same number of
WebSockets.

    .venv/bin/python bench/live.py [--agents 100] [--rate 100] [--seconds 5]
    .venv/bin/python bench/live.py --agents 100 --rate 2000        # ingest target rate
    .venv/bin/python bench/live.py --agents 1000 --rate max        # fan-out capacity

``--rate R`` sends R webhooks/s on a schedule. ``--rate max`` sends as fast as the fan-out
keeps up: a new webhook goes out only while fewer than ``--window`` events per agent are
sent but not yet received, so the server is saturated without an ever-growing backlog;
deliveries/s is then its fan-out capacity.

Prints p50/p99 of webhook-sent -> event-received over all (agent, message) pairs (paced:
from when the webhook was due, so a sender or server falling behind counts), deliveries
per second, the rate the sender achieved, CPU used by the server, by the busiest client
process and by the sender (near 100% would mean they, not the server, set the figure),
the server's peak resident memory, and deliveries per second of server CPU. On a shared
machine the bare server, one thread, may get less of a core than the inbox, which also
has threads: the last column compares their efficiency regardless.

Issue 7's cases: benchmark 2, ``--agents 100 --rate 100`` (p99 < 10 ms) and ``--agents 100
--rate 2000`` (p99 < 100 ms); benchmark 3, ``--agents 1000 --rate max`` (at least half the
ceiling's deliveries/s, RSS < 300 MB) and, for latency below saturation, ``--agents 1000
--rate 30``. Add ``--rounds 3`` for medians.

The agents are a minimal WebSocket client (handshake, frame headers, a byte search for
the message's key; no JSON parsing) spread over ``--client-procs`` processes, so that
receiving costs far less than sending; the webhooks go over ``--connections`` keep-alive
HTTP/1.1 connections written by hand, for the same reason.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import uvloop
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).parent))
from ingest import ACCOUNT, NUMBER, TOKEN, free_port, wait_healthy  # noqa: E402

BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

sockets = set()
PAD = "x" * int(__import__("os").environ.get("BENCH_PAD", "300"))

async def hook(request):
    body = await request.body()
    frame = '{"t": "%s", "pad": "%s"}' % (body.decode(), PAD)
    for ws in list(sockets):
        try:
            await ws.send_text(frame)
        except Exception:
            sockets.discard(ws)
    return Response("ok")

async def ws_endpoint(ws):
    await ws.accept()
    sockets.add(ws)
    await ws.send_text('{"type": "ready"}')
    try:
        while True:
            await ws.receive_text()
    except Exception:
        sockets.discard(ws)

app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), WebSocketRoute("/ws", ws_endpoint)])
'''
# Where each server's frame carries the key the webhook was sent with.
BARE_MARKER = b'"t": "'
INBOX_MARKER = b'"provider_message_id": "SM'
REPORT_EVERY = 0.02  # how often client processes report their delivery counts (--rate max)


# --- agents: a minimal WebSocket client, several per process -----------------------------

class Agent(asyncio.Protocol):
    """Reads server frames (unmasked, unfragmented: what uvicorn sends) and records, per
    frame carrying ``marker``, the key after it and the time it arrived."""

    received_bytes = 0  # over all agents of the process

    def __init__(self, host: str, target: str, marker: bytes, keys: list[bytes], times: list[float]) -> None:
        self.request = (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.marker, self.keys, self.times = marker, keys, times
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before ready"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        Agent.received_bytes += len(data)
        buf = self.buf
        buf += data
        pos = 0
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(buf[:end]).decode()))
                return
            self.upgraded, pos = True, end + 4
        marker, n = self.marker, len(buf)
        while n - pos >= 2:
            opcode, length, start = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2:pos + 4], "big"), pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2:pos + 10], "big"), pos + 10
            end = start + length
            if end > n:
                break
            if opcode == 1:
                at = buf.find(marker, start, end)
                if at >= 0:
                    at += len(marker)
                    self.keys.append(bytes(buf[at:buf.index(b'"', at, end)]))
                    self.times.append(now)
                elif not self.ready.done():  # the first frame: the server has subscribed us
                    self.ready.set_result(None)
            elif opcode == 9:  # ping: answer with a (masked, zero-key) pong
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + bytes(buf[start:end]))
            elif opcode == 8:
                assert self.transport is not None
                self.transport.close()
            pos = end
        del buf[:pos]


def _client_process(url: str, count: int, marker: bytes, conn: Connection) -> None:
    uvloop.run(_clients(url, count, marker, conn))


async def _clients(url: str, count: int, marker: bytes, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    keys: list[bytes] = []
    times: list[float] = []
    gate = asyncio.Semaphore(50)

    async def connect() -> asyncio.Transport:
        async with gate:
            transport, agent = await loop.create_connection(
                lambda: Agent(parts.netloc, target, marker, keys, times), parts.hostname, parts.port)
            await asyncio.wait_for(agent.ready, 60)
            return transport

    transports = await asyncio.gather(*(connect() for _ in range(count)))
    conn.send("ready")
    assert await _from_parent(conn) == "go"
    keys.clear()
    times.clear()
    Agent.received_bytes = 0
    cpu0 = time.process_time()
    stop = asyncio.create_task(_from_parent(conn))
    while not stop.done():
        conn.send(len(keys))  # for --rate max: how far the deliveries have got
        await asyncio.wait({stop}, timeout=REPORT_EVERY)
    conn.send(("done", keys, times, time.process_time() - cpu0, Agent.received_bytes))
    for t in transports:
        t.close()


async def _from_parent(conn: Connection) -> object:
    """The parent's next message, waited for without blocking the loop."""
    readable = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), readable.set)
    try:
        await readable.wait()
    finally:
        loop.remove_reader(conn.fileno())
        os.set_blocking(conn.fileno(), True)  # add_reader made it non-blocking
    return conn.recv()


@dataclass
class Received:
    keys: list[bytes]
    times: list[float]
    busiest_client_cpu: float  # CPU seconds of the busiest client process
    bytes: int


class Clients:
    """``agents`` sockets spread over ``procs`` processes."""

    def __init__(self, url: str, agents: int, procs: int, marker: bytes) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for i in range(procs):
            ours, theirs = ctx.Pipe()
            share = agents // procs + (i < agents % procs)
            p = ctx.Process(target=_client_process, args=(url, share, marker, theirs), daemon=True)
            p.start()
            self.pipes.append(ours)
            self.procs.append(p)
        self.counts = [0] * procs

    def wait_ready(self) -> None:
        for pipe in self.pipes:
            if not pipe.poll(120):
                raise SystemExit("agents did not connect")
            assert pipe.recv() == "ready"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        for i, pipe in enumerate(self.pipes):
            pipe.send("go")
            loop.add_reader(pipe.fileno(), self._on_count, i)

    def _on_count(self, i: int) -> None:
        while self.pipes[i].poll():
            self.counts[i] = self.pipes[i].recv()

    def stop(self, loop: asyncio.AbstractEventLoop) -> Received:
        for pipe in self.pipes:
            loop.remove_reader(pipe.fileno())
            os.set_blocking(pipe.fileno(), True)  # add_reader made it non-blocking
            pipe.send("stop")
        keys: list[bytes] = []
        times: list[float] = []
        cpu = 0.0
        received_bytes = 0
        for pipe in self.pipes:
            while True:
                msg = pipe.recv()
                if isinstance(msg, tuple):
                    break
            keys += msg[1]
            times += msg[2]
            cpu = max(cpu, msg[3])
            received_bytes += msg[4]
        for p in self.procs:
            p.join(10)
        return Received(keys, times, cpu, received_bytes)


# --- the sender: hand-written keep-alive HTTP/1.1 ----------------------------------------

class KeepAlive:
    """One keep-alive HTTP/1.1 connection, opened again when the server closed it (uvicorn
    closes one idle for 5 s)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, request: bytes) -> None:
        for attempt in (1, 2):
            if self.streams is None:
                self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await _post(*self.streams, request)
            except (asyncio.IncompleteReadError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    if status != b"200":
        raise SystemExit(f"webhook answered {head.decode(errors='replace')}")


@dataclass
class Run:
    latencies_ms: list[float]
    deliveries: int
    expected: int
    seconds: float  # from the first send to the last delivery
    sent: int
    send_seconds: float
    server_cpu: float  # fraction of one core
    busiest_client_cpu: float  # fraction of one core
    sender_cpu: float  # fraction of one core
    bytes_per_delivery: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(port: int, request_for: Callable[[str], bytes], clients: Clients, server_pid: int, agents: int,
               rate: float | None, seconds: float, connections: int, window: int) -> Run:
    """Send webhooks for ``seconds`` (at ``rate``/s, or as fast as deliveries keep up when
    ``rate`` is None) and collect what the agents received."""
    loop = asyncio.get_running_loop()
    nonce = secrets.token_hex(4)
    sent_at: dict[bytes, float] = {}
    senders = [KeepAlive(port) for _ in range(connections)]
    counter = iter(range(10**9))
    in_flight = window * agents
    clients.start(loop)
    cpu0, own_cpu0 = cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    async def sender(connection: KeepAlive) -> None:
        while True:
            i = next(counter)
            if rate is not None:
                if i >= int(rate * seconds):
                    return
                scheduled = started + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the load generator, not waiting for a result
            else:
                while len(sent_at) * agents - sum(clients.counts) >= in_flight:
                    await asyncio.sleep(REPORT_EVERY / 4)  # deliveries are behind: let them catch up
                if time.perf_counter() >= deadline:
                    return
            key = f"{nonce}{i:08x}"
            request = request_for(key)
            # Paced: from when it was due, so a sender or server falling behind shows as latency.
            sent_at[key.encode()] = scheduled if rate is not None else time.perf_counter()
            await connection.post(request)

    await asyncio.gather(*(sender(c) for c in senders))
    send_seconds = time.perf_counter() - started
    expected = len(sent_at) * agents
    for _ in range(int(30 / REPORT_EVERY)):  # wait for the last deliveries
        if sum(clients.counts) >= expected:
            break
        await asyncio.sleep(REPORT_EVERY)
    server_cpu, own_cpu = cpu_seconds(server_pid) - cpu0, time.process_time() - own_cpu0
    received = clients.stop(loop)
    for c in senders:
        c.close()
    latencies = [(t - sent_at[k]) * 1000 for k, t in zip(received.keys, received.times) if k in sent_at]
    if len(latencies) < expected:
        print(f"  only {len(latencies)} of {expected} deliveries arrived", file=sys.stderr)
    wall = max(max(received.times, default=started) - started, 1e-9)
    return Run(latencies, len(latencies), expected, wall, len(sent_at), send_seconds, server_cpu / wall,
               received.busiest_client_cpu / wall, own_cpu / wall, received.bytes / max(1, len(latencies)))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


@dataclass
class Options:
    agents: int
    rate: float | None
    seconds: float
    connections: int
    window: int
    client_procs: int


def measure(server: subprocess.Popen[bytes], port: int, ws_url: str, marker: bytes,
            request_for: Callable[[str], bytes], opts: Options) -> tuple[Run, float]:
    clients = Clients(ws_url, opts.agents, opts.client_procs, marker)
    try:
        clients.wait_ready()
        run = uvloop.run(load(port, request_for, clients, server.pid, opts.agents, opts.rate, opts.seconds,
                              opts.connections, opts.window))
        return run, peak_rss_mb(server.pid)
    finally:
        for p in clients.procs:
            p.kill()


def post(path: str, port: int, body: bytes, headers: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
            ).encode() + body


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait()


def bench_bare(opts: Options, pad: int) -> tuple[Run, float]:
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    (tmp / "bare_ws.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_ws:app", "--port", str(port), "--loop", "uvloop",
                             "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
                             "--no-access-log", "--log-level", "warning"], cwd=tmp,
                            env={**os.environ, "BENCH_PAD": str(pad)})
    try:
        wait_healthy(f"http://127.0.0.1:{port}/hook", proc)
        return measure(proc, port, f"ws://127.0.0.1:{port}/ws", BARE_MARKER,
                       lambda key: post("/hook", port, key.encode()), opts)
    finally:
        stop(proc)


def bench_inbox(opts: Options) -> tuple[Run, float]:
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
    url = public + "/webhooks/twilio"

    def request_for(key: str) -> bytes:
        params = {"MessageSid": "SM" + key, "AccountSid": ACCOUNT, "From": "+15550001234", "To": NUMBER,
                  "Body": "latency probe", "NumMedia": "0"}
        headers = (f"Content-Type: application/x-www-form-urlencoded\r\n"
                   f"X-Twilio-Signature: {validator.compute_signature(url, params)}\r\n")
        return post("/webhooks/twilio", port, urlencode(params).encode(), headers)
    try:
        wait_healthy(public + "/healthz", proc)
        return measure(proc, port, f"ws://127.0.0.1:{port}/ws?token={token}", INBOX_MARKER, request_for, opts)
    finally:
        stop(proc)


# The inbox's message.created frame for the webhooks above is about this long; the bare
# server pads its frames to the same length, so both send the same bytes per delivery.
INBOX_FRAME_BYTES = 1030


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--rate", default="100", help="webhooks per second, or 'max': as fast as the fan-out keeps up")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the summary takes medians")
    ap.add_argument("--connections", type=int, default=64, help="keep-alive connections sending webhooks")
    ap.add_argument("--window", type=int, default=16, help="--rate max: events per agent sent but not yet received")
    ap.add_argument("--client-procs", type=int, default=0, help="processes holding the agents (default: 1 per 250)")
    args = ap.parse_args()
    opts = Options(args.agents, None if args.rate == "max" else float(args.rate), args.seconds, args.connections,
                   args.window, args.client_procs or max(1, min(4, args.agents // 250)))
    print(f"{opts.agents} agents in {opts.client_procs} client processes, {args.rate} webhooks/s for "
          f"{opts.seconds:g} s over {opts.connections} connections, {args.rounds} round(s)")
    print(f"{'server':<28}{'p50 ms':>9}{'p99 ms':>9}{'deliveries/s':>14}{'sent/s':>9}{'server CPU':>12}"
          f"{'client CPU':>12}{'sender CPU':>12}{'peak RSS MB':>13}{'B/frame':>9}{'deliv/CPU-s':>13}")
    servers = {"bare broadcast (ceiling)": lambda: bench_bare(opts, INBOX_FRAME_BYTES - 40),
               "inbox: webhook -> agents": lambda: bench_inbox(opts)}
    rows: dict[str, list[list[float]]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, bench in servers.items():
            run, rss = bench()
            row = [percentile(run.latencies_ms, .5), percentile(run.latencies_ms, .99), run.deliveries / run.seconds,
                   run.sent / run.send_seconds, run.server_cpu, run.busiest_client_cpu, run.sender_cpu, rss,
                   run.bytes_per_delivery, run.deliveries / run.seconds / max(run.server_cpu, 1e-9)]
            rows[name].append(row)
            print(_format(name, row), flush=True)
    medians = {name: [statistics.median(column) for column in zip(*r)] for name, r in rows.items()}
    if args.rounds > 1:
        print("medians:")
        for name, row in medians.items():
            print(_format(name, row))
    bare, inbox = medians.values()
    print(f"inbox / ceiling: {inbox[2] / bare[2]:.0%} of the deliveries/s, {inbox[9] / bare[9]:.0%} of the deliveries "
          "per second of server CPU")


def _format(name: str, row: list[float]) -> str:
    p50, p99, deliveries, sent, server_cpu, client_cpu, sender_cpu, rss, frame, per_cpu = row
    return (f"{name:<28}{p50:>9.2f}{p99:>9.2f}{deliveries:>14.0f}{sent:>9.0f}{server_cpu:>12.0%}{client_cpu:>12.0%}"
            f"{sender_cpu:>12.0%}{rss:>13.0f}{frame:>9.0f}{per_cpu:>13.0f}")


if __name__ == "__main__":
    main()
