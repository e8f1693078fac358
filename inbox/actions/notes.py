"""Private notes and the mentions in them.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection, insert, select

from inbox import queries
from inbox.actions.common import access_conversation
from inbox.actions.context import Context
from inbox.actions.notifications import notify
from inbox.actions.replies import MAX_TEXT_CHARS
from inbox.domain import access, serialize
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import Invalid
from inbox.domain.events import (
    NOTE_CREATED,
)
from inbox.domain.models import NotificationKind
from inbox.domain.records import Conversation, Dict, Note
from inbox.domain.tables import (
    NOTES,
    USERS,
)
from inbox.storage.db import Tx

MENTION = re.compile(r"@([\w.+-]+(?:@[\w-]+\.[\w.-]+)?)")


async def add_note(ctx: Context, viewer: Viewer, conversation_id: int, text: str,
                   mentions: list[int] | None = None) -> Note:
    """A private note: never leaves the inbox. ``@name`` (an agent's first name or the
    part of their email before the @, or the whole email) mentions and notifies them.
    Only active users who may see the conversation can be mentioned: a mention must not
    hand the note (and the conversation's id) to someone the conversation is hidden from.
    The others are listed in the answer's ``not_notified``, with the reason, and whether
    the writer may assign the conversation to them (which lets them see it)."""
    text = text.strip()
    if not text:
        raise Invalid("a note needs text", "empty_note")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"a note is limited to {MAX_TEXT_CHARS} characters", "text_too_long")

    return await ctx.db.write(lambda tx: note_in(tx, viewer, conversation_id, text, mentions, ctx.clock.now()))



def note_in(tx: Tx, viewer: Viewer, conversation_id: int, text: str, mentions: list[int] | None,
            now: datetime, author_id: int | None = None) -> Note:
    """``add_note`` inside a transaction (``text`` checked already). An automation rule's
    note is written in the name of the admin who made the rule (``author_id``), with the
    rule it came from (``note.by``)."""
    conn = tx.conn
    author = author_id if author_id is not None else viewer.actor
    if author is None:
        raise Invalid("a note needs an author: the rule has no creator any more", "no_author")
    conv = access_conversation(conn, viewer, conversation_id)
    mentioned = set(mentions or [])
    words = {w.lower() for w in MENTION.findall(text)}
    if words:
        for u in conn.execute(select(USERS.c.id, USERS.c.name, USERS.c.email)):
            names = {u.email.lower(), u.email.split("@")[0].lower(), (u.name.split() or [""])[0].lower()}
            if words & names:
                mentioned.add(u.id)
    valid, refused = _reachable(conn, mentioned, conv)
    note_id = conn.execute(insert(NOTES).values(conversation_id=conversation_id, author_id=author, text=text,
                                                mentions=sorted(valid), by=tx.by, created_at=now)
                           ).inserted_primary_key[0]  # type: ignore[index]
    note = serialize.note_dict({"id": note_id, "conversation_id": conversation_id, "author_id": author,
                                "text": text, "mentions": sorted(valid), "by": tx.by, "created_at": now})
    scopes = conversation_scopes(conv["assignee_id"], conv["team_id"]) + [f"user:{u}" for u in sorted(valid)]
    tx.emit(NOTE_CREATED, {"note": note, "conversation_id": conversation_id}, scopes)
    for user_id in sorted(valid - {author}):
        notify(tx, user_id, NotificationKind.mentioned, conversation_id, now, actor_id=author,
               preview=text, note_id=note_id)
    # Assigning it to them shows it to them; who may assign is as in assign_conversation.
    may_assign = viewer.sees_all or conv["assignee_id"] in (None, viewer.user_id)
    return {**note, "not_notified": [{**r, "can_assign": may_assign and r["reason"] == CANNOT_SEE}
                                     for r in refused]}


CANNOT_SEE = "cannot_see_conversation"


def _reachable(conn: Connection, user_ids: set[int], conv: Conversation) -> tuple[set[int], list[Dict]]:
    """Those of ``user_ids`` who are active and may see the conversation; and the other
    users, each with its name and why not (ids of no user are dropped)."""
    if not user_ids:
        return set(), []
    valid, refused = set(), []
    users = conn.execute(select(USERS.c.id, USERS.c.name, USERS.c.role, USERS.c.active)
                         .where(USERS.c.id.in_(user_ids)).order_by(USERS.c.id))
    for u in users:
        if not u.active:
            refused.append({"user_id": u.id, "name": u.name, "reason": "deactivated"})
        elif access.visible_to(Viewer(u.id, u.role, queries.team_ids_of(conn, u.id)), conv):
            valid.add(u.id)
        else:
            refused.append({"user_id": u.id, "name": u.name, "reason": CANNOT_SEE})
    return valid, refused
