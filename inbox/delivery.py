"""The delivery worker: hands queued replies to their channel adapter, and downloads
customers' attachments from the provider (jobs of kind ``send`` and ``fetch``).

A job is claimed with a lease (state ``sending``, ``lease_until``) in one commit before the
provider is called, so a worker that dies mid-send leaves a job that another claim picks
up once the lease runs out: never lost. The provider's message id is committed the moment
the provider acknowledges; a job in state ``done`` is never claimed again, so an
acknowledged send is not repeated. (The only window left is a crash between the
provider's acknowledgement and that commit, a few milliseconds; SMS has no idempotency
key to close it.)

Transient failures (timeouts, 5xx, 429) are retried with exponential backoff, honouring
Retry-After, up to ``max_attempts``; the agent sees the last error meanwhile. Permanent
failures fail the message at once with the provider's code and text. A fetch that fails
for good marks the attachment (not the message) with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from inbox.channels import (Attachment, Media, OutboundMessage, ProviderRejected, ProviderUnavailable, Registry,
                            SendError, Sent)
from inbox.db import Tx
from inbox.inboxes import SEND_RATE
from inbox.media import MediaRejected
from inbox.models import DeliveryStatus, utcnow
from inbox.services import STATUS_RANK, Context, _update_message, apply_early_receipts, record_opt_out
from inbox.store import IDENTITIES, INBOXES, JOBS, MESSAGES

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    job_id: int
    attempts: int
    job: str  # send | fetch
    channel: str
    message_id: int
    outbound: OutboundMessage  # for a fetch: the inbox's settings, and the attachment to get
    attachment: int = 0


class DeliveryWorker:
    def __init__(self, ctx: Context, registry: Registry, *, batch: int = 32, concurrency: int = 16) -> None:
        self.ctx = ctx
        self.registry = registry
        self.batch = batch
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._next_send: dict[int, float] = {}  # inbox id -> the loop time its next free slot starts
        self._last_send: dict[int, float] = {}  # inbox id -> the loop time its last send started

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        s = self.ctx.settings
        lease = timedelta(seconds=s.send_timeout_seconds * 2 + 5)
        while not self._stopping:
            self._wake.clear()
            jobs, next_due = await self.ctx.db.write(lambda tx: _claim(tx, self.batch, lease))
            for job in jobs:
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(jobs) == self.batch:
                continue
            timeout = 5.0 if next_due is None else max(0.0, (next_due - utcnow()).total_seconds())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(timeout, 5.0))
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, job: ClaimedJob) -> None:
        s = self.ctx.settings
        try:
            adapter = self.registry.get(job.channel)
            try:
                if job.job == "fetch":
                    attachment = job.outbound.attachments[job.attachment]
                    media = await asyncio.wait_for(adapter.fetch(job.outbound.settings, attachment),
                                                   timeout=s.send_timeout_seconds * 4)
                else:
                    if not await self._pace(job):
                        return
                    sent = await asyncio.wait_for(adapter.send(job.outbound), timeout=s.send_timeout_seconds)
            except TimeoutError:
                raise _timeout(s.send_timeout_seconds) from None
        except SendError as err:
            error = err
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, error, s.retry_base_seconds,
                                                               s.retry_max_seconds, s.max_attempts))
            if error.transient:
                self.wake()  # reschedule the loop's timer for the retry
        except Exception as err:  # a bug in an adapter must still show on the message
            log.exception("adapter %s crashed on %s job %s", job.channel, job.job, job.job_id)
            failure = SendError("internal_error", f"{type(err).__name__}: {err}")
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, failure, 0, 0, 0))
        else:
            if job.job == "fetch":
                await self._store(job, media)
            else:
                await self.ctx.db.write(lambda tx: _record_sent(tx, job, sent))
        finally:
            self._slots.release()


    async def _pace(self, job: ClaimedJob) -> bool:
        """Keep an inbox under its send_rate_per_second (per process): sends start at least
        PACE_MARGIN/rate apart, so that no rolling second at the provider holds more than
        ``rate`` of them. Each send books the next free slot; a slot further off than
        PACE_HOLD gives the job back for then (its lease would not last the wait): False.
        The booking only estimates: when the loop was held up, sleepers wake together, so
        each checks the real time since the last send before going."""
        rate = job.outbound.settings.get(SEND_RATE)
        if not rate:
            return True
        loop = asyncio.get_running_loop()
        inbox_id, gap = job.outbound.inbox_id, PACE_MARGIN / float(rate)
        slot = max(loop.time(), self._next_send.get(inbox_id, 0.0))
        wait = slot - loop.time()
        if wait > PACE_HOLD:
            await self.ctx.db.write(lambda tx: _give_back(tx, job, wait))
            return False
        self._next_send[inbox_id] = slot + gap
        if wait > 0:
            await asyncio.sleep(wait)  # waiting for the provider's rate, not for a result
        while (late := self._last_send.get(inbox_id, -gap) + gap - loop.time()) > 0:
            await asyncio.sleep(late)
        self._last_send[inbox_id] = loop.time()
        self._next_send[inbox_id] = max(self._next_send[inbox_id], loop.time() + gap)
        return True

    async def _store(self, job: ClaimedJob, media: Media) -> None:
        try:
            path, content_type = await asyncio.to_thread(self.ctx.media.save, media.content, media.content_type)
        except MediaRejected as exc:
            failure = ProviderRejected("media_rejected", str(exc))
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, failure, 0, 0, 0))
            return
        stored = {"path": path, "content_type": content_type, "size": len(media.content)}
        if media.filename:
            stored["filename"] = media.filename
        await self.ctx.db.write(lambda tx: _record_fetched(tx, job, stored))


PACE_HOLD = 5.0  # seconds a claimed job may wait for its inbox's send rate
PACE_MARGIN = 1.02  # sends 2% further apart than the rate: room for jitter on the way


def _give_back(tx: Tx, job: ClaimedJob, wait: float) -> None:
    """Unclaim a job that must wait for its inbox's send rate; the claim was not an attempt."""
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(
        state="pending", lease_until=None, attempts=job.attempts - 1,
        next_attempt_at=utcnow() + timedelta(seconds=wait)))


