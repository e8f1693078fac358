"""Inboxes and canned responses: what admins set up.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from inbox.domain.records import Dict
from inbox.domain.serialize import _row, iso
from inbox.domain.tables import CANNED, INBOXES


def list_inboxes(conn: Connection) -> list[Dict]:
    return [dict(r._mapping) for r in conn.execute(select(INBOXES).order_by(INBOXES.c.id))]


def get_inbox(conn: Connection, inbox_id: int) -> Dict | None:
    return _row(conn.execute(select(INBOXES).where(INBOXES.c.id == inbox_id)).first())


def list_canned(conn: Connection) -> list[Dict]:
    return [{"id": r.id, "short_code": r.short_code, "text": r.text, "created_at": iso(r.created_at)}
            for r in conn.execute(select(CANNED).order_by(CANNED.c.short_code))]
