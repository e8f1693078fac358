"""Outbound webhook deliveries, written with the events that cause them (docs/webhooks.md).

``store_events`` (inbox/storage/db.py) hands every batch of events to ``Subscriptions.deliver``
in the transaction that writes them, after their ids are drawn: each event whose type an
endpoint subscribes to becomes a ``webhook_delivery`` row there, so an event is committed
with its deliveries or not at all, and none is lost between the two.

Which endpoints subscribe to what is cached per process. Whoever changes an endpoint bumps
``webhook_state.version`` in the same transaction (``bump``), and every transaction that
writes events reads it (one primary-key read, a few microseconds on SQLite), so the cache is
reloaded only when an endpoint changed, in this process or another. On PostgreSQL the read
comes after the event-order lock is taken: an endpoint created by a transaction that has not
committed yet is not seen, as if the event had happened first; one deleted meanwhile may get
a last delivery, which the worker never sends (the endpoint is marked deleted, not removed).
Paused endpoints get deliveries too: they wait, in order, until it is resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, insert, select, update

from inbox.domain import webhooks
from inbox.domain.tables import WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS, WEBHOOK_STATE
from inbox.storage.prepared import Prepared, as_json

_VERSION = Prepared(select(WEBHOOK_STATE.c.version).where(WEBHOOK_STATE.c.id == 1))
_ENDPOINTS = Prepared(select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.events)
                      .where(WEBHOOK_ENDPOINTS.c.deleted_at.is_(None)))
_INSERT = insert(WEBHOOK_DELIVERIES).values({c: bindparam(c) for c in (
    "endpoint_id", "event_id", "msg_id", "type", "payload", "state", "attempts", "created_at")})


class Event(Protocol):
    """What a delivery needs of an event (storage.db.PendingEvent)."""

    id: int
    type: str
    data: dict[str, Any]


class Subscriptions:
    """This process's view of which endpoints subscribe to which event types."""

    def __init__(self) -> None:
        self.version: int | None = None  # None: never read
        self.by_type: dict[str, tuple[int, ...]] = {}  # replaced whole: the worker reads it from its thread

    def endpoints_for(self, type_: str) -> tuple[int, ...]:
        return self.by_type.get(type_, ())

    def refresh(self, conn: Connection) -> None:
        """Reload the subscriptions if an endpoint changed since they were read."""
        version = _VERSION.scalar(conn, {}) or 0
        if version == self.version:
            return
        rows = _ENDPOINTS.all(conn, {})
        by_type = webhooks.subscribed({"id": r[0], "events": as_json(r[1])} for r in rows)
        self.by_type, self.version = by_type, version

    def deliver(self, conn: Connection, events: Sequence[Event], now: datetime) -> int:
        """Write a delivery for each subscribing endpoint of each event (their ids drawn);
        returns how many."""
        self.refresh(conn)
        if not self.by_type:
            return 0
        rows: list[dict[str, Any]] = []
        for ev in events:
            endpoint_ids = self.by_type.get(ev.type)
            if not endpoint_ids:
                continue
            payload = webhooks.body(ev.type, now, ev.data, ev.id)  # encoded once, whatever the endpoints
            rows.extend({"endpoint_id": e, "event_id": ev.id, "msg_id": webhooks.new_msg_id(), "type": ev.type,
                         "payload": payload, "state": "pending", "attempts": 0, "created_at": now}
                        for e in endpoint_ids)
        if rows:
            conn.execute(_INSERT, rows)
        return len(rows)


def bump(conn: Connection) -> None:
    """Say that an endpoint changed (in the transaction that changes it): every process
    reloads its subscriptions at its next event."""
    conn.execute(update(WEBHOOK_STATE).where(WEBHOOK_STATE.c.id == 1).values(version=WEBHOOK_STATE.c.version + 1))
