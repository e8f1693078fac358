"""SLA clocks: keeping each conversation's targets in step with what happens to it, the
scheduler's warnings and breaches, and the policies (docs/sla.md).

``sync`` is called in the transaction of every change that may matter (a customer
message, an agent's reply, a status, team, label or priority change); it reads the
conversation as it now is and brings its targets to match: which policy applies, which
targets are open, whether the clock runs or is paused. So no caller needs to know the
rules, and a change nobody foresaw is handled the same way. ``fire_due`` is the
scheduler's: it claims the targets whose warning or due time has come, by an indexed
``fire_at``, with a conditional update, so several processes never fire one twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from inbox import queries
from inbox.actions import reports
from inbox.actions.common import _log
from inbox.actions.context import Context
from inbox.actions.notifications import write_notification
from inbox.domain import serialize, sla
from inbox.domain.access import conversation_scopes
from inbox.domain.calendar import Calendar
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.events import CONVERSATION_UPDATED, SLA_BREACHED, SLA_WARNING
from inbox.domain.models import ConversationStatus, NotificationKind, Role
from inbox.domain.records import Dict
from inbox.domain.tables import (
    CALENDARS,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    INBOXES,
    MEMBERS,
    PREFERENCES,
    SLA_POLICIES,
    SLA_SPANS,
    SLA_TARGETS,
    TEAMS,
    USERS,
)
from inbox.storage.db import Tx
from inbox.storage.prepared import Prepared, as_utc

# Targets one scheduler (or replanning) transaction handles at most: a burst's first events
# go out after a tenth of a second, not after all of it; several processes share a burst
# (each claims a batch, skipping the rows another holds); on SQLite the event loop is held
# ~30 ms at a time (bench/sla.py).
FIRE_BATCH = 100
_FACT_COLUMNS = ("id", "status", "waiting_since", "team_id", "last_inbound_inbox_id", "priority", "sla_status",
                 "sla_due_at")
_CONVERSATION = Prepared(select(*(CONVERSATIONS.c[c] for c in _FACT_COLUMNS))
                         .where(CONVERSATIONS.c.id == bindparam("id")))
_LABEL_IDS = Prepared(select(CONVERSATION_LABELS.c.label_id)
                      .where(CONVERSATION_LABELS.c.conversation_id == bindparam("id")))
_TEAM_CALENDAR = Prepared(select(TEAMS.c.calendar_id).where(TEAMS.c.id == bindparam("id")))
_INBOX_CALENDAR = Prepared(select(INBOXES.c.calendar_id).where(INBOXES.c.id == bindparam("id")))
_TARGET_COLUMNS = ("id", "policy_id", "kind", "cycle", "started_at", "budget_seconds", "used_seconds", "resumed_at",
                   "due_at", "warn_at", "fire_at", "status", "warned_at", "met_at", "missed_at", "ended",
                   "calendar_id", "calendar_version")
_RECENT_TARGETS = Prepared(select(*(SLA_TARGETS.c[c] for c in _TARGET_COLUMNS))
                           .where(SLA_TARGETS.c.conversation_id == bindparam("id"))
                           .order_by(SLA_TARGETS.c.id.desc()).limit(20))
_OPEN_SPAN = Prepared(select(SLA_SPANS.c.id, SLA_SPANS.c.state).where(
    SLA_SPANS.c.conversation_id == bindparam("id"), SLA_SPANS.c.ended_at.is_(None)))
_SUMMARY = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(
    sla_status=bindparam("b_status"), sla_due_at=bindparam("b_due")))
_DATES = frozenset(c for c in _TARGET_COLUMNS if c.endswith("_at"))


def _target(row: Sequence[Any]) -> dict[str, Any]:
    t = dict(zip(_TARGET_COLUMNS, row))
    for key in _DATES:
        if t[key] is not None:
            t[key] = as_utc(t[key])
    return t


class _Clock:
    """What a sync works with: the conversation, its policy, and (read only when a target
    starts, pauses or resumes) the policy's calendar."""

    def __init__(self, tx: Tx, conv: Mapping[str, Any], now: datetime, policy: Mapping[str, Any]) -> None:
        self.tx, self.conv, self.now, self.policy = tx, conv, now, policy

    @functools.cached_property
    def _calendar(self) -> tuple[Calendar | None, int | None, int | None]:
        """The policy's calendar: its own, else the team's, else the inbox's; none (calendar
        time) when the policy counts calendar time or no calendar is set."""
        conn, conv, policy = self.tx.conn, self.conv, self.policy
        calendar_id = None
        if policy["business_hours"]:
            calendar_id = policy["calendar_id"]
            if calendar_id is None and conv["team_id"] is not None:
                row = _TEAM_CALENDAR.first(conn, {"id": conv["team_id"]})
                calendar_id = row[0] if row is not None else None
            if calendar_id is None and conv["last_inbound_inbox_id"] is not None:
                row = _INBOX_CALENDAR.first(conn, {"id": conv["last_inbound_inbox_id"]})
                calendar_id = row[0] if row is not None else None
        found = queries.calendar_version(conn, calendar_id)
        return (None, None, None) if found is None else (found[0], calendar_id, found[1])

    @property
    def calendar(self) -> Calendar | None:
        return self._calendar[0]

    @property
    def calendar_id(self) -> int | None:
        return self._calendar[1]

    @property
    def calendar_version(self) -> int | None:
        return self._calendar[2]


