"""Contacts and their identities.
"""

from __future__ import annotations

from sqlalchemy import Connection, or_, select

from inbox.domain.access import Viewer, visibility_clause
from inbox.domain.records import Contact
from inbox.domain.serialize import contact_dict, identity_dict
from inbox.domain.tables import CONTACTS, CONVERSATIONS, IDENTITIES
from inbox.queries import search
from inbox.queries.conversations import _conversation_select, with_labels


def get_contact(conn: Connection, contact_id: int, *, full: bool = True,
                viewer: Viewer | None = None) -> Contact | None:
    """The contact; ``full`` adds identities and conversations, only those ``viewer`` may
    see when one is given (every caller that shows a contact to a user gives one)."""
    row = conn.execute(select(CONTACTS).where(CONTACTS.c.id == contact_id)).first()
    if row is None:
        return None
    out = contact_dict(row)
    if full:
        idents = conn.execute(select(IDENTITIES).where(IDENTITIES.c.contact_id == contact_id).order_by(IDENTITIES.c.id))
        out["identities"] = [identity_dict(i) for i in idents]
        query = _conversation_select().where(CONVERSATIONS.c.contact_id == contact_id)
        if viewer is not None and not viewer.sees_all:
            query = query.where(visibility_clause(viewer))
        convs = conn.execute(query.order_by(CONVERSATIONS.c.id.desc())).all()
        out["conversations"] = with_labels(conn, convs)
    return out


def search_contacts(conn: Connection, q: str, limit: int = 50) -> list[Contact]:
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
