"""GET /ws: the live event stream (docs/events.md).

Each socket has a bounded queue fed by the bus. A client too slow to keep up overflows
it: its queue is dropped and it is sent ``{"type": "resync"}`` instead, so one stalled
client costs a bounded amount of memory and never slows the others. A client that
reconnects with ``?after=<last id>`` first gets every event it missed, replayed from
the ``event`` table, then the live stream, with no gap and no duplicate.

A user with at least one open socket counts as online (``app.state.online``, per process:
with several processes, presence needs the shared bus of the scale-out issue).

The socket's user is read again every ``VIEWER_REFRESH_SECONDS``: a changed role or team
applies to the events that follow, and a deactivated user or a revoked token ends the
socket (close code 4401), as it would end their next HTTP request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import json
import logging

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox import store
from inbox.errors import InboxError
from inbox.events import LiveEvent, Viewer
from inbox.services import Context
from ui.auth import authenticate, credentials, load_viewer

log = logging.getLogger(__name__)
REPLAY_PAGE = 1000
MAX_REPLAY = 50_000
VIEWER_REFRESH_SECONDS = 30.0
# Close codes (4000-4999 are the application's): a client can tell "log in again" from a bug.
UNAUTHENTICATED = 4401
BAD_REQUEST = 4400
RESYNC = object()  # the client fell too far behind: it is told to resync
CLOSED = object()  # the client went away
REVOKED = object()  # the user may no longer connect


class Subscription:
    def __init__(self, viewer: Viewer, size: int) -> None:
        self.viewer = viewer
        self.queue: asyncio.Queue[LiveEvent | object] = asyncio.Queue(size)

    def offer(self, event: LiveEvent) -> None:
        if not self.viewer.may_see(event.scopes):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.interrupt(RESYNC)

    def interrupt(self, marker: object) -> None:
        """Replace whatever is queued by ``marker``: it is the next thing the sender sees."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(marker)


async def websocket_endpoint(ws: WebSocket) -> None:
    ctx: Context = ws.app.state.ctx
    # Accept before refusing: a close before the handshake reaches the client as a bare
    # HTTP 403, and it could not tell bad credentials from a bad ``after``.
    await ws.accept()
    try:
        viewer = await authenticate(ws)
    except InboxError:
        await ws.close(code=UNAUTHENTICATED)
        return
    after_raw = ws.query_params.get("after")
    try:
        after = int(after_raw) if after_raw else None
    except ValueError:
        await ws.close(code=BAD_REQUEST)
        return

    sub = Subscription(viewer, ctx.settings.ws_queue_size)
    unsubscribe = ctx.bus.subscribe(sub.offer)  # before the replay, so nothing falls between
    online: Counter[int] = ws.app.state.online
    online[viewer.user_id] += 1
    try:
        last_sent = after if after is not None else ctx.bus.last_id
        if after is not None:
            last_sent = await _replay(ws, ctx, viewer, after)
        await ws.send_text(json.dumps({"id": None, "type": "ready", "data": {"last_event_id": last_sent}}))
        # Helpers that end the loop below by queueing a marker: one await per event, no task
        # per event (that costs ~15 ms at the tail with 100 sockets, bench/live.py).
        receiver = asyncio.create_task(_drain_incoming(ws, sub))
        watcher = asyncio.create_task(_watch_viewer(ctx, sub, *credentials(ws)))
        try:
            while True:
                item = await sub.queue.get()
                if item is CLOSED:
                    break
                if item is REVOKED:
                    await ws.close(code=UNAUTHENTICATED)
                    break
                if item is RESYNC:
                    await ws.send_text(json.dumps({"id": None, "type": "resync", "data": {"last_event_id": last_sent}}))
                    continue
                assert isinstance(item, LiveEvent)
                if item.id <= last_sent:
                    continue  # already sent during the replay
                await ws.send_text(item.frame)
                last_sent = item.id
        finally:
            receiver.cancel()
            watcher.cancel()
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        unsubscribe()
        online[viewer.user_id] -= 1
        if online[viewer.user_id] <= 0:
            del online[viewer.user_id]


async def _replay(ws: WebSocket, ctx: Context, viewer: Viewer, after: int) -> int:
    oldest = await ctx.db.read(store.first_event_id)
    if oldest is not None and after < oldest - 1:  # what it missed was pruned: replay cannot be whole
        await ws.send_text(json.dumps({"id": None, "type": "resync", "data": {"last_event_id": after}}))
        return await ctx.db.read(store.last_event_id)
    last = after
    sent = 0
    while True:
        rows = await ctx.db.read(lambda c: store.events_after(c, last, REPLAY_PAGE))
        for r in rows:
            if viewer.may_see(r.scopes):
                await ws.send_text(LiveEvent(r.id, r.type, r.data, r.scopes).frame)
            last = r.id
        sent += len(rows)
        if len(rows) < REPLAY_PAGE:
            return last
        if sent >= MAX_REPLAY:  # too far behind to replay: start over from current state
            await ws.send_text(json.dumps({"id": None, "type": "resync", "data": {"last_event_id": last}}))
            return await ctx.db.read(store.last_event_id)


async def _watch_viewer(ctx: Context, sub: Subscription, token: str | None, user_id: int | None) -> None:
    """Keep the subscription's role and teams current; end the socket when the user may no
    longer connect."""
    while True:
        await asyncio.sleep(VIEWER_REFRESH_SECONDS)
        try:
            viewer = await ctx.db.read(lambda c: load_viewer(c, token, user_id))
        except Exception:  # the database is briefly unavailable: keep the last known rights
            log.exception("refreshing a live socket's user failed")
            continue
        if viewer is None:
            sub.interrupt(REVOKED)
            return
        sub.viewer = viewer


async def _drain_incoming(ws: WebSocket, sub: Subscription) -> None:
    """We expect nothing from the client but pings; this notices when it goes away."""
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sub.interrupt(CLOSED)


routes = [WebSocketRoute("/ws", websocket_endpoint)]
