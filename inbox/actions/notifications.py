"""Notifications (assigned to you, mentioned, a customer's message in a conversation you
own) and each user's preferences.

A notification is written in the transaction of what caused it, so it exists exactly when
that did, and goes out live as ``notification.created`` to its user alone
(``personal_scopes``: not even leads, who see every conversation, get someone else's).
A kind the user switched off creates nothing. The ingest hot path writes its own
(new_message) with a statement compiled once, in inbox/actions/ingest.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from inbox import queries
from inbox.actions.context import Context
from inbox.domain import serialize
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid
from inbox.domain.events import NOTIFICATION_CREATED, personal_scopes
from inbox.domain.models import NotificationKind
from inbox.domain.records import Preferences
from inbox.domain.serialize import NOTIFY_KINDS
from inbox.domain.tables import NOTIFICATIONS, PREFERENCES
from inbox.storage.db import Tx
from inbox.storage.prepared import Prepared

PREVIEW_CHARS = 140
LANDING_TABS = ("mine", "unassigned", "all")


def wants(conn: Connection, user_id: int, kind: NotificationKind) -> bool:
    """Whether the user wants notifications of this kind (yes, unless they said no)."""
    value = conn.execute(select(PREFERENCES.c[f"notify_{kind.value}"])
                         .where(PREFERENCES.c.user_id == user_id)).scalar()
    return value is None or bool(value)


def notify(tx: Tx, user_id: int, kind: NotificationKind, conversation_id: int, now: datetime, *,
           actor_id: int | None = None, preview: str = "", message_id: int | None = None,
           note_id: int | None = None) -> int | None:
    """Notify one user, if they want this kind: the row and its live event; its id, or None."""
    conn = tx.conn
    if not wants(conn, user_id, kind):
        return None
    notification_id = int(conn.execute(insert(NOTIFICATIONS).values(
        user_id=user_id, kind=kind.value, conversation_id=conversation_id, actor_id=actor_id,
        message_id=message_id, note_id=note_id, preview=preview[:PREVIEW_CHARS], created_at=now)
    ).inserted_primary_key[0])  # type: ignore[index]
    notification = queries.get_notification(conn, notification_id)
    tx.emit(NOTIFICATION_CREATED, {"notification": notification}, personal_scopes(user_id))
    return notification_id


_INSERT = Prepared(insert(NOTIFICATIONS).values({c: bindparam(c) for c in (
    "user_id", "kind", "conversation_id", "actor_id", "message_id", "note_id", "preview", "created_at", "read_at")})
    .returning(NOTIFICATIONS.c.id))


def write_notification(tx: Tx, user_id: int, kind: NotificationKind, conversation_id: int, now: datetime, *,
                       contact_name: str, preview: str, message_id: int | None = None) -> int:
    """A notification with no actor whose details the caller has in hand (ingest's
    new_message, routing's assignments): one compiled INSERT and its event to that user
    alone, nothing read back. The caller has checked that they want it."""
    row: dict[str, Any] = {"user_id": user_id, "kind": kind.value, "conversation_id": conversation_id,
                           "actor_id": None, "message_id": message_id, "note_id": None,
                           "preview": preview[:PREVIEW_CHARS], "created_at": now, "read_at": None}
    row["id"] = _INSERT.scalar(tx.conn, row)
    tx.emit(NOTIFICATION_CREATED, {"notification": serialize.notification_dict(
        {**row, "actor_name": None, "contact_name": contact_name})}, personal_scopes(user_id))
    return int(row["id"])


def read_conversation(tx: Tx, user_id: int, conversation_id: int, now: datetime) -> int:
    """Mark the user's unread notifications of one conversation read (they opened it)."""
    n = NOTIFICATIONS.c
    return tx.conn.execute(update(NOTIFICATIONS).where(
        n.user_id == user_id, n.read_at.is_(None), n.conversation_id == conversation_id).values(read_at=now)
    ).rowcount


async def mark_notifications_read(ctx: Context, viewer: Viewer, *, ids: list[int] | None = None,
                                  conversation_id: int | None = None, everything: bool = False) -> dict[str, int]:
    """Mark the viewer's own notifications read: these ids, those of one conversation, or
    all. Someone else's ids are ignored. Answers how many changed and how many are left."""
    def job(tx: Tx) -> dict[str, int]:
        n, now = NOTIFICATIONS.c, ctx.clock.now()
        mine = update(NOTIFICATIONS).where(n.user_id == viewer.user_id, n.read_at.is_(None)).values(read_at=now)
        if everything:
            changed = tx.conn.execute(mine).rowcount
        elif conversation_id is not None:
            changed = read_conversation(tx, viewer.user_id, conversation_id, now)
        else:
            changed = tx.conn.execute(mine.where(n.id.in_(ids or []))).rowcount if ids else 0
        return {"updated": changed, "unread_count": queries.unread_notifications(tx.conn, viewer.user_id)}
    return await ctx.db.write(job)


async def update_preferences(ctx: Context, viewer: Viewer, changes: dict[str, Any]) -> Preferences:
    """Change the viewer's own preferences; a key left out is unchanged. ``notify`` maps
    kinds to booleans (a partial map changes only those kinds)."""
    values: dict[str, Any] = {}
    notify_changes = changes.get("notify", {})
    if not isinstance(notify_changes, dict) or not all(
            k in NOTIFY_KINDS and isinstance(v, bool) for k, v in notify_changes.items()):
        raise Invalid(f"notify maps kinds ({', '.join(NOTIFY_KINDS)}) to true or false", "invalid_field")
    values.update({f"notify_{k}": v for k, v in notify_changes.items()})
    for key in ("desktop", "sound"):
        if key in changes:
            if not isinstance(changes[key], bool):
                raise Invalid(f"{key} must be true or false", "invalid_field")
            values[key] = changes[key]

    if "away_after_minutes" in changes:
        minutes = changes["away_after_minutes"]
        whole = isinstance(minutes, int) and not isinstance(minutes, bool)
        if minutes is not None and not (whole and 1 <= minutes <= 480):
            raise Invalid("away_after_minutes must be a whole number from 1 to 480, or null (never)", "invalid_field")
        values["away_after_minutes"] = minutes

    def job(tx: Tx) -> Preferences:
        conn = tx.conn
        if "landing_tab" in changes:
            values["landing_tab"] = _landing_tab(conn, viewer, changes["landing_tab"])
        values["updated_at"] = ctx.clock.now()
        p = PREFERENCES.c
        if conn.execute(select(p.user_id).where(p.user_id == viewer.user_id)).first() is None:
            defaults = queries.get_preferences(conn, viewer.user_id)
            row: dict[str, Any] = {f"notify_{k}": v for k, v in defaults["notify"].items()}
            row.update(desktop=defaults["desktop"], sound=defaults["sound"], landing_tab=None, away_after_minutes=None)
            conn.execute(insert(PREFERENCES).values(user_id=viewer.user_id, **{**row, **values}))
        else:
            conn.execute(update(PREFERENCES).where(p.user_id == viewer.user_id).values(**values))
        return queries.get_preferences(conn, viewer.user_id)
    return await ctx.db.write(job)


def _landing_tab(conn: Connection, viewer: Viewer, tab: Any) -> str | None:
    """mine, unassigned, all, a team the viewer may open (theirs; any, for leads), or None
    (the default by role)."""
    if tab is None or tab in LANDING_TABS:
        return tab  # type: ignore[no-any-return]
    if isinstance(tab, str) and tab.startswith("team:") and tab[5:].isdigit() and len(tab) <= 20:
        team_id = int(tab[5:])
        if queries.get_team(conn, team_id) is not None and (viewer.sees_all or team_id in viewer.team_ids):
            return f"team:{team_id}"
    raise Invalid("landing_tab is mine, unassigned, all or team:<id> of one of your teams", "invalid_landing_tab")
