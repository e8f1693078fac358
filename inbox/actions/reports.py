"""Report facts (docs/metrics.md): written in the transaction of the event that causes them,
by the rules of ``inbox/domain/metrics.py``, and rebuilt from the stored timeline.

As it happens: ingest, replies, status changes, SLA ends and satisfaction answers call the
rule for their event with the conversation's ``Progress`` and store what it returns (the
facts, and the conversation's report columns). ``rebuild`` replays every conversation's
timeline (its log of events, its messages, its SLA targets and survey answers) through
the same rules, a batch of conversations a transaction, and replaces their facts: the same
rules on the same timeline give the same facts (tested).

Business time is the calendar's of the inbox the customer wrote to, in the version valid
when the fact happened (``calendar_version`` keeps each); an inbox without a calendar is
open around the clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from inbox.actions import rollups
from inbox.domain import metrics
from inbox.domain.calendar import Calendar
from inbox.domain.metrics import Progress, Timer
from inbox.domain.tables import (
    CALENDAR_VERSIONS,
    CONV_EVENTS,
    CONVERSATIONS,
    FACTS,
    INBOX_CALENDARS,
    INBOXES,
    MESSAGES,
    SLA_TARGETS,
)
from inbox.queries.calendars import calendar_version
from inbox.queries.csat import answers_for_reports
from inbox.storage.db import Database, Tx
from inbox.storage.prepared import Prepared, as_json, as_utc

FACT_COLUMNS = ("kind", "at", "conversation_id", "cycle", "inbox_id", "channel", "team_id", "agent_id", "seconds",
                "business_seconds", "calendar_id", "calendar_version", "outcome", "score")
_INSERT_FACT = Prepared(insert(FACTS).values({c: bindparam(c) for c in FACT_COLUMNS}))
PROGRESS_COLUMNS = ("id", "cycle", "cycle_started_at", "responded_at", "waiting_since", "status",
                    "last_inbound_inbox_id", "channel", "team_id", "assignee_id", "created_at")
_PROGRESS = Prepared(select(*(CONVERSATIONS.c[c] for c in PROGRESS_COLUMNS))
                     .where(CONVERSATIONS.c.id == bindparam("id")))
_SAVE = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(
    cycle=bindparam("b_cycle"), cycle_started_at=bindparam("b_started"), responded_at=bindparam("b_responded"),
    waiting_since=bindparam("b_waiting")))
_INBOX_CALENDAR = Prepared(select(INBOXES.c.calendar_id).where(INBOXES.c.id == bindparam("id")))
REBUILD_BATCH = 500  # conversations a transaction


def store(conn: Connection, facts: Iterable[Mapping[str, Any]]) -> None:
    for fact in facts:
        _INSERT_FACT.execute(conn, fact)


def progress(conn: Connection, conversation_id: int) -> Progress | None:
    row = _PROGRESS.first(conn, {"id": conversation_id})
    if row is None:
        return None
    conv = dict(zip(PROGRESS_COLUMNS, row))
    for key in ("cycle_started_at", "responded_at", "waiting_since", "created_at"):
        if conv[key] is not None:
            conv[key] = as_utc(conv[key])
    return Progress.of(conv)


def save(conn: Connection, p: Progress) -> None:
    """The conversation's report columns (cycle, its start, first answer, wait) as ``p`` has them."""
    _SAVE.execute(conn, {"b_id": p.conversation_id, "b_cycle": p.cycle, "b_started": p.cycle_started_at,
                         "b_responded": p.responded_at, "b_waiting": p.waiting_since})


def timer(conn: Connection) -> Timer:
    """Business time now: in the current version of the inbox's calendar."""
    def business(inbox_id: int | None, start: datetime, end: datetime) -> tuple[float, int | None, int | None]:
        calendar_id = _INBOX_CALENDAR.first(conn, {"id": inbox_id}) if inbox_id is not None else None
        found = calendar_version(conn, calendar_id[0]) if calendar_id is not None else None
        if found is None:
            return metrics.no_calendar(inbox_id, start, end)
        return found[0].between(start, end).total_seconds(), calendar_id[0] if calendar_id else None, found[1]
    return business


def apply(conn: Connection, conversation_id: int,
          rule: Callable[[Progress], tuple[Progress, list[dict[str, Any]]]]) -> Progress | None:
    """Run a rule on the conversation's progress as stored; store its facts and its state."""
    p = progress(conn, conversation_id)
    if p is None:
        return None
    after, facts = rule(p)
    store(conn, facts)
    if after.columns() != p.columns():
        save(conn, after)
    return after


