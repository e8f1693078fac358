"""SLA policies and targets: what is promised, which policy a conversation gets, and the
clock arithmetic of one target (docs/sla.md).

A policy promises a first response, a next response (each customer message awaiting an
answer after the first) and a resolution, each in minutes of business time (of a
calendar) or of calendar time. The first enabled policy by position whose conditions hold
applies; a policy without conditions is the fallback, chosen only when no conditioned one
matches. A target's clock runs while the conversation is in a status that does not pause
it; what it has used is kept, so a paused target resumes with what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from inbox.domain.calendar import Calendar, add_time, time_between
from inbox.domain.errors import Invalid
from inbox.domain.models import ConversationStatus, Priority


class Kind(StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


class Status(StrEnum):
    running = "running"
    paused = "paused"
    met = "met"
    missed = "missed"
    replaced = "replaced"  # another policy applied before it was met


class Summary(StrEnum):
    """The conversation's SLA at a glance (``conversation.sla_status``)."""

    running = "running"
    paused = "paused"
    due_soon = "due_soon"  # a running target is past its warning share
    breached = "breached"  # a target was missed and is not met yet


MINUTES = {Kind.first_response: "first_response_minutes", Kind.next_response: "next_response_minutes",
           Kind.resolution: "resolution_minutes"}
CONDITION_KEYS = ("inbox_ids", "team_ids", "label_ids", "priorities")
PAUSABLE = (ConversationStatus.pending.value, ConversationStatus.snoozed.value)
MAX_MINUTES = 366 * 24 * 60
MAX_NAME_CHARS = 200


def _bad(message: str) -> Invalid:
    return Invalid(message, "invalid_sla_policy")


def check(patch: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The columns a POST or PATCH body sets, each checked (422 ``invalid_sla_policy``
    naming the key). Whether ids exist is the caller's to check."""
    known = {"name", "position", "enabled", "conditions", "business_hours", "calendar_id", "pause_statuses",
             "warn_percent", *MINUTES.values()}
    unknown = sorted(set(patch) - known)
    if unknown:
        raise _bad(f"unknown key: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    if creating and not str(patch.get("name") or "").strip():
        raise _bad("name: required")
    for key, value in patch.items():
        if key == "name":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
                raise _bad(f"name: text of 1 to {MAX_NAME_CHARS} characters")
            out[key] = value.strip()
        elif key in MINUTES.values():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 1 <= value <= MAX_MINUTES):
                raise _bad(f"{key}: whole minutes from 1 to {MAX_MINUTES}, or null for no target")
            out[key] = value
        elif key in ("position", "warn_percent"):
            low, high = (0, 10_000) if key == "position" else (1, 99)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise _bad(f"{key}: a whole number from {low} to {high}")
            out[key] = value
        elif key in ("enabled", "business_hours"):
            if not isinstance(value, bool):
                raise _bad(f"{key}: true or false")
            out[key] = value
        elif key == "calendar_id":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise _bad("calendar_id: a calendar's id, or null for the conversation's own calendar")
            out[key] = value
        elif key == "pause_statuses":
            allowed = (ConversationStatus.open.value, *PAUSABLE)
            if not isinstance(value, list) or any(not isinstance(v, str) or v not in allowed[1:] for v in value):
                raise _bad(f"pause_statuses: a list of {', '.join(PAUSABLE)}")
            out[key] = sorted(set(value))
        elif key == "conditions":
            out[key] = _check_conditions(value)
    if creating and not any(out.get(m) for m in MINUTES.values()):
        raise _bad("a policy needs at least one target: first_response_minutes, next_response_minutes "
                   "or resolution_minutes")
    return out


def _check_conditions(value: object) -> dict[str, list[Any]]:
    if not isinstance(value, Mapping):
        raise _bad("conditions: {\"inbox_ids\", \"team_ids\", \"label_ids\", \"priorities\"}")
    unknown = sorted(set(value) - set(CONDITION_KEYS))
    if unknown:
        raise _bad(f"conditions: unknown key {', '.join(unknown)}")
    out: dict[str, list[Any]] = {}
    for key, items in value.items():
        if not isinstance(items, list) or len(items) > 100:
            raise _bad(f"conditions.{key}: a list of at most 100")
        if key == "priorities":
            if any(not isinstance(p, str) or p not in Priority.__members__ for p in items):
                raise _bad(f"conditions.priorities: any of {', '.join(Priority.__members__)}")
        elif any(isinstance(i, bool) or not isinstance(i, int) for i in items):
            raise _bad(f"conditions.{key}: a list of ids")
        if items:
            out[key] = sorted(set(items))
    return out


@dataclass(frozen=True, slots=True)
class Facts:
    """What a policy's conditions look at."""

    inbox_id: int | None
    team_id: int | None
    label_ids: frozenset[int]
    priority: str


def matches(conditions: Mapping[str, Sequence[Any]], facts: Facts) -> bool:
    if (ids := conditions.get("inbox_ids")) and facts.inbox_id not in ids:
        return False
    if (ids := conditions.get("team_ids")) and facts.team_id not in ids:
        return False
    if (ids := conditions.get("label_ids")) and not facts.label_ids.intersection(ids):
        return False
    return not ((wanted := conditions.get("priorities")) and facts.priority not in wanted)


def choose(policies: Iterable[Mapping[str, Any]], facts: Facts) -> Mapping[str, Any] | None:
    """The policy that applies: the first enabled one by (position, id) whose conditions
    hold; failing that, the first enabled one without conditions."""
    fallback = None
    for policy in sorted(policies, key=lambda p: (p["position"], p["id"])):
        if not policy["enabled"]:
            continue
        if not policy["conditions"]:
            fallback = fallback or policy
        elif matches(policy["conditions"], facts):
            return policy
    return fallback


def plan(budget_seconds: float, used_seconds: float, resumed_at: datetime, warn_percent: int,
         calendar: Calendar | None) -> tuple[datetime | None, datetime | None]:
    """(due, warn) of a target running since ``resumed_at`` with ``used_seconds`` of its
    budget spent before: when it is missed, and when it passes the warning share (None
    once past it). Business time of ``calendar``, or calendar time (None); a due time
    the calendar never reaches is None."""
    left = timedelta(seconds=max(budget_seconds - used_seconds, 0.0))
    due = add_time(calendar, resumed_at, left)
    warn_left = budget_seconds * warn_percent / 100 - used_seconds
    warn = add_time(calendar, resumed_at, timedelta(seconds=warn_left)) if warn_left > 0 else None
    return due, warn


def used(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """Seconds of the target's time between two instants of running."""
    return time_between(calendar, start, end).total_seconds()


def recompute(started_at: datetime, until: datetime, running: Iterable[tuple[datetime, datetime | None]],
              calendar: Calendar | None) -> float:
    """A target's used seconds from the clock's stored running spans alone (the check of
    what was kept incrementally, and what a report recomputes from)."""
    total = 0.0
    for s, e in running:
        s, e = max(s, started_at), min(e or until, until)
        if e > s:
            total += used(calendar, s, e)
    return total
