"""Query functions. Each takes a SQLAlchemy ``Connection`` and returns plain dicts, ready
for JSON; routes never build queries. Writes live in services.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, Table, tuple_

from inbox import models, search
from inbox.channels import ReplyWindow
from inbox.events import Viewer, conversation_scopes

USERS: Table = models.User.__table__  # type: ignore[assignment]
TEAMS: Table = models.Team.__table__  # type: ignore[assignment]
MEMBERS: Table = models.TeamMember.__table__  # type: ignore[assignment]
TOKENS: Table = models.ApiToken.__table__  # type: ignore[assignment]
INBOXES: Table = models.Inbox.__table__  # type: ignore[assignment]
CONTACTS: Table = models.Contact.__table__  # type: ignore[assignment]
IDENTITIES: Table = models.ContactIdentity.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = models.Conversation.__table__  # type: ignore[assignment]
MESSAGES: Table = models.Message.__table__  # type: ignore[assignment]
NOTES: Table = models.Note.__table__  # type: ignore[assignment]
CONV_EVENTS: Table = models.ConversationEvent.__table__  # type: ignore[assignment]
JOBS: Table = models.DeliveryJob.__table__  # type: ignore[assignment]
EVENTS: Table = models.Event.__table__  # type: ignore[assignment]
CANNED: Table = models.CannedResponse.__table__  # type: ignore[assignment]
EARLY_RECEIPTS: Table = models.EarlyReceipt.__table__  # type: ignore[assignment]
WEBHOOK_NONCES: Table = models.WebhookNonce.__table__  # type: ignore[assignment]

Dict = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _row(row: Row[Any] | None) -> Dict | None:
    return dict(row._mapping) if row is not None else None


# -- cursors ------------------------------------------------------------------------------

def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> tuple[datetime, list[int]]:
    """A cursor of ``n`` parts, as ``encode_cursor`` wrote it: an ISO time, then integers.
    Anything else (another route's cursor, a forged one) is a 400, never a failed query."""
    from inbox.errors import BadRequest

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded))
        if (not isinstance(parts, list) or len(parts) != n or not isinstance(parts[0], str)
                or not all(type(p) is int and abs(p) < 2**63 for p in parts[1:])):
            raise ValueError
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError
        return at, parts[1:]
    except ValueError:
        raise BadRequest("invalid cursor", "invalid_cursor") from None


# -- users, teams, tokens ---------------------------------------------------------------

def user_dict(row: Row[Any] | Dict) -> Dict:
    m = row if isinstance(row, dict) else row._mapping
    return {"id": m["id"], "email": m["email"], "name": m["name"], "role": m["role"], "active": m["active"]}


def get_user(conn: Connection, user_id: int) -> Dict | None:
    return _row(conn.execute(select(USERS).where(USERS.c.id == user_id)).first())


def get_user_by_email(conn: Connection, email: str) -> Dict | None:
    return _row(conn.execute(select(USERS).where(USERS.c.email == email.strip().lower())).first())


def user_for_token(conn: Connection, token_hash: str) -> Dict | None:
    q = select(USERS).join(TOKENS, TOKENS.c.user_id == USERS.c.id).where(TOKENS.c.token_hash == token_hash)
    return _row(conn.execute(q).first())


def team_ids_of(conn: Connection, user_id: int) -> frozenset[int]:
    return frozenset(conn.execute(select(MEMBERS.c.team_id).where(MEMBERS.c.user_id == user_id)).scalars())


def list_users(conn: Connection) -> list[Dict]:
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
    return {"id": row.id, "name": row.name, "member_ids": list(members.scalars())}


def list_teams(conn: Connection) -> list[Dict]:
    ids = conn.execute(select(TEAMS.c.id).order_by(TEAMS.c.id)).scalars().all()
    return [t for t in (get_team(conn, i) for i in ids) if t is not None]


# -- inboxes ------------------------------------------------------------------------------

SECRET_SETTINGS = frozenset({"auth_token", "access_token", "app_secret", "page_access_token", "bot_token",
                             "smtp_password", "inbound_secret", "secret_token", "verify_token"})


def inbox_dict(row: Row[Any] | Dict) -> Dict:
    m = row if isinstance(row, dict) else row._mapping
    settings = {k: ("********" if k in SECRET_SETTINGS and v else v) for k, v in m["settings"].items()}
    return {"id": m["id"], "kind": m["kind"], "name": m["name"], "address": m["address"], "settings": settings,
            "created_at": iso(m["created_at"])}


def list_inboxes(conn: Connection) -> list[Dict]:
    return [dict(r._mapping) for r in conn.execute(select(INBOXES).order_by(INBOXES.c.id))]


