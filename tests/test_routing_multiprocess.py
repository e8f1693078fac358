"""Routing across processes: two real `inbox serve` on one PostgreSQL database with the
Redis bus, each running its routing loop, each holding some of the agents' sockets.

What must hold: an assignment is an atomic claim (a burst of customers into both
processes at once gives each conversation one routing assignment, and no agent more than
their capacity, though both processes decide); presence is shared (an agent whose socket
is on one process is online for a lead on the other, pushed as agent.presence_changed,
and a socket held on the other process keeps them online when the first closes).

Every wait is for an event with a timeout; the one wait for an absence (no assignment
beyond capacity) is bounded and spans several routing passes of each process.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox import actions, compose
from inbox.actions.inboxes import setup_inbox
from inbox.config import Settings
from inbox.domain.credentials import hash_password
from inbox.domain.tables import CONV_EVENTS, CONVERSATIONS
from inbox.storage.db import Database, Tx
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, new_database
from tests.fakes.twilio import FakeTwilio
from tests.helpers.live import EventStream
from tests.helpers.twilio import inbound_params, signed
from tests.test_multiprocess import Cluster
from tests.test_process import Proc

INTERVAL = 0.5  # INBOX_ROUTING_INTERVAL_SECONDS: a pass at least this often in each process
GRACE = 2.0  # INBOX_PRESENCE_GRACE_SECONDS of the presence test
CAPACITY = 3
AGENTS = 10
CUSTOMERS = 40
LATER = 20  # customers of the second burst
QUIET = 4 * INTERVAL  # a bounded wait for an absence: several passes of each process


@dataclass
class Deployment:
    """Two serving processes of one deployment, seeded: an SMS inbox that routes
    (balanced, capacity CAPACITY), an admin, a lead and agents with API tokens."""

    a: Proc
    b: Proc
    url: str  # the database
    inbox_id: int
    tokens: dict[str, str]
    ids: dict[str, int]
    logs: list[Path]
    streams: list[EventStream] = field(default_factory=list)
    _drains: dict[int, asyncio.Task[Any]] = field(default_factory=dict)

    async def connect(self, proc: Proc, who: str, *, hold: bool = False) -> EventStream:
        """A socket of ``who`` on ``proc``, closed at the end if the test has not. One only
        held (an agent being present) is read all along by a task of its own: a client
        that stops reading stops reading its close handshake too (websockets' flow control)."""
        stream = await EventStream.connect(proc.url, self.tokens[who])
        self.streams.append(stream)
        if hold:
            self._drains[id(stream)] = asyncio.create_task(stream.next(lambda e: False, timeout=3600))
        return stream

    async def close(self, stream: EventStream) -> None:
        if (drain := self._drains.pop(id(stream), None)) is not None:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
        await stream.close()

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs if p.exists())


