"""Admin actions: users, sessions, API tokens, teams, inboxes and canned responses.
"""

from __future__ import annotations

import asyncio
import re

from datetime import datetime

from sqlalchemy import func, insert, select, update

from inbox import queries
from inbox.actions.context import Context
from inbox.actions.replies import MAX_TEXT_CHARS
from inbox.domain import serialize
from inbox.domain.access import Viewer
from inbox.domain.credentials import hash_password, hash_token, new_password, new_token
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.domain.events import (
    ACCESS_CHANGED,
    INTERNAL_SCOPES,
)
from inbox.domain.models import Role, utcnow
from inbox.domain.records import Dict, User
from inbox.domain.tables import (
    CANNED,
    CONVERSATIONS,
    EARLY_RECEIPTS,
    INBOXES,
    MEMBERS,
    MESSAGES,
    TEAMS,
    TOKENS,
    USERS,
)
from inbox.storage.db import Tx


def create_user(tx: Tx, *, email: str, name: str, role: str, password_hash: str) -> User:
    try:
        Role(role)
    except ValueError:
        raise Invalid("role must be agent, lead or admin", "invalid_role") from None
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid("email must be an email address", "invalid_email")
    if queries.get_user_by_email(tx.conn, email) is not None:
        raise Conflict(f"a user with email {email} exists", "user_exists")
    uid = tx.conn.execute(insert(USERS).values(email=email, name=name.strip() or email, role=role,
                                               password_hash=password_hash, active=True, created_at=utcnow())
                          ).inserted_primary_key[0]  # type: ignore[index]
    user = queries.get_user(tx.conn, uid)
    assert user is not None
    return serialize.user_dict(user)


def update_user(tx: Tx, user_id: int, changes: Dict) -> User:
    if queries.get_user(tx.conn, user_id) is None:
        raise NotFound("no such user")
    if "role" in changes:
        try:
            Role(changes["role"])
        except ValueError:
            raise Invalid("role must be agent, lead or admin", "invalid_role") from None
    if "password_hash" in changes or changes.get("active") is False:
        # A new password, or a deactivation, ends every session: a cookie taken before it
        # must not work again (nor after a reactivation).
        changes = {**changes, "session_version": USERS.c.session_version + 1}
    if changes:  # nothing to change (a PATCH of {}) is the user as they are
        tx.conn.execute(update(USERS).where(USERS.c.id == user_id).values(**changes))
    if changes.keys() & {"role", "active", "session_version"}:
        access_changed(tx, [user_id])
    user = queries.get_user(tx.conn, user_id)
    assert user is not None
    return serialize.user_dict(user)


async def reset_password(ctx: Context, user_id: int, password: str | None) -> tuple[User, str | None]:
    """An admin sets a user's password (``password``), or has one generated (None), given
    back this once to pass on. Either way every session of the user ends (update_user);
    their API tokens stay, as they are revoked on their own."""
    generated = new_password() if password is None else None
    password = generated or password or ""
    if len(password) < 8:
        raise Invalid("password must be at least 8 characters", "weak_password")
    pw_hash = await asyncio.to_thread(hash_password, password)
    user: User = await ctx.db.write(lambda tx: update_user(tx, user_id, {"password_hash": pw_hash}))
    return user, generated


def end_sessions(tx: Tx, user_id: int) -> None:
    """Log out and "log out everywhere": every session cookie of the user stops working,
    and their open WebSockets opened with one are closed."""
    tx.conn.execute(update(USERS).where(USERS.c.id == user_id).values(session_version=USERS.c.session_version + 1))
    access_changed(tx, [user_id])


def access_changed(tx: Tx, user_ids: list[int]) -> None:
    """Tell the live layer of every process to recheck these users' open sockets now,
    rather than at its next periodic pass (ui/live.py)."""
    if user_ids:
        tx.emit(ACCESS_CHANGED, {"user_ids": sorted(set(user_ids))}, INTERNAL_SCOPES)


def create_token(tx: Tx, user_id: int, name: str = "") -> str:
    """A new API token; only its hash is stored, so this is the one time it is seen."""
    token = new_token()
    tx.conn.execute(insert(TOKENS).values(user_id=user_id, token_hash=hash_token(token), name=name,
                                          created_at=utcnow()))
    return token