def sync(tx: Tx, conversation_id: int, now: datetime, conv: Mapping[str, Any] | None = None, *,
         any_policy: bool = True) -> Dict | None:
    """Bring the conversation's SLA targets in step with the conversation as it is now (in
    the transaction that changed it; ``conv``: its row as just written, when the caller has
    it, with the columns of ``_FACT_COLUMNS``; ``any_policy`` False: the caller has read that
    no policy is on, ingest's way of paying nothing for SLAs where there are none). Returns
    the new summary columns (``sla_status``, ``sla_due_at``) when they changed, else None."""
    conn = tx.conn
    if not any_policy and conv is not None and conv.get("sla_status") is None:
        return None
    policies = queries.enabled_policies(conn)
    if conv is None:
        row = _CONVERSATION.first(conn, {"id": conversation_id})
        if row is None:
            return None
        conv = dict(zip(_FACT_COLUMNS, row))
        for key in ("waiting_since", "sla_due_at"):
            conv[key] = as_utc(conv[key]) if conv[key] is not None else None
    if not policies and conv.get("sla_status") is None:
        return None  # no SLA anywhere: one read
    targets = [_target(r) for r in _RECENT_TARGETS.all(conn, {"id": conversation_id})]
    open_ = [t for t in targets if t["ended"] is None]
    span = _OPEN_SPAN.first(conn, {"id": conversation_id})
    status = conv["status"]
    # The clock's next state: running, paused, stopped (resolved: the cycle is over) or None.
    state: str | None = None
    if status == ConversationStatus.resolved:
        for t in open_:
            _end(conn, conversation_id, t, now, "resolved")
        if open_ or span is not None:
            state = "stopped"
    else:
        policy = None
        if policies:
            labels = frozenset(r[0] for r in _LABEL_IDS.all(conn, {"id": conversation_id})) \
                if any(p["conditions"].get("label_ids") for p in policies) else frozenset()
            policy = sla.choose(policies, sla.Facts(conv["last_inbound_inbox_id"], conv["team_id"], labels,
                                                    conv["priority"]))
        current = open_[0]["policy_id"] if open_ else None
        if open_ and (policy is None or current != policy["id"]):
            for t in open_:
                _end(conn, conversation_id, t, now, "replaced")
            _log(tx, conversation_id, "sla_policy", None, {
                "from": _policy_ref(conn, current), "to": _policy_ref(conn, policy["id"]) if policy else None}, now)
            open_ = []
        if policy is not None:
            clock = _Clock(tx, conv, now, policy)
            if _reconcile(clock, targets, open_, cycle_over=span is not None and span[1] == "stopped"
                          or not targets):
                state = "paused" if status in policy["pause_statuses"] else "running"
    return _summarize(tx, conversation_id, conv, now, state, [t for t in open_ if t["ended"] is None],
                      span)


