"""Private notes and the mentions in them.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, insert, select

from inbox import queries
from inbox.actions.common import access_conversation
from inbox.actions.context import Context
from inbox.actions.replies import MAX_TEXT_CHARS
from inbox.domain import access, serialize
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import Invalid
from inbox.domain.events import (
    NOTE_CREATED,
)
from inbox.domain.records import Conversation, Note
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
    Only users who may see the conversation can be mentioned: a mention must not hand
    the note (and the conversation's id) to someone the conversation is hidden from."""
    text = text.strip()
    if not text:
        raise Invalid("a note needs text", "empty_note")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"a note is limited to {MAX_TEXT_CHARS} characters", "text_too_long")

    def job(tx: Tx) -> Note:
        conn = tx.conn
        conv = access_conversation(conn, viewer, conversation_id)
        mentioned = set(mentions or [])
        words = {w.lower() for w in MENTION.findall(text)}
        if words:
            for u in conn.execute(select(USERS.c.id, USERS.c.name, USERS.c.email)):
                names = {u.email.lower(), u.email.split("@")[0].lower(), (u.name.split() or [""])[0].lower()}
                if words & names:
                    mentioned.add(u.id)
        valid = _may_see(conn, mentioned, conv)
        now = ctx.clock.now()
        note_id = conn.execute(insert(NOTES).values(conversation_id=conversation_id, author_id=viewer.user_id,
                                                    text=text, mentions=sorted(valid), created_at=now)
                               ).inserted_primary_key[0]  # type: ignore[index]
        note = serialize.note_dict({"id": note_id, "conversation_id": conversation_id, "author_id": viewer.user_id,
                                    "text": text, "mentions": sorted(valid), "created_at": now})
        scopes = conversation_scopes(conv["assignee_id"], conv["team_id"]) + [f"user:{u}" for u in sorted(valid)]
        tx.emit(NOTE_CREATED, {"note": note, "conversation_id": conversation_id}, scopes)
        return note
    return await ctx.db.write(job)


def _may_see(conn: Connection, user_ids: set[int], conv: Conversation) -> set[int]:
    """Those of ``user_ids`` who exist and may see the conversation."""
    if not user_ids:
        return set()
    users = conn.execute(select(USERS.c.id, USERS.c.role).where(USERS.c.id.in_(user_ids)))
    return {u.id for u in users if access.visible_to(Viewer(u.id, u.role, queries.team_ids_of(conn, u.id)), conv)}
