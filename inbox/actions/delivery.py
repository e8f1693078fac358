"""The delivery worker's writes: claiming jobs with a lease, recording what the provider
answered, scheduling retries with backoff.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from inbox.actions.common import STATUS_RANK, _update_message
from inbox.actions.inbound import apply_early_receipts, record_opt_out
from inbox.domain.channels import (
    Attachment,
    OutboundMessage,
    SendError,
    Sent,
)
from inbox.domain.models import DeliveryStatus
from inbox.domain.tables import IDENTITIES, INBOXES, JOBS, MESSAGES
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    job_id: int
    attempts: int
    job: str  # send | fetch
    channel: str
    message_id: int
    outbound: OutboundMessage  # for a fetch: the inbox's settings, and the attachment to get
    attachment: int = 0
    # A send tried before (it timed out, failed for a while, or its worker died): when its
    # job was made. The provider may have taken an earlier attempt; the worker asks first.
    retried_since: datetime | None = None


def _give_back(tx: Tx, job: ClaimedJob, wait: float, now: datetime) -> None:
    """Unclaim a job that must wait for its inbox's send rate; the claim was not an attempt."""
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(
        state="pending", lease_until=None, attempts=job.attempts - 1,
        next_attempt_at=now + timedelta(seconds=wait)))


def _claim(tx: Tx, limit: int, lease: timedelta, now: datetime) -> tuple[list[ClaimedJob], datetime | None]:
    """Claim due jobs (pending and due, or sending with an expired lease). Returns them and
    when the next not-yet-due job falls due."""
    conn = tx.conn
    due = or_(and_(JOBS.c.state == "pending", JOBS.c.next_attempt_at <= now),
              and_(JOBS.c.state == "sending", JOBS.c.lease_until < now))
    q = (select(JOBS.c.id, JOBS.c.attempts, JOBS.c.kind.label("job"), JOBS.c.attachment, JOBS.c.created_at,
                MESSAGES.c.id.label("message_id"), MESSAGES.c.text, MESSAGES.c.attachments, MESSAGES.c.payload,
                MESSAGES.c.inbox_id, INBOXES.c.kind, INBOXES.c.address, INBOXES.c.settings, IDENTITIES.c.handle,
                MESSAGES.c.identity_id, MESSAGES.c.automatic)
         .join(MESSAGES, MESSAGES.c.id == JOBS.c.message_id)
         .join(INBOXES, INBOXES.c.id == MESSAGES.c.inbox_id)
         .join(IDENTITIES, IDENTITIES.c.id == MESSAGES.c.identity_id)
         .where(due).order_by(JOBS.c.next_attempt_at, JOBS.c.id).limit(limit))
    if tx.conn.dialect.name != "sqlite":
        q = q.with_for_update(skip_locked=True, of=JOBS)
    rows = conn.execute(q).all()
    claimed = []
    for r in rows:
        conn.execute(update(JOBS).where(JOBS.c.id == r.id).values(
            state="sending", lease_until=now + lease, attempts=r.attempts + 1))
        attachments = tuple(Attachment.from_dict(a) for a in (r.attachments or []))
        # The customer's latest message on this identity: the reply window and email threading.
        latest = conn.execute(select(MESSAGES.c.created_at, MESSAGES.c.provider_message_id, MESSAGES.c.payload)
                              .where(MESSAGES.c.identity_id == r.identity_id, MESSAGES.c.direction == "in")
                              .order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id.desc()).limit(1)).first()
        claimed.append(ClaimedJob(r.id, r.attempts + 1, r.job, r.kind, r.message_id, OutboundMessage(
            inbox_id=r.inbox_id, settings=r.settings, address=r.address, to=r.handle, text=r.text,
            attachments=attachments, message_id=r.message_id, payload=r.payload,
            last_inbound_at=latest.created_at if latest else None,
            reply_to_id=latest.provider_message_id if latest else None,
            reply_to_payload=latest.payload if latest else None, attempted_at=now, automatic=r.automatic),
            r.attachment, as_utc(r.created_at) if r.job == "send" and r.attempts > 0 else None))
    next_due = conn.execute(select(JOBS.c.next_attempt_at).where(JOBS.c.state == "pending")
                            .order_by(JOBS.c.next_attempt_at).limit(1)).scalar()
    # A lease running out is work falling due too: the job of a worker that died.
    lease_end = conn.execute(select(JOBS.c.lease_until).where(JOBS.c.state == "sending")
                             .order_by(JOBS.c.lease_until).limit(1)).scalar()
    if lease_end is not None and (next_due is None or lease_end < next_due):
        next_due = lease_end
    return claimed, next_due