def _policy_ref(conn: Connection, policy_id: int | None) -> Dict | None:
    if policy_id is None:
        return None
    name = conn.execute(select(SLA_POLICIES.c.name).where(SLA_POLICIES.c.id == policy_id)).scalar()
    return {"id": policy_id, "name": name}


def _reconcile(clock: _Clock, targets: list[dict[str, Any]], open_: list[dict[str, Any]], *,
               cycle_over: bool) -> bool:
    """Open what should be open, end what is done, pause or resume the rest; whether any
    target is left open. ``cycle_over``: it was resolved since (or never had a target), so
    what opens now belongs to a new cycle."""
    conn, conv, now, policy = clock.tx.conn, clock.conv, clock.now, clock.policy
    cycle = max((t["cycle"] for t in targets), default=0) + (1 if cycle_over and not open_ else 0)
    waiting = conv["waiting_since"] is not None
    kinds = {t["kind"]: t for t in open_}
    response = kinds.get(sla.Kind.first_response) or kinds.get(sla.Kind.next_response)
    if response is not None and not waiting:
        _end(conn, clock.conv["id"], response, now, "met")  # an agent answered
        open_.remove(response)
        response = None
    if response is None and waiting:
        in_cycle = [t for t in targets if t["cycle"] == cycle]
        start = min((t["started_at"] for t in in_cycle), default=now)
        answered = queries.agent_replied_since(conn, conv["id"], start)
        kind = sla.Kind.next_response if answered else sla.Kind.first_response
        if policy[sla.MINUTES[kind]]:
            open_.append(_start(clock, kind, cycle))
    if sla.Kind.resolution not in kinds and policy[sla.MINUTES[sla.Kind.resolution]]:
        open_.append(_start(clock, sla.Kind.resolution, cycle))
    paused = conv["status"] in policy["pause_statuses"]
    for t in open_:
        if paused and t["status"] == sla.Status.running:
            _pause(clock, t)
        elif not paused and t["status"] == sla.Status.paused:
            _resume(clock, t)
    return bool(open_)


def _start(clock: _Clock, kind: sla.Kind, cycle: int) -> dict[str, Any]:
    budget = int(clock.policy[sla.MINUTES[kind]]) * 60
    t: dict[str, Any] = {
        "conversation_id": clock.conv["id"], "policy_id": clock.policy["id"], "kind": kind.value, "cycle": cycle,
        "started_at": clock.now, "budget_seconds": budget, "used_seconds": 0.0, "resumed_at": None,
        "due_at": None, "warn_at": None, "fire_at": None, "status": sla.Status.paused.value, "warned_at": None,
        "met_at": None, "missed_at": None, "ended": None, "calendar_id": clock.calendar_id,
        "calendar_version": clock.calendar_version}
    t["id"] = clock.tx.conn.execute(insert(SLA_TARGETS).values(t)).inserted_primary_key[0]  # type: ignore[index]
    return t  # paused: _reconcile resumes it if the status lets it run


def _pause(clock: _Clock, t: dict[str, Any]) -> None:
    t["used_seconds"] += sla.used(clock.calendar, t["resumed_at"], clock.now)
    _set(clock.tx.conn, t, used_seconds=t["used_seconds"], resumed_at=None, due_at=None, warn_at=None, fire_at=None,
         status=sla.Status.paused.value)