async def _seed(url: str, twilio_url: str, agents: int) -> tuple[int, dict[str, str], dict[str, int]]:
    """Seeded in this process, before the servers start (so both load the inbox at once)."""
    settings = Settings(database_url=url, secret_key="k", twilio_api_base=twilio_url)
    db, registry = Database(url), compose.channels(settings)
    ctx = compose.context(settings, db, registry)
    password = hash_password("correct horse battery")
    people = [("admin", "admin"), ("lead", "lead")] + [(f"agent{i}", "agent") for i in range(agents)]

    def create(tx: Tx) -> tuple[dict[str, str], dict[str, int]]:
        tokens, ids = {}, {}
        for who, role in people:
            user = actions.create_user(tx, email=f"{who}@example.com", name=who.capitalize(), role=role,
                                       password_hash=password)
            ids[who], tokens[who] = user["id"], actions.create_token(tx, user["id"], "test")
        return tokens, ids
    try:
        inbox = await setup_inbox(ctx, registry, "sms", "Support", {
            "phone_number": OUR_NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
        await db.write(lambda tx: actions.set_routing(tx, "inbox", inbox["id"],
                                                      {"mode": "balanced", "capacity": CAPACITY}))
        tokens, ids = await db.write(create)
    finally:
        await registry.aclose()
        await asyncio.to_thread(db.stop)
    return inbox["id"], tokens, ids


@pytest.fixture
async def deploy(tmp_path: Path, fake_twilio: FakeTwilio, pg_cluster: str,
                 redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    """``await deploy(agents, **env)``: the two processes, started at once with ``env``."""
    clusters: list[Cluster] = []
    deployments: list[Deployment] = []

    async def start(agents: int, **env: str) -> Deployment:
        url = new_database(pg_cluster)
        cluster = Cluster(tmp_path, fake_twilio.url, url, redis_url)  # type: ignore[attr-defined]
        clusters.append(cluster)
        inbox_id, tokens, ids = await _seed(url, fake_twilio.url, agents)  # type: ignore[attr-defined]
        a, b = cluster.server(), cluster.server()
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        env = {"INBOX_ROUTING_INTERVAL_SECONDS": str(INTERVAL), "INBOX_LOG_LEVEL": "info", **env}
        await asyncio.gather(a.start(log=logs[0], **env), b.start(log=logs[1], **env))
        deployments.append(Deployment(a, b, url, inbox_id, tokens, ids, logs))
        return deployments[-1]
    yield start
    for dep in deployments:
        for stream in dep.streams:
            await dep.close(stream)
    for cluster in clusters:
        await cluster.stop()


async def _sms(client: httpx.AsyncClient, proc: Proc, from_: str, body: str) -> None:
    params = inbound_params(OUR_NUMBER, from_, body, AccountSid=ACCOUNT_SID)
    r = await client.post(proc.url + "/webhooks/twilio", **signed(proc.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 200, r.text


def _routed(e: dict[str, Any]) -> bool:
    """A conversation given to an agent by routing."""
    return (e["type"] == "conversation.assigned" and "routing" in e["data"]
            and e["data"]["conversation"]["assignee_id"] is not None)


def _presence(user_id: int, status: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def match(e: dict[str, Any]) -> bool:
        return (e["type"] == "agent.presence_changed" and e["data"]["user_id"] == user_id
                and (status is None or e["data"]["status"] == status))
    return match


async def _none_within(stream: EventStream, match: Callable[[dict[str, Any]], bool], seconds: float) -> None:
    """No matching event arrives within ``seconds`` (bounded: the wait for an absence)."""
    try:
        event = await stream.next(match, timeout=seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event: {event}")


def _read(url: str) -> tuple[list[Any], list[Any]]:
    """From the database: the routing assignments logged, and the conversations."""
    db = Database(url)
    try:
        events = db.read_sync(lambda c: c.execute(select(CONV_EVENTS.c.conversation_id, CONV_EVENTS.c.kind,
                                                         CONV_EVENTS.c.data)).all())
        convs = db.read_sync(lambda c: c.execute(select(CONVERSATIONS.c.id, CONVERSATIONS.c.assignee_id,
                                                        CONVERSATIONS.c.status, CONVERSATIONS.c.assigned_by)).all())
    finally:
        db.engine.dispose()
    return [e for e in events if e.kind == "assigned" and e.data.get("by") == "routing"], list(convs)


def _check_claims(dep: Deployment, agent_ids: set[int], *, events: int, assigned: int, waiting: int) -> None:
    claims, convs = _read(dep.url)
    per_conv = Counter(e.conversation_id for e in claims)
    twice = {cid: n for cid, n in per_conv.items() if n > 1}
    assert not twice, f"conversations assigned by routing more than once: {twice}"
    assert len(claims) == events, (len(claims), events)
    open_load = Counter(c.assignee_id for c in convs if c.status == "open" and c.assignee_id is not None)
    over = {uid: n for uid, n in open_load.items() if n > CAPACITY}
    assert not over, f"agents over capacity {CAPACITY}: {over}"
    assert set(open_load) <= agent_ids
    assert sum(open_load.values()) == assigned
    assert len([c for c in convs if c.status == "open" and c.assignee_id is None]) == waiting


async def test_a_burst_into_two_processes_assigns_each_conversation_once_within_capacity(deploy: Any) -> None:
    dep: Deployment = await deploy(AGENTS)
    agents = [f"agent{i}" for i in range(AGENTS)]
    agent_ids = {dep.ids[who] for who in agents}
    # Watchers: the lead on A, the admin on B. Nobody holds sockets on both processes here:
    # each pass refreshes the rows of its own connected users, and a row both refresh
    # would make the passes wait for each other whatever the engine does.
    watchers = [await dep.connect(dep.a, "lead"), await dep.connect(dep.b, "admin")]
    seen: list[Counter[int]] = [Counter(), Counter()]  # routing assignments per conversation, per watcher

    async def until_routed(n: int) -> None:
        for stream, got in zip(watchers, seen):  # each hears of every one, whoever decided
            while sum(got.values()) < n:
                ev = await stream.next(_routed, timeout=20)
                got[ev["data"]["conversation"]["id"]] += 1
            assert max(got.values()) == 1, got

    def customers(client: httpx.AsyncClient, numbers: range) -> Any:
        """Customers writing at once, half into each process."""
        return asyncio.gather(*(_sms(client, (dep.a, dep.b)[n % 2], f"+1555300{n:04d}", f"help {n}")
                                for n in numbers))

    async with httpx.AsyncClient(timeout=30) as client:
        # A burst of customers, half into each process, while nobody is online: a queue.
        # Then the agents all come at once, half on each process (each process sees only
        # its own sockets; they meet in the database): both processes route the queue at
        # the same moment, each as its agents arrive, and capacity runs out.
        await customers(client, range(CUSTOMERS))
        await asyncio.gather(*(dep.connect((dep.a, dep.b)[i % 2], who, hold=True) for i, who in enumerate(agents)))
        r = await client.get(dep.b.url + "/api/agents", headers={"Authorization": f"Bearer {dep.tokens['lead']}"})
        assert agent_ids <= {a["id"] for a in r.json()["items"] if a["status"] == "online"}, r.text
        full = min(CUSTOMERS, AGENTS * CAPACITY)
        await until_routed(full)
        await _none_within(watchers[0], _routed, QUIET)  # the rest wait: nobody has room
        _check_claims(dep, agent_ids, events=full, assigned=full, waiting=CUSTOMERS - full)
        _, convs = _read(dep.url)
        assert Counter(c.assignee_id for c in convs if c.assignee_id) == dict.fromkeys(agent_ids, CAPACITY)

        # Room for one each: agents on both processes resolve one at the same moment as
        # another burst of customers writes into both; every process wakes on all of it.
        # Exactly that many waiting conversations are assigned, each to an agent with room.
        freed = agents[:AGENTS // 2]
        resolved = [next(c.id for c in convs if c.assignee_id == dep.ids[who]) for who in freed]

        async def resolve(i: int, who: str, conversation_id: int) -> None:
            r = await client.post((dep.a, dep.b)[i % 2].url + f"/api/conversations/{conversation_id}/status",
                                  json={"status": "resolved"}, headers={"Authorization": f"Bearer {dep.tokens[who]}"})
            assert r.status_code == 200, r.text
        await asyncio.gather(*(resolve(i, who, cid) for i, (who, cid) in enumerate(zip(freed, resolved))),
                             customers(client, range(CUSTOMERS, CUSTOMERS + LATER)))
        await until_routed(full + len(freed))
        await _none_within(watchers[0], _routed, QUIET)
        _check_claims(dep, agent_ids, events=full + len(freed), assigned=full,
                      waiting=CUSTOMERS + LATER - full - len(freed))
        _, convs = _read(dep.url)
        open_load = Counter(c.assignee_id for c in convs if c.assignee_id and c.status == "open")
        assert open_load == dict.fromkeys(agent_ids, CAPACITY)

    logs = dep.log_text()
    assert "routing pass failed" not in logs, logs
    assert "Traceback" not in logs, logs


async def test_presence_is_shared_by_two_processes_and_a_socket_on_either_keeps_an_agent_online(
        deploy: Any) -> None:
    dep: Deployment = await deploy(2, INBOX_PRESENCE_GRACE_SECONDS=str(GRACE))
    agent, probe = dep.ids["agent0"], dep.ids["agent1"]
    lead_headers = {"Authorization": f"Bearer {dep.tokens['lead']}"}
    lead = await dep.connect(dep.b, "lead")  # the lead is on process B
    async with httpx.AsyncClient(base_url=dep.b.url, headers=lead_headers, timeout=10) as on_b:
        # The agent's socket is on process A: B's lead hears of it through Redis.
        on_a = await dep.connect(dep.a, "agent0", hold=True)
        came = await lead.next(_presence(agent))
        assert (came["data"]["status"], came["data"]["previous"], came["data"]["cause"]) == \
            ("online", "offline", "back")
        agents = {a["id"]: a for a in (await on_b.get("/api/agents")).json()["items"]}
        assert agents[agent]["status"] == "online"

        # A second socket on B, then the one on A closes: B keeps them seen (every pass),
        # so A's passes do not make them offline after the grace period. The probe is an
        # agent whose only socket, on A, closes just after: once the grace period has
        # made the probe offline, it has passed for the agent's A socket too.
        also_on_b = await dep.connect(dep.b, "agent0", hold=True)
        probing = await dep.connect(dep.a, "agent1", hold=True)
        await lead.next(_presence(probe, "online"))
        await dep.close(on_a)
        await dep.close(probing)
        gone = await lead.next(_presence(probe), timeout=10 * GRACE)
        assert (gone["data"]["status"], gone["data"]["cause"]) == ("offline", "disconnected")
        assert [e for e in lead.seen if _presence(agent)(e)] == [came]  # the agent did not flap
        agents = {a["id"]: a for a in (await on_b.get("/api/agents")).json()["items"]}
        assert (agents[agent]["status"], agents[probe]["status"]) == ("online", "offline")

        # Their last socket (on B) closes: offline after the grace period, and not before.
        closing = datetime.now(timezone.utc)
        await dep.close(also_on_b)
        left = await lead.next(_presence(agent), timeout=10 * GRACE)
        assert (left["data"]["status"], left["data"]["cause"]) == ("offline", "disconnected")
        assert datetime.fromisoformat(left["data"]["since"]) >= closing + timedelta(seconds=GRACE)
        history = (await on_b.get(f"/api/agents/{agent}/presence")).json()["items"]
        assert [(h["status"], h["cause"]) for h in history] == [("offline", "disconnected"), ("online", "back")]
    logs = dep.log_text()
    assert "routing pass failed" not in logs, logs
    assert "Traceback" not in logs, logs