def record_sla(conn: Connection, conversation_id: int, target_kind: str, met: bool, at: datetime) -> None:
    """An SLA target met in time, or missed (``at`` its due time)."""
    p = progress(conn, conversation_id)
    if p is not None:
        store(conn, metrics.sla_ended(p, at, target_kind, met))


def record_csat(conn: Connection, conversation_id: int, at: datetime, score: int, *, cycle: int,
                agent_id: int | None, team_id: int | None, inbox_id: int | None, channel: str | None) -> None:
    """A satisfaction answer, with the cycle and credit its survey captured when sent."""
    p = progress(conn, conversation_id)
    if p is not None:
        store(conn, metrics.csat(p, at, score, cycle=cycle, agent_id=agent_id, team_id=team_id, inbox_id=inbox_id,
                                 channel=channel))


# -- rebuilding from the timeline ----------------------------------------------------------

# At one instant, the order events happen in: a conversation is created, or reopened, before
# the message that did it; an assignment before the reply that took it; a reply before the
# resolution that followed it; SLA ends and answers last.
_CREATED, _REOPEN, _INBOUND, _ASSIGN, _OUTBOUND, _STATUS, _SLA, _CSAT = range(8)
_ASSIGNMENTS = ("assigned", "reassigned", "unassigned")


class _History:
    """Every calendar's versions, by the time each became valid, and each inbox's calendar
    and channel: what a rebuild computes business time with."""

    def __init__(self, conn: Connection) -> None:
        self.versions: dict[int, list[tuple[datetime, int, Calendar]]] = {}
        for row in conn.execute(select(CALENDAR_VERSIONS).order_by(CALENDAR_VERSIONS.c.calendar_id,
                                                                   CALENDAR_VERSIONS.c.valid_from,
                                                                   CALENDAR_VERSIONS.c.version)):
            calendar = Calendar.parse(row.timezone, as_json(row.intervals), as_json(row.exceptions))
            self.versions.setdefault(row.calendar_id, []).append((as_utc(row.valid_from), row.version, calendar))
        self.inboxes = {row.id: (row.calendar_id, row.kind)
                        for row in conn.execute(select(INBOXES.c.id, INBOXES.c.calendar_id, INBOXES.c.kind))}
        self.pointers: dict[int, list[tuple[datetime, int | None]]] = {}
        for row in conn.execute(select(INBOX_CALENDARS).order_by(INBOX_CALENDARS.c.inbox_id,
                                                                 INBOX_CALENDARS.c.valid_from)):
            self.pointers.setdefault(row.inbox_id, []).append((as_utc(row.valid_from), row.calendar_id))

    def business(self, inbox_id: int | None, start: datetime, end: datetime) -> tuple[float, int | None, int | None]:
        """In the calendar the inbox had at ``end``, in its version valid then; none: calendar time."""
        pointers = self.pointers.get(inbox_id, []) if inbox_id is not None else []
        at = bisect.bisect_right([p[0] for p in pointers], end) - 1
        calendar_id = pointers[at][1] if at >= 0 else None
        versions = self.versions.get(calendar_id, []) if calendar_id is not None else []
        at = bisect.bisect_right([v[0] for v in versions], end) - 1
        if at < 0:
            return metrics.no_calendar(inbox_id, start, end)
        _, version, calendar = versions[at]
        return calendar.between(start, end).total_seconds(), calendar_id, version


def replay(conversation_id: int, items: list[tuple[datetime, int, int, Any]], history: _History
           ) -> tuple[Progress, list[dict[str, Any]]]:
    """One conversation's facts and final progress from its timeline, items of (time, order,
    id, what)."""
    p = Progress(conversation_id)
    facts: list[dict[str, Any]] = []
    timer = history.business
    for at, order, _, what in sorted(items, key=lambda item: item[:3]):
        step: list[dict[str, Any]] = []
        if order == _CREATED:
            inbox_id = what.get("inbox_id")
            channel = what.get("channel") or history.inboxes.get(inbox_id, (None, None))[1]
            p, step = metrics.created(Progress(conversation_id, inbox_id=inbox_id, channel=channel), at)
        elif order == _INBOUND:
            p, step = metrics.inbound(p, at, what.inbox_id, history.inboxes[what.inbox_id][1],
                                      what.automatic is not None)
        elif order == _OUTBOUND:
            p, step = metrics.outbound(p, at, what.inbox_id, history.inboxes[what.inbox_id][1], what.author_id,
                                       what.automatic is not None, timer)
        elif order in (_REOPEN, _STATUS):
            p, step = metrics.status(p, at, what["from"], what["to"], timer)
        elif order == _ASSIGN:
            p = metrics.assigned(p, what.get("to_user_id"), what.get("to_team_id"))
        elif order == _SLA:
            step = metrics.sla_ended(p, at, what[0], what[1])
        elif order == _CSAT:
            step = metrics.csat(p, at, what["score"], cycle=what["cycle"], agent_id=what["agent_id"],
                                team_id=what["team_id"], inbox_id=what["inbox_id"], channel=what["channel"])
        facts += step
    return p, facts


