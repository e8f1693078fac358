"""Editing and merging contacts.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from inbox import queries
from inbox.actions.common import _conversation, _log
from inbox.actions.context import Context
from inbox.domain import consent
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.consent import Purpose, State
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.events import (
    CONTACT_UPDATED,
    CONVERSATION_UPDATED,
    SCOPE_ALL,
)
from inbox.domain.identity import normalize_email, normalize_phone
from inbox.domain.records import Contact, Dict
from inbox.domain.tables import (
    CONSENT,
    CONTACTS,
    CONVERSATIONS,
    IDENTITIES,
)
from inbox.storage.db import Tx

CONTACT_FIELDS = ("name", "email", "phone", "avatar_url", "attributes")


async def update_contact(ctx: Context, viewer: Viewer, contact_id: int, changes: Dict) -> Contact:
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"unknown contact fields: {', '.join(sorted(unknown))}", "unknown_field")
    if "attributes" in changes and not isinstance(changes["attributes"], dict):
        raise Invalid("attributes must be an object", "invalid_attributes")
    for key in ("name", "email", "phone", "avatar_url"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise Invalid(f"{key} must be a string", "invalid_field")
    if "name" in changes and changes["name"] is None:  # every contact has a name (its handle at first)
        raise Invalid("name must be a string", "invalid_field")
    changes = dict(changes)
    # Stored the way inbound messages carry them, so later messages find this contact.
    if "phone" in changes:
        raw = changes["phone"]
        changes["phone"] = normalize_phone(raw) if raw else None
        if raw and changes["phone"] is None:
            raise Invalid(f"{raw!r} is not a phone number that can be read", "invalid_phone")
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"] or "") or None

    def job(tx: Tx) -> Contact:
        conn = tx.conn
        current = queries.get_contact(conn, contact_id, full=False)
        if current is None or current["merged_into_id"] is not None:
            raise NotFound("no such contact")
        values = dict(changes)
        if "attributes" in values:  # a PATCH merges attributes; a null value removes a key
            attrs = dict(current["attributes"])
            for k, v in values["attributes"].items():
                if v is None:
                    attrs.pop(k, None)
                else:
                    attrs[k] = v
            values["attributes"] = attrs
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == contact_id).values(updated_at=ctx.clock.now(), **values))
        contact = queries.get_contact(conn, contact_id, full=False)
        assert contact is not None
        tx.emit(CONTACT_UPDATED, {"contact": contact}, [SCOPE_ALL])
        return contact
    return await ctx.db.write(job)


async def merge_contacts(ctx: Context, viewer: Viewer, contact_id: int, other_id: int) -> Contact:
    """Fold ``other`` into ``contact``: identities, conversations (with their messages and
    notes) move; missing fields and attributes are filled from the other; the other is
    kept as a tombstone pointing at the survivor, and every moved conversation logs it."""
    if contact_id == other_id:
        raise Invalid("cannot merge a contact with itself", "same_contact")

    def job(tx: Tx) -> Contact:
        conn = tx.conn
        keep = queries.get_contact(conn, contact_id, full=False)
        other = queries.get_contact(conn, other_id, full=False)
        if keep is None or other is None or keep["merged_into_id"] or other["merged_into_id"]:
            raise NotFound("no such contact")
        now = ctx.clock.now()
        filled: Dict = {k: other[k] for k in ("email", "phone", "avatar_url") if not keep[k] and other[k]}
        if not keep["name"] and other["name"]:
            filled["name"] = other["name"]
        filled["attributes"] = {**other["attributes"], **keep["attributes"]}
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == contact_id).values(updated_at=now, **filled))
        conn.execute(update(IDENTITIES).where(IDENTITIES.c.contact_id == other_id).values(contact_id=contact_id))
        # The other's consent records join the survivor's ledger; a kind's latest record,
        # whoever's, is where it stands (so a later opt-out is never lost to a merge).
        conn.execute(update(CONSENT).where(CONSENT.c.contact_id == other_id).values(contact_id=contact_id))
        _restate_opt_outs(conn, contact_id)
        moved = list(conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.contact_id == other_id)).scalars())
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.contact_id == other_id).values(
            contact_id=contact_id, updated_at=now))
        for cid in moved:
            _log(tx, cid, "merged", viewer.user_id, {"from_contact_id": other_id, "into_contact_id": contact_id,
                                                     "from_contact_name": other["name"]}, now)
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == other_id).values(merged_into_id=contact_id,
                                                                                 updated_at=now))
        merged = queries.get_contact(conn, contact_id, viewer=viewer)
        assert merged is not None
        tx.emit(CONTACT_UPDATED, {"contact": {k: v for k, v in merged.items() if k != "conversations"},
                                  "merged_contact_id": other_id}, [SCOPE_ALL])
        for cid in moved:
            conv = _conversation(conn, cid)
            tx.emit(CONVERSATION_UPDATED, {"conversation": conv},
                    conversation_scopes(conv["assignee_id"], conv["team_id"]))
        return merged
    return await ctx.db.write(job)


def _restate_opt_outs(conn: Connection, contact_id: int) -> None:
    """Each identity's ``opted_out`` as the ledger has it for its kind, after a merge put two
    ledgers together; an identity without a ledger line keeps its own (one from before)."""
    standings = consent.standing(queries.consent_records(conn, contact_id))
    for (kind, purpose), now in standings.items():
        if purpose == Purpose.transactional:
            conn.execute(update(IDENTITIES).where(IDENTITIES.c.contact_id == contact_id, IDENTITIES.c.kind == kind)
                         .values(opted_out=now.state == State.opt_out))
