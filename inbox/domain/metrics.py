"""What reports count, as rules (docs/metrics.md): which event starts and ends each figure,
and who gets the credit.

One set of rules serves both ways a fact is written: as it happens (each action calls the
rule for its event, in its transaction, and stores the facts and the state it returns) and
all at once (``inbox reports rebuild`` replays every conversation's stored timeline through
the same rules). So the two cannot disagree unless the timeline does.

A conversation's report state (``Progress``) is its cycle, when that cycle began, when an
agent first answered in it, whether a customer waits and since when, and where it stands
(inbox and channel of the customer's latest message, team, assignee). The rules:

- a cycle begins when a conversation is created or reopened (any status after resolved)
  and ends when it is resolved;
- a customer's message (not one their side sent automatically) starts a wait, unless one
  runs; a reply from an agent (a person: not an automatic reply, a note, an echo of the
  business's own app) ends it: a ``reply`` fact, and the cycle's first such a
  ``first_response`` fact. Both are credited to the agent who replied;
- resolving gives a ``resolution`` fact from the cycle's start, credited to the assignee;
  it ends any wait (nobody waits on a resolved conversation);
- every message is a ``message_in`` or ``message_out`` fact; SLA targets met or missed
  and satisfaction answers are facts of their own.

Business time: ``Timer`` turns a span into (business seconds, calendar id, version) in the
calendar of the inbox the customer wrote to; without one, business time is calendar time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    cycle = "cycle"  # outcome: created, reopened
    message_in = "message_in"  # outcome: customer, automatic
    message_out = "message_out"  # outcome: agent, automatic, echo
    first_response = "first_response"
    reply = "reply"
    resolution = "resolution"
    sla = "sla"  # outcome: "<target kind>:met" or "<target kind>:missed"
    csat = "csat"  # score 1 to 5


TIMED = (Kind.first_response, Kind.reply, Kind.resolution)

# (business seconds, calendar id, calendar version) of the span from start to end for an inbox
Timer = Callable[[int | None, datetime, datetime], tuple[float, int | None, int | None]]


def no_calendar(inbox_id: int | None, start: datetime, end: datetime) -> tuple[float, int | None, int | None]:
    return (end - start).total_seconds(), None, None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a conversation's reports stand (its columns ``cycle``, ``cycle_started_at``,
    ``responded_at``, ``waiting_since``, and the dimensions facts carry)."""

    conversation_id: int
    cycle: int = 0
    cycle_started_at: datetime | None = None
    responded_at: datetime | None = None
    waiting_since: datetime | None = None
    status: str = "open"
    inbox_id: int | None = None  # the customer's latest inbox
    channel: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None

    @classmethod
    def of(cls, conv: Any) -> Progress:
        """From a conversation row (a mapping with the conversation's columns). One from
        before reports (cycle 0) is taken as in its first cycle since it was created, until
        ``inbox reports rebuild`` gives it its real history."""
        cycle, started = conv["cycle"] or 0, conv["cycle_started_at"]
        if not cycle:
            cycle, started = 1, conv["created_at"]
        return cls(conversation_id=conv["id"], cycle=cycle, cycle_started_at=started,
                   responded_at=conv["responded_at"], waiting_since=conv["waiting_since"], status=conv["status"],
                   inbox_id=conv["last_inbound_inbox_id"], channel=conv["channel"], team_id=conv["team_id"],
                   assignee_id=conv["assignee_id"])

    def columns(self) -> dict[str, Any]:
        """The conversation columns this state is stored in."""
        return {"cycle": self.cycle, "cycle_started_at": self.cycle_started_at, "responded_at": self.responded_at,
                "waiting_since": self.waiting_since}

    def fact(self, kind: Kind, at: datetime, **values: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "kind": kind.value, "at": at, "conversation_id": self.conversation_id, "cycle": self.cycle,
            "inbox_id": self.inbox_id, "channel": self.channel, "team_id": self.team_id,
            "agent_id": self.assignee_id, "seconds": None, "business_seconds": None, "calendar_id": None,
            "calendar_version": None, "outcome": None, "score": None}
        row.update(values)
        return row

    def _timed(self, kind: Kind, start: datetime, at: datetime, timer: Timer, agent_id: int | None) -> dict[str, Any]:
        business, calendar_id, version = timer(self.inbox_id, start, at)
        return self.fact(kind, at, seconds=(at - start).total_seconds(), business_seconds=business,
                         calendar_id=calendar_id, calendar_version=version, agent_id=agent_id)