def timelines(conn: Connection, ids: list[int]) -> dict[int, list[tuple[datetime, int, int, Any]]]:
    """The stored timelines of these conversations, as ``replay`` reads them."""
    items: dict[int, list[tuple[datetime, int, int, Any]]] = {cid: [] for cid in ids}
    row: Any
    for row in conn.execute(select(CONV_EVENTS.c.id, CONV_EVENTS.c.conversation_id, CONV_EVENTS.c.kind,
                                   CONV_EVENTS.c.data, CONV_EVENTS.c.created_at)
                            .where(CONV_EVENTS.c.conversation_id.in_(ids),
                                   CONV_EVENTS.c.kind.in_(("created", "status_changed", *_ASSIGNMENTS)))):
        data = as_json(row.data) or {}
        order = (_CREATED if row.kind == "created" else _ASSIGN if row.kind in _ASSIGNMENTS
                 else _REOPEN if data.get("from") == "resolved" or data.get("to") == "open" else _STATUS)
        items[row.conversation_id].append((as_utc(row.created_at), order, row.id, data))
    for row in conn.execute(select(MESSAGES.c.id, MESSAGES.c.conversation_id, MESSAGES.c.direction,
                                   MESSAGES.c.inbox_id, MESSAGES.c.author_id, MESSAGES.c.automatic,
                                   MESSAGES.c.created_at).where(MESSAGES.c.conversation_id.in_(ids))):
        order = _INBOUND if row.direction == "in" else _OUTBOUND
        items[row.conversation_id].append((as_utc(row.created_at), order, row.id, row))
    t = SLA_TARGETS.c
    for row in conn.execute(select(t.id, t.conversation_id, t.kind, t.status, t.met_at, t.missed_at)
                            .where(t.conversation_id.in_(ids))):
        if row.missed_at is not None:
            items[row.conversation_id].append((as_utc(row.missed_at), _SLA, row.id, (row.kind, False)))
        elif row.status == "met" and row.met_at is not None:
            items[row.conversation_id].append((as_utc(row.met_at), _SLA, row.id, (row.kind, True)))
    # A conversation whose log has no "created" (written by other means) begins when it was.
    for cid, created in conn.execute(select(CONVERSATIONS.c.id, CONVERSATIONS.c.created_at)
                                     .where(CONVERSATIONS.c.id.in_(ids))):
        if not any(item[1] == _CREATED for item in items[cid]):
            items[cid].append((as_utc(created), _CREATED, 0, {}))
    for answer in answers_for_reports(conn, ids):
        items[answer["conversation_id"]].append((answer["at"], _CSAT, answer["id"], answer))
    return items


def rebuild_batch(tx: Tx, after_id: int, limit: int = REBUILD_BATCH) -> tuple[int | None, int, int]:
    """Replace the facts of the next ``limit`` conversations after ``after_id`` with those
    their timelines give, and their report columns; (the last id done, or None when there
    were none; how many conversations; the facts written)."""
    conn = tx.conn
    ids = list(conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.id > after_id)
                            .order_by(CONVERSATIONS.c.id).limit(limit)).scalars())
    if not ids:
        return None, 0, 0
    history = _History(conn)
    found = timelines(conn, ids)
    rollups.facts_replaced(conn, ids)
    conn.execute(delete(FACTS).where(FACTS.c.conversation_id.in_(ids)))
    rows: list[dict[str, Any]] = []
    for cid in ids:
        p, facts = replay(cid, found[cid], history)
        rows += facts
        if p.cycle:
            save(conn, p)
    if rows:
        if conn.dialect.name == "sqlite":
            first = rollups.next_fact_id(conn)
            for n, row in enumerate(rows):
                row["id"] = first + n
        conn.execute(insert(FACTS), rows)
    rollups.settle(conn)
    return ids[-1], len(ids), len(rows)


def rebuild(db: Database, progress: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Rebuild every conversation's facts, a batch a transaction, then the rollups from
    them, once (the rollup worker paused meanwhile); (conversations, facts)."""
    db.write_sync(rollups.clear)
    after, conversations, written = 0, 0, 0
    while True:
        last, done, facts = db.write_sync(lambda tx: rebuild_batch(tx, after))
        if last is None:
            break
        after, conversations, written = last, conversations + done, written + facts
        if progress is not None:
            progress(f"reports: {conversations} conversations, {written} facts")
    rollups.refold(db, progress)
    return conversations, written
