"""The real ``inbox`` command in its own process: the CLI, and kill -9 under load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER
from tests.fakes.twilio import FakeTwilio
from tests.helpers.live import EventStream
from tests.helpers.server import free_port
from tests.helpers.twilio import inbound_params, signed

INBOX = [sys.executable, "-m", "inbox.cli"]


class Proc:
    def __init__(self, tmp: Path, twilio_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp}/inbox.db", "INBOX_PUBLIC_URL": self.url,
                    "INBOX_SECRET_KEY": "k", "INBOX_TWILIO_API_BASE": twilio_url, "INBOX_LOG_LEVEL": "warning",
                    "INBOX_RETRY_BASE_SECONDS": "0.05"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.cwd = tmp

    def cli(self, *args: str) -> str:
        out = subprocess.run([*INBOX, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    async def start(self, log: Path | None = None, **env: str) -> None:
        out = open(log, "ab") if log is not None else None  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen([*INBOX, "serve", "--port", str(self.port)], env={**self.env, **env},
                                     cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT if out else None)
        if out is not None:
            out.close()
        async with httpx.AsyncClient() as client:
            for _ in range(400):  # up to ~20 s for the process to import and bind
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.proc.poll() is None, "inbox serve exited"
                await asyncio.sleep(0.05)
        raise TimeoutError("inbox serve did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
async def proc(tmp_path: Path, fake_twilio: FakeTwilio) -> AsyncIterator[Proc]:
    p = Proc(tmp_path, fake_twilio.url)  # type: ignore[attr-defined]
    yield p
    p.stop()


def _seed(p: Proc) -> str:
    user = json.loads(p.cli("user", "create", "--email", "Admin@Example.com", "--name", "Admin", "--role", "admin",
                            "--password", "a long password"))
    assert user["email"] == "admin@example.com" and user["role"] == "admin"
    token = p.cli("token", "create", "--email", "admin@example.com")
    assert token.strip().startswith("inbx_") and token.count("\n") == 1  # only the token on stdout
    inbox = json.loads(p.cli("inbox", "create", "sms", "--name", "Support", "--phone", "+1 555 000 1111",
                             "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN))
    assert inbox["address"] == OUR_NUMBER and inbox["settings"]["auth_token"] == "********"
    return token.strip()


async def test_acknowledged_webhooks_survive_kill_9(proc: Proc) -> None:
    token = _seed(proc)
    await proc.start()
    acked: list[str] = []
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as client:
        async def one(i: int) -> None:
            params = inbound_params(OUR_NUMBER, f"+1555200{i:04d}", f"message {i}", AccountSid=ACCOUNT_SID)
            try:
                r = await client.post("/webhooks/twilio", **signed(proc.url, "/webhooks/twilio", params, AUTH_TOKEN))
            except httpx.TransportError:
                return  # not acknowledged: Twilio would retry it
            if r.status_code == 200:
                acked.append(params["MessageSid"])
            if len(acked) == 100:
                proc.kill9()  # the moment the 100th is acknowledged, with others in flight
        await asyncio.gather(*(one(i) for i in range(150)))
    assert len(acked) >= 100

    await proc.start()
    async with httpx.AsyncClient(base_url=proc.url, headers={"Authorization": f"Bearer {token}"}) as client:
        stored: list[str] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/conversations", params=params)).json()
            for conv in page["items"]:
                items = (await client.get(f"/api/conversations/{conv['id']}/timeline")).json()["items"]
                stored += [m["provider_message_id"] for m in items if m["type"] == "message"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert set(acked) <= set(stored)
    assert len(stored) == len(set(stored))  # none twice


async def test_replies_queued_before_a_crash_are_sent_after_restart_exactly_once(proc: Proc,
                                                                              fake_twilio: FakeTwilio) -> None:
    token = _seed(proc)
    await proc.start(INBOX_RUN_WORKER="0")  # queue, but do not send yet
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=proc.url, headers=headers, timeout=10) as client:
        params = inbound_params(OUR_NUMBER, "+15557654321", "hello", AccountSid=ACCOUNT_SID)
        await client.post("/webhooks/twilio", **signed(proc.url, "/webhooks/twilio", params, AUTH_TOKEN))
        conv = (await client.get("/api/conversations")).json()["items"][0]
        for text in ("first", "second", "third"):
            r = await client.post(f"/api/conversations/{conv['id']}/messages", json={"text": text})
            assert r.status_code == 202
    proc.kill9()
    assert fake_twilio.sent == []
    await proc.start()
    sent = await fake_twilio.wait_for_sent(3)
    assert sorted(m["body"] for m in sent) == ["first", "second", "third"]
    # The acknowledgements, replayed from the start of the event log (they may predate the socket).
    stream = await EventStream.connect(proc.url, token, after=0)
    acked: dict[int, str] = {}
    while len(acked) < 3:
        ev = await stream.next(lambda e: e["type"] == "message.updated")
        acked[ev["data"]["message"]["id"]] = ev["data"]["message"]["provider_message_id"]
    await stream.close()
    assert sorted(acked.values()) == sorted(m["sid"] for m in sent)
    proc.stop()
    await proc.start()  # and a second restart sends nothing again
    async with httpx.AsyncClient(base_url=proc.url, headers=headers) as client:
        r = await client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "fourth"})
        assert r.status_code == 202
    await fake_twilio.wait_for_sent(4)
    assert [m["body"] for m in fake_twilio.sent].count("first") == 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_it_creates_is_private_and_the_log_has_no_library_chatter(tmp_path: Path) -> None:
    """From an empty directory with the defaults (./data/inbox.db, ./data/secret_key,
    ./data/media) under the usual umask 022: every file 0600 and every folder 0700, the
    database's -wal and -shm included. And at the info level, no alembic plugin lines and no
    aiosmtpd session lines (they would put every sender's address in the log)."""
    proc = Proc(tmp_path, "http://127.0.0.1:9")
    for name in ("INBOX_DATABASE_URL", "INBOX_SECRET_KEY"):
        del proc.env[name]
    smtp_port = free_port()
    proc.env.update(INBOX_LOG_LEVEL="info", INBOX_SMTP_LISTEN=f"127.0.0.1:{smtp_port}")
    old_umask = os.umask(0o022)
    try:
        proc.cli("inbox", "create", "email", "--name", "Support", "--address", "support@example.com")
        await proc.start(log=tmp_path / "serve.log")
    finally:
        os.umask(old_umask)
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "Customer <customer@example.net>", "support@example.com", "Hi"
        mail.set_content("A photo of the damage.")
        mail.add_attachment(b"\x89PNG\r\n\x1a\n" + os.urandom(64), maintype="image", subtype="png",
                            filename="damage.png")

        def deliver() -> None:  # the receiver answers 250 once the mail and its image are stored
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
                smtp.send_message(mail)
        await asyncio.to_thread(deliver)

        data = tmp_path / "data"
        files = [data / "inbox.db", data / "inbox.db-wal", data / "inbox.db-shm", data / "secret_key",
                 *(f for f in (data / "media").rglob("*") if f.is_file())]
        folders = [data, data / "media", *(f for f in (data / "media").rglob("*") if f.is_dir())]
        assert len(files) == 5 and len(folders) == 4  # the image: media/ab/cd/<sha256>.png
        assert {str(f.relative_to(tmp_path)): oct(_mode(f)) for f in files} == \
            {str(f.relative_to(tmp_path)): "0o600" for f in files}
        assert {str(f.relative_to(tmp_path)): oct(_mode(f)) for f in folders} == \
            {str(f.relative_to(tmp_path)): "0o700" for f in folders}
    finally:
        proc.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "Application startup complete" in log  # the info level is in the log
    for chatter in ("setup plugin", "Context impl", "Will assume", "Peer:", "connection lost", " sender: ",
                    " recip: ", "handling connection"):
        assert chatter not in log, chatter


async def _read_all(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except (ConnectionResetError, BrokenPipeError):  # refused while the client was still sending
        # (a reset, or a broken pipe when our unsent bytes met the closed socket): closed all the same
        return b""


async def test_request_heads_are_bounded_in_size_and_in_time(tmp_path: Path) -> None:
    proc = Proc(tmp_path, "http://127.0.0.1:9")
    await proc.start(INBOX_HEADER_TIMEOUT_SECONDS="1")
    try:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        # A header line over 64 KiB that never ends: answered 431 at once, not buffered on.
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(head + b"X-Long: " + b"a" * 70_000)
        assert (await _read_all(reader, 5)).startswith(b"HTTP/1.1 431 ")
        writer.close()
        # The review's 2 MB header line, complete: never reaches the app.
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(head + b"X-Long: " + b"a" * 2_000_000 + b"\r\nConnection: close\r\n\r\n")
        answer = await _read_all(reader, 5)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
        writer.close()
        # 60 KB of headers, and a body bigger than the limit in the same reads, are fine.
        async with httpx.AsyncClient(base_url=proc.url) as client:
            assert (await client.get("/healthz", headers={"X-Big": "b" * 60_000})).status_code == 200
            assert (await client.post("/login", content=b"email=x&password=" + b"p" * 200_000,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
                    ).status_code != 431

        # A connection that sends nothing, and one that trickles its head after a first request
        # (keep-alive), are answered 408 and closed after the second.
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", proc.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(head + b"\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 10)
        assert first.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        writer.write(head[:1])

        async def trickle() -> None:
            for byte in (head[1:] + b"X-Slow: " + b"s" * 1000):
                writer.write(bytes([byte]))
                await asyncio.sleep(0.1)  # the client's pace, not a wait for the server
        trickler = asyncio.create_task(trickle())
        answer = await _read_all(reader, 10)
        elapsed = time.monotonic() - started
        trickler.cancel()
        assert answer.startswith(b"HTTP/1.1 408 ") and 0.9 < elapsed < 5
        assert (await _read_all(idle_reader, 5)).startswith(b"HTTP/1.1 408 ")
        writer.close()
        idle_writer.close()
        async with httpx.AsyncClient(base_url=proc.url) as client:
            assert (await client.get("/healthz")).status_code == 200
    finally:
        proc.stop()
