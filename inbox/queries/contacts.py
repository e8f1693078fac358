"""Contacts and their identities, and what the contact panel shows of them: likely
duplicates, what a merge would move, the customer's local time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select, true

from inbox.domain.access import Viewer, visibility_clause
from inbox.domain.identity import normalize_email, normalize_phone
from inbox.domain.localtime import local_time
from inbox.domain.records import Contact, Dict, Identity
from inbox.domain.serialize import contact_dict, identity_dict
from inbox.domain.tables import CONTACTS, CONVERSATIONS, IDENTITIES, NOTES
from inbox.queries import csat, search
from inbox.queries.consent import consent_ledger
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


def search_contacts(conn: Connection, q: str, limit: int = 50, *, viewer: Viewer | None = None,
                    exclude: int | None = None) -> list[Contact]:
    """Contacts whose name, email, phone or a handle contains ``q``, newest first. Names
    and handles are looked up in the search indexes from three characters on. With a
    ``viewer``, only the contacts they may see (``visible_contact``); ``exclude``: leave
    this one out (the contact a merge would keep)."""
    query = select(CONTACTS).where(CONTACTS.c.merged_into_id.is_(None))
    if viewer is not None:
        query = query.where(visible_contact(viewer))
    if exclude is not None:
        query = query.where(CONTACTS.c.id != exclude)
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


# Channels whose handle is a phone number (WhatsApp's without the plus), and email's.
PHONE_KINDS = ("sms", "whatsapp")
EMAIL_KINDS = ("email",)


def visible_contact(viewer: Viewer) -> ColumnElement[bool]:
    """A contact an agent may be shown: one with a conversation they may see, or with no
    conversation at all (nothing to keep from them). Leads and admins see every contact.
    A contact whose every conversation belongs to a team the agent is not in stays hidden:
    its name alone would tell them of a customer they are not to serve."""
    if viewer.sees_all:
        return true()
    of_contact = select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.contact_id == CONTACTS.c.id)
    return or_(exists(of_contact.where(visibility_clause(viewer))), ~exists(of_contact))


def _name_key(name: str | None) -> str:
    """Names compared as people read them: case and runs of spaces do not count."""
    return " ".join((name or "").split()).casefold()


def _handles(contact: Mapping[str, Any], identities: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """The contact's phone numbers (E.164) and email addresses, from its fields and identities."""
    phones = {contact["phone"]} if contact["phone"] else set()
    emails = {normalize_email(contact["email"])} if contact["email"] else set()
    for i in identities:
        if i["kind"] in PHONE_KINDS and (number := normalize_phone(i["handle"])):
            phones.add(number)
        elif i["kind"] in EMAIL_KINDS:
            emails.add(normalize_email(i["handle"]))
    return phones, emails


def _identities_of(conn: Connection, contact_ids: list[int]) -> dict[int, list[Identity]]:
    out: dict[int, list[Identity]] = {cid: [] for cid in contact_ids}
    rows = conn.execute(select(IDENTITIES).where(IDENTITIES.c.contact_id.in_(contact_ids)).order_by(IDENTITIES.c.id))
    for row in rows:
        out[row.contact_id].append(identity_dict(row))
    return out


