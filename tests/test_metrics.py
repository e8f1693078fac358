"""Report facts (inbox/domain/metrics.py, docs/metrics.md) on hand-built timelines driven
through the real app: signed Twilio webhooks for the customer, the REST API for agents,
and the app's clock for time (never an UPDATE of a timestamp, never a sleep).

The clock here is frozen between moves (``FrozenClock``): the app's ``MovableClock`` runs
with the machine's, which would add a few milliseconds to every figure; frozen, each
figure is exactly the seconds worked out by hand in the comments.

Each scenario ends by rebuilding the facts from the stored timelines
(``reports.rebuild_batch``) and comparing with those written as events happened; one test
runs every scenario in one app and does the same over all of them."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inbox.actions import reports
from inbox.domain.clock import MovableClock
from inbox.domain.tables import FACTS, MESSAGES
from tests.conftest import Live

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")]
MIN = 60
TIMED = ("first_response", "reply", "resolution")


class FrozenClock(MovableClock):
    """A movable clock that does not run between moves: now is a fixed instant (whole
    seconds) plus what the test advanced."""

    def __init__(self) -> None:
        super().__init__()
        self.base = datetime.now(timezone.utc).replace(microsecond=0)

    def now(self) -> datetime:
        return self.base + self.offset


@pytest.fixture
def clock() -> MovableClock:
    return FrozenClock()


# -- helpers -----------------------------------------------------------------------------------

async def text(live: Live, phone: str, body: str) -> int:
    """The customer writes; the id of their conversation."""
    r = await live.sms(phone, body)
    assert r.status_code == 200, r.text
    query = select(MESSAGES.c.conversation_id).where(MESSAGES.c.direction == "in").order_by(MESSAGES.c.id.desc())
    return int(live.app.state.ctx.db.read_sync(lambda c: c.execute(query.limit(1)).scalar_one()))


async def reply(live: Live, cid: int, body: str, who: str = "agent") -> None:
    r = await live.client.post(f"/api/conversations/{cid}/messages", headers=live.as_(who), json={"text": body})
    assert r.status_code == 202, r.text


async def note(live: Live, cid: int, body: str, who: str = "agent") -> None:
    r = await live.client.post(f"/api/conversations/{cid}/notes", headers=live.as_(who), json={"text": body})
    assert r.status_code == 201, r.text


async def status(live: Live, cid: int, value: str) -> None:
    r = await live.client.post(f"/api/conversations/{cid}/status", headers=live.as_("lead"), json={"status": value})
    assert r.status_code == 200, r.text


async def assign(live: Live, cid: int, **body: Any) -> None:
    r = await live.client.post(f"/api/conversations/{cid}/assignment", headers=live.as_("lead"), json=body)
    assert r.status_code == 200, r.text


async def team(live: Live, name: str, *members: str) -> int:
    r = await live.client.post("/api/teams", headers=live.as_("admin"),
                               json={"name": name, "member_ids": [live.users[m]["id"] for m in members]})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def patch_inbox(live: Live, **body: Any) -> None:
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"), json=body)
    assert r.status_code == 200, r.text


def facts(live: Live, cid: int | None = None) -> list[dict[str, Any]]:
    """The stored facts (of one conversation), in the order written, without their ids."""
    query = select(FACTS).order_by(FACTS.c.id)
    if cid is not None:
        query = query.where(FACTS.c.conversation_id == cid)
    rows = live.app.state.ctx.db.read_sync(lambda c: [dict(r._mapping) for r in c.execute(query)])
    for row in rows:
        row.pop("id")
    return rows  # type: ignore[no-any-return]


def of(rows: list[dict[str, Any]], kind: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == kind and all(r[k] == v for k, v in where.items())]


def uid(live: Live, who: str) -> int:
    return int(live.users[who]["id"])


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    """A fact as a comparable tuple: ``at`` in naive UTC, floats to 1e-6."""
    def value(k: str, v: Any) -> Any:
        if k == "at":
            return (v if v.tzinfo is None else v.astimezone(timezone.utc).replace(tzinfo=None))
        return round(v, 6) if isinstance(v, float) else v
    return tuple((k, value(k, row[k])) for k in sorted(row))


def normalized(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((_key(r) for r in rows), key=repr)


def rebuild_all(live: Live) -> int:
    """Rebuild every conversation's facts, a batch a transaction, as ``inbox reports rebuild``."""
    db, after, written = live.app.state.ctx.db, 0, 0
    while True:
        last, _, n = db.write_sync(lambda tx: reports.rebuild_batch(tx, after, limit=2))
        if last is None:
            return written
        after, written = last, written + n


