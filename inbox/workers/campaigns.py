"""The campaign worker (docs/campaigns.md): plans each started campaign's recipients a batch
at a time, and releases the due ones at each inbox's pace; and sends scheduled messages (an
agent's reply for later, the API's reminders) at their time, and falls back to another
channel for an inbox's messages that failed or were not delivered in time
(inbox/actions/fallback.py).

Pacing: an inbox with ``send_rate_per_second`` gets campaign messages written at nine
tenths of what the delivery worker sends through it at most (``delivery.sustained``: the
rate in any 1.2 s; a token bucket holding one second's worth), so its delivery queue
stays short and an agent's reply through the same inbox never waits behind a campaign;
the delivery worker keeps every send under the rate itself (inbox/workers/delivery.py).
An inbox with no rate gets a batch a pass.

It runs beside the delivery worker (``inbox serve``, ``inbox worker``). Several processes
may run it: releasing is a write through the single writer of each process, and a
recipient leaves ``pending`` in the transaction that writes its message, so two workers
never write one recipient's message twice (the second finds it queued already).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from inbox import queries
from inbox.actions import Context
from inbox.actions import campaigns as engine
from inbox.actions import fallback, scheduled
from inbox.queries import scheduled as scheduled_reads
from inbox.actions.inboxes import SEND_RATE
from inbox.domain.tables import CAMPAIGN_RECIPIENTS
from inbox.workers import delivery, nap

log = logging.getLogger(__name__)
MAX_WAIT = 5.0
MIN_WAIT = 0.05
SHARE = 0.9  # of an inbox's sustained send rate that campaigns may take
TEMPLATES_FOR = 60.0  # seconds the providers' approved templates are kept
# A paced inbox's messages are written a quarter second's worth at a time: a pass costs a
# few reads whatever it writes, so a pass per token would cap the rate well below the
# inbox's (31/s of 90 on this machine).
CHUNK = 0.25


class CampaignWorker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._tokens: dict[int, tuple[float, float]] = {}  # inbox id -> (tokens, loop time)
        self._rates: dict[int, float] = {}  # inbox id -> its send rate, as last read
        self._ratio: dict[int, float] = {}  # campaign id -> the share of decided recipients sent to
        self._templates: dict[int, tuple[float, Any]] = {}  # campaign id -> (loop time, approved)
        self.passes = 0
        self._passed = asyncio.Condition()
        ctx.clock.on_moved(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def _policy(self, campaign: dict[str, Any]) -> engine.Policy:
        loop = asyncio.get_running_loop()
        kept = self._templates.get(campaign["id"])
        if kept is None or loop.time() - kept[0] > TEMPLATES_FOR:
            kept = (loop.time(), await engine.approved_templates(self.ctx, campaign))
            self._templates[campaign["id"]] = kept
        return engine.Policy.of(self.ctx, kept[1])

    async def _allowance(self, campaign: dict[str, Any]) -> dict[int, int] | None:
        """How many messages each of the campaign's inboxes may take now; None: no rate."""
        loop, out, paced = asyncio.get_running_loop(), {}, False
        for m in campaign["messages"]:
            inbox_id: int = m["inbox_id"]
            inbox = await self.ctx.db.read(lambda c: queries.get_inbox(c, inbox_id))
            rate = delivery.sustained(float((inbox or {}).get("settings", {}).get(SEND_RATE) or 0))
            self._rates[m["inbox_id"]] = rate
            if rate <= 0:
                out[m["inbox_id"]] = engine.RELEASE_BATCH
                continue
            paced = True
            tokens, at = self._tokens.get(m["inbox_id"], (rate * SHARE, loop.time()))
            tokens = min(rate * SHARE, tokens + (loop.time() - at) * rate * SHARE)
            self._tokens[m["inbox_id"]] = (tokens, loop.time())
            out[m["inbox_id"]] = int(tokens)
        return out if paced else None

    def _spend(self, sent: dict[int, int]) -> None:
        for inbox_id, n in sent.items():
            if inbox_id in self._tokens:
                tokens, at = self._tokens[inbox_id]
                self._tokens[inbox_id] = (tokens - n, at)

    async def run_once(self) -> float | None:
        """One pass: plan, release, finish. The seconds until it should look again (0: at
        once), or None: nothing is waiting but the next due time."""
        ctx = self.ctx
        soonest: float | None = None
        for campaign in await ctx.db.read(engine.active):
            cid = campaign["id"]
            if not campaign["planned"]:
                await ctx.db.write(lambda tx: engine.plan(tx, cid, ctx.clock.now()))
                soonest = 0.0
            policy = await self._policy(campaign)
            allowance = await self._allowance(campaign)
            if allowance is not None and max(allowance.values()) < 1:  # wait for the next chunk
                soonest = CHUNK if soonest is None else min(soonest, CHUNK)
                continue
            # Read about as many due recipients as the inboxes may take, given how many of
            # them the last passes sent to (the rest were skipped): not 200 a pass for 11 sends,
            # nor 11 a pass when most are skipped.
            ratio = self._ratio.get(cid, 1.0)
            limit = engine.RELEASE_BATCH if allowance is None else max(
                1, min(engine.RELEASE_BATCH, int(sum(allowance.values()) / ratio) + 2))
            try:
                released = await ctx.db.write(lambda tx: engine.release(tx, cid, ctx.clock.now(), policy, allowance,
                                                                        limit))
            except Exception:  # one recipient breaks the batch: do them one by one
                log.exception("campaign %s: a batch failed; releasing its recipients one at a time", cid)
                released = await self._one_by_one(cid, policy, allowance)
            self._spend(released.sent)
            if released.decided:
                sent = sum(released.sent.values())
                self._ratio[cid] = max(0.02, 0.5 * self._ratio.get(cid, 1.0) + 0.5 * sent / released.decided)
            if campaign["fallback_minutes"] and await ctx.db.write(
                    lambda tx: engine.fall_back(tx, cid, ctx.clock.now(), policy)):
                ctx.wake_delivery()
            if released.sent:
                ctx.wake_delivery()
            if released.more:  # at once, or when a paced inbox has its next token
                rates = [self._rates.get(m["inbox_id"], 0.0) for m in campaign["messages"]]
                refill = 0.0 if allowance is None or not all(rates) else CHUNK
                soonest = refill if soonest is None else min(soonest, refill)
            await ctx.db.write(lambda tx: engine.finish(tx, cid, ctx.clock.now()))
        for scheduled_id in await ctx.db.read(lambda c: scheduled_reads.due_ids(c, ctx.clock.now())):
            try:
                if await scheduled.send_one(ctx, scheduled_id) == "sent":
                    ctx.wake_delivery()
            except Exception:  # keep going: the next ones are not this one's problem
                log.exception("scheduled message %s failed", scheduled_id)
        if await ctx.db.read(lambda c: fallback.any_due(c, ctx.clock.now())):  # an inbox's fallback
            if await ctx.db.write(lambda tx: fallback.fall_back(tx, ctx.clock.now(), ctx.reply_windows)):
                ctx.wake_delivery()
        self.passes += 1
        async with self._passed:
            self._passed.notify_all()
        return soonest

    async def _one_by_one(self, campaign_id: int, policy: engine.Policy,
                          allowance: dict[int, int] | None) -> engine.Released:
        ctx, total = self.ctx, engine.Released()
        now = ctx.clock.now()
        rc = CAMPAIGN_RECIPIENTS.c
        ids = await ctx.db.read(lambda c: list(c.execute(
            select(rc.id).where(rc.campaign_id == campaign_id, rc.state == "pending", rc.due_at <= now)
            .order_by(rc.due_at, rc.id).limit(engine.RELEASE_BATCH)).scalars()))
        for rid in ids:
            one_id: int = rid
            try:
                one = await ctx.db.write(lambda tx: engine.release(tx, campaign_id, ctx.clock.now(), policy,
                                                                   allowance, only=[one_id]))
            except Exception as exc:  # noqa: BLE001 - recorded on the recipient, the rest go on
                message = f"{type(exc).__name__}: {exc}"[:500]
                await ctx.db.write(lambda tx: engine.fail(tx, one_id, message, ctx.clock.now()))
                continue
            total.sent.update(one.sent)
            total.more = total.more or one.more
        return total

    async def settled(self, timeout: float = 10.0) -> None:
        """Until a whole pass has run after this call: what a test awaits."""
        async def passed(target: int) -> None:
            async with self._passed:
                while self.passes < target:
                    self.wake()  # each pass: the one after it must not nap first
                    await self._passed.wait()
        await asyncio.wait_for(passed(self.passes + 2), timeout)

    async def run(self) -> None:
        ctx = self.ctx
        while True:
            self._wake.clear()
            wait = MAX_WAIT
            try:
                soonest = await self.run_once()
                if soonest == 0.0:
                    continue
                if soonest is not None:  # due recipients wait for their inbox's next chunk
                    wait = soonest
                else:
                    due = min((t for t in await ctx.db.read(lambda c: (engine.next_due(c),
                                                                        scheduled_reads.next_due(c),
                                                                        fallback.next_due(c)))
                               if t is not None), default=None)
                    if due is not None:  # (never a busy loop: something past due is being held up)
                        wait = max(MIN_WAIT, min(MAX_WAIT, (due - ctx.clock.now()).total_seconds()))
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("campaign worker failed")
            await nap(self._wake, wait)