Step = tuple[Progress, list[dict[str, Any]]]


def _begin(p: Progress, at: datetime, outcome: str) -> Step:
    p = replace(p, cycle=p.cycle + 1, cycle_started_at=at, responded_at=None, waiting_since=None)
    return p, [p.fact(Kind.cycle, at, outcome=outcome)]


def created(p: Progress, at: datetime) -> Step:
    """The conversation is created (by a customer's message, or an echo of the business's)."""
    return _begin(p, at, "created")


def inbound(p: Progress, at: datetime, inbox_id: int, channel: str, automatic: bool) -> Step:
    """A customer's message: a wait starts, unless one runs or their side sent it by itself."""
    p = replace(p, inbox_id=inbox_id, channel=channel)
    if not automatic and p.waiting_since is None:
        p = replace(p, waiting_since=at)
    return p, [p.fact(Kind.message_in, at, inbox_id=inbox_id, channel=channel,
                      outcome="automatic" if automatic else "customer")]


def outbound(p: Progress, at: datetime, inbox_id: int, channel: str, author_id: int | None, automatic: bool,
             timer: Timer) -> Step:
    """A message to the customer: an agent's reply (an author, not automatic) ends the wait."""
    agent = author_id is not None and not automatic
    outcome = "automatic" if automatic else "agent" if agent else "echo"
    facts = [p.fact(Kind.message_out, at, inbox_id=inbox_id, channel=channel, agent_id=author_id, outcome=outcome)]
    if agent and p.waiting_since is not None:
        facts.append(p._timed(Kind.reply, p.waiting_since, at, timer, author_id))
        if p.responded_at is None:
            facts.append(p._timed(Kind.first_response, p.waiting_since, at, timer, author_id))
            p = replace(p, responded_at=at)
        p = replace(p, waiting_since=None)
    return p, facts


def status(p: Progress, at: datetime, old: str, new: str, timer: Timer) -> Step:
    """A status change: resolving ends the cycle; leaving resolved begins the next."""
    if old == new:
        return p, []
    p = replace(p, status=new)
    if new == "resolved":
        start = p.cycle_started_at or at
        fact = p._timed(Kind.resolution, start, at, timer, p.assignee_id)
        return replace(p, waiting_since=None), [fact]
    if old == "resolved":
        return _begin(p, at, "reopened")
    return p, []


def assigned(p: Progress, user_id: int | None, team_id: int | None) -> Progress:
    return replace(p, assignee_id=user_id, team_id=team_id)


def sla_ended(p: Progress, at: datetime, target_kind: str, met: bool, cycle: int | None = None) -> list[dict[str, Any]]:
    """An SLA target met in time, or missed (at its due time)."""
    return [p.fact(Kind.sla, at, outcome=f"{target_kind}:{'met' if met else 'missed'}")]


def csat(p: Progress, at: datetime, score: int, *, cycle: int, agent_id: int | None, team_id: int | None,
         inbox_id: int | None, channel: str | None) -> list[dict[str, Any]]:
    """A satisfaction answer, credited to whom the survey named when it was sent."""
    return [p.fact(Kind.csat, at, cycle=cycle, agent_id=agent_id, team_id=team_id, inbox_id=inbox_id,
                   channel=channel, score=score)]
