"""The routing engine: one pass (``route``) does, in one transaction,

1. presence: this process's connected agents are seen; the unseen go offline after the
   grace period, the idle away (``presence.sweep``);
2. handbacks: an open conversation whose agent went offline or away after it was
   assigned goes back to the queue, where its policy routes and says so
   (``reassign_when_offline``), unless the agent replied within ``keep_replied_minutes``;
   a reopened one goes back unless its agent is eligible now (a lead's assignment stays
   while its agent is online);
3. no-reply timeouts: a routed conversation whose assignee has not answered the customer
   within ``no_reply_minutes`` goes to another eligible agent, or the leads are told;
4. assignment: waiting conversations, oldest first (or by priority, then waiting time),
   each to an eligible agent (a member of its team, or of its inbox's teams; online;
   with room under their capacity for its weight) chosen by the policy's mode.

Every decision is written to the conversation's timeline with its reason, in words
("assigned by routing to Kim: balanced, 3 of 8 open") and as data, and pushed as
``conversation.assigned`` with ``routing`` in it.

Across processes (PostgreSQL), a pass holds a transaction-scoped advisory lock: passes
run one at a time, so no two processes decide from the same loads, and each assignment
is a conditional update (still unassigned, still open) besides, so a person who takes a
conversation meanwhile wins. docs/routing.md has the rules.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, null, or_, select, text, update

from inbox import queries
from inbox.actions import presence
from inbox.actions.common import _log
from inbox.actions.context import Context
from inbox.actions.notifications import notify, write_notification
from inbox.domain import routing
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import Forbidden, Invalid, NotFound
from inbox.domain.events import CONVERSATION_ASSIGNED
from inbox.domain.models import NotificationKind, Role
from inbox.domain.routing import Mode, Presence
from inbox.domain.tables import AGENT_STATE, CONVERSATIONS, INBOXES, MESSAGES, TEAMS, USERS
from inbox.queries.routing import OPEN, PRIORITY_RANK, Agent, Snapshot
from inbox.storage.db import Tx
from inbox.storage.prepared import Prepared

ADVISORY_KEY = 0x726F757465  # "route": one pass at a time across processes (PostgreSQL)
MAX_PER_PASS = 500  # assignments per transaction; a pass that hits it runs again at once
FETCH_LIMIT = 5000  # waiting conversations read per pass


@dataclass
class PassResult:
    assigned: int = 0
    returned: int = 0
    reassigned: int = 0
    notified: int = 0
    presence: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # it stopped at MAX_PER_PASS: run again
    routed: bool = True  # some inbox or team routes (else events need not wake the loop)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


ONLINE = Presence.online.value


def pick(snap: Snapshot, policy: routing.Policy, pool: Iterable[Agent], weight: float,
         exclude: int | None = None) -> Agent | None:
    """The agent a conversation goes to under ``policy``, or None when nobody is eligible:
    round robin, the one assigned least recently; balanced, the least loaded, ties to the
    one assigned least recently. (The hot loop of a burst: plain comparisons.)"""
    best: Agent | None = None
    best_load = best_rank = 0.0
    balanced = policy["mode"] != Mode.round_robin
    default_capacity = policy["capacity"]
    for agent in pool:
        if agent.status != ONLINE or agent.id == exclude:
            continue
        load = agent.load
        capacity = agent.capacity if agent.capacity is not None else default_capacity
        if load + weight > capacity + 1e-9:  # routing.fits, inline
            continue
        rank = agent.rank
        if best is None:
            better = True
        elif balanced and abs(load - best_load) > 1e-9:
            better = load < best_load
        else:
            better = rank < best_rank or (rank == best_rank and agent.id < best.id)
        if better:
            best, best_load, best_rank = agent, load, rank
    return best


def _explain(policy: routing.Policy, agent: Agent, weight: float) -> str:
    mode = "round robin" if policy["mode"] == Mode.round_robin else "balanced"
    return f"{mode}, {routing.load_text(agent.load + weight, agent.capacity_for(policy))}"


# The writes of a move, compiled once and run on the driver's cursor (inbox/storage/prepared.py):
# a burst of 2,000 assignments is 6,000 statements, and SQLAlchemy's per-statement work
# would cost ten times what the database does (bench/routing.py).
_OPEN_NOW = or_(CONVERSATIONS.c.status == "open", CONVERSATIONS.c.status == "pending")
_MOVE_VALUES: dict[str, Any] = {"assignee_id": bindparam("b_to"), "assigned_by": bindparam("b_by"),
                                "assigned_at": bindparam("b_at"), "updated_at": bindparam("b_now")}
_CLAIM = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id"), _OPEN_NOW,
                                              CONVERSATIONS.c.assignee_id.is_(None)).values(_MOVE_VALUES))
_MOVE = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id"), _OPEN_NOW,
                                             CONVERSATIONS.c.assignee_id == bindparam("b_from")).values(_MOVE_VALUES))
@dataclass
class _Move:
    conv: Any
    agent: Agent | None
    reason: str
    data: dict[str, Any]


class _Moves:
    """Routing's moves in one pass: each is claimed at once (a conditional update: still
    unassigned, or still its agent's, and still open), so what the pass reads next sees it;
    ``flush`` then writes their timeline rows, live events and notifications, reading the
    moved conversations once."""

    def __init__(self, tx: Tx, snap: Snapshot, now: datetime) -> None:
        self.tx, self.snap, self.now = tx, snap, now
        self.done: list[_Move] = []

    def give(self, conv: Any, agent: Agent | None, reason: str, data: dict[str, Any], *,
             only_if_unassigned: bool) -> bool:
        """Give ``conv`` to ``agent`` (None: back to the queue), if it is still as read."""
        values = {"b_id": conv.id, "b_to": agent.id if agent else None, "b_by": "routing" if agent else None,
                  "b_at": self.now if agent else None, "b_now": self.now}
        if only_if_unassigned:
            claimed = _CLAIM.execute(self.tx.conn, values).rowcount == 1
        else:
            claimed = _MOVE.execute(self.tx.conn, {**values, "b_from": conv.assignee_id}).rowcount == 1
        if not claimed:
            return False  # someone else took it, or it was resolved, meanwhile
        weight = self.snap.weight(conv.last_inbound_inbox_id)
        if conv.assignee_id in self.snap.agents:
            self.snap.agents[conv.assignee_id].load -= weight
        if agent is not None:
            agent.load += weight
            agent.last_assigned_at = self.now
        self.done.append(_Move(conv, agent, reason, data))
        return True

    def flush(self) -> None:
        if not self.done:
            return
        tx, conn, now = self.tx, self.tx.conn, self.now
        convs = queries.get_conversations(conn, [m.conv.id for m in self.done])
        wanting = self.snap.wants_assigned
        for move in self.done:
            conv, before = move.conv, move.conv.assignee_id
            to = move.agent.id if move.agent else None
            kind = "unassigned" if to is None else ("reassigned" if before is not None else "assigned")
            _log(tx, conv.id, kind, None, {
                "from_user_id": before, "to_user_id": to, "from_team_id": conv.team_id, "to_team_id": conv.team_id,
                "by": "routing", "reason": move.reason, **move.data}, now)
            updated = convs[conv.id]
            scopes = sorted(set(conversation_scopes(before, conv.team_id)) | set(conversation_scopes(to, conv.team_id)))
            tx.emit(CONVERSATION_ASSIGNED, {"conversation": updated, "actor_id": None, "previous_assignee_id": before,
                                            "previous_team_id": conv.team_id,
                                            "routing": {"reason": move.reason, **move.data}}, scopes)
            if to is not None and wanting.get(to, True):
                write_notification(tx, to, NotificationKind.assigned, conv.id, now,
                                   contact_name=updated["contact"]["name"],
                                   preview=updated["last_message_preview"] or "")
        self.done = []


_CONV_COLUMNS = (CONVERSATIONS.c.id, CONVERSATIONS.c.assignee_id, CONVERSATIONS.c.team_id,
                 CONVERSATIONS.c.last_inbound_inbox_id, CONVERSATIONS.c.priority, CONVERSATIONS.c.waiting_since,
                 CONVERSATIONS.c.created_at, CONVERSATIONS.c.assigned_by, CONVERSATIONS.c.assigned_at,
                 CONVERSATIONS.c.status)


def _in_scope(inboxes: list[int], teams: list[int]) -> Any:
    return or_(CONVERSATIONS.c.last_inbound_inbox_id.in_(inboxes), CONVERSATIONS.c.team_id.in_(teams))


def _handbacks(tx: Tx, snap: Snapshot, now: datetime, reopened: Collection[int], result: PassResult) -> None:
    conn = tx.conn
    moves = _Moves(tx, snap, now)
    absent = [a.id for a in snap.agents.values() if a.status != Presence.online.value] + list(snap.inactive)
    inboxes, teams = snap.routed_scope()
    rows: list[Any] = []
    if absent and (inboxes or teams):
        last_reply = (select(func.max(MESSAGES.c.created_at)).where(
            MESSAGES.c.conversation_id == CONVERSATIONS.c.id, MESSAGES.c.author_id == CONVERSATIONS.c.assignee_id)
            .scalar_subquery().label("last_reply"))
        rows = list(conn.execute(select(*_CONV_COLUMNS, last_reply).where(
            CONVERSATIONS.c.assignee_id.in_(absent), CONVERSATIONS.c.status.in_(OPEN), _in_scope(inboxes, teams))))
    if reopened:
        seen = {r.id for r in rows}
        rows += [r for r in conn.execute(select(*_CONV_COLUMNS, null().label("last_reply")).where(
            CONVERSATIONS.c.id.in_(sorted(reopened)), CONVERSATIONS.c.assignee_id.is_not(None),
            CONVERSATIONS.c.status.in_(OPEN))) if r.id not in seen]
    for conv in rows:
        policy = snap.policy(conv.last_inbound_inbox_id, conv.team_id)
        if policy["mode"] == Mode.manual:
            continue
        agent = snap.agents.get(conv.assignee_id)
        if agent is None:
            if conv.assignee_id in snap.inactive:  # deactivated: gone for good, whoever assigned it
                reason = f"returned to queue: {snap.inactive[conv.assignee_id]} was deactivated"
                if moves.give(conv, None, reason, {"cause": "deactivated", "agent_id": conv.assignee_id},
                              only_if_unassigned=False):
                    result.returned += 1
            continue
        name = agent.name
        if agent.status != Presence.online.value:
            went = agent.since
            # A lead who gave it to someone already away decided so: only going away after counts.
            if went is None or (conv.assigned_at is not None and went < conv.assigned_at):
                continue
            if not policy["reassign_when_offline"] and conv.id not in reopened:
                continue
            keep = timedelta(minutes=policy["keep_replied_minutes"])
            if conv.id not in reopened and keep and conv.last_reply is not None and conv.last_reply >= now - keep:
                continue  # they were in the middle of it: it stays until their last reply is older
            # Offline: gone since their last socket closed (the grace period is part of it).
            gone = agent.last_seen_at if agent.status == Presence.offline.value and agent.last_seen_at else went
            reason = f"returned to queue: {name} {agent.status} for {_duration((now - gone).total_seconds())}"
            data = {"cause": agent.status, "agent_id": agent.id}
        elif conv.id in reopened and conv.assigned_by == "routing":
            weight = snap.weight(conv.last_inbound_inbox_id)
            capacity = agent.capacity_for(policy)
            if agent.load <= capacity + 1e-9:
                continue  # eligible: it stays with them (the reopened conversation already counts)
            reason = f"returned to queue: reopened, {name} is at capacity ({routing.load_text(agent.load, capacity)})"
            data = {"cause": "at_capacity", "agent_id": agent.id, "weight": weight}
        else:
            continue
        if moves.give(conv, None, reason, data, only_if_unassigned=False):
            result.returned += 1
    moves.flush()


def _leads(snap: Snapshot, team_id: int | None) -> list[int]:
    leads = [a.id for a in snap.agents.values() if a.role in (Role.lead.value, Role.admin.value)]
    in_team = [u for u in leads if team_id is not None and team_id in snap.agents[u].team_ids]
    return in_team or [u for u in leads if snap.agents[u].role == Role.lead.value] or leads


def _no_replies(tx: Tx, snap: Snapshot, now: datetime, result: PassResult) -> None:
    conn = tx.conn
    inboxes, teams = snap.routed_scope()
    minutes = [m for m in [snap.policy(i, None)["no_reply_minutes"] for i in inboxes] +
               [snap.teams[t]["routing"].get("no_reply_minutes", 0) for t in teams] if m]
    if not minutes:
        return
    earliest = now - timedelta(minutes=min(minutes))
    moves = _Moves(tx, snap, now)
    rows = conn.execute(select(*_CONV_COLUMNS).where(
        CONVERSATIONS.c.assigned_by == "routing", CONVERSATIONS.c.status == "open",
        CONVERSATIONS.c.waiting_since <= earliest, CONVERSATIONS.c.assigned_at <= earliest,
        or_(CONVERSATIONS.c.no_reply_handled.is_(None),
            CONVERSATIONS.c.no_reply_handled < CONVERSATIONS.c.waiting_since,
            CONVERSATIONS.c.no_reply_handled < CONVERSATIONS.c.assigned_at),
        _in_scope(inboxes, teams))).all()
    for conv in rows:
        policy = snap.policy(conv.last_inbound_inbox_id, conv.team_id)
        limit = policy["no_reply_minutes"]
        if policy["mode"] == Mode.manual or not limit:
            continue
        start = max(conv.waiting_since, conv.assigned_at)
        if now - start < timedelta(minutes=limit):
            continue
        current = snap.agents.get(conv.assignee_id)
        name = current.name if current else f"#{conv.assignee_id}"
        waited = _duration((now - start).total_seconds())
        weight = snap.weight(conv.last_inbound_inbox_id)
        other = None
        if policy["no_reply_action"] == "reassign":
            pool, _ = snap.pool(conv.last_inbound_inbox_id, conv.team_id)
            other = pick(snap, policy, pool, weight, exclude=conv.assignee_id)
        if other is not None:
            reason = (f"reassigned by routing to {other.name}: {name} had not replied for {waited}; "
                      f"{_explain(policy, other, weight)}")
            if moves.give(conv, other, reason, {"cause": "no_reply", "mode": policy["mode"], "agent_id": other.id,
                                                "previous_agent_id": conv.assignee_id}, only_if_unassigned=False):
                result.reassigned += 1
            continue
        # Told once for this wait and assignment (a reassignment starts a timer of its own).
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conv.id).values(no_reply_handled=now))
        why = "nobody else is eligible" if policy["no_reply_action"] == "reassign" else "leads told"
        _log(tx, conv.id, "no_reply", None, {"by": "routing", "agent_id": conv.assignee_id,
                                              "reason": f"{name} has not replied for {waited}; {why}"}, now)
        for lead in _leads(snap, conv.team_id):
            notify(tx, lead, NotificationKind.no_reply, conv.id, now, preview=f"{name} has not replied for {waited}")
            result.notified += 1
    moves.flush()


def _assign_waiting(tx: Tx, snap: Snapshot, now: datetime, result: PassResult) -> None:
    conn = tx.conn
    # Only conversations some eligible agent could take are read: a deep queue nobody can
    # serve (a team with nobody online) costs nothing per pass.
    online = {a.id for a in snap.agents.values() if a.status == Presence.online.value}
    if not online:
        return
    routed_inboxes, routed_teams = snap.routed_scope()
    staffed = {t for t, row in snap.teams.items() if online.intersection(row["members"])}
    # A team that sets its own mode routes in any inbox; one that does not, in routed inboxes.
    own_mode = {t for t, row in snap.teams.items() if "mode" in row["routing"]}
    teams_any = sorted(staffed & set(routed_teams))
    teams_inherit = sorted(staffed - own_mode)
    inboxes_ok = [i for i in routed_inboxes if online.intersection(a.id for a in snap.pool(i, None)[0])]
    moves = _Moves(tx, snap, now)
    c = CONVERSATIONS.c
    where = [c.assignee_id.is_(None), c.status.in_(OPEN),
             or_(c.team_id.in_(teams_any),
                 and_(c.team_id.in_(teams_inherit), c.last_inbound_inbox_id.in_(routed_inboxes)),
                 and_(c.team_id.is_(None), c.last_inbound_inbox_id.in_(inboxes_ok)))]
    rows = conn.execute(select(*_CONV_COLUMNS).where(*where).order_by(
        func.coalesce(CONVERSATIONS.c.waiting_since, CONVERSATIONS.c.created_at), CONVERSATIONS.c.id)
        .limit(FETCH_LIMIT)).all()

    def order(conv: Any) -> tuple[Any, ...]:
        policy = snap.policy(conv.last_inbound_inbox_id, conv.team_id)
        rank = PRIORITY_RANK.get(conv.priority, 4) if policy["queue_order"] == "priority" else 0
        return (rank, conv.waiting_since or conv.created_at, conv.id)

    for conv in sorted(rows, key=order):
        policy = snap.policy(conv.last_inbound_inbox_id, conv.team_id)
        if policy["mode"] == Mode.manual:
            continue
        pool, _ = snap.pool(conv.last_inbound_inbox_id, conv.team_id)
        weight = snap.weight(conv.last_inbound_inbox_id)
        agent = pick(snap, policy, pool, weight)
        if agent is None:
            continue
        reason = f"assigned by routing to {agent.name}: {_explain(policy, agent, weight)}"
        data = {"mode": policy["mode"], "agent_id": agent.id, "load": round(agent.load + weight, 3),
                "capacity": agent.capacity_for(policy)}
        if moves.give(conv, agent, reason, data, only_if_unassigned=True):
            result.assigned += 1
            if result.assigned >= MAX_PER_PASS:
                result.more = True
                break
    moves.flush()
    touched = [a.id for a in snap.agents.values() if a.last_assigned_at == now]
    if touched:
        conn.execute(update(AGENT_STATE).where(AGENT_STATE.c.user_id.in_(touched)).values(last_assigned_at=now))


def route(tx: Tx, now: datetime, grace: timedelta, connected: Collection[int] = (),
          reopened: Collection[int] = ()) -> PassResult:
    """One routing pass (see the module's docstring), inside a write transaction."""
    conn = tx.conn
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
    result = PassResult()
    result.presence = presence.sweep(tx, connected, now, grace)
    if not queries.anything_routed(conn):
        result.routed = False
        return result  # every inbox and team assigns by hand: nothing more to do
    snap = queries.routing_snapshot(conn)
    _handbacks(tx, snap, now, reopened, result)
    _no_replies(tx, snap, now, result)
    _assign_waiting(tx, snap, now, result)
    return result


async def run_pass(ctx: Context, connected: Collection[int] = (), reopened: Collection[int] = ()) -> PassResult:
    grace = timedelta(seconds=ctx.settings.presence_grace_seconds)
    return await ctx.db.write(lambda tx: route(tx, ctx.clock.now(), grace, connected, reopened))


# -- settings ------------------------------------------------------------------------------

async def change_routing(ctx: Context, target: str, target_id: int, patch: Any) -> dict[str, Any]:
    """PATCH /api/inboxes/{id} or /api/teams/{id} {"routing": {...}}, and the admin forms:
    the keys it sets, checked (None removes one); routing runs at once by the new policy.
    Returns the inbox's or team's name and its stored routing."""
    changed = await ctx.db.write(lambda tx: set_routing(tx, target, target_id, patch))
    ctx.wake_routing()
    return changed


def set_routing(tx: Tx, target: str, target_id: int, patch: Any) -> dict[str, Any]:
    table = INBOXES if target == "inbox" else TEAMS
    checked = routing.check(patch, for_team=target == "team")
    query = select(table.c.name, table.c.routing).where(table.c.id == target_id)
    if target == "inbox":
        query = query.where(INBOXES.c.deleted_at.is_(None))  # a deleted inbox is gone for every setting
    row = tx.conn.execute(query).first()
    if row is None:
        raise NotFound(f"no such {target}")
    if target == "inbox" and checked.get("team_ids"):
        known = set(tx.conn.execute(select(TEAMS.c.id).where(TEAMS.c.id.in_(checked["team_ids"]))).scalars())
        if missing := [t for t in checked["team_ids"] if t not in known]:
            raise Invalid(f"no such team: {', '.join(map(str, missing))}", "unknown_team")
    merged = routing.apply(row.routing, checked)
    tx.conn.execute(update(table).where(table.c.id == target_id).values(routing=merged))
    return {"name": row.name, "routing": merged}


def set_capacity(tx: Tx, viewer: Viewer, user_id: int, capacity: int | None, now: datetime) -> dict[str, Any]:
    """A lead or admin sets an agent's own capacity (None: the policy's)."""
    if not viewer.sees_all:
        raise Forbidden("only a lead or an admin sets an agent's capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or
                                 not 0 <= capacity <= 1000):
        raise Invalid("capacity must be a whole number from 0 to 1000, or null", "invalid_field")
    if tx.conn.execute(select(USERS.c.id).where(USERS.c.id == user_id)).first() is None:
        raise NotFound("no such user")
    presence.ensure_state(tx, user_id, now)
    tx.conn.execute(update(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id).values(capacity=capacity))
    snap = queries.routing_snapshot(tx.conn)
    return queries.describe_agent(snap, snap.agents[user_id]) if user_id in snap.agents else {}
