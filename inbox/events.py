"""Typed live events and the in-process bus.

Every event is a row of the ``event`` table, written in the transaction that caused it
(see db.py), so ids are monotonic and a client that reconnects with ``after=<id>`` can be
replayed from the database. This bus fans committed events out to subscribers in this
process only; with several processes, ``inbox/redisbus.py`` replaces it behind the same
``start``/``subscribe``/``publish_committed``/``last_id``.

Who may see an event is decided when it is written, as a list of scopes: ``all`` (every
agent), ``user:<id>`` and ``team:<id>``. Leads and admins see everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from inbox.db import Database, PendingEvent

log = logging.getLogger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_ASSIGNED = "conversation.assigned"
NOTE_CREATED = "note.created"
CONTACT_UPDATED = "contact.updated"
ALL_TYPES = (
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_ASSIGNED,
    NOTE_CREATED,
    CONTACT_UPDATED,
)

SCOPE_ALL = "all"
# Who may connect, or with which rights, changed (a user, a token, a team's members): the
# live layer of every process rechecks the users in ``data["user_ids"]`` at once. Its
# scope is nobody's, so no client is ever sent it.
ACCESS_CHANGED = "access.changed"
SCOPE_INTERNAL = "internal"
INTERNAL_SCOPES = [SCOPE_INTERNAL]


def conversation_scopes(assignee_id: int | None, team_id: int | None) -> list[str]:
    """Agents see unassigned conversations, their own, and their teams'."""
    if assignee_id is None and team_id is None:
        return [SCOPE_ALL]
    scopes = []
    if assignee_id is not None:
        scopes.append(f"user:{assignee_id}")
    if team_id is not None:
        scopes.append(f"team:{team_id}")
    return scopes


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is watching: decides which events (and conversations) they may see."""

    user_id: int
    role: str = "agent"
    team_ids: frozenset[int] = frozenset()

    @property
    def sees_all(self) -> bool:
        return self.role in ("lead", "admin")

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset({SCOPE_ALL, f"user:{self.user_id}", *(f"team:{t}" for t in self.team_ids)})

    def may_see(self, scopes: Iterable[str]) -> bool:
        if self.sees_all:  # everything but the internal events (an agent's scopes never hold that one)
            return scopes != INTERNAL_SCOPES
        return not self.scopes.isdisjoint(scopes)


@dataclass(slots=True)
class LiveEvent:
    id: int
    type: str
    data: dict[str, Any]
    scopes: list[str]
    _frame: str | None = field(default=None, repr=False)

    @property
    def frame(self) -> str:
        """The JSON text sent to every socket, encoded once however many receive it."""
        if self._frame is None:
            self._frame = json.dumps({"id": self.id, "type": self.type, "data": self.data}, default=str)
        return self._frame


Subscriber = Callable[[LiveEvent], None]


def may_queue_delivery(event: LiveEvent) -> bool:
    """Whether the change may have queued work for the delivery worker (a reply, an
    attachment to fetch, a retried message): a worker in another process wakes on these.
    Not a plain inbound message: a claim per webhook would be a write for nothing."""
    message = event.data.get("message") or {}
    if event.type == MESSAGE_CREATED:
        return message.get("direction") != "in" or any(
            "path" not in a and "error" not in a for a in message.get("attachments") or [])
    return event.type == MESSAGE_UPDATED and message.get("status") == "queued"


class Bus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_id = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def start(self, db: Database) -> None:
        """Deliver events committed from now on (``last_id``: the latest already committed)."""
        from inbox import store  # store imports this module

        self.bind(asyncio.get_running_loop())
        self.last_id = await db.read(store.last_event_id)

    async def stop(self) -> None:
        pass

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn)

    def publish_committed(self, events: list[PendingEvent]) -> None:
        """Called by the database writer thread after a commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, [LiveEvent(e.id, e.type, e.data, e.scopes) for e in events])

    def publish(self, events: list[LiveEvent]) -> None:
        for ev in events:
            self.last_id = max(self.last_id, ev.id)
            for fn in list(self._subscribers):
                try:
                    fn(ev)
                except Exception:  # one broken subscriber must not starve the others
                    log.exception("event subscriber failed on %s", ev.type)