def unclaimed_sends(conn: Connection, inbox_id: int, found: list[Sent]) -> list[Sent]:
    """Of the provider's messages a lookup found, those no message of ours records yet."""
    if not found:
        return []
    known = set(conn.execute(select(MESSAGES.c.provider_message_id).where(
        MESSAGES.c.inbox_id == inbox_id,
        MESSAGES.c.provider_message_id.in_([f.provider_message_id for f in found]))).scalars())
    return [f for f in found if f.provider_message_id not in known]


def _record_sent(tx: Tx, job: ClaimedJob, sent: Sent, now: datetime) -> None:
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="done", lease_until=None,
                                                                      last_error=None))
    current = tx.conn.execute(select(MESSAGES.c.status).where(MESSAGES.c.id == job.outbound.message_id)).scalar()
    values: dict[str, Any] = {"provider_message_id": sent.provider_message_id, "error_code": None,
                              "error_message": None}
    # A status callback may already have moved it further; never move it back.
    if current != DeliveryStatus.failed and STATUS_RANK.get(sent.status, 0) > STATUS_RANK.get(current or "", 0):
        values["status"] = sent.status
    _update_message(tx, job.outbound.message_id, values, now)
    apply_early_receipts(tx, job.outbound.inbox_id, sent.provider_message_id, now)


def _record_fetched(tx: Tx, job: ClaimedJob, stored: dict[str, Any], now: datetime) -> None:
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="done", lease_until=None,
                                                                      last_error=None))
    _update_attachment(tx, job, {**stored, "error": None}, now)


def _update_attachment(tx: Tx, job: ClaimedJob, changes: dict[str, Any], now: datetime) -> None:
    attachments = tx.conn.execute(select(MESSAGES.c.attachments).where(MESSAGES.c.id == job.message_id)).scalar()
    attachments = [dict(a) for a in attachments or []]
    if job.attachment < len(attachments):
        merged = {**attachments[job.attachment], **changes}
        attachments[job.attachment] = {k: v for k, v in merged.items() if v is not None}
        _update_message(tx, job.message_id, {"attachments": attachments}, now)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential with full jitter on the upper half: base * 2^(attempt-1), capped."""
    delay = min(cap, base * (2.0 ** max(0, attempt - 1)))
    return delay / 2 + random.random() * delay / 2


def withdraw_send(tx: Tx, message_id: int, reason: str, now: datetime) -> None:
    """A message's send that no worker has taken (pending, or waiting for a retry): withdrawn,
    the message failed with ``reason``, so that a fallback sent in its place is the only
    one to arrive. Nothing changes when a worker holds it or it went already."""
    taken = tx.conn.execute(update(JOBS).where(JOBS.c.message_id == message_id, JOBS.c.kind == "send",
                                               JOBS.c.state == "pending")
                            .values(state="failed", lease_until=None, last_error=reason)).rowcount
    if taken:
        _update_message(tx, message_id, {"status": DeliveryStatus.failed, "error_code": "withdrawn",
                                         "error_message": reason}, now)


def _record_failure(tx: Tx, job: ClaimedJob, err: SendError, base: float, cap: float, max_attempts: int,
                    now: datetime) -> None:
    conn = tx.conn
    reason = err.message
    if err.transient and job.attempts < max_attempts:
        delay = max(err.retry_after or 0.0, backoff(job.attempts, base, cap))
        conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(
            state="pending", lease_until=None, next_attempt_at=now + timedelta(seconds=delay), last_error=reason))
        retrying = f"{reason} (attempt {job.attempts} of {max_attempts}; retrying in {delay:.0f} s)"
        if job.job == "fetch":
            _update_attachment(tx, job, {"error": retrying}, now)
        else:
            _update_message(tx, job.outbound.message_id, {"error_code": err.code, "error_message": retrying}, now)
        return
    conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="failed", lease_until=None,
                                                                    last_error=reason))
    if err.transient:
        reason = f"{reason} (gave up after {job.attempts} attempts)"
    if job.job == "fetch":
        _update_attachment(tx, job, {"error": f"could not download: {reason}"}, now)
        return
    _update_message(tx, job.outbound.message_id, {"status": DeliveryStatus.failed, "error_code": err.code,
                                                   "error_message": reason}, now)
    if err.recipient_opted_out:
        identity = conn.execute(select(MESSAGES.c.identity_id)
                                .where(MESSAGES.c.id == job.outbound.message_id)).scalar_one()
        record_opt_out(tx, identity, now)
