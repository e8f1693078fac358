"""Shared fixtures: a real SQLite file per test, the app under a real uvicorn on
127.0.0.1, a fake Twilio API, and seeded users with API tokens.

``database_engine`` picks the storage of the ``live`` app: "sqlite" (a file per test), or
"postgres" (a fresh database per test, cloned from one migrated template, on a cluster
started once per session, with the Redis event bus). tests/test_postgres.py runs a
subset of the suite with it set to "postgres".
"""

from __future__ import annotations

import ipaddress
import functools
import itertools
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from inbox import actions
from inbox.config import Settings
from inbox.domain.clock import MovableClock
from inbox.domain.credentials import hash_password
from inbox.storage.db import make_engine
from inbox.storage.migrate import upgrade
from tests.fakes.twilio import FakeTwilio
from tests.helpers import servers
from tests.helpers.live import EventStream
from tests.helpers.server import free_port, serve
from tests.helpers.twilio import inbound_params, signed
from ui.app import create_app

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
OUR_NUMBER = "+15550001111"


# -- block the outside network: any unplanned request fails the test at once -------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: Any) -> None:
    if isinstance(address, tuple):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise ConnectionRefusedError(f"tests may not reach {host}: only 127.0.0.1")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _offline() -> Any:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# -- PostgreSQL and Redis, started on first use --------------------------------------------

TEMPLATE = "inbox_template"
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """The admin URL of a throw-away cluster, its template database migrated to head."""
    with servers.postgres() as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        engine = make_engine(database_url(admin_url, TEMPLATE))
        upgrade(engine)
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
        yield admin_url


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def new_database(admin_url: str, template: str = TEMPLATE) -> str:
    """A fresh database (migrated when cloned from the template); returns its URL."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return database_url(admin_url, name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with servers.redis() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no tables) on each engine in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/empty.db"
    else:
        url = new_database(request.getfixturevalue("pg_cluster"), template="template0")
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def database_engine() -> str:
    """sqlite or postgres: override (or parametrize) by name to run a test on PostgreSQL."""
    return "sqlite"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once a run, copied for each test that uses one
    (migrating takes 0.4 s a test); the copy's start finds it at head."""
    path = tmp_path_factory.mktemp("template") / "inbox.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def storage(request: pytest.FixtureRequest, database_engine: str, tmp_path: Path) -> dict[str, str]:
    """The settings that pick the engine: database URL and, for PostgreSQL, the Redis bus."""
    if database_engine == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "inbox.db")
        return {"database_url": f"sqlite:///{tmp_path}/inbox.db"}
    assert database_engine == "postgres", database_engine
    admin_url = request.getfixturevalue("pg_cluster")
    return {"database_url": new_database(admin_url), "redis_url": request.getfixturevalue("redis_url")}


# -- the system under test ---------------------------------------------------------------

@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio({ACCOUNT_SID: AUTH_TOKEN})
    async with serve(fake.app) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake
        fake.release.set()


def make_settings(tmp_path: Path, twilio_url: str, port: int, **overrides: Any) -> Settings:
    base = Settings(database_url=f"sqlite:///{tmp_path}/inbox.db", public_url=f"http://127.0.0.1:{port}",
                    secret_key="test-secret", twilio_api_base=twilio_url, retry_base_seconds=0.05,
                    retry_max_seconds=0.2, max_attempts=4, send_timeout_seconds=2.0, media_dir=str(tmp_path / "media"),
                    email_dkim_resolver="off",  # no DNS from tests: those of DKIM point it at a fake
                    webhooks_allow_private=True)  # outbound webhooks' receivers are on 127.0.0.1
    return replace(base, **overrides)


@dataclass
class Live:
    """A running inbox with an admin, a lead and two agents, and one SMS inbox."""

    url: str
    app: Any
    client: httpx.AsyncClient
    tokens: dict[str, str]
    users: dict[str, dict[str, Any]]
    inbox: dict[str, Any]
    fake: FakeTwilio

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def sms(self, from_: str, body: str, **extra: str) -> httpx.Response:
        params = inbound_params(OUR_NUMBER, from_, body, AccountSid=ACCOUNT_SID, **extra)
        return await self.client.post("/webhooks/twilio", **signed(self.url, "/webhooks/twilio", params, AUTH_TOKEN))

    async def status_callback(self, sid: str, status: str, **extra: str) -> httpx.Response:
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                  "AccountSid": ACCOUNT_SID, "From": OUR_NUMBER, "To": extra.pop("To", "+15557654321"),
                  "ApiVersion": "2010-04-01", **extra}
        path = "/webhooks/twilio/status"
        return await self.client.post(path, **signed(self.url, path, params, AUTH_TOKEN))

    async def events(self, who: str = "agent", after: int | None = None) -> EventStream:
        return await EventStream.connect(self.url, self.tokens[who], after)

    async def get(self, path: str, who: str = "agent", **kw: Any) -> Any:
        r = await self.client.get(path, headers=self.as_(who), **kw)
        assert r.status_code == 200, r.text
        return r.json()


PEOPLE = {"admin": "admin", "lead": "lead", "agent": "agent", "agent2": "agent"}


@functools.cache
def _password_hash() -> str:
    """Everyone's password, hashed once a run: argon2 takes a third of a second a hash."""
    return hash_password("correct horse battery")


def seed_people(app: Any) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    db = app.state.ctx.db
    db.migrate()
    pw = _password_hash()
    tokens, users = {}, {}
    for who, role in PEOPLE.items():
        user = db.write_sync(lambda tx: actions.create_user(
            tx, email=f"{who}@example.com", name=who.capitalize(), role=role, password_hash=pw))
        users[who] = user
        tokens[who] = db.write_sync(lambda tx: actions.create_token(tx, user["id"], "test"))
    return tokens, users


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    """Settings a test changes for its app: parametrize this fixture by name to override."""
    return {}


@pytest.fixture
def clock() -> MovableClock:
    """The ``live`` app's clock: a test ages data with ``clock.advance(...)``, never by
    rewriting timestamps in the database (tests/test_clock.py keeps it so)."""
    return MovableClock()


@pytest.fixture
async def live(tmp_path: Path, fake_twilio: FakeTwilio, live_overrides: dict[str, Any],
               storage: dict[str, str], clock: MovableClock) -> AsyncIterator[Live]:
    port = free_port()
    app = create_app(make_settings(tmp_path, fake_twilio.url, port,  # type: ignore[attr-defined]
                                   **{**storage, **live_overrides}), clock)
    tokens, users = seed_people(app)
    async with serve(app, port) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        r = await client.post("/api/inboxes", headers={"Authorization": f"Bearer {tokens['admin']}"}, json={
            "kind": "sms", "name": "Support line",
            "settings": {"phone_number": "+1 555-000-1111", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}})
        assert r.status_code == 201, r.text
        yield Live(url, app, client, tokens, users, r.json(), fake_twilio)


# -- parallel runs (pytest -n auto, as make test does) ------------------------------------------

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that drives a browser goes to one worker (--dist loadgroup), one after
    another: two Chromiums rendering at once beside the servers on a 2-core machine made
    panes late enough to fail assertions; the other tests fill the other workers."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("browser"))
