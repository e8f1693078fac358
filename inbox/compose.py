"""The composition root: the one place that builds a process's parts and wires them
together. ``inbox serve`` (through ``ui.app.create_app``), ``inbox worker`` and the admin
commands of ``inbox/cli.py`` all build what they need here, so a part added later (a
timer, a cache) is wired once.

This is the only module of ``inbox/`` that imports ``webhooks/`` or ``ui/``: the channels
are plugged in here (the rest of the package knows them only through the ``Registry``),
and the web app is handed to uvicorn here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inbox.actions.context import Context
from inbox.config import Settings
from inbox.domain.clock import Clock, SystemClock
from inbox.domain.channels import Channel, Registry
from inbox.domain.events import LiveEvent, may_queue_delivery
from inbox.queries.directory import InboxDirectory
from inbox.storage.bus import Bus
from inbox.storage.db import Database
from inbox.storage.media import MediaStore
from inbox.storage.redisbus import make_bus
from inbox.workers.delivery import DeliveryWorker
from inbox.workers.housekeeping import Housekeeper
from inbox.workers.rollups import RollupWorker
from inbox.workers.routing import Router
from inbox.workers.automation import AutomationRunner
from inbox.workers.campaigns import CampaignWorker
from inbox.workers.sla import SlaScheduler
from inbox.workers.webhooks import WebhookWorker

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from inbox.domain.webhooks import Poster

log = logging.getLogger("inbox.worker")


def serve(settings: Settings, *, host: str, port: int, workers: int, access_log: bool,
          log_config: dict[str, Any]) -> None:
    """``inbox serve``: uvicorn runs the web app (ui/app.py), in ``workers`` processes
    behind the one port when more than one, until it is stopped."""
    import uvicorn

    from ui.protocol import BoundedHttpToolsProtocol

    # httptools with bounds on request heads; a partial pickles, so --workers processes get it too.
    http = functools.partial(BoundedHttpToolsProtocol, head_timeout=settings.header_timeout_seconds)
    uvicorn.run("ui.app:create_app", factory=True, host=host, port=port, loop="uvloop",
                http=http,  # type: ignore[arg-type]
                workers=workers if workers > 1 else None,
                # uvicorn kills a worker that has not answered its health ping within this; a worker
                # answers once it has imported the app (5 s, the default, is not enough on a busy host).
                timeout_worker_healthcheck=60,
                log_config=log_config,  # in every worker too
                access_log=access_log, log_level=settings.log_level,
                # X-Forwarded-* only from INBOX_TRUSTED_PROXIES (uvicorn's own default trusts
                # 127.0.0.1, so a local caller could pick its address for the login throttle).
                proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None,
                # flow-controlled sends (a stalled client backs up into its bounded queue), and
                # no per-message deflate: it costs 1.5-2x CPU per frame (PERFORMANCE.md).
                ws="websockets-sansio", ws_per_message_deflate=False)


def channels(settings: Settings) -> Registry:
    """Every channel's adapter, by kind (webhooks/registry.py is the list)."""
    from webhooks.registry import build_registry

    return build_registry(settings)


def declared_channels() -> list[Channel]:
    """The channels' declarations alone (for the CLI's subcommands): no adapter is built."""
    from webhooks.registry import channels as declared

    return declared()


def webhook_poster(settings: Settings) -> Poster:
    """How outbound webhooks are posted (webhooks/outbound.py: guarded, bounded)."""
    from webhooks.outbound import make_poster

    return make_poster(settings)


def webhook_routes() -> list[BaseRoute]:
    """Every channel's inbound routes, for the web app."""
    from webhooks.registry import routes

    return routes()


def database(settings: Settings) -> Database:
    """The database, its schema brought up to date (a no-op when it is; under a lock when
    several processes start at once)."""
    db = Database(settings.database_url)
    db.migrate()
    return db


def context(settings: Settings, db: Database, registry: Registry, *, bus: Bus | None = None,
            media: MediaStore | None = None, clock: Clock | None = None) -> Context:
    """The one place a Context is built. Without ``bus`` (an admin command, which starts
    none), events reach only the event table, where serving processes replay them."""
    return Context(db=db, settings=settings, bus=bus or Bus(), media=media, reply_windows=registry.reply_windows(),
                   templates=registry.templates, clock=clock or SystemClock())  # tests pass a MovableClock


