"""The live event log, read for replay.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select

from inbox.domain.tables import EVENTS


def events_after(conn: Connection, after_id: int, limit: int = 1000) -> list[Row[Any]]:
    return list(conn.execute(select(EVENTS).where(EVENTS.c.id > after_id).order_by(EVENTS.c.id).limit(limit)))


def first_event_id(conn: Connection) -> int | None:
    value = conn.execute(select(func.min(EVENTS.c.id))).scalar()
    return int(value) if value is not None else None


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0)
