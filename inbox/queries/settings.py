"""Inboxes and canned responses: what admins set up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from inbox.domain.records import Dict
from inbox.domain.serialize import _row, iso
from inbox.domain.tables import CANNED, INBOXES


def list_inboxes(conn: Connection, *, include_deleted: bool = False) -> list[Dict]:
    """The inboxes; deleted ones only for who shows history (the channel of old messages)."""
    query = select(INBOXES).order_by(INBOXES.c.id)
    if not include_deleted:
        query = query.where(INBOXES.c.deleted_at.is_(None))
    return [dict(r._mapping) for r in conn.execute(query)]


def get_inbox(conn: Connection, inbox_id: int) -> Dict | None:
    """An inbox that is not deleted (a deleted one is gone for every setting and send)."""
    return _row(conn.execute(select(INBOXES).where(INBOXES.c.id == inbox_id, INBOXES.c.deleted_at.is_(None))).first())


def list_canned(conn: Connection) -> list[Dict]:
    return [_canned(r) for r in conn.execute(select(CANNED).order_by(CANNED.c.short_code))]


def get_canned(conn: Connection, canned_id: int) -> Dict | None:
    row = conn.execute(select(CANNED).where(CANNED.c.id == canned_id)).first()
    return _canned(row) if row is not None else None


def _canned(r: Row[Any]) -> Dict:
    return {"id": r.id, "short_code": r.short_code, "text": r.text, "created_at": iso(r.created_at)}
