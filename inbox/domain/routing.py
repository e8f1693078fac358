"""What routing decides by: presence statuses, the routing policy of an inbox or a team
(its keys, defaults and checks), and how two policies combine. The engine that applies
them is ``inbox/actions/routing.py``; docs/routing.md explains the rules.

A policy is a partial mapping: an inbox's ``routing`` holds what it sets, a team's
``routing`` what it overrides for its conversations, and a key neither sets has the
default below.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypedDict

from inbox.domain.errors import Invalid


class Presence(StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class PresenceCause(StrEnum):
    manual = "manual"  # the agent chose it (status menu, PUT /api/me/presence)
    disconnected = "disconnected"  # no socket of theirs for the grace period
    inactive = "inactive"  # no input for their away-after-inactivity minutes
    back = "back"  # a socket connected again, or input after inactivity


class Mode(StrEnum):
    manual = "manual"  # leads assign from the queue (the behaviour before routing)
    round_robin = "round_robin"  # the eligible agent assigned least recently
    balanced = "balanced"  # the fewest weighted open conversations; ties: least recently assigned


class Policy(TypedDict):
    mode: str
    capacity: int  # most weighted open conversations an agent takes (their own capacity wins)
    weight: float  # what one conversation of the inbox counts towards a load
    reassign_when_offline: bool  # an offline or away agent's open conversations go back to the queue
    keep_replied_minutes: int  # ... except those they replied to within this many minutes
    no_reply_minutes: int  # the assignee has not replied this long after the customer: act (0: never)
    no_reply_action: str  # "reassign" (to another eligible agent) or "notify" (the leads)
    queue_order: str  # "oldest" (longest waiting first) or "priority" (then longest waiting)
    team_ids: list[int]  # inbox only: the teams whose members take its conversations without a team


DEFAULTS: Policy = {"mode": Mode.manual.value, "capacity": 10, "weight": 1.0, "reassign_when_offline": True,
                    "keep_replied_minutes": 5, "no_reply_minutes": 0, "no_reply_action": "reassign",
                    "queue_order": "oldest", "team_ids": []}
TEAM_KEYS = frozenset(DEFAULTS) - {"team_ids", "weight"}  # a team overrides all but the inbox's own


def effective(inbox: Mapping[str, Any] | None, team: Mapping[str, Any] | None) -> Policy:
    """The policy a conversation is routed by: the defaults, then its inbox's settings,
    then its team's overrides."""
    policy: dict[str, Any] = dict(DEFAULTS)
    policy.update(inbox or {})
    policy.update({k: v for k, v in (team or {}).items() if k in TEAM_KEYS})
    return policy  # type: ignore[return-value]


def _number(value: Any, key: str, *, lo: float, hi: float, integer: bool) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not lo <= value <= hi:
        kind = "a whole number" if integer else "a number"
        raise Invalid(f"routing.{key} must be {kind} from {lo:g} to {hi:g}", "invalid_routing")
    return value


def check(patch: Any, *, for_team: bool) -> dict[str, Any]:
    """A routing patch, checked: the keys it sets (None removes a key, back to the
    inherited value). Raises ``Invalid`` (422) naming the key."""
    if not isinstance(patch, dict):
        raise Invalid("routing must be an object", "invalid_routing")
    allowed = TEAM_KEYS if for_team else frozenset(DEFAULTS)
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if key not in allowed:
            raise Invalid(f"unknown routing setting {key!r}; known: {', '.join(sorted(allowed))}",
                          "invalid_routing")
        if value is None:
            out[key] = None
            continue
        if key == "mode" and value not in set(Mode):
            raise Invalid(f"routing.mode must be one of {', '.join(Mode)}", "invalid_routing")
        if key == "no_reply_action" and value not in ("reassign", "notify"):
            raise Invalid("routing.no_reply_action must be reassign or notify", "invalid_routing")
        if key == "queue_order" and value not in ("oldest", "priority"):
            raise Invalid("routing.queue_order must be oldest or priority", "invalid_routing")
        if key == "reassign_when_offline" and not isinstance(value, bool):
            raise Invalid("routing.reassign_when_offline must be true or false", "invalid_routing")
        if key == "capacity":
            _number(value, key, lo=0, hi=1000, integer=True)
        if key == "weight":
            value = float(_number(value, key, lo=0.05, hi=100, integer=False))
        if key == "keep_replied_minutes":
            _number(value, key, lo=0, hi=24 * 60, integer=True)
        if key == "no_reply_minutes":
            _number(value, key, lo=0, hi=7 * 24 * 60, integer=True)
        if key == "team_ids":
            if not isinstance(value, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in value):
                raise Invalid("routing.team_ids must be a list of team ids", "invalid_routing")
            value = sorted(set(value))
        out[key] = value
    return out


def apply(current: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with a checked patch applied (a None value removes the key)."""
    merged = dict(current or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def fits(load: float, weight: float, capacity: float) -> bool:
    """Whether one more conversation of ``weight`` fits under ``capacity`` (weights are
    decimals: 0.1 + 0.2 must fit under 0.3)."""
    return load + weight <= capacity + 1e-9


def load_text(load: float, capacity: float) -> str:
    """ "3 of 8 open", with weights shown only when they are not whole."""
    def num(x: float) -> str:
        return f"{x:g}" if abs(x - round(x)) > 1e-9 else str(int(round(x)))
    return f"{num(load)} of {num(capacity)} open"