def assert_rebuild_matches(live: Live) -> None:
    before = facts(live)
    assert before
    assert rebuild_all(live) == len(before)
    assert normalized(facts(live)) == normalized(before)


# -- scenarios (each: a fresh customer; returns nothing, asserts its own facts) ----------------

async def first_response_and_replies(live: Live, clock: MovableClock) -> None:
    phone = "+15550002001"
    cid = await text(live, phone, "where is my parcel?")  # t0
    clock.advance(timedelta(minutes=10))
    await reply(live, cid, "looking now")  # t0+10min
    clock.advance(timedelta(minutes=10))
    await text(live, phone, "any news?")  # t0+20min
    clock.advance(timedelta(minutes=5))
    await reply(live, cid, "it ships today")  # t0+25min
    rows = facts(live, cid)
    agent = uid(live, "agent")
    # first response: t0 -> t0+10min = 600 s, credited to the replying agent
    [first] = of(rows, "first_response")
    assert (first["seconds"], first["business_seconds"], first["agent_id"], first["cycle"]) == (600, 600, agent, 1)
    assert first["calendar_id"] is None and first["calendar_version"] is None
    # replies: 600 s (t0 -> +10) and 300 s (+20 -> +25), both the agent's
    assert [(r["seconds"], r["business_seconds"], r["agent_id"]) for r in of(rows, "reply")] == \
        [(600, 600, agent), (300, 300, agent)]
    assert [r["outcome"] for r in of(rows, "cycle")] == ["created"]
    assert [r["outcome"] for r in of(rows, "message_in")] == ["customer", "customer"]
    assert [(r["outcome"], r["agent_id"]) for r in of(rows, "message_out")] == [("agent", agent)] * 2
    assert {r["inbox_id"] for r in rows} == {live.inbox["id"]} and {r["channel"] for r in rows} == {"sms"}


async def a_run_of_messages_waits_from_its_first(live: Live, clock: MovableClock) -> None:
    phone = "+15550002002"
    cid = await text(live, phone, "hello")  # t0
    clock.advance(timedelta(minutes=1))
    await text(live, phone, "are you there?")  # t0+1min
    clock.advance(timedelta(minutes=1))
    await text(live, phone, "hello??")  # t0+2min
    clock.advance(timedelta(minutes=3))
    await reply(live, cid, "yes, sorry")  # t0+5min
    rows = facts(live, cid)
    # one wait, from the run's first message: t0 -> t0+5min = 300 s
    assert [r["seconds"] for r in of(rows, "reply")] == [300]
    assert [r["seconds"] for r in of(rows, "first_response")] == [300]
    assert len(of(rows, "message_in")) == 3


async def notes_and_automatic_replies_do_not_answer(live: Live, clock: MovableClock) -> None:
    phone = "+15550002003"
    await patch_inbox(live, auto_reply={"open": {"enabled": True, "text": "Thanks, we got your message."}})
    try:
        cid = await text(live, phone, "my card was charged twice")  # t0: the acknowledgement goes at t0
    finally:
        await patch_inbox(live, auto_reply={"open": {"enabled": False, "text": ""}})
    clock.advance(timedelta(minutes=1))
    await note(live, cid, "checking with billing")  # t0+1min: a note answers nobody
    clock.advance(timedelta(minutes=7))
    await reply(live, cid, "refunded", who="agent2")  # t0+8min
    rows = facts(live, cid)
    # the automatic acknowledgement is a message out, but neither a reply nor a first response
    assert [(r["outcome"], r["agent_id"]) for r in of(rows, "message_out")] == \
        [("automatic", None), ("agent", uid(live, "agent2"))]
    # first response and reply only from agent2's message: t0 -> t0+8min = 480 s
    [first] = of(rows, "first_response")
    assert (first["seconds"], first["agent_id"]) == (480, uid(live, "agent2"))
    assert [(r["seconds"], r["agent_id"]) for r in of(rows, "reply")] == [(480, uid(live, "agent2"))]


