"""What agents and leads see of SLAs, in words: how long a target has left or is overdue
by, the conversation header's targets (each one, not only the nearest), the list of all
its targets with when each was met or missed, and a policy's promises
("First response 1 h · Resolution 1 day").

The words of a countdown are also ticked on in the browser (ui/static/sla.js), from the
seconds the server counted when it rendered them: the two must say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from inbox.domain import sla

KIND_LABELS = {sla.Kind.first_response.value: "First response", sla.Kind.next_response.value: "Next response",
               sla.Kind.resolution.value: "Resolution"}
_UNITS = ((24 * 60, "day"), (60, "h"), (1, "min"))


def duration(seconds: float, exact: bool = False, up: bool = False) -> str:
    """A length of time, largest unit first: "<1 min", "12 min", "1 h 5 min", "1 day",
    "2 days 3 h". A countdown (sla.js duration()) shows two adjacent units at most and drops
    the rest; ``exact`` (a policy's promise) shows every unit there is: "1 day 5 min".
    ``up``: whole minutes rounded up (the time left: 9 min 10 s is "10 min"), else down."""
    minutes = int(-(-max(seconds, 0) // 60) if up else max(seconds, 0) // 60)
    if minutes < 1:
        return "<1 min"
    parts: list[str] = []
    started = False
    for size, name in _UNITS:
        count, minutes = divmod(minutes, size)
        if not exact and started and (not count or len(parts) == 2):
            break
        started = started or bool(count)
        if count:
            parts.append(f"{count} {name}{'s' if name == 'day' and count > 1 else ''}")
    return " ".join(parts)


def countdown(due: datetime, now: datetime) -> str:
    """"due in 12 min" or "overdue by 1 h 5 min" (sla.js phrase())."""
    left = (due - now).total_seconds()
    return f"due in {duration(left, up=True)}" if left >= 0 else f"overdue by {duration(-left)}"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def exact(value: str | None) -> str:
    """An instant as the page says it until the browser puts it in the agent's own zone
    (sla.js): "3 Dec 2026, 14:05 UTC"."""
    when = _when(value)
    return f"{when.day} {when:%b %Y, %H:%M} UTC" if when else ""


def _rank(target: Mapping[str, Any]) -> int:
    return list(KIND_LABELS).index(target["kind"]) if target["kind"] in KIND_LABELS else len(KIND_LABELS)


def timer(status: str, due_at: str | None, now: datetime | str, left: float | None = None) -> dict[str, Any]:
    """One timer as it is shown: ``status`` running, due_soon, breached or paused (a
    conversation's summary, or a target's in the same words); ``left``: the seconds a
    paused one has left. Answers its ``state`` (a running one past its due time is breached
    already, whether or not the scheduler has said so yet), its words, and whether the
    browser ticks it on (``ticks``: it has a due time and is not paused). ``now`` as a
    template has it: the page's time of rendering, in ISO."""
    due = _when(due_at)
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if status == sla.Summary.paused:
        return {"state": "paused", "text": f"paused, {duration(left, up=True)} left" if left is not None else "paused",
                "due_at": None, "ticks": False}
    if due is None:  # a calendar that never opens again
        return {"state": status, "text": "missed" if status == sla.Summary.breached else "running",
                "due_at": None, "ticks": False}
    state = sla.Summary.breached.value if status == sla.Summary.breached or due <= now else status
    return {"state": state, "text": countdown(due, now), "due_at": due_at, "ticks": True}


def _target_status(t: Mapping[str, Any]) -> str:
    if t["status"] == sla.Status.missed:
        return sla.Summary.breached.value
    if t["status"] == sla.Status.paused:
        return sla.Summary.paused.value
    return sla.Summary.due_soon.value if t["warned_at"] else sla.Summary.running.value


def timers(detail: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The conversation's open targets, responses before the resolution, each a timer()
    with its kind."""
    return [{**timer(_target_status(t), t["due_at"], now, t["budget_seconds"] - t["used_seconds"]),
             "kind": t["kind"], "label": KIND_LABELS.get(t["kind"], t["kind"])}
            for t in sorted((t for t in detail["targets"] if t["ended"] is None), key=_rank)]


def history(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target kept of the conversation, by cycle (the latest first), each with how
    late it was met (``late_by``) when it was met after being missed."""
    cycles: dict[int, list[dict[str, Any]]] = {}
    for t in detail["targets"]:
        cycles.setdefault(t["cycle"], []).append(t)
    out = []
    for cycle in sorted(cycles, reverse=True):
        rows = []
        for t in sorted(cycles[cycle], key=lambda t: (_rank(t), t["id"])):
            met, due = _when(t["met_at"]), _when(t["due_at"])
            late = duration((met - due).total_seconds()) if t["status"] == sla.Status.missed and met and due else None
            rows.append({**t, "label": KIND_LABELS.get(t["kind"], t["kind"]), "late_by": late,
                         "left": t["budget_seconds"] - t["used_seconds"]})
        out.append({"cycle": cycle, "targets": rows})
    return out


def outcome(detail: Mapping[str, Any]) -> str | None:
    """Once no target is open: whether the latest cycle's were met ("met") or one was
    missed ("missed"); None while one is open or there were none."""
    targets = detail["targets"]
    if not targets or any(t["ended"] is None for t in targets):
        return None
    latest = max(t["cycle"] for t in targets)
    kept = [t for t in targets if t["cycle"] == latest and t["status"] != sla.Status.replaced]
    if not kept:
        return None
    return "missed" if any(t["status"] == sla.Status.missed for t in kept) else "met"


def view(detail: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """What the conversation header shows of its SLA (sla.html's header())."""
    return {"policy": detail["policy"], "timers": timers(detail, now), "history": history(detail),
            "outcome": outcome(detail)}


def promises(policy: Mapping[str, Any]) -> str:
    """A policy's targets in words: "First response 1 h · Next response 30 min · Resolution 1 day"."""
    parts = [f"{label} {duration(policy[sla.MINUTES[sla.Kind(kind)]] * 60, exact=True)}"
             for kind, label in KIND_LABELS.items() if policy.get(sla.MINUTES[sla.Kind(kind)])]
    return " · ".join(parts)


def names(ids: Sequence[int], known: Mapping[int, str]) -> list[str]:
    """The names of ``ids`` (a deleted one as its number)."""
    return [known.get(i, f"#{i}") for i in ids]
