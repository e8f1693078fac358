"""Conversation lists (as each viewer may see them), the lead's queue and loads, and the
channels a reply can take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, false, func, select, tuple_

from inbox.domain.access import Viewer, visibility_clause
from inbox.domain.channels import ReplyWindow
from inbox.domain.errors import Invalid
from inbox.domain.models import Direction, Priority
from inbox.domain.records import Conversation, Dict
from inbox.domain.serialize import conversation_dict, iso
from inbox.domain.tables import CONTACTS, CONVERSATION_LABELS, CONVERSATIONS, IDENTITIES, INBOXES, MESSAGES
from inbox.queries import search
from inbox.queries.cursors import decode_cursor, encode_cursor
from inbox.queries.labels import find_labels, labels_of
from inbox.storage.prepared import as_utc


def _conversation_select() -> Any:
    return select(CONVERSATIONS, CONTACTS.c.name.label("contact_name")).join(
        CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)


def with_labels(conn: Connection, rows: Sequence[Any]) -> list[Conversation]:
    """Rows of ``_conversation_select()`` as conversations, their labels read in one query."""
    labels = labels_of(conn, (r.id for r in rows))
    return [conversation_dict(r, labels[r.id]) for r in rows]


def get_conversation(conn: Connection, conversation_id: int) -> Conversation | None:
    row = conn.execute(_conversation_select().where(CONVERSATIONS.c.id == conversation_id)).first()
    return with_labels(conn, [row])[0] if row is not None else None


def get_conversations(conn: Connection, ids: Sequence[int]) -> dict[int, Conversation]:
    """Several conversations by id, in two reads (the rows, their labels)."""
    if not ids:
        return {}
    rows = conn.execute(_conversation_select().where(CONVERSATIONS.c.id.in_(sorted(set(ids))))).all()
    return {c["id"]: c for c in with_labels(conn, rows)}


def _labelled(label_id: int) -> Any:
    return CONVERSATIONS.c.id.in_(select(CONVERSATION_LABELS.c.conversation_id)
                                  .where(CONVERSATION_LABELS.c.label_id == label_id))


def list_conversations(conn: Connection, viewer: Viewer, *, status: str | None = None,
                       assignee: int | str | None = None, team: int | None = None, channel: str | None = None,
                       inbox: int | None = None, labels: Sequence[int | str] = (), priority: Sequence[str] = (),
                       q: str | None = None, cursor: str | None = None, limit: int = 25,
                       sla: str | None = None, sort: str = "recent") -> Dict:
    """Newest activity first, cursor-paginated on (last_message_at, id); ``sort="sla_due"``:
    the conversations with an SLA due time, soonest (or longest overdue) first, on
    (sla_due_at, id). ``labels`` (ids or names): conversations carrying all of them, an
    unknown one is refused; ``priority``: any of these. ``q`` may hold ``label:<name>``
    terms, which filter as ``labels`` do, except that an unknown name matches nothing (it
    is a search). ``sla``: due_soon, breached, or running (any SLA under way)."""
    c = CONVERSATIONS.c
    query = _conversation_select()
    found, unknown = find_labels(conn, labels)
    if unknown:
        raise Invalid(f"no such label: {', '.join(str(u) for u in unknown)}", "unknown_label")
    for label in found:
        query = query.where(_labelled(label["id"]))
    if q:
        names, q = search.label_terms(q)
        searched, unknown = find_labels(conn, names, ids=False)
        query = query.where(false()) if unknown else query
        for label in searched:
            query = query.where(_labelled(label["id"]))
    wrong = [p for p in priority if p not in {p.value for p in Priority}]
    if wrong:
        raise Invalid(f"priority must be one of {', '.join(Priority)}", "invalid_priority")
    if priority:
        query = query.where(c.priority.in_(sorted(set(priority))))
    if not viewer.sees_all:
        query = query.where(visibility_clause(viewer))
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
    if sla:
        query = query.where(sla_filter(sla))
    if sort == "sla_due":
        return _by_due_time(conn, query.where(c.sla_due_at.is_not(None)), cursor, limit)
    if cursor:
        at, (cid,) = decode_cursor(cursor, 2)
        # A row value, so the index range starts at the cursor (an OR of the two halves is
        # a filter: page n would read the n-1 pages before it again).
        query = query.where(tuple_(c.last_message_at, c.id) < (at, cid))
    rows = conn.execute(query.order_by(c.last_message_at.desc(), c.id.desc()).limit(limit + 1)).all()
    items = with_labels(conn, rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.last_message_at.isoformat(), last.id)
    return {"items": items, "next_cursor": next_cursor}


SLA_FILTERS = {"due_soon": ("due_soon",), "breached": ("breached",),
               "running": ("running", "paused", "due_soon", "breached")}


def sla_filter(kind: str) -> Any:
    """?sla=: due_soon (a target past its warning share), breached (one missed and not
    met yet), running (any SLA under way, paused included)."""
    if kind not in SLA_FILTERS:
        raise Invalid("sla must be due_soon, breached or running", "invalid_sla_filter")
    return CONVERSATIONS.c.sla_status.in_(SLA_FILTERS[kind])


def _by_due_time(conn: Connection, query: Any, cursor: str | None, limit: int) -> Dict:
    c = CONVERSATIONS.c
    if cursor:
        at, (cid,) = decode_cursor(cursor, 2)
        query = query.where(tuple_(c.sla_due_at, c.id) > (at, cid))
    rows = conn.execute(query.order_by(c.sla_due_at, c.id).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(as_utc(last.sla_due_at).isoformat(), last.id)
    return {"items": with_labels(conn, rows[:limit]), "next_cursor": next_cursor}


def agent_replied_since(conn: Connection, conversation_id: int, since: datetime) -> bool:
    """Whether an agent replied in the conversation since then: a message a person sent (not
    an automatic one, not a note, not an echo of the business's own app)."""
    m = MESSAGES.c
    return conn.execute(select(m.id).where(
        m.conversation_id == conversation_id, m.created_at >= since, m.direction == Direction.outbound.value,
        m.author_id.is_not(None)).limit(1)).first() is not None


def open_loads(conn: Connection) -> dict[int, int]:
    """Open and pending conversations per assignee: a lead's view of who carries what."""
    rows = conn.execute(select(CONVERSATIONS.c.assignee_id, func.count()).where(
        CONVERSATIONS.c.status.in_(("open", "pending")), CONVERSATIONS.c.assignee_id.is_not(None))
        .group_by(CONVERSATIONS.c.assignee_id))
    return {r[0]: r[1] for r in rows}


def waiting_queue(conn: Connection, limit: int = 200) -> list[Conversation]:
    """Unassigned open or pending conversations, longest-waiting customer first."""
    rows = conn.execute(_conversation_select().where(
        CONVERSATIONS.c.assignee_id.is_(None), CONVERSATIONS.c.status.in_(("open", "pending")))
        .order_by(CONVERSATIONS.c.last_inbound_at.asc().nulls_last(), CONVERSATIONS.c.id).limit(limit)).all()
    return with_labels(conn, rows)


def reply_channels(conn: Connection, conversation_id: int, now: datetime,
                   windows: Mapping[str, ReplyWindow] | None = None) -> list[Dict]:
    """Every inbox a reply could leave through, and why it can't where it can't. For a
    channel with a reply window (``windows``, by channel kind), ``window`` says whether it
    is open at ``now`` and until when; once it has closed, only a template can be sent
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
    out = []
    for inbox in conn.execute(select(INBOXES.c.id, INBOXES.c.kind, INBOXES.c.name, INBOXES.c.active)
                              .where(INBOXES.c.deleted_at.is_(None)).order_by(INBOXES.c.id)):
        ident = by_kind.get(inbox.kind)
        reason = window = None
        template_required = False
        if not inbox.active:
            reason = f"the inbox {inbox.name} is disabled (an admin can enable it again)"
        elif ident is None:
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
                template_required = policy.templates
        out.append({"inbox_id": inbox.id, "kind": inbox.kind, "name": inbox.name,
                    "handle": ident.handle if ident is not None else None,
                    "available": reason is None, "reason": reason, "window": window,
                    "template_required": template_required,
                    "default": inbox.id == conv.last_inbound_inbox_id})
    return out


def _hours(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    return f"{hours:g}-hour" if hours < 48 else f"{hours / 24:g}-day"


def tab_counts(conn: Connection, viewer: Viewer, status: str | None, team_ids: list[int]) -> dict[str, int]:
    """How many conversations of ``status`` each tab of the list holds for this viewer: Mine,
    Unassigned, All and one per team (``team:<id>``), in one pass over the status index."""
    c = CONVERSATIONS.c

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    columns = [count(func.coalesce(c.assignee_id, 0) == viewer.user_id).label("mine"),
               count(c.assignee_id.is_(None)).label("unassigned"), func.count().label("all")]
    columns += [count(c.team_id == t).label(f"team:{t}") for t in team_ids]
    query = select(*columns).select_from(CONVERSATIONS)
    if not viewer.sees_all:
        query = query.where(visibility_clause(viewer))
    if status:
        query = query.where(c.status == status)
    return {k: int(v) for k, v in conn.execute(query).one()._mapping.items()}