def _timeout(seconds: float) -> SendError:
    return ProviderUnavailable("timeout", f"the provider did not answer within {seconds:g} s")


def _claim(tx: Tx, limit: int, lease: timedelta) -> tuple[list[ClaimedJob], datetime | None]:
    """Claim due jobs (pending and due, or sending with an expired lease). Returns them and
    when the next not-yet-due job falls due."""
    conn = tx.conn
    now = utcnow()
    due = or_(and_(JOBS.c.state == "pending", JOBS.c.next_attempt_at <= now),
              and_(JOBS.c.state == "sending", JOBS.c.lease_until < now))
    q = (select(JOBS.c.id, JOBS.c.attempts, JOBS.c.kind.label("job"), JOBS.c.attachment,
                MESSAGES.c.id.label("message_id"), MESSAGES.c.text, MESSAGES.c.attachments, MESSAGES.c.payload,
                MESSAGES.c.inbox_id, INBOXES.c.kind, INBOXES.c.address, INBOXES.c.settings, IDENTITIES.c.handle,
                MESSAGES.c.identity_id)
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
            reply_to_payload=latest.payload if latest else None), r.attachment))
    next_due = conn.execute(select(JOBS.c.next_attempt_at).where(JOBS.c.state == "pending")
                            .order_by(JOBS.c.next_attempt_at).limit(1)).scalar()
    # A lease running out is work falling due too: the job of a worker that died.
    lease_end = conn.execute(select(JOBS.c.lease_until).where(JOBS.c.state == "sending")
                             .order_by(JOBS.c.lease_until).limit(1)).scalar()
    if lease_end is not None and (next_due is None or lease_end < next_due):
        next_due = lease_end
    return claimed, next_due


def _record_sent(tx: Tx, job: ClaimedJob, sent: Sent) -> None:
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="done", lease_until=None,
                                                                      last_error=None))
    current = tx.conn.execute(select(MESSAGES.c.status).where(MESSAGES.c.id == job.outbound.message_id)).scalar()
    values: dict[str, Any] = {"provider_message_id": sent.provider_message_id, "error_code": None,
                              "error_message": None}
    # A status callback may already have moved it further; never move it back.
    if current != DeliveryStatus.failed and STATUS_RANK.get(sent.status, 0) > STATUS_RANK.get(current or "", 0):
        values["status"] = sent.status
    _update_message(tx, job.outbound.message_id, values)
    apply_early_receipts(tx, job.outbound.inbox_id, sent.provider_message_id)


def _record_fetched(tx: Tx, job: ClaimedJob, stored: dict[str, Any]) -> None:
    tx.conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="done", lease_until=None,
                                                                      last_error=None))
    _update_attachment(tx, job, {**stored, "error": None})


def _update_attachment(tx: Tx, job: ClaimedJob, changes: dict[str, Any]) -> None:
    attachments = tx.conn.execute(select(MESSAGES.c.attachments).where(MESSAGES.c.id == job.message_id)).scalar()
    attachments = [dict(a) for a in attachments or []]
    if job.attachment < len(attachments):
        merged = {**attachments[job.attachment], **changes}
        attachments[job.attachment] = {k: v for k, v in merged.items() if v is not None}
        _update_message(tx, job.message_id, {"attachments": attachments})


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential with full jitter on the upper half: base * 2^(attempt-1), capped."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.random() * delay / 2


def _record_failure(tx: Tx, job: ClaimedJob, err: SendError, base: float, cap: float, max_attempts: int) -> None:
    conn = tx.conn
    now = utcnow()
    reason = err.message
    if err.transient and job.attempts < max_attempts:
        delay = max(err.retry_after or 0.0, backoff(job.attempts, base, cap))
        conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(
            state="pending", lease_until=None, next_attempt_at=now + timedelta(seconds=delay), last_error=reason))
        retrying = f"{reason} (attempt {job.attempts} of {max_attempts}; retrying in {delay:.0f} s)"
        if job.job == "fetch":
            _update_attachment(tx, job, {"error": retrying})
        else:
            _update_message(tx, job.outbound.message_id, {"error_code": err.code, "error_message": retrying})
        return
    conn.execute(update(JOBS).where(JOBS.c.id == job.job_id).values(state="failed", lease_until=None,
                                                                    last_error=reason))
    if err.transient:
        reason = f"{reason} (gave up after {job.attempts} attempts)"
    if job.job == "fetch":
        _update_attachment(tx, job, {"error": f"could not download: {reason}"})
        return
    _update_message(tx, job.outbound.message_id, {"status": DeliveryStatus.failed, "error_code": err.code,
                                                   "error_message": reason})
    if err.recipient_opted_out:
        identity = conn.execute(select(MESSAGES.c.identity_id)
                                .where(MESSAGES.c.id == job.outbound.message_id)).scalar_one()
        record_opt_out(tx, identity)

