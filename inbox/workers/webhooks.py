"""The outbound webhook worker (docs/webhooks.md): posts each endpoint's deliveries, in order,
signed, retrying with backoff, pausing an endpoint that has failed for a day.

Order per endpoint: one worker at a time holds an endpoint's queue, by a lease on the
endpoint's row (claimed in a commit, renewed with every record of results, released when
the queue is empty or its first delivery must wait for a retry), and sends its deliveries
one after the other, each only once the one before it was answered 2xx. A worker that dies
leaves a lease that runs out; whoever claims the queue next starts from its first delivery
not recorded as delivered. So each delivery arrives at least once: a crash between a 2xx
and its record sends that one again, with the same ``webhook-id``, for the receiver to
drop. Results are recorded a batch at a time (every FLUSH_SECONDS at most while sending),
so a busy endpoint costs a commit per batch, not per request.

Every serving process (and ``inbox worker``) runs one. It sleeps until a delivery can be
due: an event one of its endpoints subscribes to (from this process's writer, or through the
Redis bus from another's), the next retry's time, a lease running out, the clock moving, or
MAX_WAIT. The requests go through a ``Poster`` (webhooks/outbound.py): this package makes
no HTTP itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

from inbox import actions
from inbox.actions.webhooks import Attempt, claim_endpoints, record_attempts, record_test, release
from inbox.domain import webhooks
from inbox.domain.events import LiveEvent
from inbox.queries.webhooks import Queued, Target, queued

log = logging.getLogger(__name__)
MAX_WAIT = 5.0
BATCH = 200  # deliveries read at once from a queue
FLUSH_SECONDS = 0.5  # results are recorded at least this often while a queue is sent


class WebhookWorker:
    def __init__(self, ctx: actions.Context, poster: webhooks.Poster) -> None:
        self.ctx = ctx
        self.poster = poster
        self.owner = secrets.token_hex(8)  # this worker's name on the leases it holds
        # Longer than one request may take, renewed after each: lost only by a stalled worker.
        self.lease = timedelta(seconds=2 * ctx.settings.send_timeout_seconds + 30)
        self.running: dict[int, asyncio.Task[None]] = {}  # endpoint id -> its sender here
        self.dirty: set[int] = set()  # running endpoints with deliveries written since their last read
        self.quiet: frozenset[int] = frozenset()  # see actions.webhooks.Claim
        self.delivered = 0
        self._wake = asyncio.Event()
        self._stopping = False
        ctx.clock.on_moved(self.wake)  # a retry may have fallen due

    def wake(self) -> None:
        self._wake.set()

    def on_event(self, event: LiveEvent) -> None:
        """A bus subscriber: an event some endpoint subscribes to has its delivery committed."""
        for endpoint_id in self.ctx.db.subscriptions.endpoints_for(event.type):
            if endpoint_id in self.running:
                self.dirty.add(endpoint_id)
            elif endpoint_id not in self.quiet:
                self._wake.set()

    async def run(self) -> None:
        ctx = self.ctx
        while not self._stopping:
            self._wake.clear()
            wait = MAX_WAIT
            try:
                claim = await ctx.db.write(lambda tx: claim_endpoints(tx, self.owner, ctx.clock.now(), self.lease,
                                                                      list(self.running)))
                self.quiet = claim.quiet
                for endpoint_id in claim.claimed:
                    self.running[endpoint_id] = asyncio.create_task(self._send_queue(endpoint_id))
                if claim.next_due is not None:
                    wait = min(wait, (claim.next_due - ctx.clock.now()).total_seconds())
            except Exception:  # keep going: the database may be briefly unavailable
                log.exception("webhook worker failed to claim")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.01))
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Let the requests in flight finish and record their answers."""
        self._stopping = True
        self._wake.set()
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)

    async def _send_queue(self, endpoint_id: int) -> None:
        ctx, ours = self.ctx, True
        try:
            while not self._stopping:
                self.dirty.discard(endpoint_id)
                endpoint, batch = await ctx.db.read(lambda c: queued(c, endpoint_id, BATCH))
                ours = endpoint is not None and endpoint.lease_owner == self.owner
                if endpoint is None or not endpoint.sendable or not ours:
                    break
                if not batch:
                    if endpoint_id in self.dirty:
                        continue
                    break
                due = batch[0].next_attempt_at
                if due is not None and due > ctx.clock.now():
                    break  # waiting for its retry: the worker's loop claims it again then
                ours, failed = await self._send(endpoint, batch)
                if failed or not ours:
                    break
        except Exception:
            log.exception("webhook worker failed on endpoint %d", endpoint_id)
        finally:
            try:
                if ours:
                    await ctx.db.write(lambda tx: release(tx, endpoint_id, self.owner))
            finally:
                del self.running[endpoint_id]
                self.dirty.discard(endpoint_id)
                self.wake()  # what came in meanwhile, or a retry's due time, is the loop's now

    async def _send(self, endpoint: Target, batch: list[Queued]) -> tuple[bool, bool]:
        """Send deliveries in order until one fails or the batch ends, recording as it goes.
        Whether the queue is still ours, and whether a delivery failed (its retry waits)."""
        loop = asyncio.get_running_loop()
        done: list[Attempt] = []
        flushed = loop.time()
        for delivery in batch:
            if self._stopping:
                break
            attempt = await self.attempt(endpoint, delivery)
            done.append(attempt)
            if not attempt.answer.ok:
                return await self._record(endpoint.id, done), True
            if loop.time() - flushed > FLUSH_SECONDS:
                if not await self._record(endpoint.id, done):
                    return False, False
                done, flushed = [], loop.time()
        return await self._record(endpoint.id, done), False

    async def _record(self, endpoint_id: int, done: list[Attempt]) -> bool:
        ctx = self.ctx
        kept = await ctx.db.write(lambda tx: record_attempts(tx, endpoint_id, self.owner, done, ctx.clock.now(),
                                                             ctx.settings.webhook_retry_base_seconds, self.lease))
        self.delivered += sum(1 for a in done if a.answer.ok)
        return kept

    async def attempt(self, endpoint: Target, delivery: Queued) -> Attempt:
        """One signed POST of a delivery, now."""
        now = self.ctx.clock.now()
        timestamp = int(now.timestamp())
        body = delivery.payload.encode()
        signing = webhooks.signing_secrets(endpoint.signing(), now)
        answer = await self.poster.post(endpoint.url, webhooks.headers(signing, delivery.msg_id, timestamp, body),
                                        body)
        return Attempt(delivery, now, timestamp, answer)

    async def send_test(self, endpoint_id: int) -> dict[str, object]:
        """Send a test to the endpoint now, whatever its queue holds; the delivery as logged."""
        endpoint, delivery = await actions.start_test(self.ctx, endpoint_id)
        attempt = await self.attempt(endpoint, delivery)
        return await self.ctx.db.write(lambda tx: record_test(tx, attempt))
