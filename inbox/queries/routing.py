"""What routing reads: the policies of inboxes and teams, the agents with their presence,
teams and weighted loads (``snapshot``, one read the engine and the board share), the
agents as GET /api/agents lists them, the waiting queue with why each conversation is
not assigned, and an agent's presence history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select

from inbox.domain import routing, serialize
from inbox.domain.models import Role
from inbox.domain.routing import Mode, Policy, Presence
from inbox.storage.prepared import Prepared, as_json, as_utc
from inbox.queries.calendars import calendar_version
from inbox.domain.tables import (
    AGENT_STATE,
    CONVERSATIONS,
    INBOXES,
    MEMBERS,
    PREFERENCES,
    PRESENCE_CHANGES,
    TEAMS,
    USERS,
)

ONLINE = Presence.online.value
ALL_AGENTS = "all agents"  # the pool of a conversation with no team, in an inbox that names none
OPEN = ("open", "pending")  # the statuses that count towards a load and wait in the queue
PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3, "none": 4}


@dataclass(eq=False)
class Agent:
    id: int
    name: str
    role: str
    status: str = Presence.offline.value
    chosen: str = Presence.online.value
    capacity: int | None = None  # their own; None: the policy's
    last_assigned_at: datetime | None = None
    team_ids: set[int] = field(default_factory=set)
    load: float = 0.0  # weighted open conversations
    open_by_channel: dict[str, int] = field(default_factory=dict)
    # As read (text on SQLite): parsed when asked for, since most passes never look.
    since_raw: Any = None
    last_seen_raw: Any = None
    last_assigned_raw: Any = None  # parsed into last_assigned_at for those online only

    @property
    def since(self) -> datetime | None:
        return _when(self.since_raw)

    @property
    def last_seen_at(self) -> datetime | None:
        return _when(self.last_seen_raw)

    @property
    def rank(self) -> float:
        """When routing last gave them one (0: never): round robin and ties go to the lowest."""
        return self.last_assigned_at.timestamp() if self.last_assigned_at else 0.0

    def capacity_for(self, policy: Policy) -> int:
        return self.capacity if self.capacity is not None else policy["capacity"]


@dataclass
class Snapshot:
    inboxes: dict[int, dict[str, Any]]  # id -> name, kind, routing
    teams: dict[int, dict[str, Any]]  # id -> name, routing, members (list of user ids)
    agents: dict[int, Agent]  # active users
    inactive: dict[int, str] = field(default_factory=dict)  # deactivated users: id -> name
    wants_assigned: dict[int, bool] = field(default_factory=dict)  # their "assigned" notification preference
    # Worked out once per pass: a burst asks the same few questions thousands of times.
    _policies: dict[tuple[int | None, int | None], Policy] = field(default_factory=dict)
    _pools: dict[tuple[int | None, int | None], tuple[list[Agent], str]] = field(default_factory=dict)

    def policy(self, inbox_id: int | None, team_id: int | None) -> Policy:
        key = (inbox_id, team_id)
        if (known := self._policies.get(key)) is not None:
            return known
        inbox = self.inboxes.get(inbox_id) if inbox_id is not None else None
        team = self.teams.get(team_id) if team_id is not None else None
        policy = routing.effective(inbox["routing"] if inbox else None, team["routing"] if team else None)
        self._policies[key] = policy
        return policy

    def weight(self, inbox_id: int | None) -> float:
        return self.policy(inbox_id, None)["weight"]

    def pool(self, inbox_id: int | None, team_id: int | None) -> tuple[list[Agent], str]:
        """Who may take a conversation, and a name for them (for reasons): the members of
        its team; without a team, the members of its inbox's teams; without those, every
        active agent."""
        key = (inbox_id, team_id if team_id in self.teams else None)
        if (known := self._pools.get(key)) is None:
            known = self._pools[key] = self._pool(*key)
        return known

    def _pool(self, inbox_id: int | None, team_id: int | None) -> tuple[list[Agent], str]:
        if team_id is not None and team_id in self.teams:
            team = self.teams[team_id]
            return [self.agents[u] for u in team["members"] if u in self.agents], f"team {team['name']}"
        inbox = self.inboxes.get(inbox_id) if inbox_id is not None else None
        team_ids = [t for t in (routing.effective(inbox["routing"], None)["team_ids"] if inbox else [])
                    if t in self.teams]
        if team_ids:
            members = {u for t in team_ids for u in self.teams[t]["members"] if u in self.agents}
            names = ", ".join(self.teams[t]["name"] for t in team_ids)
            return [self.agents[u] for u in sorted(members)], f"team {names}" if len(team_ids) == 1 else \
                f"teams {names}"
        return [a for a in self.agents.values() if a.role == Role.agent.value], ALL_AGENTS

    def routed_scope(self) -> tuple[list[int], list[int]]:
        """Inboxes and teams whose policy routes (not manual): what handbacks and timeouts
        look at."""
        inboxes = [i for i, row in self.inboxes.items() if self.policy(i, None)["mode"] != Mode.manual]
        teams = [t for t, row in self.teams.items() if row["routing"].get("mode") not in (None, Mode.manual.value)]
        return inboxes, teams


# A pass reads every user and every open assigned conversation: through the driver's
# cursor (inbox/storage/prepared.py), which costs a tenth of SQLAlchemy's result rows.
_POLICIES = Prepared(select(INBOXES.c.id, INBOXES.c.name, INBOXES.c.kind, INBOXES.c.routing)
                     .where(INBOXES.c.deleted_at.is_(None)))
_TEAMS = Prepared(select(TEAMS.c.id, TEAMS.c.name, TEAMS.c.routing))
_USERS = Prepared(select(USERS.c.id, USERS.c.name, USERS.c.email, USERS.c.role, USERS.c.active, AGENT_STATE.c.status,
                         AGENT_STATE.c.since, AGENT_STATE.c.chosen, AGENT_STATE.c.capacity,
                         AGENT_STATE.c.last_assigned_at, AGENT_STATE.c.last_seen_at, PREFERENCES.c.notify_assigned)
                  .select_from(USERS.outerjoin(AGENT_STATE, AGENT_STATE.c.user_id == USERS.c.id)
                               .outerjoin(PREFERENCES, PREFERENCES.c.user_id == USERS.c.id)).order_by(USERS.c.id))
_MEMBERS = Prepared(select(MEMBERS.c.team_id, MEMBERS.c.user_id))
_OPEN_STATUS = or_(CONVERSATIONS.c.status == "open", CONVERSATIONS.c.status == "pending")
_LOAD_KEYS = (CONVERSATIONS.c.assignee_id, CONVERSATIONS.c.last_inbound_inbox_id, CONVERSATIONS.c.channel)
_LOADS = Prepared(select(*_LOAD_KEYS, func.count()).where(_OPEN_STATUS, CONVERSATIONS.c.assignee_id.is_not(None))
                  .group_by(*_LOAD_KEYS))


def _json(value: Any) -> dict[str, Any]:
    """A JSON column read through the cursor: text on SQLite, already decoded on PostgreSQL."""
    return dict(as_json(value)) if value is not None else {}


def _when(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


def anything_routed(conn: Connection) -> bool:
    """Whether any inbox or team routes (a mode other than manual): else a pass has
    nothing to do but presence."""
    policies = [_json(r[3]) for r in _POLICIES.execute(conn, {}).fetchall()] + \
        [_json(r[2]) for r in _TEAMS.execute(conn, {}).fetchall()]
    return any(p.get("mode") not in (None, Mode.manual.value) for p in policies)


def routing_snapshot(conn: Connection) -> Snapshot:
    inboxes = {r[0]: {"name": r[1], "kind": r[2], "routing": _json(r[3])}
               for r in _POLICIES.execute(conn, {}).fetchall()}
    teams: dict[int, dict[str, Any]] = {r[0]: {"name": r[1], "routing": _json(r[2]), "members": []}
                                        for r in _TEAMS.execute(conn, {}).fetchall()}
    agents: dict[int, Agent] = {}
    inactive: dict[int, str] = {}
    wants: dict[int, bool] = {}
    for (uid, name, email, role, active, status, since, chosen, capacity, last_assigned, last_seen,
         notify_assigned) in _USERS.execute(conn, {}).fetchall():
        if not active:
            inactive[uid] = name or email
            continue
        online = status == ONLINE
        agents[uid] = Agent(uid, name or email, role, status=status or Presence.offline.value,
                            chosen=chosen or Presence.online.value, capacity=capacity,
                            last_assigned_at=_when(last_assigned) if online else None, since_raw=since,
                            last_seen_raw=last_seen, last_assigned_raw=last_assigned)
        wants[uid] = notify_assigned is None or bool(notify_assigned)
    for team_id, user_id in _MEMBERS.execute(conn, {}).fetchall():
        if team_id in teams:
            teams[team_id]["members"].append(user_id)
        if user_id in agents:
            agents[user_id].team_ids.add(team_id)
    for row in teams.values():
        row["members"].sort()
    weights = {i: routing.effective(row["routing"], None)["weight"] for i, row in inboxes.items()}
    for assignee, inbox_id, channel, count in _LOADS.execute(conn, {}).fetchall():
        agent = agents.get(assignee)
        if agent is None:
            continue
        agent.load += count * weights.get(inbox_id, routing.DEFAULTS["weight"])
        key = channel or "none"
        agent.open_by_channel[key] = agent.open_by_channel.get(key, 0) + count
    return Snapshot(inboxes, teams, agents, inactive, wants)


def display_capacity(snap: Snapshot, agent: Agent, pools: dict[int, set[int]] | None = None) -> int:
    """The capacity to show for an agent: their own; else the largest their teams set;
    else the largest of the routed inboxes whose conversations they take; else the default."""
    if agent.capacity is not None:
        return agent.capacity
    caps = [snap.teams[t]["routing"]["capacity"] for t in agent.team_ids
            if t in snap.teams and "capacity" in snap.teams[t]["routing"]]
    if not caps:
        pools = pools if pools is not None else inbox_pools(snap)
        caps = [snap.policy(i, None)["capacity"] for i, members in pools.items() if agent.id in members]
    return max(caps) if caps else routing.DEFAULTS["capacity"]


def inbox_pools(snap: Snapshot) -> dict[int, set[int]]:
    """Routed inbox -> the agents who take its conversations without a team."""
    routed, _ = snap.routed_scope()
    return {i: {a.id for a in snap.pool(i, None)[0]} for i in routed}


def describe_agent(snap: Snapshot, agent: Agent, pools: dict[int, set[int]] | None = None) -> dict[str, Any]:
    capacity = display_capacity(snap, agent, pools)
    return {"id": agent.id, "name": agent.name, "role": agent.role, "status": agent.status,
            "since": serialize.iso(agent.since), "capacity": capacity, "own_capacity": agent.capacity,
            "load": round(agent.load, 3), "open": sum(agent.open_by_channel.values()),
            "open_by_channel": dict(sorted(agent.open_by_channel.items())),
            "can_take_more": agent.status == Presence.online.value and routing.fits(agent.load, 1.0, capacity),
            "team_ids": sorted(agent.team_ids),
            "last_assigned_at": serialize.iso(agent.last_assigned_at or _when(agent.last_assigned_raw))}


def list_agents(conn: Connection) -> list[dict[str, Any]]:
    """GET /api/agents: every active user with their presence, load and capacity."""
    snap = routing_snapshot(conn)
    pools = inbox_pools(snap)
    return [describe_agent(snap, a, pools) for a in snap.agents.values()]


def pool_teams(snap: Snapshot, inbox_id: int | None, team_id: int | None) -> list[int]:
    """The teams whose members may take a conversation: its own, else its inbox's."""
    if team_id is not None and team_id in snap.teams:
        return [team_id]
    inbox = snap.inboxes.get(inbox_id) if inbox_id is not None else None
    return [t for t in routing.effective(inbox["routing"] if inbox else None, None)["team_ids"] if t in snap.teams]