def revoke_token(tx: Tx, viewer: Viewer, token_id: int) -> None:
    """Delete an API token: your own, or anyone's for an admin. Requests with it fail at once."""
    owner = tx.conn.execute(select(TOKENS.c.user_id).where(TOKENS.c.id == token_id)).scalar()
    if owner is None or (owner != viewer.user_id and viewer.role != Role.admin):
        raise NotFound("no such token")
    tx.conn.execute(TOKENS.delete().where(TOKENS.c.id == token_id))
    access_changed(tx, [owner])


def create_team(tx: Tx, name: str, member_ids: list[int]) -> Dict:
    name = _team_name(tx, name)
    team_id = tx.conn.execute(insert(TEAMS).values(name=name, created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    _set_members(tx, team_id, member_ids)
    team = queries.get_team(tx.conn, team_id)
    assert team is not None
    return team


def update_team(tx: Tx, team_id: int, *, name: str | None = None, member_ids: list[int] | None = None) -> Dict:
    """Rename and/or replace the members; what is None is left as it is."""
    if queries.get_team(tx.conn, team_id) is None:
        raise NotFound("no such team")
    if name is not None:
        tx.conn.execute(update(TEAMS).where(TEAMS.c.id == team_id).values(name=_team_name(tx, name, team_id)))
    if member_ids is not None:
        _set_members(tx, team_id, member_ids)
    team = queries.get_team(tx.conn, team_id)
    assert team is not None
    return team


def _team_name(tx: Tx, name: str, team_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise Invalid("a team needs a name", "invalid_name")
    other = tx.conn.execute(select(TEAMS.c.id).where(TEAMS.c.name == name)).scalar()
    if other is not None and other != team_id:
        raise Conflict(f"a team named {name} exists", "team_exists")
    return name


def _set_members(tx: Tx, team_id: int, member_ids: list[int]) -> None:
    known = set(tx.conn.execute(select(USERS.c.id).where(USERS.c.id.in_(member_ids))).scalars())
    if missing := set(member_ids) - known:
        raise Invalid(f"no such users: {sorted(missing)}", "unknown_user")
    before = set(tx.conn.execute(select(MEMBERS.c.user_id).where(MEMBERS.c.team_id == team_id)).scalars())
    access_changed(tx, list(before ^ known))  # who joined or left sees other conversations from now on
    tx.conn.execute(MEMBERS.delete().where(MEMBERS.c.team_id == team_id))
    if known:
        tx.conn.execute(insert(MEMBERS), [{"team_id": team_id, "user_id": u} for u in sorted(known)])


def _check_address_free(tx: Tx, kind: str, address: str, inbox_id: int | None = None) -> None:
    other = tx.conn.execute(select(INBOXES.c.id).where(INBOXES.c.kind == kind, INBOXES.c.address == address)).scalar()
    if other is not None and other != inbox_id:
        raise Conflict(f"a {kind} inbox for {address} exists", "inbox_exists")


def create_inbox(tx: Tx, *, kind: str, name: str, address: str, settings: Dict) -> Dict:
    _check_address_free(tx, kind, address)
    inbox_id = tx.conn.execute(insert(INBOXES).values(kind=kind, name=name, address=address, settings=settings,
                                                      created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    inbox = queries.get_inbox(tx.conn, inbox_id)
    assert inbox is not None
    return inbox


def discard_inbox(tx: Tx, inbox_id: int) -> None:
    """Remove the row of an inbox that never carried a message (a failed setup)."""
    tx.conn.execute(EARLY_RECEIPTS.delete().where(EARLY_RECEIPTS.c.inbox_id == inbox_id))
    tx.conn.execute(INBOXES.delete().where(INBOXES.c.id == inbox_id))


def set_inbox_active(tx: Tx, inbox_id: int, active: bool) -> Dict:
    """Disable or enable an inbox. A disabled inbox still stores what customers send (its
    webhooks answer as before: no message is lost and no provider gives up on the URL),
    but no new reply may leave through it (queries.reply_channels says why)."""
    if queries.get_inbox(tx.conn, inbox_id) is None:
        raise NotFound("no such inbox")
    tx.conn.execute(update(INBOXES).where(INBOXES.c.id == inbox_id).values(active=active))
    inbox = queries.get_inbox(tx.conn, inbox_id)
    assert inbox is not None
    return inbox


def delete_inbox(tx: Tx, inbox_id: int, now: datetime) -> None:
    """Delete an inbox. Its conversations and messages stay, still shown as having gone
    through it, so the row stays too (marked deleted); its credentials are erased and its
    address freed (webhooks to it are refused as for an unknown inbox, and a new inbox may
    take the address). An inbox that never carried a message is removed outright."""
    inbox = queries.get_inbox(tx.conn, inbox_id)
    if inbox is None:
        raise NotFound("no such inbox")
    used = tx.conn.execute(select(MESSAGES.c.id).where(MESSAGES.c.inbox_id == inbox_id).limit(1)).first()
    if used is None:
        discard_inbox(tx, inbox_id)
        return
    tx.conn.execute(update(INBOXES).where(INBOXES.c.id == inbox_id).values(
        active=False, deleted_at=now, settings={}, address=f"deleted-{inbox_id}:{inbox['address']}"))


def delete_team(tx: Tx, team_id: int) -> None:
    """Delete a team that holds no conversation: moving conversations out of a team changes
    who sees them, which is the lead's call (reassign them first), not a side effect."""
    if queries.get_team(tx.conn, team_id) is None:
        raise NotFound("no such team")
    held = tx.conn.execute(select(func.count()).select_from(CONVERSATIONS)
                           .where(CONVERSATIONS.c.team_id == team_id)).scalar_one()
    if held:
        raise Conflict(f"the team holds {held} conversation{'s' if held != 1 else ''}: "
                       "move them to another team or to no team first", "team_not_empty")
    members = list(tx.conn.execute(select(MEMBERS.c.user_id).where(MEMBERS.c.team_id == team_id)).scalars())
    tx.conn.execute(MEMBERS.delete().where(MEMBERS.c.team_id == team_id))
    tx.conn.execute(TEAMS.delete().where(TEAMS.c.id == team_id))
    access_changed(tx, members)


def update_inbox(tx: Tx, inbox_id: int, *, name: str | None, address: str | None, settings: Dict | None) -> Dict:
    """Change what is not None. ``settings`` replaces the stored settings whole: the caller
    has merged the change into them and had the channel adapter check the result."""
    inbox = queries.get_inbox(tx.conn, inbox_id)
    if inbox is None:
        raise NotFound("no such inbox")
    values: Dict = {}
    if name is not None:
        values["name"] = name
    if address is not None:
        _check_address_free(tx, inbox["kind"], address, inbox_id)
        values["address"] = address
    if settings is not None:
        values["settings"] = settings
    if values:
        tx.conn.execute(update(INBOXES).where(INBOXES.c.id == inbox_id).values(**values))
    updated = queries.get_inbox(tx.conn, inbox_id)
    assert updated is not None
    return updated


SHORT_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def save_canned(tx: Tx, *, canned_id: int | None, short_code: str, text: str, author_id: int) -> Dict:
    """Create (``canned_id`` None) or change a canned response."""
    short_code, text = short_code.strip().lower().lstrip("/"), text.strip()
    if not SHORT_CODE.match(short_code):
        raise Invalid("a short code is 1-32 of a-z, 0-9, _ and -", "invalid_short_code")
    if not text or len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"the text must be 1-{MAX_TEXT_CHARS} characters", "invalid_text")
    clash = tx.conn.execute(select(CANNED.c.id).where(CANNED.c.short_code == short_code)).scalar()
    if clash is not None and clash != canned_id:
        raise Conflict(f"/{short_code} exists", "short_code_exists")
    if canned_id is None:
        canned_id = tx.conn.execute(insert(CANNED).values(short_code=short_code, text=text, created_by=author_id,
                                                          created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    elif tx.conn.execute(update(CANNED).where(CANNED.c.id == canned_id).values(
            short_code=short_code, text=text)).rowcount == 0:
        raise NotFound("no such canned response")
    return next(c for c in queries.list_canned(tx.conn) if c["id"] == canned_id)


def delete_canned(tx: Tx, canned_id: int) -> None:
    if tx.conn.execute(CANNED.delete().where(CANNED.c.id == canned_id)).rowcount == 0:
        raise NotFound("no such canned response")
