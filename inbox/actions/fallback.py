"""An inbox's channel fallback (docs/campaigns.md, "Channel fallback"): a message an agent
or a reminder sent through an inbox with ``fallback_inbox_id`` that fails, or is not
delivered within ``fallback_minutes``, goes out again, the same text and files, through
the fallback inbox, if the contact has an identity there and a reply could go through it
now (not opted out, its reply window open): the checks any reply meets.

``replies.write_outbound`` writes the waiting row with the message (and sends the first
with a validity period that ends before the fallback goes, where the provider takes one:
Twilio, so that a late delivery cannot make it twice); the campaign worker, which wakes on
a permanent failure, calls ``fall_back``. A campaign's messages have their own fallback
(inbox/actions/campaigns.py), by the campaign's order of channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from inbox import queries
from inbox.actions.common import _log
from inbox.actions.delivery import withdraw_send
from inbox.actions.replies import FALLBACK, write_outbound
from inbox.domain.channels import ReplyWindow
from inbox.domain.models import DeliveryStatus
from inbox.domain.tables import CONVERSATIONS, INBOXES, MESSAGES, REPLY_FALLBACKS
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

BATCH = 100
_DONE = (DeliveryStatus.delivered, DeliveryStatus.read)


def _due(now: datetime) -> ColumnElement[bool]:
    f = REPLY_FALLBACKS.c
    return and_(f.state == "waiting", or_(f.due_at <= now, MESSAGES.c.status == DeliveryStatus.failed))


def any_due(conn: Connection, now: datetime) -> bool:
    """Whether a waiting message failed or is past its time: a read before the write."""
    f = REPLY_FALLBACKS.c
    return conn.execute(select(f.id).select_from(REPLY_FALLBACKS.join(MESSAGES, MESSAGES.c.id == f.message_id))
                        .where(_due(now)).limit(1)).first() is not None


def next_due(conn: Connection) -> datetime | None:
    f = REPLY_FALLBACKS.c
    due: datetime | None = conn.execute(select(func.min(f.due_at)).where(f.state == "waiting")).scalar()
    return due


def fall_back(tx: Tx, now: datetime, windows: Mapping[str, ReplyWindow]) -> int:
    """The waiting messages that failed, or were not delivered in time: sent again through
    their fallback inbox, or closed (delivered after all; or why not). How many sent."""
    conn, f = tx.conn, REPLY_FALLBACKS.c
    rows = conn.execute(
        select(f.id, f.message_id, f.conversation_id, f.fallback_inbox_id, f.due_at, f.created_at,
               MESSAGES.c.status, MESSAGES.c.error_message, INBOXES.c.kind, CONVERSATIONS.c.contact_id)
        .select_from(REPLY_FALLBACKS.join(MESSAGES, MESSAGES.c.id == f.message_id)
                     .join(INBOXES, INBOXES.c.id == MESSAGES.c.inbox_id)
                     .join(CONVERSATIONS, CONVERSATIONS.c.id == f.conversation_id))
        .where(_due(now)).order_by(f.due_at, f.id).limit(BATCH)).all()
    sent = 0
    for row in rows:
        if row.status in _DONE:
            _close(conn, row.id, now, outcome="delivered")
            continue
        first = queries.get_message(conn, row.message_id)
        assert first is not None
        failed = row.status == DeliveryStatus.failed
        minutes = round((as_utc(row.due_at) - as_utc(row.created_at)).total_seconds() / 60)
        why = (f"failed: {row.error_message}" if failed and row.error_message else "failed" if failed
               else f"not delivered within {minutes} minutes")
        channels = {c["inbox_id"]: c for c in queries.reply_channels(conn, row.conversation_id, now, windows)}
        choice = channels.get(row.fallback_inbox_id)
        if choice is None or not choice["available"]:
            reason = choice["reason"] if choice is not None else "the fallback inbox is gone"
            _close(conn, row.id, now, outcome="skipped", detail=reason)
            _log(tx, row.conversation_id, "fallback_skipped", None,
                 {"from": row.kind, "why": why, "reason": reason, "message_id": row.message_id}, now)
            continue
        if not failed:  # still to be retried: it goes no more
            withdraw_send(tx, row.message_id, f"{why}: sent by {choice['kind']} instead", now)
        again = write_outbound(tx, row.conversation_id, row.contact_id, choice, first["text"], now,
                               author_id=first["author_id"], attachments=list(first["attachments"] or []),
                               payload={"fallback_of": row.message_id}, automatic=FALLBACK)
        _close(conn, row.id, now, outcome="sent", next_message_id=again["id"])
        _log(tx, row.conversation_id, "fallback", None, {"from": row.kind, "to": choice["kind"], "why": why,
                                                         "message_id": row.message_id}, now)
        sent += 1
    return sent


def _close(conn: Connection, row_id: int, now: datetime, **values: object) -> None:
    conn.execute(update(REPLY_FALLBACKS).where(REPLY_FALLBACKS.c.id == row_id)
                 .values(state="done", updated_at=now, **values))

