"""Outbound webhooks' writes (docs/webhooks.md): endpoints (admins create, change, pause,
resume and delete them, and rotate their secrets), replays and test sends; the worker's
claim on an endpoint's queue, what each attempt came to, and the pause after a long
failure; pruning the delivery log.

Deliveries of events are not written here but with the events themselves
(inbox/storage/subscriptions.py); every change of an endpoint bumps the version that tells
each process to reload its subscriptions.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from inbox.actions.context import Context
from inbox.domain import serialize, webhooks
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.domain.tables import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS
from inbox.queries.webhooks import Queued, Target, get_delivery, get_webhook, target
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc
from inbox.storage.subscriptions import bump

log = logging.getLogger(__name__)
E, D = WEBHOOK_ENDPOINTS.c, WEBHOOK_DELIVERIES.c


def _endpoint(conn: Connection, endpoint_id: int) -> Any:
    row = conn.execute(select(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id, E.deleted_at.is_(None))).first()
    if row is None:
        raise NotFound("no such webhook endpoint")
    return row


def _found(conn: Connection, endpoint_id: int) -> dict[str, Any]:
    endpoint = get_webhook(conn, endpoint_id)
    assert endpoint is not None
    return endpoint


# -- endpoints (admins) ---------------------------------------------------------------------

async def create_webhook(ctx: Context, url: Any, events: Any) -> dict[str, Any]:
    """A new endpoint, active, with a new secret: the answer is the one place the secret is
    shown whole."""
    url = webhooks.check_url(url, ctx.settings.webhooks_allow_private)
    types = webhooks.check_events(events)
    secret = webhooks.new_secret()

    def job(tx: Tx) -> dict[str, Any]:
        now = ctx.clock.now()
        endpoint_id = tx.conn.execute(insert(WEBHOOK_ENDPOINTS).values(
            url=url, events=types, secret=secret, active=True, created_at=now, updated_at=now)
        ).inserted_primary_key[0]  # type: ignore[index]
        bump(tx.conn)
        return _found(tx.conn, int(endpoint_id))
    return serialize.with_secret(await ctx.db.write(job), secret)


async def update_webhook(ctx: Context, endpoint_id: int, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Change the URL, the event types, or ``active``: false pauses it (its deliveries wait),
    true resumes it, its next delivery at once with a fresh retry schedule."""
    values: dict[str, Any] = {}
    if "url" in patch:
        values["url"] = webhooks.check_url(patch["url"], ctx.settings.webhooks_allow_private)
    if "events" in patch:
        values["events"] = webhooks.check_events(patch["events"])
    active = patch.get("active")
    if "active" in patch and not isinstance(active, bool):
        raise Invalid("active must be true or false", "invalid_field")
    if not values and active is None:
        raise Invalid("nothing to change: give url, events or active", "invalid_field")

    def job(tx: Tx) -> dict[str, Any]:
        conn, now = tx.conn, ctx.clock.now()
        row = _endpoint(conn, endpoint_id)
        if active is True and not row.active:
            values.update(active=True, paused_reason=None, paused_at=None)
            _restart_head(conn, endpoint_id)
        elif active is False and row.active:
            values.update(active=False, paused_reason=webhooks.PAUSED_BY_ADMIN, paused_at=now)
        conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id).values(updated_at=now, **values))
        bump(conn)
        return _found(conn, endpoint_id)
    endpoint = await ctx.db.write(job)
    ctx.wake_webhooks()
    return endpoint


def _restart_head(conn: Connection, endpoint_id: int) -> None:
    """The endpoint's next delivery goes at once, its retries counted afresh."""
    head = select(D.id).where(D.endpoint_id == endpoint_id, D.state == "pending").order_by(D.id).limit(1)
    conn.execute(update(WEBHOOK_DELIVERIES).where(D.id == head.scalar_subquery()).values(
        next_attempt_at=None, first_attempt_at=None, attempts=0))


async def rotate_webhook_secret(ctx: Context, endpoint_id: int) -> dict[str, Any]:
    """A new secret, shown in this answer only; the one it replaces still signs (beside it)
    for ROTATION_GRACE, so a receiver can switch without losing a request. A second rotation
    within that time ends the oldest secret's grace at once."""
    secret = webhooks.new_secret()

    def job(tx: Tx) -> dict[str, Any]:
        conn, now = tx.conn, ctx.clock.now()
        row = _endpoint(conn, endpoint_id)
        conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id).values(
            secret=secret, previous_secret=row.secret, previous_until=now + webhooks.ROTATION_GRACE, updated_at=now))
        bump(conn)
        return _found(conn, endpoint_id)
    return serialize.with_secret(await ctx.db.write(job), secret)


async def delete_webhook(ctx: Context, endpoint_id: int) -> None:
    """The endpoint stops receiving; what waited for it is dropped with its log (pruned)."""
    def job(tx: Tx) -> None:
        now = ctx.clock.now()
        _endpoint(tx.conn, endpoint_id)
        tx.conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id).values(
            deleted_at=now, active=False, updated_at=now, lease_owner=None, lease_until=None))
        bump(tx.conn)
    await ctx.db.write(job)


