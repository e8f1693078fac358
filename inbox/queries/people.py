"""Users, their API tokens and teams.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from inbox.domain.records import Dict, User
from inbox.domain.serialize import _row, iso, user_dict
from inbox.domain.tables import MEMBERS, TEAMS, TOKENS, USERS


def get_user(conn: Connection, user_id: int) -> Dict | None:
    return _row(conn.execute(select(USERS).where(USERS.c.id == user_id)).first())


def get_user_by_email(conn: Connection, email: str) -> Dict | None:
    return _row(conn.execute(select(USERS).where(USERS.c.email == email.strip().lower())).first())


def user_for_token(conn: Connection, token_hash: str) -> Dict | None:
    q = select(USERS).join(TOKENS, TOKENS.c.user_id == USERS.c.id).where(TOKENS.c.token_hash == token_hash)
    return _row(conn.execute(q).first())


def team_ids_of(conn: Connection, user_id: int) -> frozenset[int]:
    return frozenset(conn.execute(select(MEMBERS.c.team_id).where(MEMBERS.c.user_id == user_id)).scalars())


def list_users(conn: Connection) -> list[User]:
    return [user_dict(r) for r in conn.execute(select(USERS).order_by(USERS.c.id))]


def list_tokens(conn: Connection, user_id: int) -> list[Dict]:
    """A user's API tokens, never their hashes."""
    rows = conn.execute(select(TOKENS.c.id, TOKENS.c.name, TOKENS.c.created_at).where(TOKENS.c.user_id == user_id)
                        .order_by(TOKENS.c.id))
    return [{"id": r.id, "name": r.name, "created_at": iso(r.created_at)} for r in rows]


def get_team(conn: Connection, team_id: int) -> Dict | None:
    row = conn.execute(select(TEAMS).where(TEAMS.c.id == team_id)).first()
    if row is None:
        return None
    members = conn.execute(select(MEMBERS.c.user_id).where(MEMBERS.c.team_id == team_id).order_by(MEMBERS.c.user_id))
    return {"id": row.id, "name": row.name, "member_ids": list(members.scalars()), "routing": dict(row.routing or {}),
            "calendar_id": row.calendar_id}


def list_teams(conn: Connection) -> list[Dict]:
    ids = conn.execute(select(TEAMS.c.id).order_by(TEAMS.c.id)).scalars().all()
    return [t for t in (get_team(conn, i) for i in ids) if t is not None]