def likely_duplicates(conn: Connection, contact_id: int, viewer: Viewer, limit: int = 10) -> list[Dict]:
    """Other contacts that are probably the same person: the same name (ignoring case and
    spacing), the same email address, or the same phone number in E.164, on the contact
    itself or on any of its identities. Only contacts ``viewer`` may see, never merged-away
    ones; each with its ``identities`` and the ``reasons`` it matched ("name", "email",
    "phone"), newest first."""
    contact = get_contact(conn, contact_id, full=False)
    if contact is None or contact["merged_into_id"] is not None:
        return []
    phones, emails = _handles(contact, _identities_of(conn, [contact_id])[contact_id])
    name = _name_key(contact["name"])
    matches: list[ColumnElement[bool]] = []
    words = contact["name"].split()
    longest = max(words, key=len, default="")
    if len(longest) >= 3:  # the name index finds nothing shorter; spacing may differ, so word by word
        matches.append(and_(search.contact_matches(conn, longest, CONTACTS.c.id),
                            *(search.contains(conn, CONTACTS.c.name, w) for w in words if w != longest)))
    if emails:
        matches.append(CONTACTS.c.email.in_(sorted(emails)))
    if phones:
        matches.append(CONTACTS.c.phone.in_(sorted(phones)))
    by_handle = []
    if phones:  # WhatsApp's handles are the number without its plus
        by_handle.append(and_(IDENTITIES.c.kind.in_(PHONE_KINDS),
                              IDENTITIES.c.handle.in_(sorted(phones | {p[1:] for p in phones}))))
    if emails:
        by_handle.append(and_(IDENTITIES.c.kind.in_(EMAIL_KINDS), IDENTITIES.c.handle.in_(sorted(emails))))
    if by_handle:
        matches.append(CONTACTS.c.id.in_(select(IDENTITIES.c.contact_id).where(or_(*by_handle))))
    if not matches:
        return []
    query = select(CONTACTS).where(CONTACTS.c.id != contact_id, CONTACTS.c.merged_into_id.is_(None),
                                   visible_contact(viewer), or_(*matches)).order_by(CONTACTS.c.id.desc())
    candidates = [contact_dict(r) for r in conn.execute(query.limit(200))]  # the name's words: also longer names
    identities = _identities_of(conn, [c["id"] for c in candidates])
    out = []
    for other in candidates:
        their_phones, their_emails = _handles(other, identities[other["id"]])
        reasons = [reason for reason, hit in (("name", name and _name_key(other["name"]) == name),
                                              ("email", emails & their_emails), ("phone", phones & their_phones))
                   if hit]
        if reasons:
            out.append({**other, "identities": identities[other["id"]], "reasons": reasons})
    return out[:limit]


def merge_preview(conn: Connection, contact_id: int, other_id: int, viewer: Viewer) -> Dict | None:
    """What merging ``other_id`` into ``contact_id`` would move, for the confirmation: the
    two contacts, the other's identities, and how many conversations and notes move (all of
    them, also those in teams ``viewer`` is not in: the count is what the merge does).
    ``None`` when either is missing, merged away, the same, or not for ``viewer`` to see."""
    if contact_id == other_id:
        return None
    visible = set(conn.execute(select(CONTACTS.c.id).where(
        CONTACTS.c.id.in_((contact_id, other_id)), CONTACTS.c.merged_into_id.is_(None),
        visible_contact(viewer))).scalars())
    if visible != {contact_id, other_id}:
        return None
    keep, other = get_contact(conn, contact_id, full=False), get_contact(conn, other_id, full=False)
    assert keep is not None and other is not None
    moving = select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.contact_id == other_id)
    conversations = conn.execute(select(func.count()).select_from(moving.subquery())).scalar_one()
    notes = conn.execute(select(func.count()).select_from(NOTES).where(NOTES.c.conversation_id.in_(moving))
                         ).scalar_one()
    return {"keep": keep, "other": other, "identities": _identities_of(conn, [other_id])[other_id],
            "conversations": conversations, "notes": notes}


def contact_panel(conn: Connection, contact_id: int, viewer: Viewer, now: datetime) -> Dict | None:
    """The contact as the panel beside a conversation shows it: ``get_contact`` for
    ``viewer``, with its ``duplicates``, its ``local_time`` at ``now`` and its latest
    satisfaction answers (``surveys``) and where it stands on each channel (``consent``)."""
    contact = get_contact(conn, contact_id, viewer=viewer)
    if contact is None:
        return None
    phones, _ = _handles(contact, contact.get("identities", []))
    numbers = ([contact["phone"]] if contact["phone"] else []) + sorted(phones - {contact["phone"]})
    return {**contact, "local_time": local_time(contact["attributes"], numbers, now),
            "duplicates": likely_duplicates(conn, contact_id, viewer),
            "surveys": [s for s in csat.for_contact(conn, contact_id, limit=5) if s["answered_at"]],
            "consent": consent_ledger(conn, contact_id)["channels"]}
