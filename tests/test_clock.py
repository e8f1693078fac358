"""The app's clock: tests move time with it (never by rewriting timestamps in the
database), moving it wakes the timers that wait on it, and a check over tests/ keeps every
test that way."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import DateTime, Table

from inbox.domain import tables
from inbox.domain.clock import MovableClock
from tests.conftest import Live
from ui.api.media import PUBLIC_URL_LIFETIME

TESTS = Path(__file__).resolve().parent
# Every timestamp column of the schema (created_at, resolved_at, snoozed_until, ...).
TIMESTAMPS = {c.name for table in vars(tables).values() if isinstance(table, Table)
              for c in table.columns if isinstance(getattr(c.type, "impl", c.type), DateTime)}


def test_a_movable_clock_runs_on_moves_forward_and_calls_whoever_waits() -> None:
    clock, calls = MovableClock(), []
    clock.on_moved(lambda: calls.append("moved"))
    before = clock.now()
    assert before.utcoffset() == timedelta(0)
    clock.advance(timedelta(hours=25))
    assert timedelta(hours=25) <= clock.now() - before < timedelta(hours=25, minutes=1)
    assert calls == ["moved"]
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    assert calls == ["moved"]


async def test_moving_the_clock_wakes_a_retry_due_in_an_hour(live: Live, clock: MovableClock) -> None:
    assert (await live.sms("+15557654321", "hi")).status_code == 200
    conv = (await live.get("/api/conversations"))["items"][0]
    stream = await live.events()
    live.fake.fail_next(429, 20429, "Too Many Requests", headers={"Retry-After": "3600"})
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "patience"},
                               headers=live.as_("agent"))
    assert r.status_code == 202
    waiting = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["error"])
    assert "retrying in 3600 s" in waiting["data"]["message"]["error"]["message"]
    assert live.fake.sent == []
    clock.advance(timedelta(hours=1))
    # Sooner than the worker's own 5-second look: the clock woke it.
    [sent] = await live.fake.wait_for_sent(1, timeout=3)
    assert sent["body"] == "patience"
    await stream.close()


async def test_a_signed_media_link_expires_by_the_apps_clock(live: Live, clock: MovableClock) -> None:
    up = await live.client.post("/api/uploads", headers=live.as_("agent"),
                                files={"file": ("label.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png")})
    assert up.status_code == 201, up.text
    link = up.json()["url"]
    assert (await live.client.get(link)).status_code == 200
    clock.advance(timedelta(seconds=PUBLIC_URL_LIFETIME + 60))
    expired = await live.client.get(link)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "invalid_link"


# -- no test ages data by rewriting its timestamps -------------------------------------------

RAW_UPDATE = re.compile(r"\bUPDATE\s+\w+\s+SET\b(?P<set>.*)", re.IGNORECASE | re.DOTALL)


def timestamp_updates(source: str) -> list[int]:
    """The lines of ``source`` that UPDATE a timestamp column: SQLAlchemy's
    ``update(T)...values(created_at=...)`` or ``T.update().values({...})``, or SQL text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values" \
                and _builds_on_update(node.func.value):
            names = {k.arg for k in node.keywords} | {
                key.value for arg in node.args if isinstance(arg, ast.Dict)
                for key in arg.keys if isinstance(key, ast.Constant)}
            if names & TIMESTAMPS:
                found.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and (raw := RAW_UPDATE.search(node.value)) is not None \
                and set(re.findall(r"\w+", raw["set"])) & TIMESTAMPS:
            found.append(node.lineno)
    return found


def _builds_on_update(node: ast.expr) -> bool:
    """Whether an expression chain (``update(T).where(...)``) starts from an update."""
    while True:
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id == "update") or \
                    (isinstance(func, ast.Attribute) and func.attr == "update"):
                return True
            node = func.value if isinstance(func, ast.Attribute) else func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return False


def test_the_check_finds_each_way_of_rewriting_a_timestamp() -> None:
    aging = '''
conn.execute(update(MESSAGES).where(MESSAGES.c.id == 1).values(created_at=long_ago))
conn.execute(CONVERSATIONS.update().values({"resolved_at": long_ago}))
conn.execute(text("update conversation set snoozed_until = :t where id = 1"))
'''
    assert timestamp_updates(aging) == [2, 3, 4]
    fine = '''
conn.execute(update(MESSAGES).where(MESSAGES.c.id == 1).values(text="edited"))
params.update(created_at="not a table")
conn.execute(insert(MESSAGES).values(created_at=now))
'''
    assert timestamp_updates(fine) == []


def test_no_test_moves_time_by_updating_a_timestamp() -> None:
    assert {"created_at", "resolved_at", "snoozed_until", "next_attempt_at"} <= TIMESTAMPS
    offenders = {str(path.relative_to(TESTS)): lines for path in sorted(TESTS.rglob("*.py"))
                 if path != Path(__file__).resolve() and (lines := timestamp_updates(path.read_text()))}
    assert offenders == {}, f"move the clock (the `clock` fixture) instead: {offenders}"
