"""Presence: an agent's status (online, away, offline), kept in ``agent_state`` and
shared by every process through the database, each change recorded with its cause in
``presence_change`` and pushed as ``agent.presence_changed``.

- The agent chooses online or away (``choose_presence``).
- A process that holds a socket of theirs says so (``agent_connected``), refreshes
  ``last_seen_at`` while it does (``sweep``, every routing pass) and notes when the last
  one closed (``agent_disconnected``). Nobody is made offline on a disconnect: ``sweep``
  does it once ``last_seen_at`` is older than the grace period
  (INBOX_PRESENCE_GRACE_SECONDS), so a reload or a flaky connection does not flap, and
  with several processes a socket held elsewhere keeps the agent online.
- Input in the app (``agent_active``) brings back an agent that inactivity made away;
  ``sweep`` makes an online agent away after their ``away_after_minutes``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from inbox import queries
from inbox.actions.context import Context
from inbox.domain import serialize
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid
from inbox.domain.events import AGENT_PRESENCE_CHANGED, SCOPE_ALL
from inbox.domain.routing import Presence, PresenceCause
from inbox.domain.tables import AGENT_STATE, PREFERENCES, PRESENCE_CHANGES
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

ACTIVE_RESOLUTION = timedelta(seconds=30)  # input is written at most this often per agent


def _state(tx: Tx, user_id: int) -> Any:
    return tx.conn.execute(select(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id)).first()


def ensure_state(tx: Tx, user_id: int, now: datetime) -> Any:
    row = _state(tx, user_id)
    if row is None:
        tx.conn.execute(insert(AGENT_STATE).values(user_id=user_id, status=Presence.offline.value, since=now,
                                                   chosen=Presence.online.value))
        row = _state(tx, user_id)
    return row


def change(tx: Tx, user_id: int, status: Presence, cause: PresenceCause, now: datetime,
           **values: Any) -> dict[str, Any] | None:
    """Set a status (and any other columns of ``agent_state``); record and push the change
    if the status is a new one. Returns the change, or None when the status stayed."""
    row = ensure_state(tx, user_id, now)
    changed = row.status != status.value
    if changed:
        values.update(status=status.value, since=now)
    if values:
        tx.conn.execute(update(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id).values(**values))
    if not changed:
        return None
    tx.conn.execute(insert(PRESENCE_CHANGES).values(user_id=user_id, status=status.value, previous=row.status,
                                                    cause=cause.value, created_at=now))
    event = {"user_id": user_id, "status": status.value, "previous": row.status, "cause": cause.value,
             "since": serialize.iso(now)}
    tx.emit(AGENT_PRESENCE_CHANGED, event, [SCOPE_ALL])
    return event


async def choose_presence(ctx: Context, viewer: Viewer, status: str) -> dict[str, Any]:
    """PUT /api/me/presence: the agent says they are online or away."""
    if status not in (Presence.online.value, Presence.away.value):
        raise Invalid("status must be online or away (offline follows from closing the app)", "invalid_status")

    def job(tx: Tx) -> dict[str, Any]:
        now = ctx.clock.now()
        # Choosing counts as being seen and active: the grace period runs from now.
        change(tx, viewer.user_id, Presence(status), PresenceCause.manual, now, chosen=status, last_seen_at=now,
               last_active_at=now)
        return queries.presence_of(tx.conn, viewer.user_id)
    result = await ctx.db.write(job)
    ctx.wake_routing()
    return result


async def agent_connected(ctx: Context, user_id: int) -> None:
    """A socket of the user's opened in this process: offline becomes what they chose."""
    def job(tx: Tx) -> None:
        now = ctx.clock.now()
        row = ensure_state(tx, user_id, now)
        target = Presence(row.chosen) if row.status == Presence.offline.value else Presence(row.status)
        change(tx, user_id, target, PresenceCause.back, now, last_seen_at=now, last_active_at=now)
    await ctx.db.write(job)
    ctx.wake_routing()