async def resolution_credits_the_assignee(live: Live, clock: MovableClock) -> None:
    phone = "+15550002004"
    cid = await text(live, phone, "the app crashes")  # t0: cycle 1 begins
    await assign(live, cid, user_id=uid(live, "agent"))
    clock.advance(timedelta(minutes=4))
    await reply(live, cid, "which version?", who="lead")  # t0+4min, by the lead (not the assignee)
    clock.advance(timedelta(minutes=26))
    await status(live, cid, "resolved")  # t0+30min
    rows = facts(live, cid)
    # first response t0 -> +4min = 240 s, credited to who replied (the lead), not the assignee
    [first] = of(rows, "first_response")
    assert (first["seconds"], first["agent_id"]) == (240, uid(live, "lead"))
    # resolution: cycle start t0 -> t0+30min = 1800 s, to the assignee at resolution (agent)
    [resolution] = of(rows, "resolution")
    assert (resolution["seconds"], resolution["business_seconds"], resolution["agent_id"], resolution["cycle"]) == \
        (1800, 1800, uid(live, "agent"), 1)


async def reassignment_moves_the_dimensions(live: Live, clock: MovableClock) -> None:
    phone = "+15550002005"
    first_team, second_team = await team(live, "Tier 1", "agent"), await team(live, "Tier 2", "agent2")
    cid = await text(live, phone, "question one")  # t0, unassigned
    await assign(live, cid, user_id=uid(live, "agent"), team_id=first_team)
    clock.advance(timedelta(minutes=2))
    await text(live, phone, "question two")  # t0+2min: Tier 1 / agent
    clock.advance(timedelta(minutes=3))
    await assign(live, cid, user_id=uid(live, "agent2"), team_id=second_team)
    clock.advance(timedelta(minutes=1))
    await text(live, phone, "question three")  # t0+6min: Tier 2 / agent2
    clock.advance(timedelta(minutes=4))
    await reply(live, cid, "answers", who="agent2")  # t0+10min: waited since t0 -> 600 s
    clock.advance(timedelta(minutes=5))
    await status(live, cid, "resolved")  # t0+15min -> 900 s
    rows = facts(live, cid)
    assert [(r["team_id"], r["agent_id"]) for r in of(rows, "message_in")] == \
        [(None, None), (first_team, uid(live, "agent")), (second_team, uid(live, "agent2"))]
    [first] = of(rows, "first_response")
    assert (first["seconds"], first["team_id"], first["agent_id"]) == (600, second_team, uid(live, "agent2"))
    [resolution] = of(rows, "resolution")
    assert (resolution["seconds"], resolution["team_id"], resolution["agent_id"]) == \
        (900, second_team, uid(live, "agent2"))


async def a_reopened_cycle_starts_from_the_reopening(live: Live, clock: MovableClock) -> None:
    phone = "+15550002006"
    assert live.app.state.ctx.settings.reopen_days == 7  # INBOX_REOPEN_DAYS default: 2 days later reopens
    cid = await text(live, phone, "cannot log in")  # t0
    await assign(live, cid, user_id=uid(live, "agent"))
    clock.advance(timedelta(minutes=5))
    await reply(live, cid, "reset link sent")  # t0+5min
    clock.advance(timedelta(minutes=15))
    await status(live, cid, "resolved")  # t0+20min: resolution 1200 s
    clock.advance(timedelta(days=2))
    again = await text(live, phone, "it happened again")  # T = t0+20min+2d: reopens, cycle 2
    assert again == cid
    clock.advance(timedelta(minutes=3))
    await reply(live, cid, "resetting once more")  # T+3min
    clock.advance(timedelta(minutes=7))
    await status(live, cid, "resolved")  # T+10min
    rows = facts(live, cid)
    assert [(r["cycle"], r["outcome"]) for r in of(rows, "cycle")] == [(1, "created"), (2, "reopened")]
    # cycle 1: first response 300 s, resolution t0 -> t0+20min = 1200 s
    assert [(r["cycle"], r["seconds"]) for r in of(rows, "first_response")] == [(1, 300), (2, 180)]
    # cycle 2's first response from the reopening message (T -> T+3min = 180 s), not from
    # cycle 1's first message (that would be 2 days 23 min = 174180 s)
    assert [(r["cycle"], r["seconds"]) for r in of(rows, "reply")] == [(1, 300), (2, 180)]
    # cycle 2's resolution from the reopen: T -> T+10min = 600 s
    assert [(r["cycle"], r["seconds"], r["agent_id"]) for r in of(rows, "resolution")] == \
        [(1, 1200, uid(live, "agent")), (2, 600, uid(live, "agent"))]
    assert [r["cycle"] for r in of(rows, "message_in")] == [1, 2]


