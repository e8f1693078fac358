"""Several real processes sharing PostgreSQL and Redis: two `inbox serve` on different
ports, and two `inbox worker` sending to the fake Twilio, one of them killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, new_database
from tests.fakes.twilio import Failure, FakeTwilio
from tests.helpers.live import EventStream
from tests.helpers.twilio import inbound_params, signed
from tests.test_process import INBOX, Proc, _seed

REPLIES = 200


class Cluster:
    """Processes of one deployment: same database, same Redis, same fake provider."""

    def __init__(self, tmp: Path, twilio_url: str, database_url: str, redis_url: str) -> None:
        self.tmp, self.twilio_url = tmp, twilio_url
        self.env = {"INBOX_DATABASE_URL": database_url, "INBOX_REDIS_URL": redis_url,
                    "INBOX_SEND_TIMEOUT_SECONDS": "1", "INBOX_MAX_ATTEMPTS": "1000",
                    "INBOX_RETRY_BASE_SECONDS": "0.05", "INBOX_RETRY_MAX_SECONDS": "0.2"}
        self.servers: list[Proc] = []
        self.workers: list[asyncio.subprocess.Process] = []
        self._drains: list[asyncio.Task[None]] = []

    def server(self) -> Proc:
        proc = Proc(self.tmp, self.twilio_url)
        proc.env.update(self.env)
        self.servers.append(proc)
        return proc

    async def worker(self, name: str) -> asyncio.subprocess.Process:
        """An `inbox worker`, returned once it says it runs. Its name goes into the status
        callback URL of what it sends, so the fake provider's records tell who sent what."""
        public_url = self.servers[0].url + f"/{name}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inbox.cli", "worker", cwd=self.tmp, stderr=asyncio.subprocess.PIPE,
            env={**self.servers[0].env, "INBOX_LOG_LEVEL": "info", "INBOX_PUBLIC_URL": public_url})
        self.workers.append(proc)
        assert proc.stderr is not None
        while b"delivery worker running" not in (line := await asyncio.wait_for(proc.stderr.readline(), 30)):
            assert line, "inbox worker exited before running"
        self._drains.append(asyncio.create_task(_drain(proc.stderr)))  # its log must not fill the pipe
        return proc

    async def stop(self) -> None:
        for proc in self.servers:
            proc.stop()
        for worker in self.workers:
            if worker.returncode is None:
                worker.terminate()
                await asyncio.wait_for(worker.wait(), 10)
        for task in self._drains:
            task.cancel()


