"""A conversation's timeline: messages, notes and events, newest first, by cursor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, tuple_

from inbox.domain.records import ConversationEvent, Dict, Message, Note
from inbox.domain.serialize import conv_event_dict, message_dict, note_dict
from inbox.domain.tables import CONV_EVENTS, MESSAGES, NOTES
from inbox.queries.cursors import decode_cursor, encode_cursor


def get_message(conn: Connection, message_id: int) -> Message | None:
    row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
    return message_dict(row) if row is not None else None


def get_raw(conn: Connection, message_id: int) -> Dict | None:
    """The provider's untouched payload of a message, and its conversation (to check who
    may see it)."""
    row = conn.execute(select(MESSAGES.c.conversation_id, MESSAGES.c.raw).where(MESSAGES.c.id == message_id)).first()
    return {"conversation_id": row.conversation_id, "raw": row.raw} if row is not None else None


_TIMELINE = (("message", MESSAGES, message_dict), ("note", NOTES, note_dict), ("event", CONV_EVENTS, conv_event_dict))


_KIND_ORDER = {"event": 0, "message": 1, "note": 2}  # a "created" event precedes its first message


def timeline(conn: Connection, conversation_id: int, *, before: str | None = None, limit: int = 50) -> Dict:
    """Messages, notes and events interleaved by time, newest page first, oldest first
    within a page. ``next_cursor`` pages further back in time."""
    key: tuple[datetime, int, int] | None = None
    if before:
        at, (kind_no, item_id) = decode_cursor(before, 3)
        key = (at, kind_no, item_id)
    merged: list[tuple[tuple[datetime, int, int], str, Message | Note | ConversationEvent]] = []
    for kind, table, to_dict in _TIMELINE:
        kn = _KIND_ORDER[kind]
        q = select(table).where(table.c.conversation_id == conversation_id)
        if key is not None:
            q = q.where(_before(table, kn, *key))
        q = q.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
        merged.extend(((r.created_at, kn, r.id), kind, to_dict(r)) for r in conn.execute(q))
    merged.sort(key=lambda t: t[0], reverse=True)
    page = merged[:limit]
    next_cursor = None
    if len(merged) > limit:
        at_dt, kn, item_id = page[-1][0]
        next_cursor = encode_cursor(at_dt.isoformat(), kn, item_id)
    items = [{"type": kind, **item} for _, kind, item in reversed(page)]
    return {"items": items, "next_cursor": next_cursor}


def _before(table: Table, kind_no: int, at: datetime, cursor_kind_no: int, cursor_id: int) -> Any:
    """Rows of ``table`` that sort strictly before the cursor in (created_at, kind, id)."""
    if kind_no < cursor_kind_no:
        return table.c.created_at <= at
    if kind_no > cursor_kind_no:
        return table.c.created_at < at
    return tuple_(table.c.created_at, table.c.id) < (at, cursor_id)  # an index range, as in list_conversations