def _resume(clock: _Clock, t: dict[str, Any]) -> None:
    due, warn = sla.plan(t["budget_seconds"], t["used_seconds"], clock.now, clock.policy["warn_percent"],
                         clock.calendar)
    if t["warned_at"] is not None:
        warn = None
    _set(clock.tx.conn, t, resumed_at=clock.now, due_at=due, warn_at=warn, fire_at=warn or due,
         status=sla.Status.running.value, calendar_id=clock.calendar_id, calendar_version=clock.calendar_version)


def _end(conn: Connection, conversation_id: int, t: dict[str, Any], now: datetime, why: str) -> None:
    """Stop a target: met (an answer, or the resolution), or replaced by another policy's.
    A missed target stays missed; its met_at says when it was met after all. Met in time,
    it is a report fact (a miss was one when it happened)."""
    missed = t["status"] == sla.Status.missed
    if t["resumed_at"] is not None:
        found = queries.calendar_version(conn, t["calendar_id"])
        t["used_seconds"] += sla.used(found[0] if found else None, t["resumed_at"], now)
    status = sla.Status.missed if missed else sla.Status.replaced if why == "replaced" else sla.Status.met
    _set(conn, t, ended=why, status=status.value, met_at=None if why == "replaced" else now, resumed_at=None,
         fire_at=None, warn_at=None, used_seconds=t["used_seconds"])
    if status == sla.Status.met:
        reports.record_sla(conn, conversation_id, t["kind"], True, now)


def _set(conn: Connection, t: dict[str, Any], **values: Any) -> None:
    t.update(values)
    conn.execute(update(SLA_TARGETS).where(SLA_TARGETS.c.id == t["id"]).values(**values))


KEEP = "keep"


def _summarize(tx: Tx, conversation_id: int, conv: Mapping[str, Any], now: datetime, state: str | None,
               open_: list[dict[str, Any]] | None = None, span: Sequence[Any] | None = None) -> Dict | None:
    """The conversation's summary columns from its open targets, and its clock's span:
    ``state`` running, paused, stopped (resolved), None (no SLA) or KEEP (unchanged)."""
    conn = tx.conn
    if open_ is None:  # (a sync passes what it has in hand: the targets, the span as it read it)
        open_ = [t for t in (_target(r) for r in _RECENT_TARGETS.all(conn, {"id": conversation_id}))
                 if t["ended"] is None]
    running = [t for t in open_ if t["status"] == sla.Status.running]
    status: str | None = None
    if any(t["status"] == sla.Status.missed for t in open_):
        status = sla.Summary.breached
    elif any(t["warned_at"] is not None for t in running):
        status = sla.Summary.due_soon
    elif running:
        status = sla.Summary.running
    elif open_:
        status = sla.Summary.paused
    # The soonest due time, or the longest overdue: what the list sorts by.
    due = min((t["due_at"] for t in open_ if t["due_at"] is not None
               and t["status"] in (sla.Status.running, sla.Status.missed)), default=None)
    if state != KEEP:
        if span is None:
            span = _OPEN_SPAN.first(conn, {"id": conversation_id})
        if span is not None and span[1] != state:
            conn.execute(update(SLA_SPANS).where(SLA_SPANS.c.id == span[0]).values(ended_at=now))
        if state is not None and (span is None or span[1] != state):
            conn.execute(insert(SLA_SPANS).values(conversation_id=conversation_id, state=state,
                                                  reason=str(conv["status"]), started_at=now))
    if status == conv.get("sla_status") and due == conv.get("sla_due_at"):
        return None
    _SUMMARY.execute(conn, {"b_id": conversation_id, "b_status": status, "b_due": due})
    return {"sla_status": status, "sla_due_at": due}


# -- the scheduler's work --------------------------------------------------------------------