async def replay_delivery(ctx: Context, delivery_id: int) -> dict[str, Any]:
    """Send a delivery again, with the same ``webhook-id`` and body: it goes next in its
    endpoint's queue (when the endpoint is active), its retries counted afresh."""
    def job(tx: Tx) -> dict[str, Any]:
        conn = tx.conn
        row = conn.execute(select(D.endpoint_id, D.state).where(D.id == delivery_id)).first()
        if row is None:
            raise NotFound("no such delivery")
        _endpoint(conn, row.endpoint_id)
        if row.state == "pending":
            raise Conflict("this delivery is waiting to be sent already", "already_pending")
        conn.execute(update(WEBHOOK_DELIVERIES).where(D.id == delivery_id).values(
            state="pending", next_attempt_at=None, first_attempt_at=None, attempts=0, delivered_at=None))
        found = get_delivery(conn, delivery_id)
        assert found is not None
        return found
    delivery = await ctx.db.write(job)
    ctx.wake_webhooks()
    return delivery


async def start_test(ctx: Context, endpoint_id: int) -> tuple[Target, Queued]:
    """A test delivery, sent by the caller at once (paused or not, ahead of the queue) and
    never retried: it says whether the endpoint answers, and is logged like the others."""
    def job(tx: Tx) -> tuple[Target, Queued]:
        conn, now = tx.conn, ctx.clock.now()
        _endpoint(conn, endpoint_id)
        msg_id = webhooks.new_msg_id()
        payload = webhooks.body(webhooks.TEST_TYPE, now, {
            "endpoint_id": endpoint_id, "message": "A test from inbox: this endpoint receives its webhooks."}, None)
        delivery_id = conn.execute(insert(WEBHOOK_DELIVERIES).values(
            endpoint_id=endpoint_id, msg_id=msg_id, type=webhooks.TEST_TYPE, payload=payload, state="sending",
            attempts=0, created_at=now)).inserted_primary_key[0]  # type: ignore[index]
        found = target(conn, endpoint_id)
        assert found is not None
        return found, Queued(int(delivery_id), msg_id, webhooks.TEST_TYPE, payload, 0, None, None)
    return await ctx.db.write(job)


# -- the worker -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim took (``claimed``), when the next queue it left falls due (or its lease
    runs out), and the endpoints it left that no new delivery can make due sooner (paused,
    waiting for a retry, or held by another worker): their events need not wake the worker."""

    claimed: list[int]
    next_due: datetime | None
    quiet: frozenset[int]


def claim_endpoints(tx: Tx, owner: str, now: datetime, lease: timedelta, running: Sequence[int]) -> Claim:
    """Take the queues that have a delivery due (active endpoints whose first pending
    delivery is due, not held by another worker's lease), but for those ``running`` here."""
    conn = tx.conn
    rows = conn.execute(select(E.id, E.active, E.lease_owner, E.lease_until).where(
        E.deleted_at.is_(None), E.id.not_in(running))).all()
    claimed: list[int] = []
    quiet: set[int] = set()
    next_due: datetime | None = None
    for r in rows:
        held = as_utc(r.lease_until) if r.lease_owner not in (None, owner) and r.lease_until else None
        if not r.active or (held is not None and held > now):
            quiet.add(r.id)
            if held is not None:
                next_due = min(next_due or held, held)  # if its worker died, the lease runs out then
            continue
        head = conn.execute(select(D.next_attempt_at).where(D.endpoint_id == r.id, D.state == "pending")
                            .order_by(D.id).limit(1)).first()
        if head is None:
            continue
        due = as_utc(head.next_attempt_at) if head.next_attempt_at is not None else None
        if due is not None and due > now:
            quiet.add(r.id)
            next_due = min(next_due or due, due)
            continue
        taken = conn.execute(update(WEBHOOK_ENDPOINTS).where(
            E.id == r.id, or_(E.lease_owner.is_(None), E.lease_owner == owner, E.lease_until < now))
            .values(lease_owner=owner, lease_until=now + lease))
        if taken.rowcount:
            claimed.append(r.id)
        else:
            quiet.add(r.id)
    return Claim(claimed, next_due, frozenset(quiet))


def release(tx: Tx, endpoint_id: int, owner: str) -> None:
    tx.conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id, E.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of a delivery: when (by the app's clock), the ``webhook-timestamp`` it was
    signed with, and its answer."""

    delivery: Queued
    at: datetime
    timestamp: int
    answer: webhooks.Answer


_ATTEMPT = insert(WEBHOOK_ATTEMPTS).values({c: bindparam(c) for c in (
    "delivery_id", "at", "timestamp", "status", "response", "error", "duration_ms")})
_DELIVERED = update(WEBHOOK_DELIVERIES).where(D.id == bindparam("b_id")).values(
    state="delivered", attempts=bindparam("b_attempts"), last_attempt_at=bindparam("b_at"),
    delivered_at=bindparam("b_at"), last_status=bindparam("b_status"), last_response=bindparam("b_response"),
    last_error=None, last_duration_ms=bindparam("b_duration"), next_attempt_at=None, first_attempt_at=None)


def _attempt_rows(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    return [{"delivery_id": a.delivery.id, "at": a.at, "timestamp": a.timestamp, "status": a.answer.status,
             "response": a.answer.response or None, "error": webhooks.problem(a.answer),
             "duration_ms": a.answer.duration_ms}
            for a in attempts]


def record_attempts(tx: Tx, endpoint_id: int, owner: str, attempts: Sequence[Attempt], now: datetime,
                    base: float, lease: timedelta) -> bool:
    """What a run of attempts came to (all delivered but perhaps the last), and the lease
    renewed. A failure is retried after its backoff; one failing for RETRY_WINDOW, or a
    410 Gone, pauses the endpoint (the delivery still waits: nothing is dropped). Returns
    whether the queue is still this worker's to send."""
    conn = tx.conn
    if attempts:
        conn.execute(_ATTEMPT, _attempt_rows(attempts))
    delivered = [{"b_id": a.delivery.id, "b_attempts": a.delivery.attempts + 1, "b_at": a.at,
                  "b_status": a.answer.status, "b_response": a.answer.response or None,
                  "b_duration": a.answer.duration_ms} for a in attempts if a.answer.ok]
    if delivered:
        conn.execute(_DELIVERED, delivered)
    failed = attempts[-1] if attempts and not attempts[-1].answer.ok else None
    if failed is not None:
        pause = _record_failure(conn, failed, base)
        if pause is not None:
            conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id, E.active.is_(True)).values(
                active=False, paused_reason=pause, paused_at=now, lease_owner=None, lease_until=None))
            log.warning("webhook endpoint %d paused: %s", endpoint_id, pause)
            return False
    return bool(conn.execute(update(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id, E.lease_owner == owner)
                             .values(lease_until=now + lease)).rowcount)


