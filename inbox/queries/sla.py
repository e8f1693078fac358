"""Reads of SLA policies and clocks: the policies a conversation may get, its targets and
clock spans, what the scheduler is due to do next (docs/sla.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from inbox.domain import serialize
from inbox.domain.calendar import Calendar
from inbox.domain.records import Dict
from inbox.domain.tables import CALENDARS, SLA_POLICIES, SLA_SPANS, SLA_TARGETS
from inbox.storage.prepared import Prepared, as_json, as_utc

POLICY_COLUMNS = ("id", "name", "position", "enabled", "conditions", "first_response_minutes",
                  "next_response_minutes", "resolution_minutes", "business_hours", "calendar_id",
                  "pause_statuses", "warn_percent")
# Every enabled policy: read by each change of a conversation that may change its SLA (a
# handful of rows; one compiled statement, so a deployment without policies pays ~20 us).
_ENABLED = Prepared(select(*(SLA_POLICIES.c[c] for c in POLICY_COLUMNS))
                    .where(SLA_POLICIES.c.enabled.is_(True)).order_by(SLA_POLICIES.c.position, SLA_POLICIES.c.id))
_CALENDAR = Prepared(select(CALENDARS.c.timezone, CALENDARS.c.intervals, CALENDARS.c.exceptions, CALENDARS.c.version)
                     .where(CALENDARS.c.id == bindparam("id")))
_NEXT_FIRE = Prepared(select(func.min(SLA_TARGETS.c.fire_at)))
RECENT_TARGETS = 50


def enabled_policies(conn: Connection) -> list[Dict]:
    """The enabled policies, by position: the JSON columns decoded."""
    out = []
    for row in _ENABLED.all(conn, {}):
        policy = dict(zip(POLICY_COLUMNS, row))
        for key in ("conditions", "pause_statuses"):
            policy[key] = as_json(policy[key])
        policy["enabled"], policy["business_hours"] = bool(policy["enabled"]), bool(policy["business_hours"])
        out.append(policy)
    return out


def calendar_version(conn: Connection, calendar_id: int | None) -> tuple[Calendar, int] | None:
    """A stored calendar and its version; None if there is none of that id."""
    if calendar_id is None:
        return None
    row = _CALENDAR.first(conn, {"id": calendar_id})
    if row is None:
        return None
    timezone, intervals, exceptions, version = row
    return Calendar.parse(timezone, as_json(intervals), as_json(exceptions)), int(version)


def next_fire(conn: Connection) -> datetime | None:
    """When the scheduler next has something to do (a warning or a due time), if ever."""
    value = _NEXT_FIRE.first(conn, {})
    return as_utc(value[0]) if value is not None and value[0] is not None else None


def list_policies(conn: Connection) -> list[Dict]:
    rows = conn.execute(select(SLA_POLICIES).order_by(SLA_POLICIES.c.position, SLA_POLICIES.c.id)).all()
    return [serialize.sla_policy_dict(r) for r in rows]


def get_policy(conn: Connection, policy_id: int) -> Dict | None:
    row = conn.execute(select(SLA_POLICIES).where(SLA_POLICIES.c.id == policy_id)).first()
    return serialize.sla_policy_dict(row) if row is not None else None


def calendar_choices(conn: Connection) -> list[Dict]:
    """Every calendar's id and name, by name: what a policy's clock may count in."""
    rows = conn.execute(select(CALENDARS.c.id, CALENDARS.c.name).order_by(CALENDARS.c.name, CALENDARS.c.id)).all()
    return [{"id": r.id, "name": r.name} for r in rows]


def sla_detail(conn: Connection, conversation_id: int) -> Dict:
    """A conversation's SLA for GET /api/conversations/{id}: the policy applying now, its
    targets (the latest first: every cycle's, up to RECENT_TARGETS) and the clock's spans."""
    t = SLA_TARGETS.c
    targets = [serialize.sla_target_dict(r) for r in conn.execute(
        select(SLA_TARGETS).where(t.conversation_id == conversation_id).order_by(t.id.desc())
        .limit(RECENT_TARGETS)).all()]
    spans = [{"state": r.state, "reason": r.reason, "started_at": serialize.iso(as_utc(r.started_at)),
              "ended_at": serialize.iso(as_utc(r.ended_at) if r.ended_at is not None else None)}
             for r in conn.execute(select(SLA_SPANS).where(SLA_SPANS.c.conversation_id == conversation_id)
                                   .order_by(SLA_SPANS.c.id.desc()).limit(RECENT_TARGETS)).all()]
    open_policy = next((x["policy_id"] for x in targets if x["ended"] is None), None)
    policy: Any = None
    if open_policy is not None:
        found = get_policy(conn, open_policy)
        policy = {"id": found["id"], "name": found["name"]} if found else None
    return {"policy": policy, "targets": targets, "spans": spans}
