"""A user's notifications and preferences.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from inbox.domain.records import Dict, Preferences
from inbox.domain.serialize import notification_dict, preferences_dict
from inbox.domain.tables import CONTACTS, CONVERSATIONS, NOTIFICATIONS, PREFERENCES, USERS
from inbox.queries.cursors import decode_cursor, encode_cursor

_ACTORS = aliased(USERS, name="actor")


def _select() -> Any:
    n = NOTIFICATIONS.c
    return (select(NOTIFICATIONS, _ACTORS.c.name.label("actor_name"), CONTACTS.c.name.label("contact_name"))
            .outerjoin(_ACTORS, _ACTORS.c.id == n.actor_id)
            .join(CONVERSATIONS, CONVERSATIONS.c.id == n.conversation_id)
            .join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id))


def list_notifications(conn: Connection, user_id: int, *, unread: bool = False, cursor: str | None = None,
                       limit: int = 25) -> Dict:
    """Newest first, cursor-paginated on id, with the count of the user's unread ones."""
    n = NOTIFICATIONS.c
    query = _select().where(n.user_id == user_id)
    if unread:
        query = query.where(n.read_at.is_(None))
    if cursor:
        _, (before,) = decode_cursor(cursor, 2)
        query = query.where(n.id < before)
    rows = list(conn.execute(query.order_by(n.id.desc()).limit(limit + 1)))
    items = [notification_dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {"items": items, "unread_count": unread_notifications(conn, user_id),
            "next_cursor": encode_cursor(items[-1]["created_at"], items[-1]["id"]) if more and items else None}


def get_notification(conn: Connection, notification_id: int) -> Dict | None:
    row = conn.execute(_select().where(NOTIFICATIONS.c.id == notification_id)).first()
    return dict(notification_dict(row)) if row is not None else None


def unread_notifications(conn: Connection, user_id: int) -> int:
    n = NOTIFICATIONS.c
    return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS)
                            .where(n.user_id == user_id, n.read_at.is_(None))).scalar() or 0)


def get_preferences(conn: Connection, user_id: int) -> Preferences:
    return preferences_dict(conn.execute(select(PREFERENCES).where(PREFERENCES.c.user_id == user_id)).first())


def unread_conversations(conn: Connection, user_id: int, limit: int = 100) -> list[int]:
    """The conversations the user has unread notifications of (the browser marks them read
    when it shows one of them)."""
    n = NOTIFICATIONS.c
    return list(conn.execute(select(n.conversation_id).where(n.user_id == user_id, n.read_at.is_(None))
                             .group_by(n.conversation_id).order_by(func.max(n.id).desc()).limit(limit)).scalars())
