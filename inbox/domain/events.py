"""Live event names and scopes, and the event as it travels from the writer to sockets.

Every event is a row of the ``event`` table, written in the transaction that caused it
(see ``inbox/storage/db.py``), so ids are monotonic and a client that reconnects with
``after=<id>`` can be replayed from the database.

Who may see an event is decided when it is written, as a list of scopes: ``all`` (every
agent), ``user:<id>`` and ``team:<id>``. Leads and admins see everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MESSAGE_CREATED = "message.created"


MESSAGE_UPDATED = "message.updated"


CONVERSATION_CREATED = "conversation.created"


CONVERSATION_UPDATED = "conversation.updated"


CONVERSATION_ASSIGNED = "conversation.assigned"


NOTE_CREATED = "note.created"


CONTACT_UPDATED = "contact.updated"


# An admin created or changed a label (name, colour, description), or deleted one: the
# conversations carrying it are not sent one by one.
LABEL_UPDATED = "label.updated"


LABEL_DELETED = "label.deleted"
# Sent to one user only: their own notification (see ``personal_scopes``).
NOTIFICATION_CREATED = "notification.created"


# An agent's presence changed (online, away, offline), with its cause (docs/routing.md).
AGENT_PRESENCE_CHANGED = "agent.presence_changed"


# A conversation's SLA target passed its warning share, or its due time (docs/sla.md).
SLA_WARNING = "sla.warning"


SLA_BREACHED = "sla.breached"


# A conversation was resolved (sent after its conversation.updated), and a customer answered
# a satisfaction survey (docs/csat.md): what integrations most often wait for, named apart
# so an outbound webhook (docs/webhooks.md) can subscribe to them alone.
CONVERSATION_RESOLVED = "conversation.resolved"


CSAT_RECEIVED = "csat.received"


ALL_TYPES = (
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_ASSIGNED,
    NOTE_CREATED,
    CONTACT_UPDATED,
    LABEL_UPDATED,
    LABEL_DELETED,
    NOTIFICATION_CREATED,
    AGENT_PRESENCE_CHANGED,
    SLA_WARNING,
    SLA_BREACHED,
    CONVERSATION_RESOLVED,
    CSAT_RECEIVED,
)


SCOPE_ALL = "all"


# A personal event (a notification) has the one scope ``personal:<id>``, and only that user
# sees it: unlike ``user:<id>``, not even leads and admins, who see every conversation.
PERSONAL = "personal:"


def personal_scopes(user_id: int) -> list[str]:
    return [f"{PERSONAL}{user_id}"]


# Who may connect, or with which rights, changed (a user, a token, a team's members): the
# live layer of every process rechecks the users in ``data["user_ids"]`` at once. Its
# scope is nobody's, so no client is ever sent it.
ACCESS_CHANGED = "access.changed"


SCOPE_INTERNAL = "internal"


INTERNAL_SCOPES = [SCOPE_INTERNAL]


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


def may_queue_delivery(event: LiveEvent) -> bool:
    """Whether the change may have queued work for the delivery worker (a reply, an
    attachment to fetch, a retried message): a worker in another process wakes on these.
    Not a plain inbound message: a claim per webhook would be a write for nothing."""
    message = event.data.get("message") or {}
    if event.type == MESSAGE_CREATED:
        return message.get("direction") != "in" or any(
            "path" not in a and "error" not in a for a in message.get("attachments") or [])
    return event.type == MESSAGE_UPDATED and message.get("status") == "queued"