def _record_failure(conn: Connection, attempt: Attempt, base: float) -> str | None:
    """Schedule the failed delivery's retry; the reason to pause its endpoint, if any."""
    q, answer = attempt.delivery, attempt.answer
    failures = q.attempts + 1
    first = q.first_attempt_at or attempt.at
    delay = max(min(answer.retry_after or 0.0, webhooks.MAX_DELAY.total_seconds()),
                webhooks.retry_delay(failures, base, random.random()))
    why = webhooks.reason(answer)
    conn.execute(update(WEBHOOK_DELIVERIES).where(D.id == q.id).values(
        attempts=failures, last_attempt_at=attempt.at, last_status=answer.status,
        last_response=answer.response or None, last_error=webhooks.problem(answer),
        last_duration_ms=answer.duration_ms, first_attempt_at=first,
        next_attempt_at=attempt.at + timedelta(seconds=delay)))
    if answer.status == 410:
        return "the endpoint answered 410 Gone: it wants no more webhooks"
    failing = attempt.at - first
    if failing >= webhooks.RETRY_WINDOW:
        return (f"delivery {q.id} failed for {failing.total_seconds() / 3600:.0f} hours "
                f"({failures} attempts); last: {why}")
    return None


def record_test(tx: Tx, attempt: Attempt) -> dict[str, Any]:
    """A test's one attempt: delivered, or failed (never retried)."""
    conn, a = tx.conn, attempt.answer
    conn.execute(_ATTEMPT, _attempt_rows([attempt]))
    conn.execute(update(WEBHOOK_DELIVERIES).where(D.id == attempt.delivery.id).values(
        state="delivered" if a.ok else "failed", attempts=1, last_attempt_at=attempt.at, last_status=a.status,
        last_response=a.response or None, last_error=webhooks.problem(a),
        last_duration_ms=a.duration_ms, delivered_at=attempt.at if a.ok else None))
    found = get_delivery(conn, attempt.delivery.id)
    assert found is not None
    return found


# -- pruning ----------------------------------------------------------------------------

async def prune_webhook_deliveries(ctx: Context, older_than: timedelta, batch: int = 5000) -> int:
    """Drop the log of deliveries done (delivered, or a failed test) past the retention, and
    everything of deleted endpoints, a batch a transaction. Waiting deliveries stay."""
    cutoff = ctx.clock.now() - older_than
    deleted_endpoints = select(E.id).where(E.deleted_at.is_not(None))
    total = 0
    while True:
        def job(tx: Tx) -> int:
            ids = [r[0] for r in tx.conn.execute(select(D.id).where(or_(
                D.state.in_(("delivered", "failed")) & (D.created_at < cutoff),
                D.endpoint_id.in_(deleted_endpoints))).order_by(D.id).limit(batch))]
            if not ids:
                return 0
            tx.conn.execute(WEBHOOK_ATTEMPTS.delete().where(WEBHOOK_ATTEMPTS.c.delivery_id.in_(ids)))
            return tx.conn.execute(WEBHOOK_DELIVERIES.delete().where(D.id.in_(ids))).rowcount or 0
        deleted = await ctx.db.write(job)
        total += deleted
        if deleted < batch:
            return total