async def agent_disconnected(ctx: Context, user_id: int) -> None:
    """The user's last socket in this process closed: the grace period starts now (unless
    another process still holds one and keeps refreshing ``last_seen_at``)."""
    def job(tx: Tx) -> None:
        tx.conn.execute(update(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id)
                        .values(last_seen_at=ctx.clock.now()))
    await ctx.db.write(job)


async def agent_active(ctx: Context, user_id: int) -> None:
    """Input in the app (the page reports it at most every 30 s): written at most every
    ACTIVE_RESOLUTION per user (``ctx.activity_written``, this process's memory of it); an
    agent whom inactivity made away is online again."""
    now = ctx.clock.now()
    last = ctx.activity_written.get(user_id)
    if last is not None and timedelta() <= now - last < ACTIVE_RESOLUTION:
        return
    ctx.activity_written[user_id] = now

    def job(tx: Tx) -> bool:
        row = ensure_state(tx, user_id, now)
        back = bool(row.status == Presence.away.value and row.chosen == Presence.online.value)
        if back:
            change(tx, user_id, Presence.online, PresenceCause.back, now, last_active_at=now, last_seen_at=now)
        else:
            tx.conn.execute(update(AGENT_STATE).where(AGENT_STATE.c.user_id == user_id).values(last_active_at=now))
        return back
    if await ctx.db.write(job):
        ctx.wake_routing()


def sweep(tx: Tx, connected: Collection[int], now: datetime, grace: timedelta) -> list[dict[str, Any]]:
    """Part of each routing pass: this process's connected users are seen now; whoever
    has not been seen for ``grace`` is offline; an online agent idle past their
    ``away_after_minutes`` is away. Returns the changes."""
    conn = tx.conn
    changes = []
    if connected:
        ids = sorted(connected)
        # Seen: written only when the last sighting is older than a quarter of the grace
        # period (at most 10 s), so 1,000 connected agents are not 1,000 writes a pass.
        fresh = now - min(timedelta(seconds=10), grace / 4)
        conn.execute(update(AGENT_STATE).where(
            AGENT_STATE.c.user_id.in_(ids),
            AGENT_STATE.c.last_seen_at.is_(None) | (AGENT_STATE.c.last_seen_at < fresh)).values(last_seen_at=now))
        # Made offline while a socket here was open (passes stalled past the grace period,
        # a slow database): they are here, so back to what they chose.
        for user_id, chosen in conn.execute(select(AGENT_STATE.c.user_id, AGENT_STATE.c.chosen).where(
                AGENT_STATE.c.user_id.in_(ids), AGENT_STATE.c.status == Presence.offline.value)).all():
            if (event := change(tx, user_id, Presence(chosen), PresenceCause.back, now)) is not None:
                changes.append(event)
    stale = conn.execute(select(AGENT_STATE.c.user_id).where(
        AGENT_STATE.c.status != Presence.offline.value,
        (AGENT_STATE.c.last_seen_at.is_(None)) | (AGENT_STATE.c.last_seen_at < now - grace))).scalars().all()
    for user_id in stale:
        if (event := change(tx, user_id, Presence.offline, PresenceCause.disconnected, now)) is not None:
            changes.append(event)
    idle = conn.execute(select(AGENT_STATE.c.user_id, AGENT_STATE.c.last_active_at, PREFERENCES.c.away_after_minutes)
                        .join(PREFERENCES, PREFERENCES.c.user_id == AGENT_STATE.c.user_id)
                        .where(AGENT_STATE.c.status == Presence.online.value,
                               PREFERENCES.c.away_after_minutes.is_not(None))).all()
    for user_id, active_at, minutes in idle:
        if active_at is None or as_utc(active_at) < now - timedelta(minutes=minutes):
            if (event := change(tx, user_id, Presence.away, PresenceCause.inactive, now)) is not None:
                changes.append(event)
    return changes
