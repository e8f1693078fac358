"""Ingest benchmark: signed Twilio SMS webhooks and signed WhatsApp Cloud API webhooks into
one `inbox serve` process on SQLite, each against a bare Starlette endpoint under the same
uvicorn settings fed the same request bodies, in the same run.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64] [--channel twilio|whatsapp|both]
                                     [--rate 2000] [--quick]

Without ``--rate`` the 64 connections send as fast as each server answers: the throughput
ceiling, where latency is mostly queueing (Little's law: 64 connections at 2,000/s is 32 ms
each on average, however fast the work). With ``--rate R`` each connection pauses between
requests so that about R a second are offered: latency at a sustained load.

Needs wrk (apt-get install wrk). For each channel (default both, Twilio first) prints
req/s and latency for the bare endpoint and for the inbox, their ratio, and how many
messages that channel's inbox stored (each exactly once) afterwards. Both inboxes are
created with the CLI (`inbox inbox create sms|whatsapp ...`); the WhatsApp webhooks carry
`X-Hub-Signature-256` (HMAC-SHA256 of the raw body keyed by the app secret). A quarter as
many customers as webhooks: each customer writes about four times.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

HERE = Path(__file__).parent
ACCOUNT, TOKEN, NUMBER = "AC" + "b" * 32, "bench-token", "+15550001111"
PHONE_NUMBER_ID, APP_SECRET, WABA_ID = "106540352242922", "bench-app-secret", "102290129340398"
CLI = [sys.executable, "-m", "inbox.cli"]

BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    await request.body()
    return Response('<Response></Response>', media_type='text/xml')

app = Starlette(routes=[Route('/webhooks/twilio', hook, methods=['POST']),
                      Route('/webhooks/whatsapp', hook, methods=['POST'])])
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


def inbox_env(tmp: Path, public: str, **extra: str) -> dict[str, str]:
    """Settings for `inbox` commands and `inbox serve`: a SQLite file in ``tmp``, providers
    pointed at a closed port unless ``extra`` says otherwise."""
    return {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp}/inbox.db", "INBOX_PUBLIC_URL": public,
            "INBOX_SECRET_KEY": "bench", "INBOX_LOG_LEVEL": "warning", "INBOX_TWILIO_API_BASE": "http://127.0.0.1:9",
            "INBOX_GRAPH_API_BASE": "http://127.0.0.1:9", **extra}


def inbox_cli(env: dict[str, str], tmp: Path, *args: str) -> str:
    """Runs an `inbox` command; returns what it printed."""
    return subprocess.run([*CLI, *args], env=env, check=True, capture_output=True, cwd=tmp, text=True).stdout


def create_sms_inbox(env: dict[str, str], tmp: Path) -> int:
    out = inbox_cli(env, tmp, "inbox", "create", "sms", "--name", "bench", "--phone", NUMBER,
                    "--account-sid", ACCOUNT, "--auth-token", TOKEN)
    return int(json.loads(out)["id"])


@contextmanager
def running(cmd: list[str], health_url: str, cwd: Path, env: dict[str, str] | None = None,
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, healthy while the block runs, stopped with SIGTERM after it."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd)
    try:
        wait_healthy(health_url, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()


def serving(env: dict[str, str], tmp: Path, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return running([*CLI, "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz", tmp, env)


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


def make_whatsapp_requests(path: Path, n: int, customers: int) -> list[str]:
    """WhatsApp Cloud API text-message webhooks as Meta posts them, one message each."""
    wamids = []
    with path.open("w") as f:
        for i in range(n):
            wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
            wa_id, user_id = f"1556{i % customers:07d}", f"US.{13491208655302741918 + i % customers}"
            value = {"messaging_product": "whatsapp",
                     "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                     "contacts": [{"profile": {"name": f"Customer {i % customers}"}, "wa_id": wa_id,
                                   "user_id": user_id, "country_code": "US"}],
                     "messages": [{"from": wa_id, "from_user_id": user_id, "id": wamid,
                                   "timestamp": str(1750263773 + i), "type": "text",
                                   "text": {"body": f"benchmark message {i} " + "x" * 100}}]}
            body = json.dumps({"object": "whatsapp_business_account",
                               "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}]},
                              separators=(",", ":"))
            sig = "sha256=" + hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            f.write(f"{sig}\t{body}\n")
            wamids.append(wamid)
    return wamids


@dataclass(frozen=True)
class Channel:
    name: str
    path: str  # the webhook route
    sig_header: str
    content_type: str
    bare_label: str
    inbox_label: str


CHANNELS = {
    "twilio": Channel("twilio", "/webhooks/twilio", "X-Twilio-Signature", "application/x-www-form-urlencoded",
                      "bare Starlette endpoint (ceiling)", "inbox: signed Twilio SMS ingest"),
    "whatsapp": Channel("whatsapp", "/webhooks/whatsapp", "X-Hub-Signature-256", "application/json",
                        "bare endpoint, WhatsApp bodies", "inbox: signed WhatsApp ingest"),
}


def wrk(url: str, requests_file: Path, seconds: int, connections: int, channel: Channel = CHANNELS["twilio"],
        rate: float = 0) -> dict[str, float]:
    """wrk's figures; with ``rate``, each connection pauses connections/rate between its
    requests, which offers about ``rate`` requests a second (a little less, by the time each
    takes) instead of saturating the server."""
    env = {**os.environ, "REQUESTS_FILE": str(requests_file), "PATH_": channel.path, "WRK_THREADS": "2",
           "SIG_HEADER": channel.sig_header, "CONTENT_TYPE": channel.content_type,
           "DELAY_MS": str(int(connections * 1000 / rate)) if rate else "0"}
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          str(HERE / "wrk_replay.lua"), url],
                         env=env, capture_output=True, text=True, check=True).stdout
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
    ap.add_argument("--channel", choices=["twilio", "whatsapp", "both"], default="both")
    ap.add_argument("--rate", type=float, default=0,
                    help="offer about this many requests a second instead of saturating (e.g. 2000)")
    ap.add_argument("--quick", action="store_true", help="5 seconds of Twilio only: a before/after check")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.channel = 5, "twilio"
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = inbox_env(tmp, public)
    channels = ["twilio", "whatsapp"] if args.channel == "both" else [args.channel]
    inbox_ids = {}
    if "twilio" in channels:
        inbox_ids["twilio"] = create_sms_inbox(env, tmp)
    if "whatsapp" in channels:
        out = inbox_cli(env, tmp, "inbox", "create", "whatsapp", "--name", "bench-whatsapp", "--phone-number-id",
                        PHONE_NUMBER_ID, "--access-token", "bench-access-token", "--app-secret", APP_SECRET,
                        "--verify-token", "bench-verify", "--waba-id", WABA_ID)
        inbox_ids["whatsapp"] = int(json.loads(out)["id"])
    # Enough distinct requests that none repeats within the run (each is stored once).
    n = 6000 * args.seconds
    bare_port = free_port()
    (tmp / "bare_app.py").write_text(BARE_APP)
    bare_cmd = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning"]

    print(f"{'server':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name in channels:
        channel = CHANNELS[name]
        reqs = tmp / f"requests-{name}.tsv"
        if name == "twilio":
            make_requests(reqs, public, n, customers=n // 4)  # each customer writes about four times
        else:
            make_whatsapp_requests(reqs, n, customers=n // 4)
        with running(bare_cmd, f"http://127.0.0.1:{bare_port}/", tmp):
            base = wrk(f"http://127.0.0.1:{bare_port}", reqs, args.seconds, args.connections, channel, args.rate)
        with serving(env, tmp, port):
            ours = wrk(public, reqs, args.seconds, args.connections, channel, args.rate)
        db = sqlite3.connect(tmp / "inbox.db")
        stored, distinct = db.execute("SELECT count(*), count(DISTINCT provider_message_id) FROM message "
                                      "WHERE inbox_id = ?", (inbox_ids[name],)).fetchone()
        db.close()
        ok = ours["total"] - ours["errors"]

        print(f"{channel.bare_label:<34}{base['rps']:>10.0f}{base['p50']:>10.2f}{base['p99']:>10.2f}"
              f"{base['errors']:>9}")
        print(f"{channel.inbox_label:<34}{ours['rps']:>10.0f}{ours['p50']:>10.2f}{ours['p99']:>10.2f}"
              f"{ours['errors']:>9}")
        print(f"ratio: {ours['rps'] / base['rps']:.1%} of the bare endpoint")
        print(f"stored: {stored} messages, {distinct} distinct; {ok} acknowledged with 2xx "
              f"({'OK' if stored == distinct and stored >= min(ok, n) else 'MISMATCH'})")


if __name__ == "__main__":
    main()