async def _until(fake: FakeTwilio, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Await a condition on the fake, re-checked whenever one of its requests completes."""
    async with fake._changed:
        await asyncio.wait_for(fake._changed.wait_for(condition), timeout)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


@pytest.fixture
async def cluster(tmp_path: Path, fake_twilio: FakeTwilio, pg_cluster: str, redis_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path, fake_twilio.url, new_database(pg_cluster), redis_url)  # type: ignore[attr-defined]
    yield c
    await c.stop()


async def _sms(proc: Proc, client: httpx.AsyncClient, from_: str, body: str) -> None:
    params = inbound_params(OUR_NUMBER, from_, body, AccountSid=ACCOUNT_SID)
    r = await client.post(proc.url + "/webhooks/twilio", **signed(proc.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 200, r.text


async def test_a_webhook_into_one_process_is_seen_live_and_replayed_on_the_other(cluster: Cluster) -> None:
    one, two = cluster.server(), cluster.server()
    token = _seed(one)
    await one.start()
    await two.start()
    async with httpx.AsyncClient(timeout=10) as client:
        on_two = await EventStream.connect(two.url, token)
        await _sms(one, client, "+15557654321", "into process one")
        seen = await on_two.next(lambda e: e["type"] == "message.created")
        assert seen["data"]["message"]["text"] == "into process one"
        await on_two.close()

        # Missed while disconnected from two, then resumed on one: replayed from the database.
        await _sms(two, client, "+15557654321", "into process two")
        await _sms(one, client, "+15551112222", "into process one again")
        resumed = await EventStream.connect(one.url, token, after=seen["id"])
        texts = [(await resumed.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"]
                 for _ in range(2)]
        assert texts == ["into process two", "into process one again"]
        ids = [e["id"] for e in resumed.seen if e["id"] is not None]
        assert ids == sorted(set(ids)) and ids[0] > seen["id"]
        await resumed.close()


async def test_replies_queued_across_two_workers_are_each_sent_once_though_one_is_killed(
        cluster: Cluster, fake_twilio: FakeTwilio) -> None:
    web = cluster.server()
    token = _seed(web)
    await web.start(INBOX_RUN_WORKER="0")  # only the two workers below send
    first, second = await cluster.worker("first"), await cluster.worker("second")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=web.url, headers=headers, timeout=30) as client:
        await _sms(web, client, "+15557654321", "hello")
        conv = (await client.get("/api/conversations")).json()["items"][0]
        stream = await EventStream.connect(web.url, token)
        acked: set[int] = set()  # messages whose send the provider acknowledged, as the web process hears

        async def until_acked(n: int, timeout: float) -> None:
            while len(acked) < n:
                ev = await stream.next(lambda e: e["type"] == "message.updated", timeout=timeout)
                if ev["data"]["message"]["provider_message_id"]:
                    acked.add(ev["data"]["message"]["id"])

        async def reply(i: int, gate: asyncio.Semaphore) -> None:
            async with gate:
                r = await client.post(f"/api/conversations/{conv['id']}/messages", json={"text": f"reply {i}"})
                assert r.status_code == 202, r.text
        gate = asyncio.Semaphore(8)
        posting = asyncio.gather(*(reply(i, gate) for i in range(REPLIES)))

        await fake_twilio.wait_for_sent(REPLIES // 4, timeout=30)
        # Mid-run: hold every new request unanswered and unrecorded, let what the provider
        # already accepted be recorded, then kill a worker. It dies holding leased jobs
        # (and requests the provider never accepted); nothing it sent is left unrecorded.
        held = 100_000
        fake_twilio.failures.extend([Failure(503, 20500, "held", hang=True)] * held)
        # Settled when every request that reached the fake was either accepted or held.
        await _until(fake_twilio, lambda: fake_twilio.attempts == len(fake_twilio.sent) + held
                     - len(fake_twilio.failures))
        await until_acked(len(fake_twilio.sent), timeout=10)

        by_second = sum("/second/" in m["status_callback"] for m in fake_twilio.sent)
        assert 0 < by_second < len(fake_twilio.sent)  # both were sending
        second.send_signal(signal.SIGKILL)
        await second.wait()
        fake_twilio.failures.clear()
        fake_twilio.release.set()  # held requests now fail (503) and are retried by the survivor

        await posting
        sent = await fake_twilio.wait_for_sent(REPLIES, timeout=60)
        await until_acked(REPLIES, timeout=30)
        bodies = sorted(m["body"] for m in sent)
        assert bodies == sorted(f"reply {i}" for i in range(REPLIES))  # every one, none twice

        assert len(acked) == REPLIES  # and each recorded as sent, its provider id stored
        assert sum("/second/" in m["status_callback"] for m in sent) == by_second  # the dead sent no more
        assert first.returncode is None
        assert first.returncode is None  # the survivor did the rest
        await stream.close()


async def test_serve_with_two_workers_behind_one_port(cluster: Cluster) -> None:
    web = cluster.server()
    token = _seed(web)
    web.proc = subprocess.Popen([*INBOX, "serve", "--port", str(web.port), "--workers", "2"], env=web.env,
                                cwd=web.cwd)
    async with httpx.AsyncClient(timeout=10) as client:
        await _healthy(client, web)
        streams = [await EventStream.connect(web.url, token) for _ in range(4)]  # likely spread over both processes
        await _sms(web, client, "+15557654321", "to whichever process")
        for stream in streams:
            ev = await stream.next(lambda e: e["type"] == "message.created")
            assert ev["data"]["message"]["text"] == "to whichever process"
            await stream.close()


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    out = subprocess.run([*INBOX, "serve", "--workers", "2"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=60, env={**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                                          "INBOX_SECRET_KEY": "k"})
    assert out.returncode == 1
    assert "--workers > 1 needs PostgreSQL" in out.stderr


async def _healthy(client: httpx.AsyncClient, proc: Proc) -> None:
    assert proc.proc is not None
    for _ in range(400):  # up to ~20 s for the processes to import and bind (nothing to await)
        try:
            if (await client.get(proc.url + "/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.proc.poll() is None, "inbox serve exited"
        await asyncio.sleep(0.05)
    raise TimeoutError("inbox serve --workers 2 did not become healthy")
