"""Recording consent (docs/consent.md): each opt-in or opt-out is a line of the contact's
ledger; a transactional one also sets ``opted_out`` on the contact's identities of that
channel kind, which the reply channels and sending read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from inbox import queries
from inbox.actions.context import Context
from inbox.domain import consent
from inbox.domain.access import Viewer
from inbox.domain.consent import Purpose, Source, State
from inbox.domain.errors import NotFound
from inbox.domain.records import Contact
from inbox.domain.events import CONTACT_UPDATED, SCOPE_ALL
from inbox.domain.tables import CONSENT, IDENTITIES
from inbox.storage.db import Tx


def write_record(conn: Connection, contact_id: int, kind: str, purpose: str, state: str, source: str,
                 at: datetime, *, proof: str | None = None, identity_id: int | None = None,
                 user_id: int | None = None) -> int:
    """Append one record; its id. In the caller's transaction."""
    record_id = conn.execute(insert(CONSENT).values(
        contact_id=contact_id, kind=kind, purpose=purpose, state=state, source=source,
        proof=(proof or "")[:consent.MAX_PROOF_CHARS] or None, identity_id=identity_id, user_id=user_id,
        at=at).returning(CONSENT.c.id)).scalar_one()
    if purpose == Purpose.transactional:
        conn.execute(update(IDENTITIES).where(IDENTITIES.c.contact_id == contact_id, IDENTITIES.c.kind == kind)
                     .values(opted_out=state == State.opt_out))
    return int(record_id)


async def record_consent(ctx: Context, viewer: Viewer, contact_id: int, raw: Any, kinds: Iterable[str],
                 default_source: Source) -> dict[str, Any]:
    """A record asked for by an agent (in the contact panel: source ``agent``) or through the
    API (``api`` unless it says ``import`` or ``form``), for one of the channel ``kinds``:
    checked, appended; the contact's ledger as it now stands."""
    given = consent.check(raw, kinds, default_source=default_source)

    def job(tx: Tx) -> dict[str, Any]:
        contact = queries.get_contact(tx.conn, contact_id, full=False)
        if contact is None or contact["merged_into_id"]:
            raise NotFound("no such contact")
        write_record(tx.conn, contact_id, given["kind"], given["purpose"], given["state"], given["source"],
                     ctx.clock.now(), proof=given["proof"], user_id=viewer.user_id or None)
        tx.emit(CONTACT_UPDATED, {"contact": queries.get_contact(tx.conn, contact_id, full=False)}, [SCOPE_ALL])
        return queries.consent_ledger(tx.conn, contact_id)
    return await ctx.db.write(job)


async def unsubscribe(ctx: Context, token: str, how: str) -> Contact:
    """An unsubscribe link was used (``how``: ``one-click``, a mail provider's POST, or
    ``page``, the customer's press): a marketing opt-out of that channel, source
    ``unsubscribe``, unless one already stands. NotFound for a forged link. The contact."""
    found = consent.verify_unsubscribe(ctx.settings.secret_key, token)
    if found is None:
        raise NotFound("this unsubscribe link is not valid", "invalid_link")
    contact_id, kind = found

    def job(tx: Tx) -> Contact:
        contact = queries.get_contact(tx.conn, contact_id, full=False)
        while contact is not None and contact["merged_into_id"]:  # the link predates a merge
            contact = queries.get_contact(tx.conn, contact["merged_into_id"], full=False)
        if contact is None:
            raise NotFound("this unsubscribe link is not valid", "invalid_link")
        now = consent.standing(queries.consent_records(tx.conn, contact["id"])).get((kind, Purpose.marketing))
        if now is None or now.state != State.opt_out:
            proof = "one-click unsubscribe (RFC 8058)" if how == "one-click" else "unsubscribe page"
            write_record(tx.conn, contact["id"], kind, Purpose.marketing, State.opt_out, Source.unsubscribe,
                         ctx.clock.now(), proof=proof)
            tx.emit(CONTACT_UPDATED, {"contact": queries.get_contact(tx.conn, contact["id"], full=False)},
                    [SCOPE_ALL])
        return contact
    return await ctx.db.write(job)
