"""SLA policies and clocks: targets started by a customer's message and met by an agent's
reply, warnings and breaches as events and notifications at their time, the list's
filter and sort, pause and resume with the stored spans recomputing the time used, a
policy change mid-way, business time across a weekend, cycles after a reopen. Time moves
with the clock; every wait is for an event, with a timeout."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inbox import actions
from inbox.domain import sla
from inbox.domain.calendar import Calendar
from inbox.domain.clock import MovableClock
from inbox.domain.tables import EVENTS
from inbox.storage.db import Database
from inbox.storage.redisbus import make_bus
from inbox.workers.sla import SlaScheduler
from tests.conftest import Live
from tests.helpers.live import EventStream


async def _policy(live: Live, **body: Any) -> dict[str, Any]:
    r = await live.client.post("/api/sla_policies", headers=live.as_("admin"), json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _text(live: Live, stream: EventStream, phone: str, body: str) -> dict[str, Any]:
    assert (await live.sms(phone, body)).status_code == 200
    ev = await stream.next(lambda e: e["type"] == "message.created" and e["data"]["message"]["text"] == body)
    return ev["data"]["conversation"]  # type: ignore[no-any-return]


async def _detail(live: Live, cid: int) -> dict[str, Any]:
    return (await live.get(f"/api/conversations/{cid}", who="lead"))["sla_detail"]  # type: ignore[no-any-return]


def _open(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["kind"]: t for t in detail["targets"] if t["ended"] is None}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _reply(live: Live, cid: int, text: str, who: str = "agent") -> None:
    r = await live.client.post(f"/api/conversations/{cid}/messages", headers=live.as_(who), json={"text": text})
    assert r.status_code == 202, r.text


async def _status(live: Live, cid: int, status: str, **extra: Any) -> None:
    r = await live.client.post(f"/api/conversations/{cid}/status", headers=live.as_("lead"),
                               json={"status": status, **extra})
    assert r.status_code == 200, r.text


def _sla_event(kind: str, cid: int) -> Any:
    return lambda e: e["type"] == kind and e["data"]["conversation"]["id"] == cid


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_first_response_warns_then_breaches_and_a_late_reply_is_recorded(
        live: Live, clock: MovableClock) -> None:
    await _policy(live, name="Standard", first_response_minutes=10, resolution_minutes=240)
    lead = await live.events("lead")
    conv = await _text(live, lead, "+15550001001", "my order is late")
    cid = conv["id"]
    assert conv["sla"]["status"] == "running"
    r = await live.client.post(f"/api/conversations/{cid}/assignment", headers=live.as_("lead"),
                               json={"user_id": live.users["agent"]["id"]})
    assert r.status_code == 200, r.text
    targets = _open(await _detail(live, cid))
    first = targets["first_response"]
    assert first["status"] == "running" and first["budget_seconds"] == 600
    assert _at(first["due_at"]) - _at(first["started_at"]) == timedelta(minutes=10)
    assert _at(first["warn_at"]) - _at(first["started_at"]) == timedelta(minutes=7, seconds=30)
    assert _at(conv["sla"]["due_at"]) == _at(first["due_at"])  # the list's summary: the soonest due

    clock.advance(timedelta(minutes=8))
    warning = await lead.next(_sla_event("sla.warning", cid))
    assert warning["data"]["target"]["kind"] == "first_response"
    assert warning["data"]["conversation"]["sla"]["status"] == "due_soon"
    soon = await live.get("/api/conversations?sla=due_soon", who="lead")
    assert [c["id"] for c in soon["items"]] == [cid]
    notes = await live.get("/api/notifications", who="agent")
    assert [n["kind"] for n in notes["items"] if n["conversation_id"] == cid][:1] == ["sla_warning"]
    lead_notes = await live.get("/api/notifications", who="lead")
    assert any(n["kind"] == "sla_warning" for n in lead_notes["items"])  # no team: every lead hears of it

    clock.advance(timedelta(minutes=3))
    breach = await lead.next(_sla_event("sla.breached", cid))
    assert breach["data"]["target"]["status"] == "missed"
    assert _at(breach["data"]["target"]["missed_at"]) == _at(first["due_at"])
    breached = await live.get("/api/conversations?sla=breached", who="lead")
    assert [c["id"] for c in breached["items"]] == [cid]
    assert (await live.get("/api/conversations?sla=due_soon", who="lead"))["items"] == []
    timeline = await live.get(f"/api/conversations/{cid}/timeline", who="lead")
    kinds = [i["kind"] for i in timeline["items"] if i["type"] == "event"]
    assert "sla_warning" in kinds and "sla_breached" in kinds

    await _reply(live, cid, "so sorry, on its way")
    detail = await _detail(live, cid)
    late = next(t for t in detail["targets"] if t["kind"] == "first_response")
    assert late["status"] == "missed" and late["met_at"] is not None and late["ended"] == "met"
    after = await live.get(f"/api/conversations/{cid}", who="lead")
    assert after["sla"]["status"] == "running"  # the resolution target runs on
    assert _open(detail).keys() == {"resolution"}


async def test_pending_pauses_the_clock_and_the_spans_recompute_the_time_used(live: Live, clock: MovableClock) -> None:
    await _policy(live, name="Resolve in an hour", resolution_minutes=60)
    lead = await live.events("lead")
    cid = (await _text(live, lead, "+15550001002", "refund please"))["id"]
    clock.advance(timedelta(minutes=20))
    await _status(live, cid, "pending")
    paused = _open(await _detail(live, cid))["resolution"]
    assert paused["status"] == "paused" and paused["due_at"] is None
    assert paused["used_seconds"] == pytest.approx(1200, abs=5)

    clock.advance(timedelta(hours=3))  # paused: nothing falls due
    await _status(live, cid, "open")
    detail = await _detail(live, cid)
    running = _open(detail)["resolution"]
    assert running["status"] == "running"
    assert _at(running["due_at"]) - _at(running["running_since"]) == pytest.approx(
        timedelta(seconds=3600 - paused["used_seconds"]), abs=timedelta(seconds=1))
    assert [s["state"] for s in reversed(detail["spans"])] == ["running", "paused", "running"]
    spans = [(_at(s["started_at"]), _at(s["ended_at"]) if s["ended_at"] else None)
             for s in detail["spans"] if s["state"] == "running"]
    assert sla.recompute(_at(running["started_at"]), _at(running["running_since"]), spans, None) == \
        pytest.approx(running["used_seconds"], abs=0.01)

    clock.advance(timedelta(minutes=41))
    breach = await lead.next(_sla_event("sla.breached", cid))
    assert breach["data"]["target"]["kind"] == "resolution"


async def test_a_label_changes_the_policy_from_that_moment_and_the_timeline_says_so(
        live: Live, clock: MovableClock) -> None:
    r = await live.client.post("/api/labels", headers=live.as_("admin"), json={"name": "vip", "colour": "#aa0000"})
    assert r.status_code == 201, r.text
    vip_label = r.json()["id"]
    await _policy(live, name="Everyone", first_response_minutes=60)
    vip = await _policy(live, name="VIP", first_response_minutes=5, conditions={"label_ids": [vip_label]})
    lead = await live.events("lead")
    cid = (await _text(live, lead, "+15550001003", "hello"))["id"]
    assert _open(await _detail(live, cid))["first_response"]["budget_seconds"] == 3600

    clock.advance(timedelta(minutes=30))
    r = await live.client.post(f"/api/conversations/{cid}/labels", headers=live.as_("lead"), json={"add": ["vip"]})
    assert r.status_code == 200, r.text
    detail = await _detail(live, cid)
    assert detail["policy"] == {"id": vip["id"], "name": "VIP"}
    first = _open(detail)["first_response"]
    assert first["budget_seconds"] == 300 and first["policy_id"] == vip["id"]
    assert _at(first["due_at"]) - _at(first["started_at"]) == timedelta(minutes=5)
    replaced = [t for t in detail["targets"] if t["status"] == "replaced"]
    assert len(replaced) == 1 and replaced[0]["budget_seconds"] == 3600
    timeline = await live.get(f"/api/conversations/{cid}/timeline", who="lead")
    changes = [i for i in timeline["items"] if i["type"] == "event" and i["kind"] == "sla_policy"]
    assert changes and changes[-1]["data"]["to"]["name"] == "VIP" and changes[-1]["data"]["from"]["name"] == "Everyone"


async def test_next_response_and_a_new_cycle_after_reopening(live: Live, clock: MovableClock) -> None:
    await _policy(live, name="Std", first_response_minutes=30, next_response_minutes=15, resolution_minutes=600)
    lead = await live.events("lead")
    cid = (await _text(live, lead, "+15550001004", "question one"))["id"]
    await _reply(live, cid, "answer one", who="lead")
    assert _open(await _detail(live, cid)).keys() == {"resolution"}
    clock.advance(timedelta(minutes=2))
    await _text(live, lead, "+15550001004", "question two")
    nxt = _open(await _detail(live, cid))["next_response"]
    assert nxt["budget_seconds"] == 900 and nxt["cycle"] == 1
    await _reply(live, cid, "answer two", who="lead")
    await _status(live, cid, "resolved")
    detail = await _detail(live, cid)
    assert _open(detail) == {} and detail["policy"] is None
    assert {t["kind"]: t["status"] for t in detail["targets"]} == {
        "first_response": "met", "next_response": "met", "resolution": "met"}
    assert (await live.get(f"/api/conversations/{cid}", who="lead"))["sla"] is None

    await _text(live, lead, "+15550001004", "one more thing")  # reopens it
    reopened = _open(await _detail(live, cid))
    assert {t["cycle"] for t in reopened.values()} == {2}
    assert reopened.keys() == {"first_response", "resolution"}


async def test_business_time_stops_over_the_weekend(live: Live, clock: MovableClock) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    week = Calendar.parse("Europe/Berlin", [{"day": d, "start": "09:00", "end": "17:00"}
                                            for d in ("mon", "tue", "wed", "thu", "fri")])
    r = await live.client.post("/api/calendars", headers=live.as_("admin"), json={
        "name": "Support EU", "timezone": week.timezone, "intervals": week.intervals_json()})
    assert r.status_code == 201, r.text
    calendar_id = r.json()["id"]
    await _policy(live, name="Business", first_response_minutes=30, business_hours=True, calendar_id=calendar_id)
    # Next Friday 16:50 in Berlin: 10 minutes of Friday, the other 20 on Monday morning.
    local = clock.now().astimezone(berlin)
    friday = (local + timedelta(days=(4 - local.weekday()) % 7 or 7)).replace(hour=16, minute=50, second=0,
                                                                              microsecond=0)
    clock.advance(friday.astimezone(timezone.utc) - clock.now())
    lead = await live.events("lead")
    cid = (await _text(live, lead, "+15550001005", "weekend question"))["id"]
    first = _open(await _detail(live, cid))["first_response"]
    due = _at(first["due_at"]).astimezone(berlin)
    started = _at(first["started_at"]).astimezone(berlin)
    expected = (started + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0) + \
        (timedelta(minutes=30) - (started.replace(hour=17, minute=0, second=0, microsecond=0) - started))
    assert due.weekday() == 0 and due == expected
    assert first["calendar_id"] == calendar_id and first["calendar_version"] == 1

    # Monday becomes a holiday: the running target's due time moves to Tuesday, live.
    monday = due.date().isoformat()
    r = await live.client.patch(f"/api/calendars/{calendar_id}", headers=live.as_("admin"), json={
        "exceptions": [{"date": monday, "closed": True, "name": "Founders' day"}]})
    assert r.status_code == 200, r.text
    moved = await lead.next(lambda e: e["type"] == "conversation.updated" and e["data"]["conversation"]["id"] == cid)
    first = _open(await _detail(live, cid))["first_response"]
    assert _at(first["due_at"]).astimezone(berlin) == expected + timedelta(days=1)
    assert _at(moved["data"]["conversation"]["sla"]["due_at"]) == _at(first["due_at"])
    assert first["calendar_version"] == 2 and first["used_seconds"] == pytest.approx(0, abs=1)


async def test_sort_by_due_time_and_bad_requests(live: Live, clock: MovableClock) -> None:
    await _policy(live, name="Fast", first_response_minutes=20)
    lead = await live.events("lead")
    a = (await _text(live, lead, "+15550001006", "first"))["id"]
    clock.advance(timedelta(minutes=5))
    b = (await _text(live, lead, "+15550001007", "second"))["id"]
    page = await live.get("/api/conversations?sort=sla_due&limit=1", who="lead")
    assert [c["id"] for c in page["items"]] == [a]
    rest = await live.get(f"/api/conversations?sort=sla_due&cursor={page['next_cursor']}", who="lead")
    assert [c["id"] for c in rest["items"]] == [b]

    for body, key in (({"name": "x"}, "at least one target"), ({"name": "y", "first_response_minutes": 0}, "first"),
                      ({"name": "z", "resolution_minutes": 5, "pause_statuses": ["open"]}, "pause_statuses")):
        r = await live.client.post("/api/sla_policies", headers=live.as_("admin"), json=body)
        assert r.status_code == 422 and key in r.json()["error"]["message"], r.text
    r = await live.client.post("/api/sla_policies", headers=live.as_("agent"),
                               json={"name": "mine", "first_response_minutes": 1})
    assert r.status_code == 403
    r = await live.client.get("/api/conversations?sla=late", headers=live.as_("lead"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_sla_filter"


@pytest.mark.parametrize("database_engine", ["postgres"])
async def test_two_schedulers_on_one_database_fire_each_target_once(live: Live, clock: MovableClock) -> None:
    """A second scheduler with its own connections to the same PostgreSQL database (as
    another process has), woken by the same clock: each due target fires exactly once."""
    await _policy(live, name="Quick", first_response_minutes=5)
    lead = await live.events("lead")
    customers = 30
    ids = [(await _text(live, lead, f"+1555200{n:04d}", f"hi {n}"))["id"] for n in range(customers)]
    settings = live.app.state.ctx.settings
    db, bus = Database(settings.database_url), make_bus(settings)  # the Redis bus: its events reach the lead
    await bus.start(db)
    db.on_commit = bus.publish_committed
    db.start()
    other = SlaScheduler(actions.Context(db=db, settings=settings, bus=bus, clock=clock))
    other.batch = 4  # a few at a time, so the app's own scheduler claims some meanwhile
    task = asyncio.create_task(other.run())
    try:
        clock.advance(timedelta(minutes=6))  # past the warning and the due time at once: one breach each
        seen = set()
        while len(seen) < customers:
            ev = await lead.next(lambda e: e["type"] == "sla.breached")
            seen.add(ev["data"]["conversation"]["id"])
        assert seen == set(ids)
        fired = live.app.state.ctx.db.read_sync(lambda c: c.execute(
            select(EVENTS.c.data).where(EVENTS.c.type == "sla.breached")).scalars().all())
        per_target = Counter(d["target"]["id"] for d in fired)
        assert len(per_target) == customers and set(per_target.values()) == {1}
        assert other.fired <= customers  # however the two shared the work
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.stop()
        db.stop()