def _next_friday(clock: MovableClock) -> datetime:
    """The next Friday 16:50 in Berlin whose weekend has no change of clocks (DST)."""
    local = clock.now().astimezone(BERLIN)
    day = local.date() + timedelta(days=(4 - local.weekday()) % 7 or 7)
    while True:
        friday = datetime.combine(day, time(16, 50), BERLIN)
        monday = datetime.combine(day + timedelta(days=3), time(9, 10), BERLIN)
        if friday.utcoffset() == monday.utcoffset():
            return friday
        day += timedelta(days=7)


async def business_hours_over_a_weekend(live: Live, clock: MovableClock) -> None:
    phone = "+15550002007"
    r = await live.client.post("/api/calendars", headers=live.as_("admin"),
                               json={"name": "Support EU", "timezone": "Europe/Berlin", "intervals": WEEKDAYS})
    assert r.status_code == 201, r.text
    calendar = r.json()
    await patch_inbox(live, calendar_id=calendar["id"])
    friday = _next_friday(clock)
    clock.advance(friday.astimezone(timezone.utc) - clock.now())
    cid = await text(live, phone, "before the weekend")  # Friday 16:50 Berlin
    monday = datetime.combine(friday.date() + timedelta(days=3), time(9, 10), BERLIN)
    clock.advance(monday.astimezone(timezone.utc) - clock.now())
    await reply(live, cid, "good morning")  # Monday 09:10 Berlin
    rows = facts(live, cid)
    # calendar time: Fri 16:50 -> Mon 09:10 = 2 days 16 h 20 min = 172800 + 57600 + 1200 = 231600 s
    # business time: Fri 16:50-17:00 (10 min) + Mon 09:00-09:10 (10 min) = 1200 s
    for kind in ("first_response", "reply"):
        [fact] = of(rows, kind)
        assert (fact["seconds"], fact["business_seconds"], fact["calendar_id"], fact["calendar_version"]) == \
            (231600, 1200, calendar["id"], calendar.get("version", 1)), kind


SCENARIOS = [first_response_and_replies, a_run_of_messages_waits_from_its_first,
             notes_and_automatic_replies_do_not_answer, resolution_credits_the_assignee,
             reassignment_moves_the_dimensions, a_reopened_cycle_starts_from_the_reopening,
             business_hours_over_a_weekend]  # the last gives the inbox a calendar


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
async def test_scenario(live: Live, clock: MovableClock, scenario: Any) -> None:
    await scenario(live, clock)
    assert_rebuild_matches(live)


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_rebuild_equals_incremental_over_the_scenarios_in_one_app(live: Live, clock: MovableClock) -> None:
    """Every scenario but the calendar's, one app: the rebuild gives the same facts."""
    for scenario in SCENARIOS[:-1]:
        await scenario(live, clock)
        clock.advance(timedelta(hours=1))
    assert len({r["conversation_id"] for r in facts(live)}) == len(SCENARIOS) - 1
    assert_rebuild_matches(live)
    assert_rebuild_matches(live)  # and a second rebuild changes nothing


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_rebuild_equals_incremental_over_every_scenario(live: Live, clock: MovableClock) -> None:
    """All of them, the calendar's last: facts written before the inbox had a calendar were
    timed without one (business = calendar time, no calendar_id); a rebuild must keep that."""
    for scenario in SCENARIOS:
        await scenario(live, clock)
        clock.advance(timedelta(hours=1))
    assert len({r["conversation_id"] for r in facts(live)}) == len(SCENARIOS)
    assert_rebuild_matches(live)


async def test_a_calendar_given_to_the_inbox_later_does_not_change_past_facts(live: Live, clock: MovableClock) -> None:
    """The smallest case: the calendar exists (version 1) before the conversation, but the
    inbox points at it only after the reply."""
    r = await live.client.post("/api/calendars", headers=live.as_("admin"),
                               json={"name": "Nights off", "timezone": "Europe/Berlin", "intervals": WEEKDAYS})
    assert r.status_code == 201, r.text
    saturday = _next_friday(clock) + timedelta(days=1)  # Saturday 16:50 Berlin: closed all day
    clock.advance(saturday.astimezone(timezone.utc) - clock.now())
    cid = await text(live, "+15550002008", "weekend")
    clock.advance(timedelta(minutes=10))
    await reply(live, cid, "here anyway")  # 600 s; no calendar on the inbox: 600 business seconds
    [first] = of(facts(live, cid), "first_response")
    assert (first["seconds"], first["business_seconds"], first["calendar_id"]) == (600, 600, None)
    clock.advance(timedelta(minutes=1))
    await patch_inbox(live, calendar_id=r.json()["id"])
    assert_rebuild_matches(live)  # fails: the rebuilt one has business_seconds 0, calendar_id set