@dataclass
class Process:
    """The long-running parts of a serving or worker process, wired together: actions wake
    the delivery worker and the housekeeper through the Context."""

    settings: Settings
    db: Database
    bus: Bus
    registry: Registry
    ctx: Context
    directory: InboxDirectory
    worker: DeliveryWorker
    housekeeper: Housekeeper
    router: Router
    sla: SlaScheduler
    automation: AutomationRunner
    webhooks: WebhookWorker
    campaigns: CampaignWorker
    rollups: RollupWorker

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """What runs beside HTTP in ``inbox serve``: the bus, the writer, the inbox
        directory webhooks look inboxes up in, what channels run themselves (email's SMTP
        listener), the timers, the routing loop, and the delivery worker unless
        INBOX_RUN_WORKER=0."""
        await self._open(deliver=self.settings.run_worker)
        await self.directory.reload()
        await self.registry.start(self.ctx, self.directory)
        delivery = self._start_delivery() if self.settings.run_worker else None
        housekeeping = asyncio.create_task(self.housekeeper.run())
        unsubscribe = self.bus.subscribe(self.router.on_event)
        unsubscribe_sla = self.bus.subscribe(self.sla.on_event)
        unsubscribe_rules = self.bus.subscribe(self.automation.on_event)
        unsubscribe_rollups = self.bus.subscribe(self.rollups.on_event)
        routing = asyncio.create_task(self.router.run())
        timers = asyncio.create_task(self.sla.run())
        rules = asyncio.create_task(self.automation.run())
        folding = asyncio.create_task(self.rollups.run())
        try:
            yield
        finally:
            unsubscribe()
            unsubscribe_sla()
            unsubscribe_rules()
            unsubscribe_rollups()
            for task in (housekeeping, routing, timers, rules, folding):
                task.cancel()
            await asyncio.gather(housekeeping, routing, timers, rules, folding, return_exceptions=True)
            if delivery is not None:
                await self._stop_delivery(delivery)
            await self._close()

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """``inbox worker``: the delivery worker alone, for hosts that send while others
        serve HTTP. Any number may run: each job is claimed by one."""
        await self._open(deliver=True)
        delivery = self._start_delivery()
        log.info("delivery worker running")
        try:
            yield
        finally:
            await self._stop_delivery(delivery)
            await self._close()

    def _start_delivery(self) -> asyncio.Task[None]:
        """The delivery worker, the outbound webhook worker and the campaign worker, as one task."""
        async def both() -> None:
            await asyncio.gather(self.worker.run(), self.webhooks.run(), self.campaigns.run())
        return asyncio.create_task(both())

    def _wake_on(self, event: LiveEvent) -> None:
        if may_queue_delivery(event):
            self.worker.wake()

    async def _open(self, *, deliver: bool) -> None:
        if deliver:  # replies queued by other processes too (with the Redis bus)
            self.bus.subscribe(self._wake_on)
            self.bus.subscribe(self.webhooks.on_event)
        await asyncio.to_thread(self.db.migrate)
        await self.bus.start(self.db)
        self.db.on_commit = self.bus.publish_committed
        self.db.start()

    async def _stop_delivery(self, task: asyncio.Task[None]) -> None:
        # Both let the sends in flight finish and record their outcome.
        await asyncio.gather(self.worker.stop(), self.webhooks.stop())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _close(self) -> None:
        await self.registry.aclose()
        await self.webhooks.poster.aclose()
        await self.bus.stop()  # first: no more reads from it once the database closes
        await asyncio.to_thread(self.db.stop)


def process(settings: Settings, clock: Clock | None = None) -> Process:
    """Everything a serving or worker process runs, built but not started (the database
    is opened and migrated when it starts, on its event loop)."""
    db = Database(settings.database_url)
    bus = make_bus(settings)
    registry = channels(settings)
    ctx = context(settings, db, registry, bus=bus, media=MediaStore(settings.media_dir, settings.max_media_bytes),
                  clock=clock)
    worker = DeliveryWorker(ctx, registry)
    housekeeper = Housekeeper(ctx)
    router = Router(ctx)
    scheduler = SlaScheduler(ctx)
    automation = AutomationRunner(ctx)
    ctx.rules_changed = automation.rules_changed
    hooks = WebhookWorker(ctx, webhook_poster(settings))
    ctx.wake_delivery = worker.wake
    ctx.wake_webhooks = hooks.wake
    ctx.snoozes_changed = housekeeper.snoozes_changed
    ctx.wake_routing = router.wake
    campaigns = CampaignWorker(ctx)
    ctx.wake_campaigns = campaigns.wake
    return Process(settings, db, bus, registry, ctx, InboxDirectory(db), worker, housekeeper, router, scheduler,
                   automation, hooks, campaigns, RollupWorker(ctx))
