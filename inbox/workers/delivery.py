"""The delivery worker: hands queued replies to their channel adapter, and downloads
customers' attachments from the provider (jobs of kind ``send`` and ``fetch``).

A job is claimed with a lease (state ``sending``, ``lease_until``) in one commit before the
provider is called, so a worker that dies mid-send leaves a job that another claim picks
up once the lease runs out: never lost. The provider's message id is committed the moment
the provider acknowledges; a job in state ``done`` is never claimed again, so an
acknowledged send is not repeated. What is left is an attempt whose outcome we never
learnt: the provider took it but its answer was lost (a timeout) or the worker died before
committing it. Where the channel can say what it took (Twilio: ``SentLookup``), the retry
asks first and records the message it finds instead of sending it again; elsewhere
(Telegram, WhatsApp's Cloud API, SMTP have no such lookup or idempotency key) that retry
may deliver twice.

Transient failures (timeouts, 5xx, 429) are retried with exponential backoff, honouring
Retry-After, up to ``max_attempts``; the agent sees the last error meanwhile. Permanent
failures fail the message at once with the provider's code and text. A fetch that fails
for good marks the attachment (not the message) with the reason.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from datetime import timedelta

from inbox.actions.context import Context
from inbox.actions.delivery import (
    ClaimedJob,
    _claim,
    _give_back,
    _record_failure,
    _record_fetched,
    _record_sent,
    unclaimed_sends,
)
from inbox.actions.inboxes import SEND_RATE
from inbox.domain.channels import (
    Media,
    ProviderRejected,
    ProviderUnavailable,
    Registry,
    SendError,
    Sent,
)
from inbox.storage.media import MediaRejected
from inbox.workers import nap

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(self, ctx: Context, registry: Registry, *, batch: int = 32, concurrency: int = 16) -> None:
        self.ctx = ctx
        self.registry = registry
        self.batch = batch
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)  # provider requests in flight
        self._held = asyncio.Semaphore(concurrency * 4)  # claimed jobs not yet finished
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._next_send: dict[int, float] = {}  # inbox id -> the loop time its next free slot starts
        self._starts: dict[int, collections.deque[float]] = {}  # inbox id -> its last sends' start times
        ctx.clock.on_moved(self.wake)  # what falls due is judged by the clock: look again

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        s = self.ctx.settings
        lease = timedelta(seconds=s.send_timeout_seconds * 2 + 5)
        while not self._stopping:
            self._wake.clear()
            jobs, next_due = await self.ctx.db.write(lambda tx: _claim(tx, self.batch, lease, self.ctx.clock.now()))
            for job in jobs:
                await self._held.acquire()
                task = asyncio.create_task(self._deliver(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(jobs) == self.batch:
                continue
            timeout = 5.0 if next_due is None else max(0.0, (next_due - self.ctx.clock.now()).total_seconds())
            await nap(self._wake, min(timeout, 5.0))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, job: ClaimedJob) -> None:
        s = self.ctx.settings
        try:
            try:
                if job.job == "fetch":
                    attachment = job.outbound.attachments[job.attachment]
                    fetcher = self.registry.fetcher(job.channel)
                    async with self._slots:
                        media = await asyncio.wait_for(fetcher.fetch(job.outbound.settings, attachment),
                                                       timeout=s.send_timeout_seconds * 4)
                else:
                    sender = self.registry.sender(job.channel)
                    if not await self._book(job):  # (a job waiting for its inbox's rate holds no slot)
                        return
                    async with self._slots:
                        await self._start(job)
                        taken = await self._taken_before(job)
                        sent = taken if taken is not None else await asyncio.wait_for(
                            sender.send(job.outbound), timeout=s.send_timeout_seconds)
            except TimeoutError:
                raise _timeout(s.send_timeout_seconds) from None
        except SendError as err:
            error = err
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, error, s.retry_base_seconds,
                                                               s.retry_max_seconds, s.max_attempts,
                                                               self.ctx.clock.now()))
            if error.transient:
                self.wake()  # reschedule the loop's timer for the retry
            else:
                self.ctx.wake_campaigns()  # a campaign's message may fall back to its next channel
        except Exception as err:  # a bug in an adapter must still show on the message
            log.exception("adapter %s crashed on %s job %s", job.channel, job.job, job.job_id)
            failure = SendError("internal_error", f"{type(err).__name__}: {err}")
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, failure, 0, 0, 0, self.ctx.clock.now()))
        else:
            if job.job == "fetch":
                await self._store(job, media)
            else:
                await self.ctx.db.write(lambda tx: _record_sent(tx, job, sent, self.ctx.clock.now()))
        finally:
            self._held.release()


    async def _taken_before(self, job: ClaimedJob) -> Sent | None:
        """For a send tried before, where the channel can look (Twilio): the provider's
        message an earlier attempt made, if it took one that we did not record (the answer
        was lost to a timeout or the worker died first). Found: it is recorded and nothing
        is sent again; a lookup that fails is a transient failure of this attempt."""
        lookup = self.registry.lookup(job.channel)
        if job.retried_since is None or lookup is None:
            return None
        since = job.retried_since - LOOKUP_SKEW
        found = await asyncio.wait_for(lookup.find_sent(job.outbound, since),
                                       timeout=self.ctx.settings.send_timeout_seconds)
        fresh = await self.ctx.db.read(lambda c: unclaimed_sends(c, job.outbound.inbox_id, found))
        if fresh:
            log.info("%s job %s: the provider took an earlier attempt (%s); not sent again", job.channel, job.job_id,
                     fresh[-1].provider_message_id)
        return fresh[-1] if fresh else None  # the oldest: the first attempt's

    async def _book(self, job: ClaimedJob) -> bool:
        """Keep an inbox under its send_rate_per_second (per process) as the provider counts
        it: in any rolling second of arrivals, at most ``rate``. A request's way to the
        provider takes a varying time (up to PACE_JITTER), so sends are limited to ``rate``
        starts in any window of 1 + PACE_JITTER seconds, spread evenly across it. Each send
        books the next free slot and sleeps until then; a slot further off than PACE_HOLD
        gives the job back for then (its lease would not last the wait): False. The booking
        only estimates; ``_start`` holds the send to the real starts."""
        rate = job.outbound.settings.get(SEND_RATE)
        if not rate:
            return True
        loop = asyncio.get_running_loop()
        inbox_id = job.outbound.inbox_id
        gap = 1.0 / sustained(float(rate))
        slot = max(loop.time(), self._next_send.get(inbox_id, 0.0))
        wait = slot - loop.time()
        if wait > PACE_HOLD:
            await self.ctx.db.write(lambda tx: _give_back(tx, job, wait, self.ctx.clock.now()))
            return False
        self._next_send[inbox_id] = slot + gap
        if wait > 0:
            await asyncio.sleep(wait)  # waiting for the provider's rate, not for a result
        return True

    async def _start(self, job: ClaimedJob) -> None:
        """Just before the request leaves: when the loop was held up, or the provider's slots
        were all taken, booked sends go late, and together. Late does not push the next
        booking (lateness would add up: 33/s of 45); together is held to CATCH_UP of the booked
        gap apart (catching up a third faster, not in a burst) and to at most ``rate``
        starts in any window of 1 + PACE_JITTER seconds, counted here."""
        rate = job.outbound.settings.get(SEND_RATE)
        if not rate:
            return
        loop = asyncio.get_running_loop()
        limit = max(1, int(rate))
        starts = self._starts.get(job.outbound.inbox_id)
        if starts is None or starts.maxlen != limit:  # new, or the inbox's rate changed
            starts = self._starts[job.outbound.inbox_id] = collections.deque(starts or (), maxlen=limit)
        gap = CATCH_UP / sustained(float(rate))
        while (late := _pace_wait(starts, limit, 1.0 + PACE_JITTER, gap, loop.time())) > 0:
            await asyncio.sleep(late)
        starts.append(loop.time())

    async def _store(self, job: ClaimedJob, media: Media) -> None:
        assert self.ctx.media is not None  # every process that runs the worker has a media store
        try:
            path, content_type = await asyncio.to_thread(self.ctx.media.save, media.content, media.content_type)
        except MediaRejected as exc:
            failure = ProviderRejected("media_rejected", str(exc))
            await self.ctx.db.write(lambda tx: _record_failure(tx, job, failure, 0, 0, 0, self.ctx.clock.now()))
            return
        stored = {"path": path, "content_type": content_type, "size": len(media.content)}
        if media.filename:
            stored["filename"] = media.filename
        await self.ctx.db.write(lambda tx: _record_fetched(tx, job, stored, self.ctx.clock.now()))


PACE_HOLD = 5.0  # seconds a claimed job may wait for its inbox's send rate
LOOKUP_SKEW = timedelta(minutes=2)  # the provider's clock and ours may differ


PACE_JITTER = 0.2  # seconds a request's way to the provider may vary: the limiter's margin
CATCH_UP = 0.75  # of the even gap: how close late sends may follow each other


def sustained(rate: float) -> float:
    """The sends a second an inbox of ``rate`` gets at most, kept up: ``rate`` in any
    1 + PACE_JITTER seconds."""
    return rate / (1.0 + PACE_JITTER)


def _pace_wait(starts: collections.deque[float], limit: int, window: float, gap: float, now: float) -> float:
    """Seconds until a send may start, given the last ``limit`` starts (oldest first): at
    least ``gap`` after the last, and no more than ``limit`` in any ``window``."""
    if not starts:
        return 0.0
    wait = starts[-1] + gap - now
    if len(starts) == limit:
        wait = max(wait, starts[0] + window - now)
    return wait


def _timeout(seconds: float) -> SendError:
    return ProviderUnavailable("timeout", f"the provider did not answer within {seconds:g} s")
