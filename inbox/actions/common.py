"""Helpers the actions share: a checked conversation fetch, the timeline log, message updates.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from inbox import queries
from inbox.domain import access
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import NotFound
from inbox.domain.events import (
    MESSAGE_UPDATED,
)
from inbox.domain.records import Conversation, Dict, Message
from inbox.domain.tables import (
    CONV_EVENTS,
    CONVERSATIONS,
    MESSAGES,
)
from inbox.storage.db import Tx
from inbox.storage.prepared import Prepared

PREVIEW_CHARS = 140  # of a conversation's latest message, in the list

# Delivery receipts never move a message backwards (providers' callbacks arrive out of order).
STATUS_RANK = {"received": 0, "queued": 1, "sent": 2, "delivered": 3, "read": 4}


def preview(text: str, attachments: list[Dict]) -> str:
    """A message as the conversation list previews it."""
    if text:
        return text[:PREVIEW_CHARS]
    if attachments:
        return f"[{len(attachments)} attachment{'s' if len(attachments) > 1 else ''}]"
    return ""


def _conversation(conn: Connection, conversation_id: int) -> Conversation:
    conv = queries.get_conversation(conn, conversation_id)
    if conv is None:
        raise NotFound("no such conversation")
    return conv


def access_conversation(conn: Connection, viewer: Viewer, conversation_id: int) -> Conversation:
    """A permission-checked fetch: a conversation the viewer may not see does not exist for them."""
    conv = _conversation(conn, conversation_id)
    if not access.visible_to(viewer, conv):
        raise NotFound("no such conversation")
    return conv


# Compiled once, run on the driver's cursor: ingest and a routing burst write one per conversation.
_INSERT_LOG = Prepared(insert(CONV_EVENTS).values({c: bindparam(c) for c in (
    "conversation_id", "kind", "actor_id", "data", "created_at")}))


def _log(tx: Tx, conversation_id: int, kind: str, actor_id: int | None, data: Dict, at: datetime) -> None:
    """A row of the conversation's event log (its timeline's events); an automation rule's
    names the rule (``by``)."""
    if tx.by is not None:
        data = {**data, "by": tx.by}
    _INSERT_LOG.execute(tx.conn, {"conversation_id": conversation_id, "kind": kind, "actor_id": actor_id,
                                  "data": data, "created_at": at})


def _update_message(tx: Tx, message_id: int, values: Dict, now: datetime) -> Message:
    conn = tx.conn
    conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(updated_at=now, **values))
    message = queries.get_message(conn, message_id)
    assert message is not None
    conv = conn.execute(select(CONVERSATIONS.c.assignee_id, CONVERSATIONS.c.team_id)
                        .where(CONVERSATIONS.c.id == message["conversation_id"])).one()
    tx.emit(MESSAGE_UPDATED, {"message": message}, conversation_scopes(conv.assignee_id, conv.team_id))
    return message
