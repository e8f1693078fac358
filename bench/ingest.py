"""Ingest benchmark: signed Twilio SMS webhooks into one `inbox serve` process on SQLite,
against a bare Starlette endpoint under the same uvicorn settings, in the same run.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64]

Needs wrk (apt-get install wrk). Prints req/s and latency for both, their ratio, and
how many messages were stored (each exactly once) afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

HERE = Path(__file__).parent
ACCOUNT, TOKEN, NUMBER = "AC" + "b" * 32, "bench-token", "+15550001111"

BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    await request.body()
    return Response('<Response></Response>', media_type='text/xml')

app = Starlette(routes=[Route('/webhooks/twilio', hook, methods=['POST'])])
'''


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited")
        time.sleep(0.05)
    raise SystemExit("server did not start")


def make_requests(path: Path, public: str, n: int, customers: int) -> list[str]:
    validator = RequestValidator(TOKEN)
    sids = []
    with path.open("w") as f:
        for i in range(n):
            sid = "SM" + secrets.token_hex(16)
            params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": f"+1555{i % customers:07d}",
                      "To": NUMBER, "Body": f"benchmark message {i} " + "x" * 100, "NumMedia": "0",
                      "NumSegments": "1", "ApiVersion": "2010-04-01", "SmsStatus": "received"}
            sig = validator.compute_signature(public + "/webhooks/twilio", params)
            f.write(f"{sig}\t{urlencode(params)}\n")
            sids.append(sid)
    return sids


def wrk(url: str, requests_file: Path, seconds: int, connections: int) -> dict[str, float]:
    env = {**os.environ, "REQUESTS_FILE": str(requests_file), "PATH_": "/webhooks/twilio", "WRK_THREADS": "2"}
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          str(HERE / "wrk_replay.lua"), url], env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return {"rps": rps, "total": total, "errors": int(non2xx.group(1)) if non2xx else 0,
            "p50": ms("50"), "p99": ms("99")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp}/inbox.db", "INBOX_PUBLIC_URL": public,
           "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning", "INBOX_TWILIO_API_BASE": "http://127.0.0.1:9"}
    cli = [sys.executable, "-m", "inbox.cli"]
    subprocess.run([*cli, "inbox", "create", "sms", "--name", "bench", "--phone", NUMBER, "--account-sid", ACCOUNT,
                    "--auth-token", TOKEN], env=env, check=True, capture_output=True, cwd=tmp)
    # Enough distinct requests that none repeats within the run (each is stored once).
    n = 6000 * args.seconds
    reqs = tmp / "requests.tsv"
    make_requests(reqs, public, n, customers=n // 4)  # each customer writes about four times

    bare_port = free_port()
    (tmp / "bare_app.py").write_text(BARE_APP)
    bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--loop",
                             "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"], cwd=tmp)
    try:
        wait_healthy(f"http://127.0.0.1:{bare_port}/", bare)
        base = wrk(f"http://127.0.0.1:{bare_port}", reqs, args.seconds, args.connections)
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait()

    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=tmp)
    try:
        wait_healthy(public + "/healthz", server)
        ours = wrk(public, reqs, args.seconds, args.connections)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    db = sqlite3.connect(tmp / "inbox.db")
    stored, distinct = db.execute("SELECT count(*), count(DISTINCT provider_message_id) FROM message").fetchone()
    ok = ours["total"] - ours["errors"]

    print(f"{'server':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    print(f"{'bare Starlette endpoint (ceiling)':<34}{base['rps']:>10.0f}{base['p50']:>10.2f}{base['p99']:>10.2f}"
          f"{base['errors']:>9}")
    print(f"{'inbox: signed Twilio SMS ingest':<34}{ours['rps']:>10.0f}{ours['p50']:>10.2f}{ours['p99']:>10.2f}"
          f"{ours['errors']:>9}")
    print(f"ratio: {ours['rps'] / base['rps']:.1%} of the bare endpoint")
    print(f"stored: {stored} messages, {distinct} distinct; {ok} acknowledged with 2xx "
          f"({'OK' if stored == distinct and stored >= min(ok, n) - 0 else 'MISMATCH'})")


if __name__ == "__main__":
    main()
