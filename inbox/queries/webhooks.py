"""Outbound webhooks (docs/webhooks.md): the endpoints with how many deliveries wait, an
endpoint's delivery log with each delivery's attempts, and what the worker sends next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from inbox.domain import serialize, webhooks
from inbox.domain.tables import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS
from inbox.storage.prepared import as_utc

E, D, A = WEBHOOK_ENDPOINTS.c, WEBHOOK_DELIVERIES.c, WEBHOOK_ATTEMPTS.c


def _pending(conn: Connection, endpoint_ids: list[int]) -> dict[int, int]:
    if not endpoint_ids:
        return {}
    rows = conn.execute(select(D.endpoint_id, func.count()).where(D.endpoint_id.in_(endpoint_ids),
                                                                  D.state == "pending").group_by(D.endpoint_id))
    return {r[0]: r[1] for r in rows}


def list_webhooks(conn: Connection) -> list[dict[str, Any]]:
    """Every endpoint but the deleted, oldest first, each with its deliveries waiting."""
    rows = conn.execute(select(WEBHOOK_ENDPOINTS).where(E.deleted_at.is_(None)).order_by(E.id)).all()
    pending = _pending(conn, [r.id for r in rows])
    return [serialize.webhook_endpoint_dict(r, pending.get(r.id, 0)) for r in rows]


def paused_webhooks(conn: Connection) -> list[dict[str, Any]]:
    """The endpoints the worker paused (not an admin): what every admin page points out."""
    rows = conn.execute(select(WEBHOOK_ENDPOINTS).where(
        E.deleted_at.is_(None), E.active.is_(False), E.paused_reason != webhooks.PAUSED_BY_ADMIN).order_by(E.id))
    return [serialize.webhook_endpoint_dict(r) for r in rows]


def get_webhook(conn: Connection, endpoint_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(WEBHOOK_ENDPOINTS).where(E.id == endpoint_id, E.deleted_at.is_(None))).first()
    if row is None:
        return None
    return serialize.webhook_endpoint_dict(row, _pending(conn, [endpoint_id]).get(endpoint_id, 0))


def webhook_deliveries(conn: Connection, endpoint_id: int, *, before: int | None = None,
                       limit: int = 25) -> list[dict[str, Any]]:
    """The endpoint's deliveries, newest first (``before``: the id of the last of the page
    before), each with its attempts."""
    query = select(WEBHOOK_DELIVERIES).where(D.endpoint_id == endpoint_id)
    if before is not None:
        query = query.where(D.id < before)
    rows = conn.execute(query.order_by(D.id.desc()).limit(limit)).all()
    attempts = _attempts(conn, [r.id for r in rows])
    return [serialize.webhook_delivery_dict(r, attempts.get(r.id, [])) for r in rows]


def get_delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(WEBHOOK_DELIVERIES).where(D.id == delivery_id)).first()
    if row is None:
        return None
    return serialize.webhook_delivery_dict(row, _attempts(conn, [delivery_id]).get(delivery_id, []))


MAX_ATTEMPTS_SHOWN = 50  # of one delivery, the latest


def _attempts(conn: Connection, delivery_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not delivery_ids:
        return {}
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(select(WEBHOOK_ATTEMPTS).where(A.delivery_id.in_(delivery_ids)).order_by(A.id)):
        by_delivery.setdefault(r.delivery_id, []).append(serialize.webhook_attempt_dict(r))
    return {k: v[-MAX_ATTEMPTS_SHOWN:] for k, v in by_delivery.items()}


# -- the worker's reads -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Target:
    """Where and how an endpoint's requests go, as the worker reads it before each batch."""

    id: int
    url: str
    secret: str
    previous_secret: str | None
    previous_until: datetime | None
    sendable: bool  # active and not deleted
    lease_owner: str | None

    def signing(self) -> dict[str, Any]:
        return {"secret": self.secret, "previous_secret": self.previous_secret, "previous_until": self.previous_until}


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    msg_id: str
    type: str
    payload: str
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None


def target(conn: Connection, endpoint_id: int) -> Target | None:
    r = conn.execute(select(E.id, E.url, E.secret, E.previous_secret, E.previous_until, E.active, E.deleted_at,
                            E.lease_owner).where(E.id == endpoint_id)).first()
    if r is None:
        return None
    return Target(r.id, r.url, r.secret, r.previous_secret, as_utc(r.previous_until) if r.previous_until else None,
                  bool(r.active) and r.deleted_at is None, r.lease_owner)


def queued(conn: Connection, endpoint_id: int, limit: int) -> tuple[Target | None, list[Queued]]:
    """The endpoint, and its next pending deliveries in the order they are sent."""
    endpoint = target(conn, endpoint_id)
    rows = conn.execute(select(D.id, D.msg_id, D.type, D.payload, D.attempts, D.next_attempt_at, D.first_attempt_at)
                        .where(D.endpoint_id == endpoint_id, D.state == "pending").order_by(D.id).limit(limit))
    return endpoint, [Queued(r.id, r.msg_id, r.type, r.payload, r.attempts,
                             as_utc(r.next_attempt_at) if r.next_attempt_at else None,
                             as_utc(r.first_attempt_at) if r.first_attempt_at else None) for r in rows]