def get_inbox(conn: Connection, inbox_id: int) -> Dict | None:
    return _row(conn.execute(select(INBOXES).where(INBOXES.c.id == inbox_id)).first())


# -- contacts -----------------------------------------------------------------------------

def identity_dict(m: Any) -> Dict:
    return {"id": m.id, "kind": m.kind, "handle": m.handle, "profile_name": m.profile_name,
            "opted_out": m.opted_out, "last_seen_at": iso(m.last_seen_at)}


def contact_dict(m: Any) -> Dict:
    return {"id": m.id, "name": m.name, "email": m.email, "phone": m.phone, "avatar_url": m.avatar_url,
            "attributes": m.attributes, "created_at": iso(m.created_at), "updated_at": iso(m.updated_at)}


def get_contact(conn: Connection, contact_id: int, *, full: bool = True, viewer: Viewer | None = None) -> Dict | None:
    """The contact; ``full`` adds identities and conversations, only those ``viewer`` may
    see when one is given (every caller that shows a contact to a user gives one)."""
    row = conn.execute(select(CONTACTS).where(CONTACTS.c.id == contact_id)).first()
    if row is None:
        return None
    out = contact_dict(row)
    out["merged_into_id"] = row.merged_into_id
    if full:
        idents = conn.execute(select(IDENTITIES).where(IDENTITIES.c.contact_id == contact_id).order_by(IDENTITIES.c.id))
        out["identities"] = [identity_dict(i) for i in idents]
        query = _conversation_select().where(CONVERSATIONS.c.contact_id == contact_id)
        if viewer is not None and not viewer.sees_all:
            query = query.where(_visibility_clause(viewer))
        convs = conn.execute(query.order_by(CONVERSATIONS.c.id.desc()))
        out["conversations"] = [conversation_dict(c) for c in convs]
    return out


def search_contacts(conn: Connection, q: str, limit: int = 50) -> list[Dict]:
    """Contacts whose name, email, phone or a handle contains ``q``, newest first. Names
    and handles are looked up in the search indexes from three characters on."""
    query = select(CONTACTS).where(CONTACTS.c.merged_into_id.is_(None))
    q = q.replace("\x00", "")
    if q:
        if len(q) >= 3:
            by_name_or_handle = search.contact_matches(conn, q, CONTACTS.c.id)
        else:
            handle_match = select(IDENTITIES.c.contact_id).where(search.contains(conn, IDENTITIES.c.handle, q))
            by_name_or_handle = or_(search.contains(conn, CONTACTS.c.name, q), CONTACTS.c.id.in_(handle_match))
        query = query.where(or_(by_name_or_handle, search.contains(conn, CONTACTS.c.email, q),
                                search.contains(conn, CONTACTS.c.phone, q)))
    return [contact_dict(r) for r in conn.execute(query.order_by(CONTACTS.c.id.desc()).limit(limit))]


# -- conversations ------------------------------------------------------------------------

def _conversation_select() -> Any:
    return select(CONVERSATIONS, CONTACTS.c.name.label("contact_name")).join(
        CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)


def conversation_dict(row: Any) -> Dict:
    """From a row of ``_conversation_select()``, or any mapping with the same keys."""
    m = row._mapping if hasattr(row, "_mapping") else row
    return {
        "id": m["id"], "status": m["status"], "assignee_id": m["assignee_id"], "team_id": m["team_id"],
        "contact": {"id": m["contact_id"], "name": m["contact_name"]},
        "unread_count": m["unread_count"], "channel": m["channel"], "inbox_id": m["last_inbound_inbox_id"],
        "last_message_at": iso(m["last_message_at"]), "last_message_preview": m["last_message_preview"],
        "last_message_direction": m["last_message_direction"], "last_inbound_at": iso(m["last_inbound_at"]),
        "snoozed_until": iso(m["snoozed_until"]), "resolved_at": iso(m["resolved_at"]),
        "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"]),
    }


def get_conversation(conn: Connection, conversation_id: int) -> Dict | None:
    row = conn.execute(_conversation_select().where(CONVERSATIONS.c.id == conversation_id)).first()
    return conversation_dict(row) if row is not None else None


def visible_to(viewer: Viewer, conv: Dict) -> bool:
    return viewer.may_see(conversation_scopes(conv["assignee_id"], conv["team_id"]))


def _visibility_clause(viewer: Viewer) -> Any:
    c = CONVERSATIONS.c
    # coalesce() keeps SQLite from answering this OR by merging three index searches (a
    # third of 100,000 conversations, then sorted: 40-120 ms); walking the list newest
    # first and skipping what the agent may not see stops after a page (1 ms).
    clauses = [and_(c.assignee_id.is_(None), c.team_id.is_(None)), func.coalesce(c.assignee_id, 0) == viewer.user_id]
    if viewer.team_ids:
        clauses.append(c.team_id.in_(viewer.team_ids))
    return or_(*clauses)


