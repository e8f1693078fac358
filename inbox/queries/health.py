"""Whether the database answers, for /healthz."""

from __future__ import annotations

from sqlalchemy import Connection, text


def ping(conn: Connection) -> None:
    """Raises when the database does not answer a trivial query."""
    conn.execute(text("SELECT 1")).scalar()