def fire_due(tx: Tx, now: datetime, limit: int = FIRE_BATCH) -> int:
    """Warn or breach every target whose time has come (up to ``limit``, the earliest
    first); how many fired. Each is claimed by a conditional update on its ``fire_at``,
    and on PostgreSQL rows another process holds are skipped, so two schedulers never
    fire one target twice."""
    conn = tx.conn
    t = SLA_TARGETS.c
    query = select(*(t[c] for c in _TARGET_COLUMNS), t.conversation_id).where(
        t.fire_at.is_not(None), t.fire_at <= now).order_by(t.fire_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    fired: list[tuple[int, dict[str, Any], bool]] = []
    for row in conn.execute(query).all():
        target = _target(row[:-1])
        breach = target["due_at"] is not None and target["due_at"] <= now
        claim = update(SLA_TARGETS).where(t.id == target["id"], t.fire_at == row.fire_at)
        values: dict[str, Any] = (
            {"status": sla.Status.missed.value, "missed_at": target["due_at"], "fire_at": None, "warn_at": None,
             "warned_at": target["warned_at"] or target["due_at"]} if breach
            else {"warned_at": target["warn_at"], "warn_at": None, "fire_at": target["due_at"]})
        if conn.execute(claim.values(**values)).rowcount:
            target.update(values)  # the row as it now is: nothing to read back
            if breach:
                reports.record_sla(conn, row[-1], target["kind"], False, target["due_at"])
            fired.append((row[-1], target, breach))
    if fired:
        _announce(tx, fired, now)
    return len(fired)


def _announce(tx: Tx, fired: list[tuple[int, dict[str, Any], bool]], now: datetime) -> None:
    """Warnings and breaches: each conversation's summary, its timeline, the live event, and
    the notifications of its assignee and its team's leads (every lead when it has no team).
    The conversations, the leads and their preferences are read once for the whole batch:
    a burst of due times costs about six statements a target, not fourteen (bench/sla.py)."""
    conn = tx.conn
    for conversation_id in dict.fromkeys(c for c, _, _ in fired):
        _summarize(tx, conversation_id, {}, now, KEEP)
    convs = queries.get_conversations(conn, [c for c, _, _ in fired])
    every_lead, team_leads = _leads(conn)
    told = {cid: _told(every_lead, team_leads, convs[cid]["assignee_id"], convs[cid]["team_id"])
            for cid, _, _ in fired}
    refusing = _refusing(conn, sorted({u for users in told.values() for u in users}))
    for conversation_id, target, breach in fired:
        conv = convs[conversation_id]
        kind = "sla_breached" if breach else "sla_warning"
        due = serialize.iso(target["due_at"])
        _log(tx, conversation_id, kind, None, {"target": target["kind"], "due_at": due}, now)
        tx.emit(SLA_BREACHED if breach else SLA_WARNING,
                {"conversation": conv, "target": serialize.sla_target_dict(target)},
                conversation_scopes(conv["assignee_id"], conv["team_id"]))
        label = target["kind"].replace("_", " ").capitalize()
        preview = f"{label} missed" if breach else f"{label} due soon"  # when: the notification's own time
        notification = NotificationKind.sla_breached if breach else NotificationKind.sla_warning
        for user_id in told[conversation_id]:
            if (user_id, notification) not in refusing:
                write_notification(tx, user_id, notification, conversation_id, now,
                                   contact_name=conv["contact"]["name"], preview=preview)


def _leads(conn: Connection) -> tuple[set[int], dict[int, set[int]]]:
    """The active leads, and those of each team."""
    u, m = USERS.c, MEMBERS.c
    every: set[int] = set()
    by_team: dict[int, set[int]] = {}
    for user_id, team_id in conn.execute(select(u.id, m.team_id).select_from(
            USERS.outerjoin(MEMBERS, m.user_id == u.id)).where(u.role == Role.lead.value, u.active.is_(True))):
        every.add(user_id)
        if team_id is not None:
            by_team.setdefault(team_id, set()).add(user_id)
    return every, by_team


def _told(every_lead: set[int], team_leads: dict[int, set[int]], assignee_id: int | None,
          team_id: int | None) -> list[int]:
    users = set(team_leads.get(team_id, ())) if team_id is not None else set(every_lead)
    if assignee_id is not None:
        users.add(assignee_id)
    return sorted(users)


def _refusing(conn: Connection, user_ids: list[int]) -> set[tuple[int, NotificationKind]]:
    """Which of these users turned off which SLA notification (everyone wants them unless they said no)."""
    p = PREFERENCES.c
    out: set[tuple[int, NotificationKind]] = set()
    if not user_ids:
        return out
    for user_id, warning, breached in conn.execute(select(p.user_id, p.notify_sla_warning, p.notify_sla_breached)
                                                   .where(p.user_id.in_(user_ids))):
        if warning is not None and not warning:
            out.add((user_id, NotificationKind.sla_warning))
        if breached is not None and not breached:
            out.add((user_id, NotificationKind.sla_breached))
    return out


# -- a calendar changed -----------------------------------------------------------------------


async def replan_calendar(ctx: Context, calendar_id: int) -> int:
    """A calendar was edited (a holiday added, hours changed): every target running in its
    business time gets its due and warning times worked out again from now, in batches
    (the writer is never held long). The time used so far is counted in the calendar as
    it now is. Answers how many targets moved."""
    moved, after = 0, 0
    while True:
        count, last = await ctx.db.write(lambda tx: _replan(tx, calendar_id, after, ctx.clock.now()))
        moved += count
        if last is None:
            return moved
        after = last


def _replan(tx: Tx, calendar_id: int, after: int, now: datetime) -> tuple[int, int | None]:
    conn = tx.conn
    found = queries.calendar_version(conn, calendar_id)
    if found is None:
        return 0, None
    calendar, version = found
    t = SLA_TARGETS.c
    rows = conn.execute(select(*(t[c] for c in _TARGET_COLUMNS), t.conversation_id, SLA_POLICIES.c.warn_percent)
                        .join(SLA_POLICIES, SLA_POLICIES.c.id == t.policy_id)
                        .where(t.calendar_id == calendar_id, t.status == sla.Status.running.value,
                               t.ended.is_(None), t.id > after).order_by(t.id).limit(FIRE_BATCH)).all()
    conversations = set()
    for row in rows:
        target = _target(row[:-2])
        used_seconds = target["used_seconds"] + sla.used(calendar, target["resumed_at"], now)
        due, warn = sla.plan(target["budget_seconds"], used_seconds, now, row[-1], calendar)
        if target["warned_at"] is not None:
            warn = None
        conn.execute(update(SLA_TARGETS).where(t.id == target["id"], t.resumed_at == row.resumed_at).values(
            used_seconds=used_seconds, resumed_at=now, due_at=due, warn_at=warn, fire_at=warn or due,
            calendar_version=version))
        conversations.add(row[-2])
    for conversation_id in sorted(conversations):
        if _summarize(tx, conversation_id, {}, now, KEEP) is not None:
            conv = queries.get_conversation(conn, conversation_id)
            assert conv is not None
            tx.emit(CONVERSATION_UPDATED, {"conversation": conv},
                    conversation_scopes(conv["assignee_id"], conv["team_id"]))
    return len(rows), (rows[-1].id if len(rows) == FIRE_BATCH else None)


# -- policies ---------------------------------------------------------------------------------


def _check_refs(conn: Connection, values: Mapping[str, Any]) -> None:
    if values.get("calendar_id") is not None and conn.execute(
            select(CALENDARS.c.id).where(CALENDARS.c.id == values["calendar_id"])).first() is None:
        raise Invalid("calendar_id: no such calendar", "invalid_sla_policy")
    if "name" in values and conn.execute(select(SLA_POLICIES.c.id).where(
            SLA_POLICIES.c.name == values["name"], SLA_POLICIES.c.id != values.get("id", 0))).first() is not None:
        raise Invalid(f"name: a policy called {values['name']!r} exists", "invalid_sla_policy")


async def create_sla_policy(ctx: Context, body: Mapping[str, Any]) -> Dict:
    values = sla.check(body, creating=True)

    def job(tx: Tx) -> Dict:
        _check_refs(tx.conn, values)
        now = ctx.clock.now()
        row = {"position": 0, "enabled": True, "conditions": {}, "business_hours": False, "calendar_id": None,
               "pause_statuses": list(sla.PAUSABLE), "warn_percent": 75, "first_response_minutes": None,
               "next_response_minutes": None, "resolution_minutes": None, **values, "created_at": now,
               "updated_at": now}
        policy_id = tx.conn.execute(insert(SLA_POLICIES).values(row)).inserted_primary_key[0]  # type: ignore[index]
        found = queries.get_policy(tx.conn, policy_id)
        assert found is not None
        return found
    return await ctx.db.write(job)


async def update_sla_policy(ctx: Context, policy_id: int, body: Mapping[str, Any]) -> Dict:
    """Change a policy. Targets already running keep the times they were given; the
    change applies wherever the policy is chosen from now on."""
    values = sla.check(body, creating=False)

    def job(tx: Tx) -> Dict:
        if queries.get_policy(tx.conn, policy_id) is None:
            raise NotFound("no such SLA policy")
        _check_refs(tx.conn, {**values, "id": policy_id})
        if values:
            tx.conn.execute(update(SLA_POLICIES).where(SLA_POLICIES.c.id == policy_id)
                            .values(**values, updated_at=ctx.clock.now()))
        found = queries.get_policy(tx.conn, policy_id)
        assert found is not None
        if not any(found[m] for m in sla.MINUTES.values()):
            raise Invalid("a policy needs at least one target", "invalid_sla_policy")
        return found
    return await ctx.db.write(job)


async def move_sla_policy(ctx: Context, policy_id: int, step: int) -> list[Dict]:
    """Move a policy ``step`` places earlier (negative) or later in the order they are
    tried; every policy is numbered again by its place (0, 1, 2...), in one transaction, so
    equal positions cannot leave a move without effect. Answers the policies in order."""
    def job(tx: Tx) -> list[Dict]:
        order = [p["id"] for p in queries.list_policies(tx.conn)]
        if policy_id not in order:
            raise NotFound("no such SLA policy")
        at = order.index(policy_id)
        order.insert(max(0, min(len(order) - 1, at + step)), order.pop(at))
        now = ctx.clock.now()
        for position, pid in enumerate(order):
            tx.conn.execute(update(SLA_POLICIES).where(SLA_POLICIES.c.id == pid, SLA_POLICIES.c.position != position)
                            .values(position=position, updated_at=now))
        return queries.list_policies(tx.conn)
    return await ctx.db.write(job)


async def delete_sla_policy(ctx: Context, policy_id: int) -> int:
    """Delete a policy: its open targets end as replaced, and each of their conversations
    gets the policy that now applies. Its past targets stay, without a policy. Answers how
    many conversations were moved."""
    def job(tx: Tx) -> int:
        conn, now = tx.conn, ctx.clock.now()
        if queries.get_policy(conn, policy_id) is None:
            raise NotFound("no such SLA policy")
        t = SLA_TARGETS.c
        affected = sorted(set(conn.execute(select(t.conversation_id).where(
            t.policy_id == policy_id, t.ended.is_(None))).scalars()))
        conn.execute(update(SLA_TARGETS).where(t.policy_id == policy_id, t.ended.is_(None)).values(
            ended="replaced", status=sla.Status.replaced.value, resumed_at=None, fire_at=None, warn_at=None))
        conn.execute(update(SLA_TARGETS).where(t.policy_id == policy_id).values(policy_id=None))
        conn.execute(delete(SLA_POLICIES).where(SLA_POLICIES.c.id == policy_id))
        for conversation_id in affected:
            sync(tx, conversation_id, now)
        return len(affected)
    return await ctx.db.write(job)
