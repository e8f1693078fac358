"""Pruning the live event log and the webhook nonces that guard against replays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from inbox.actions.context import Context
from inbox.domain.tables import (
    EARLY_RECEIPTS,
    EVENTS,
    WEBHOOK_NONCES,
)
from inbox.storage.db import Tx


async def prune_events(ctx: Context, older_than: timedelta, batch: int = 5000) -> int:
    """Drop live events older than the retention: they exist to replay a reconnecting
    client, not as history (the conversation event log is the history)."""
    now = ctx.clock.now()
    cutoff = now - older_than
    total = 0
    while True:
        def job(tx: Tx) -> int:
            ids = select(EVENTS.c.id).where(EVENTS.c.created_at < cutoff).order_by(EVENTS.c.id).limit(batch)
            deleted = tx.conn.execute(EVENTS.delete().where(EVENTS.c.id.in_(ids))).rowcount or 0
            # Receipts for messages we never sent (sent from another tool) wait at most a day.
            tx.conn.execute(EARLY_RECEIPTS.delete().where(EARLY_RECEIPTS.c.created_at < now - timedelta(days=1)))
            return deleted
        deleted = await ctx.db.write(job)
        total += deleted
        if deleted < batch:
            return total


async def use_webhook_nonce(ctx: Context, key: str, expires_at: datetime) -> bool:
    """Record a signed webhook's one-time token; False if it was seen before (a replay)."""
    def job(tx: Tx) -> bool:
        if tx.conn.execute(select(WEBHOOK_NONCES.c.key).where(WEBHOOK_NONCES.c.key == key)).first() is not None:
            return False
        tx.conn.execute(insert(WEBHOOK_NONCES).values(key=key, expires_at=expires_at))
        return True
    try:
        return await ctx.db.write(job)
    except IntegrityError:  # another process recorded it first
        return False


async def forget_webhook_nonce(ctx: Context, key: str) -> None:
    """The post it came with was not stored (a server fault): the provider's retry may use it."""
    await ctx.db.write(lambda tx: tx.conn.execute(WEBHOOK_NONCES.delete().where(WEBHOOK_NONCES.c.key == key)))


async def prune_webhook_nonces(ctx: Context) -> int:
    """Drop tokens whose timestamps are too old to be accepted anyway."""
    now = ctx.clock.now()
    return await ctx.db.write(
        lambda tx: tx.conn.execute(WEBHOOK_NONCES.delete().where(WEBHOOK_NONCES.c.expires_at < now)).rowcount or 0)