def why_waiting(snap: Snapshot, inbox_id: int | None, team_id: int | None) -> tuple[str, str]:
    """Why a conversation in the queue is not assigned: a code and a sentence."""
    policy = snap.policy(inbox_id, team_id)
    if policy["mode"] == Mode.manual:
        inbox = snap.inboxes.get(inbox_id) if inbox_id is not None else None
        where = f"team {snap.teams[team_id]['name']}" if team_id in snap.teams and \
            snap.teams[team_id]["routing"].get("mode") == Mode.manual else (inbox["name"] if inbox else "this inbox")
        return "manual", f"assigned by hand: {where} does not route"
    pool, name = snap.pool(inbox_id, team_id)
    among = f" in {name}" if name != ALL_AGENTS else ""
    if not pool:
        return "nobody", f"nobody in {name}" if among else "no agents to take it"
    online = [a for a in pool if a.status == Presence.online.value]
    if not online:
        return "nobody_online", f"nobody online{among}"
    weight = snap.weight(inbox_id)
    if not any(routing.fits(a.load, weight, a.capacity_for(policy)) for a in online):
        return "at_capacity", f"everyone online{among} is at capacity"
    return "next", "next in line: routing assigns it within seconds"


class _Hours:
    """Whether a waiting conversation's business hours (its team's calendar, else its
    inbox's) are closed now, and until when: why nobody is online may be that it is night."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self.inboxes: dict[int, int | None] = dict(
            (r[0], r[1]) for r in conn.execute(select(INBOXES.c.id, INBOXES.c.calendar_id)))
        self.teams: dict[int, int | None] = dict(
            (r[0], r[1]) for r in conn.execute(select(TEAMS.c.id, TEAMS.c.calendar_id)))
        self.said: dict[int, str | None] = {}

    def closed_until(self, inbox_id: int | None, team_id: int | None) -> str | None:
        calendar_id = self.teams.get(team_id) if team_id is not None else None
        if calendar_id is None and inbox_id is not None:
            calendar_id = self.inboxes.get(inbox_id)
        if calendar_id is None:
            return None
        if calendar_id not in self.said:
            self.said[calendar_id] = None
            found = calendar_version(self.conn, calendar_id)
            if found is not None and not found[0].is_open(self.now):
                opens = found[0].next_open(self.now)
                if opens is None:
                    self.said[calendar_id] = "not opening again"
                else:
                    local = opens.astimezone(found[0].zone)  # a weekday alone would be ambiguous beyond a week
                    when = f"{local:%a %H:%M}" if opens - self.now < timedelta(days=6) else f"{local:%a %-d %b %H:%M}"
                    self.said[calendar_id] = f"opens {when} {local.tzname()}"
        return self.said[calendar_id]


def routing_queue(conn: Connection, now: datetime, limit: int = 500) -> dict[str, Any]:
    """The lead's board: waiting conversations (unassigned, open or pending), longest
    waiting first, each with how long and why; and the agents."""
    from inbox.queries.conversations import waiting_queue  # the list's own columns and labels

    snap = routing_snapshot(conn)
    waiting = waiting_queue(conn, limit)
    hours = _Hours(conn, now)
    total = conn.execute(select(func.count()).select_from(CONVERSATIONS).where(
        CONVERSATIONS.c.assignee_id.is_(None), CONVERSATIONS.c.status.in_(OPEN))).scalar_one()
    items = []
    for conv in waiting:
        started = conv["waiting_since"] or conv["last_inbound_at"] or conv["created_at"]
        waited = (now - datetime.fromisoformat(started)).total_seconds() if isinstance(started, str) else None
        code, text = why_waiting(snap, conv["inbox_id"], conv["team_id"])
        if code == "nobody_online" and (closed := hours.closed_until(conv["inbox_id"], conv["team_id"])):
            text = f"{text}: outside business hours, {closed}"
        items.append({**conv, "waited_seconds": max(0.0, waited) if waited is not None else None,
                      "reason": code, "reason_text": text, "pool_team_ids": pool_teams(snap, conv["inbox_id"],
                                                                                      conv["team_id"])})
    pools = inbox_pools(snap)
    agents = sorted((describe_agent(snap, a, pools) for a in snap.agents.values()),
                    key=lambda a: (a["status"] != "online", a["status"] != "away", -a["load"], a["name"]))
    teams = [{"id": t, "name": row["name"], "members": row["members"], "routing": row["routing"]}
             for t, row in sorted(snap.teams.items(), key=lambda kv: kv[1]["name"])]
    return {"waiting": items, "total_waiting": total, "agents": agents, "teams": teams}


def presence_history(conn: Connection, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(select(PRESENCE_CHANGES).where(PRESENCE_CHANGES.c.user_id == user_id)
                        .order_by(PRESENCE_CHANGES.c.id.desc()).limit(limit))
    return [{"status": r.status, "previous": r.previous, "cause": r.cause, "at": serialize.iso(r.created_at)}
            for r in rows]


def presence_of(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(select(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id)).first()
    if row is None:
        return {"user_id": user_id, "status": Presence.offline.value, "since": None, "chosen": "online"}
    return {"user_id": user_id, "status": row.status, "since": serialize.iso(row.since), "chosen": row.chosen}
