"""Scheduled messages (docs/campaigns.md, "Scheduled messages"): one, a conversation's still
to go, and what falls due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from inbox.domain.records import Dict
from inbox.domain.scheduled import State
from inbox.domain.tables import SCHEDULED
from inbox.storage.prepared import as_utc


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def as_dict(row: Any) -> Dict:
    return {"id": row.id, "contact_id": row.contact_id, "conversation_id": row.conversation_id,
            "inbox_id": row.inbox_id, "author_id": row.author_id, "kind": "reminder" if row.automatic else "reply",
            "purpose": row.purpose, "text": row.text, "template": row.template, "due_at": _iso(row.due_at),
            "local": row.local, "state": row.state, "reason": row.reason, "message_id": row.message_id,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def get(conn: Connection, scheduled_id: int) -> Dict | None:
    row = conn.execute(select(SCHEDULED).where(SCHEDULED.c.id == scheduled_id)).first()
    return as_dict(row) if row is not None else None


def for_conversation(conn: Connection, conversation_id: int) -> list[Dict]:
    """The conversation's scheduled messages still to go, soonest first."""
    return [as_dict(r) for r in conn.execute(
        select(SCHEDULED).where(SCHEDULED.c.conversation_id == conversation_id, SCHEDULED.c.state == State.scheduled)
        .order_by(SCHEDULED.c.due_at, SCHEDULED.c.id))]


def next_due(conn: Connection) -> datetime | None:
    found = conn.execute(select(SCHEDULED.c.due_at).where(SCHEDULED.c.state == State.scheduled)
                         .order_by(SCHEDULED.c.due_at).limit(1)).scalar()
    return as_utc(found) if found is not None else None


def due_ids(conn: Connection, now: datetime, limit: int = 100) -> list[int]:
    return list(conn.execute(select(SCHEDULED.c.id).where(SCHEDULED.c.state == State.scheduled,
                                                          SCHEDULED.c.due_at <= now)
                             .order_by(SCHEDULED.c.due_at, SCHEDULED.c.id).limit(limit)).scalars())