def list_conversations(conn: Connection, viewer: Viewer, *, status: str | None = None,
                       assignee: int | str | None = None, team: int | None = None, channel: str | None = None,
                       inbox: int | None = None, q: str | None = None, cursor: str | None = None,
                       limit: int = 25) -> Dict:
    """Newest activity first, cursor-paginated on (last_message_at, id)."""
    c = CONVERSATIONS.c
    query = _conversation_select()
    if not viewer.sees_all:
        query = query.where(_visibility_clause(viewer))
    if status:
        query = query.where(c.status == status)
    if assignee == "none":
        query = query.where(c.assignee_id.is_(None))
    elif assignee is not None:
        query = query.where(c.assignee_id == int(assignee))
    if team is not None:
        query = query.where(c.team_id == team)
    if channel:
        query = query.where(c.channel == channel)
    if inbox is not None:
        query = query.where(c.last_inbound_inbox_id == inbox)
    if q:
        query = query.where(search.matching_conversations(conn, q))
    if cursor:
        at, (cid,) = decode_cursor(cursor, 2)
        # A row value, so the index range starts at the cursor (an OR of the two halves is
        # a filter: page n would read the n-1 pages before it again).
        query = query.where(tuple_(c.last_message_at, c.id) < (at, cid))
    rows = conn.execute(query.order_by(c.last_message_at.desc(), c.id.desc()).limit(limit + 1)).all()
    items = [conversation_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.last_message_at.isoformat(), last.id)
    return {"items": items, "next_cursor": next_cursor}


def open_loads(conn: Connection) -> dict[int, int]:
    """Open and pending conversations per assignee: a lead's view of who carries what."""
    rows = conn.execute(select(CONVERSATIONS.c.assignee_id, func.count()).where(
        CONVERSATIONS.c.status.in_(("open", "pending")), CONVERSATIONS.c.assignee_id.is_not(None))
        .group_by(CONVERSATIONS.c.assignee_id))
    return {r[0]: r[1] for r in rows}


def waiting_queue(conn: Connection, limit: int = 200) -> list[Dict]:
    """Unassigned open or pending conversations, longest-waiting customer first."""
    rows = conn.execute(_conversation_select().where(
        CONVERSATIONS.c.assignee_id.is_(None), CONVERSATIONS.c.status.in_(("open", "pending")))
        .order_by(CONVERSATIONS.c.last_inbound_at.asc().nulls_last(), CONVERSATIONS.c.id).limit(limit))
    return [conversation_dict(r) for r in rows]


def reply_channels(conn: Connection, conversation_id: int,
                   windows: Mapping[str, ReplyWindow] | None = None) -> list[Dict]:
    """Every inbox a reply could leave through, and why it can't where it can't. For a
    channel with a reply window (``windows``, by channel kind), ``window`` says whether it
    is open and until when; once it has closed, only a template can be sent
    (``template_required``) where the channel has templates, and nothing where it has not."""
    conv = conn.execute(select(CONVERSATIONS.c.contact_id, CONVERSATIONS.c.last_inbound_inbox_id)
                        .where(CONVERSATIONS.c.id == conversation_id)).first()
    if conv is None:
        return []
    idents = conn.execute(select(IDENTITIES).where(IDENTITIES.c.contact_id == conv.contact_id)
                          .order_by(IDENTITIES.c.last_seen_at.desc())).all()
    by_kind: dict[str, Any] = {}
    for i in idents:
        by_kind.setdefault(i.kind, i)
    now = datetime.now(timezone.utc)
    out = []
    for inbox in conn.execute(select(INBOXES.c.id, INBOXES.c.kind, INBOXES.c.name).order_by(INBOXES.c.id)):
        ident = by_kind.get(inbox.kind)
        reason = window = None
        if ident is None:
            reason = f"the contact has no {inbox.kind} identity"
        elif ident.opted_out:
            reason = f"{ident.handle} has opted out of {inbox.kind} messages"
        elif (policy := (windows or {}).get(inbox.kind)) is not None:
            last_in = conn.execute(select(func.max(MESSAGES.c.created_at)).where(
                MESSAGES.c.identity_id == ident.id, MESSAGES.c.direction == "in")).scalar()
            closes = last_in + policy.length if last_in is not None else None
            window = {"open": closes is not None and closes > now, "closes_at": iso(closes)}
            if not window["open"]:
                when = f"closed at {iso(closes)}" if closes else "is not open: the customer has not written here"
                then = ("only an approved template can be sent" if policy.templates
                        else "a reply can go only once the customer writes again")
                reason = f"the {_hours(policy.length)} reply window {when}; {then}"
        out.append({"inbox_id": inbox.id, "kind": inbox.kind, "name": inbox.name,
                    "handle": ident.handle if ident is not None else None,
                    "available": reason is None, "reason": reason, "window": window,
                    "template_required": window is not None and not window["open"] and policy.templates,
                    "default": inbox.id == conv.last_inbound_inbox_id})
    return out


