"""The real ``inbox`` command in its own process: the CLI, and kill -9 under load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
        self.stderr: Any = None  # where the server's log goes: a file to read it, or inherited

    def cli(self, *args: str) -> str:
        out = subprocess.run([*INBOX, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    async def start(self, **env: str) -> None:
        self.proc = subprocess.Popen([*INBOX, "serve", "--port", str(self.port)], env={**self.env, **env},
                                     cwd=self.cwd, stderr=self.stderr)
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
