"""What a provider tells us: a customer's message, an edit, a read watermark, a delivery
status, an opt-out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from inbox import queries
from inbox.actions.autoreply import AutoReplyPolicy
from inbox.actions.common import STATUS_RANK, _update_message
from inbox.actions.context import Context
from inbox.actions.consent import write_record
from inbox.actions.ingest import IngestResult, find_message, ingest
from inbox.domain.channels import InboundMessage, MessageEdit, StatusUpdate
from inbox.domain.consent import Purpose, Source, State
from inbox.domain.events import (
    CONTACT_UPDATED,
    SCOPE_ALL,
)
from inbox.domain.models import DeliveryStatus, Direction
from inbox.domain.records import Dict
from inbox.domain.tables import (
    EARLY_RECEIPTS,
    IDENTITIES,
    MESSAGES,
)
from inbox.storage.db import Tx


async def record_inbound(ctx: Context, msg: InboundMessage) -> IngestResult:
    """Store one customer message: contact, identity, conversation and message in one
    transaction, idempotent on (inbox, provider message id). See ingest.py."""
    reopen_after = timedelta(days=ctx.settings.reopen_days)
    auto = AutoReplyPolicy(timedelta(hours=ctx.settings.auto_reply_interval_hours), ctx.reply_windows)
    try:
        result = await ctx.db.write(lambda tx: ingest(tx, msg, reopen_after, ctx.clock.now(), auto))
    except IntegrityError:
        # Another process committed a unique row of ours first (PostgreSQL scale-out): the
        # same provider message id (a duplicate), or this new customer's identity from
        # another of their messages, which a second attempt then joins.
        found = await ctx.db.read(lambda c: find_message(c, msg.inbox_id, msg.provider_message_id))
        if found is not None:
            return IngestResult(*found, duplicate=True)
        result = await ctx.db.write(lambda tx: ingest(tx, msg, reopen_after, ctx.clock.now(), auto))
    if result.fetches or result.auto_reply is not None:
        ctx.wake_delivery()
    return result


async def record_edit(ctx: Context, edit: MessageEdit) -> bool:
    """The customer edited a message: the new text replaces the old (kept in the message's
    payload as ``previous_texts``) and the message is marked edited. False if unknown."""
    def job(tx: Tx) -> bool:
        row = tx.conn.execute(select(MESSAGES).where(
            MESSAGES.c.inbox_id == edit.inbox_id, MESSAGES.c.provider_message_id == edit.provider_message_id)).first()
        if row is None:
            return False
        if row.text == edit.text:
            return True
        payload = dict(row.payload or {})
        payload["previous_texts"] = [*payload.get("previous_texts", []), row.text]
        _update_message(tx, row.id, {"text": edit.text, "edited_at": edit.edited_at, "payload": payload},
                        ctx.clock.now())
        return True
    return await ctx.db.write(job)


async def record_watermark(ctx: Context, inbox_id: int, kind: str, handle: str, status: str,
                           up_to: datetime) -> int:
    """A receipt that covers every message sent to ``handle`` through the inbox up to a
    time (Messenger's delivery and read watermarks). Returns how many messages moved on."""
    def job(tx: Tx) -> int:
        rows = tx.conn.execute(
            select(MESSAGES.c.id, MESSAGES.c.status).join(IDENTITIES, IDENTITIES.c.id == MESSAGES.c.identity_id)
            .where(MESSAGES.c.inbox_id == inbox_id, MESSAGES.c.direction == Direction.outbound,
                   IDENTITIES.c.kind == kind, IDENTITIES.c.handle == handle, MESSAGES.c.created_at <= up_to,
                   MESSAGES.c.provider_message_id.is_not(None))).all()
        moved = [r.id for r in rows
                 if r.status != DeliveryStatus.failed and STATUS_RANK.get(status, 0) > STATUS_RANK.get(r.status, 0)]
        now = ctx.clock.now()
        for message_id in moved:
            _update_message(tx, message_id, {"status": status}, now)
        return len(moved)
    return await ctx.db.write(job)


async def record_status(ctx: Context, status: StatusUpdate) -> bool:
    """Apply a delivery receipt. False when we know no such message (not ours, or not yet)."""
    return await ctx.db.write(lambda tx: _apply_status(tx, status, ctx.clock.now()))


def _apply_status(tx: Tx, su: StatusUpdate, now: datetime) -> bool:
    conn = tx.conn
    row = conn.execute(select(MESSAGES).where(MESSAGES.c.inbox_id == su.inbox_id,
                                              MESSAGES.c.provider_message_id == su.provider_message_id)).first()
    if row is None:  # kept until the send it belongs to has recorded the provider's id
        conn.execute(insert(EARLY_RECEIPTS).values(
            inbox_id=su.inbox_id, provider_message_id=su.provider_message_id, status=su.status,
            error_code=su.error_code, error_message=su.error_message, created_at=now))
        return False
    if su.status == DeliveryStatus.failed:
        if row.status in (DeliveryStatus.delivered, DeliveryStatus.read):
            return True
        values: Dict = {"status": DeliveryStatus.failed, "error_code": su.error_code,
                        "error_message": su.error_message or "the provider reported the message as failed"}
    elif STATUS_RANK.get(su.status, 0) > STATUS_RANK.get(row.status, 0):
        values = {"status": su.status}
    else:
        return True
    _update_message(tx, row.id, values, now)
    if su.recipient_opted_out:
        record_opt_out(tx, row.identity_id, now)
    return True


def record_opt_out(tx: Tx, identity_id: int, now: datetime) -> None:
    """The provider refused a reply because the customer opted out (Twilio's 21610: they
    texted STOP, and Twilio keeps its own list): a transactional opt-out in the contact's
    consent ledger (source ``provider``), so that no inbox offers the channel for replies
    (queries.reply_channels) until the customer opts in again."""
    conn = tx.conn
    row = conn.execute(select(IDENTITIES.c.contact_id, IDENTITIES.c.kind, IDENTITIES.c.opted_out)
                       .where(IDENTITIES.c.id == identity_id)).first()
    if row is None or row.opted_out:
        return
    write_record(conn, row.contact_id, row.kind, Purpose.transactional, State.opt_out, Source.provider,
                 now, proof="the provider refused a message: the recipient opted out", identity_id=identity_id)
    # Clients showing the contact's reply channels learn they changed.
    tx.emit(CONTACT_UPDATED, {"contact": queries.get_contact(conn, row.contact_id, full=False)}, [SCOPE_ALL])


def apply_early_receipts(tx: Tx, inbox_id: int, provider_message_id: str, now: datetime) -> None:
    """Receipts that came in before the send recorded ``provider_message_id``, in order."""
    where = (EARLY_RECEIPTS.c.inbox_id == inbox_id) & (EARLY_RECEIPTS.c.provider_message_id == provider_message_id)
    for r in tx.conn.execute(select(EARLY_RECEIPTS).where(where).order_by(EARLY_RECEIPTS.c.id)).all():
        _apply_status(tx, StatusUpdate(inbox_id, provider_message_id, r.status, r.error_code, r.error_message), now)
    tx.conn.execute(EARLY_RECEIPTS.delete().where(where))