def _hours(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    return f"{hours:g}-hour" if hours < 48 else f"{hours / 24:g}-day"


# -- messages, notes, timeline ------------------------------------------------------------

def message_dict(m: Any) -> Dict:
    return {
        "id": m.id, "conversation_id": m.conversation_id, "inbox_id": m.inbox_id, "direction": m.direction,
        "author_id": m.author_id, "identity_id": m.identity_id, "text": m.text, "attachments": m.attachments,
        "provider_message_id": m.provider_message_id, "reply_to": m.reply_to, "status": m.status,
        "payload": m.payload, "edited_at": iso(m.edited_at), "has_raw": m.raw is not None,
        "error": {"code": m.error_code, "message": m.error_message} if (m.error_code or m.error_message) else None,
        "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
    }


def note_dict(m: Any) -> Dict:
    return {"id": m.id, "conversation_id": m.conversation_id, "author_id": m.author_id, "text": m.text,
            "mentions": m.mentions, "created_at": iso(m.created_at)}


def conv_event_dict(m: Any) -> Dict:
    return {"id": m.id, "conversation_id": m.conversation_id, "kind": m.kind, "actor_id": m.actor_id,
            "data": m.data, "created_at": iso(m.created_at)}


def get_message(conn: Connection, message_id: int) -> Dict | None:
    row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
    return message_dict(row) if row is not None else None


_TIMELINE = (("message", MESSAGES, message_dict), ("note", NOTES, note_dict), ("event", CONV_EVENTS, conv_event_dict))
_KIND_ORDER = {"event": 0, "message": 1, "note": 2}  # a "created" event precedes its first message


def timeline(conn: Connection, conversation_id: int, *, before: str | None = None, limit: int = 50) -> Dict:
    """Messages, notes and events interleaved by time, newest page first, oldest first
    within a page. ``next_cursor`` pages further back in time."""
    key: tuple[datetime, int, int] | None = None
    if before:
        at, (kind_no, item_id) = decode_cursor(before, 3)
        key = (at, kind_no, item_id)
    merged: list[tuple[tuple[datetime, int, int], str, Dict]] = []
    for kind, table, to_dict in _TIMELINE:
        kn = _KIND_ORDER[kind]
        q = select(table).where(table.c.conversation_id == conversation_id)
        if key is not None:
            q = q.where(_before(table, kn, *key))
        q = q.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
        merged.extend(((r.created_at, kn, r.id), kind, to_dict(r)) for r in conn.execute(q))
    merged.sort(key=lambda t: t[0], reverse=True)
    page = merged[:limit]
    next_cursor = None
    if len(merged) > limit:
        at_dt, kn, item_id = page[-1][0]
        next_cursor = encode_cursor(at_dt.isoformat(), kn, item_id)
    items = [{"type": kind, **item} for _, kind, item in reversed(page)]
    return {"items": items, "next_cursor": next_cursor}


def _before(table: Table, kind_no: int, at: datetime, cursor_kind_no: int, cursor_id: int) -> Any:
    """Rows of ``table`` that sort strictly before the cursor in (created_at, kind, id)."""
    if kind_no < cursor_kind_no:
        return table.c.created_at <= at
    if kind_no > cursor_kind_no:
        return table.c.created_at < at
    return tuple_(table.c.created_at, table.c.id) < (at, cursor_id)  # an index range, as in list_conversations


# -- canned responses ---------------------------------------------------------------------

def list_canned(conn: Connection) -> list[Dict]:
    return [{"id": r.id, "short_code": r.short_code, "text": r.text, "created_at": iso(r.created_at)}
            for r in conn.execute(select(CANNED).order_by(CANNED.c.short_code))]


# -- live events --------------------------------------------------------------------------

def events_after(conn: Connection, after_id: int, limit: int = 1000) -> list[Row[Any]]:
    return list(conn.execute(select(EVENTS).where(EVENTS.c.id > after_id).order_by(EVENTS.c.id).limit(limit)))


def first_event_id(conn: Connection) -> int | None:
    value = conn.execute(select(func.min(EVENTS.c.id))).scalar()
    return int(value) if value is not None else None


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0)
