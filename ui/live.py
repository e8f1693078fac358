"""GET /ws: the live event stream (docs/events.md).

Each socket has a bounded queue fed by the bus. A client too slow to keep up overflows
it: its queue is dropped and it is sent ``{"type": "resync"}`` instead, so one stalled
client costs a bounded amount of memory and never slows the others. A client that
reconnects with ``?after=<last id>`` first gets every event it missed, replayed from
the ``event`` table, then the live stream, with no gap and no duplicate.

Presence (inbox/actions/presence.py): the first socket of a user in this process makes
them present (``ctx.connections`` counts them; routing passes keep them seen), the last
one closing starts their grace period, and the page's ``{"type": "activity"}`` frames
(at most one per 30 s) tell that they are at the keyboard.

The socket's user is read again when an ``access.changed`` event names them (the
actions emit it when a user, their token, their session version or their teams change;
through the Redis bus it reaches every process), and every ``VIEWER_REFRESH_SECONDS``
besides: a changed role or team applies to the events that follow, and a deactivated
user, a revoked token or an ended session ends the socket (close code 4401), as it would
end their next HTTP request. From the moment the event arrives until the recheck is done,
the affected sockets hold back what comes after it, so not one later event reaches a
socket whose rights were taken away. One task per process does the periodic pass for all
open sockets, reading each distinct set of credentials once: with a task and a database
read per socket, 1,000 agents cost 1,000 thread hops in one burst every 30 s.

Per event and socket the work is one scope check, one queue put and one send of the
frame encoded once for all (bench/live.py measures it against a bare broadcast).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from sqlalchemy import Connection
from starlette.routing import WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox import actions, queries
from inbox.actions.context import Context
from inbox.domain.access import Viewer, is_personal_to_another
from inbox.domain.errors import InboxError
from inbox.domain.events import ACCESS_CHANGED, INTERNAL_SCOPES, LiveEvent
from ui.auth import WS_PROTOCOL, Credentials, authenticate, credentials, load_viewer
from ui.http import parse_id

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
UNSURE = object()  # the user's rights could not be rechecked: the client reconnects, and is checked then
TRY_AGAIN_LATER = 1013


class Suspended:
    """A send begun by ``Subscription.offer`` that had to wait (the socket's buffer is
    full): the socket's task finishes it before anything queued after it."""

    def __init__(self, send: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.send, self.waiting_on = send, waiting_on

    async def finish(self) -> None:
        while True:
            try:
                # What the coroutine yielded: a future, or None for a bare yield (sleep(0)).
                await (self.waiting_on if self.waiting_on is not None else asyncio.sleep(0))
            except BaseException:
                self.send.close()
                raise
            try:
                self.waiting_on = self.send.send(None)
            except StopIteration:
                return


class Subscription:
    """One socket's share of the bus. While its task waits for work (``idle``) and the
    socket takes the frame without waiting, which is nearly always, ``offer`` sends the
    event itself: a task switch per socket and event would cost about as much as the send
    (bench/live.py). Otherwise events wait in ``queue`` for the socket's task, in order."""

    def __init__(self, viewer: Viewer, size: int, credentials: Credentials = Credentials(None, None)) -> None:
        self.viewer = viewer
        self.credentials = credentials
        # Set while this user's rights are rechecked: the socket's task waits on it before
        # sending anything more. Its result: None to go on, or the marker to act on
        # (REVOKED, UNSURE).
        self.gate: asyncio.Future[object | None] | None = None
        self.rechecks = 0  # under way for it; the gate opens when the last one is done
        self.queue: asyncio.Queue[LiveEvent | Suspended | object] = asyncio.Queue(size)
        self.send: Callable[[Message], Coroutine[Any, Any, None]] | None = None  # once live
        self.idle = False  # the task waits on an empty queue: offer may send
        self.last_sent = 0

    @property
    def viewer(self) -> Viewer:
        return self._viewer

    @viewer.setter
    def viewer(self, viewer: Viewer) -> None:
        # Viewer.may_see, with what it derives from the viewer worked out once, not per event.
        self._viewer = viewer
        self._sees_all = viewer.sees_all
        self._scopes = viewer.scopes

    def offer(self, event: LiveEvent) -> None:
        if self._sees_all:
            if event.scopes == INTERNAL_SCOPES or is_personal_to_another(event.scopes, self._viewer.user_id):
                return
        elif self._scopes.isdisjoint(event.scopes) and self.gate is None:
            # (While the rights are rechecked, everything queues: an agent just added to a
            # team must get its next event, which their old scopes would have dropped;
            # ``refilter`` applies the new ones before anything is sent.)
            return
        if self.idle and self.send is not None:
            if event.id > self.last_sent:
                self._send_now(event)
            return
        try:
            self.queue.put_nowait(event)
            self.idle = False
        except asyncio.QueueFull:
            self.interrupt(RESYNC)

    def _send_now(self, event: LiveEvent) -> None:
        # Run the send coroutine here, outside any task, up to its first wait, if any.
        assert self.send is not None
        send = self.send({"type": "websocket.send", "text": event.frame})
        try:
            waiting_on = send.send(None)
        except StopIteration:
            self.last_sent = event.id
            return
        except Exception:  # the socket is gone: its task ends it
            self.interrupt(CLOSED)
            return
        self.last_sent = event.id
        self.queue.put_nowait(Suspended(send, waiting_on))  # the queue is empty while idle
        self.idle = False

    def refilter(self) -> None:
        """Drop the queued events the viewer may no longer see (their rights just changed)."""
        kept = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if not isinstance(item, LiveEvent) or self.viewer.may_see(item.scopes):
                kept.append(item)
        for item in kept:
            self.queue.put_nowait(item)

    def interrupt(self, marker: object) -> None:
        """Replace whatever is queued by ``marker``: it is the next thing the sender sees
        (after a send already begun)."""
        begun = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, Suspended):
                begun.append(item)
        for item in [*begun, marker]:
            self.queue.put_nowait(item)
        self.idle = False


async def websocket_endpoint(ws: WebSocket) -> None:
    ctx: Context = ws.app.state.ctx
    # Accept before refusing: a close before the handshake reaches the client as a bare
    # HTTP 403, and it could not tell bad credentials from a bad ``after``.
    await ws.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in ws.scope.get("subprotocols", []) else None)
    try:
        viewer = await authenticate(ws)
    except InboxError:
        await ws.close(code=UNAUTHENTICATED)
        return
    after_raw = ws.query_params.get("after")
    after = parse_id(after_raw) if after_raw else None
    if after_raw and after is None:  # not an event id (or past the 64 bits ids have)
        await ws.close(code=BAD_REQUEST)
        return

    sub = Subscription(viewer, ctx.settings.ws_queue_size, credentials(ws))
    unsubscribe = ctx.bus.subscribe(sub.offer)  # before the replay, so nothing falls between
    refresher = _refresher(ws, ctx)
    refresher.add(sub)
    online: Counter[int] = ctx.connections
    online[viewer.user_id] += 1
    if online[viewer.user_id] == 1:
        await _presence(actions.agent_connected(ctx, viewer.user_id))
    try:
        sub.last_sent = after if after is not None else ctx.bus.last_id
        if after is not None:
            sub.last_sent = await _replay(ws, ctx, viewer, after)
        await ws.send_text(json.dumps({"id": None, "type": "ready", "data": {"last_event_id": sub.last_sent}}))
        sub.send = ws.send
        # Helpers that end the loop below by queueing a marker: one await per event, no task
        # per event (that costs ~15 ms at the tail with 100 sockets, bench/live.py).
        receiver = asyncio.create_task(_drain_incoming(ws, sub, ctx))
        try:
            while True:
                sub.idle = sub.queue.empty() and sub.gate is None
                item = await sub.queue.get()
                sub.idle = False
                if sub.gate is not None:  # this user's rights are being rechecked
                    verdict = await sub.gate
                    if verdict is not None:
                        item = verdict
                    elif isinstance(item, LiveEvent) and not sub.viewer.may_see(item.scopes):
                        continue  # taken before the recheck, under the rights it ended
                if item is CLOSED:
                    break
                if item is REVOKED:
                    await ws.close(code=UNAUTHENTICATED)
                    break
                if item is UNSURE:
                    await ws.close(code=TRY_AGAIN_LATER)
                    break
                if item is RESYNC:
                    await ws.send_text(json.dumps({"id": None, "type": "resync",
                                                   "data": {"last_event_id": sub.last_sent}}))
                    continue
                if isinstance(item, Suspended):
                    await item.finish()
                    continue
                assert isinstance(item, LiveEvent)
                if item.id <= sub.last_sent:
                    continue  # already sent during the replay
                await ws.send({"type": "websocket.send", "text": item.frame})
                sub.last_sent = item.id
        finally:
            sub.idle = False
            receiver.cancel()
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        unsubscribe()
        refresher.discard(sub)
        if online[viewer.user_id] == 1:  # the last here: its grace period starts (counted until written)
            await _presence(actions.agent_disconnected(ctx, viewer.user_id))
        online[viewer.user_id] -= 1
        if online[viewer.user_id] <= 0:
            del online[viewer.user_id]


async def _presence(write: Coroutine[Any, Any, None]) -> None:
    """A presence write for a socket: its failure (the database closing at shutdown) must
    not end the socket, and the next routing pass corrects what it missed."""
    try:
        await write
    except Exception:
        log.warning("presence write failed", exc_info=True)


async def _replay(ws: WebSocket, ctx: Context, viewer: Viewer, after: int) -> int:
    oldest = await ctx.db.read(queries.first_event_id)
    if oldest is not None and after < oldest - 1:  # what it missed was pruned: replay cannot be whole
        await ws.send_text(json.dumps({"id": None, "type": "resync", "data": {"last_event_id": after}}))
        return await ctx.db.read(queries.last_event_id)
    last = after
    sent = 0
    while True:
        rows = await ctx.db.read(lambda c: queries.events_after(c, last, REPLAY_PAGE))
        for r in rows:
            if viewer.may_see(r.scopes):
                await ws.send_text(LiveEvent(r.id, r.type, r.data, r.scopes).frame)
            last = r.id
        sent += len(rows)
        if len(rows) < REPLAY_PAGE:
            return last
        if sent >= MAX_REPLAY:  # too far behind to replay: start over from current state
            await ws.send_text(json.dumps({"id": None, "type": "resync", "data": {"last_event_id": last}}))
            return await ctx.db.read(queries.last_event_id)


class ViewerRefresher:
    """Keeps the subscriptions' roles and teams current; ends the sockets of users who may
    no longer connect. Runs while at least one socket is open."""

    BATCH = 100  # credentials per database read, so that one read never holds a connection long

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.subs: set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None
        self.rechecks: set[asyncio.Task[None]] = set()
        ctx.bus.subscribe(self.on_event)

    def on_event(self, event: LiveEvent) -> None:
        """An ``access.changed`` event: hold the named users' sockets at once (before the
        bus offers them the next event) and recheck those users."""
        if event.type != ACCESS_CHANGED or not self.subs:
            return
        user_ids = set(event.data.get("user_ids") or [])
        held = [s for s in self.subs if s.viewer.user_id in user_ids]
        if not held:
            return
        loop = asyncio.get_running_loop()
        for sub in held:
            if sub.gate is None:
                sub.gate = loop.create_future()
                sub.idle = False  # offer queues from now on, for the task to send after the gate
            sub.rechecks += 1
        task = asyncio.create_task(self.recheck(held))
        self.rechecks.add(task)
        task.add_done_callback(self.rechecks.discard)

    async def recheck(self, subs: list[Subscription]) -> None:
        """Refresh ``subs`` after an access change, then let through what they held back;
        close those that lost access, and, when the database could not say, those whose
        access may have changed (they reconnect, and are checked then: fail closed)."""
        verdicts: dict[Subscription, object | None] = {}
        try:
            loaded = await self.refresh(subs)
            for sub in subs:
                if sub not in self.subs:
                    verdicts[sub] = REVOKED
                elif sub.credentials not in loaded:
                    self.subs.discard(sub)
                    verdicts[sub] = UNSURE
        finally:
            for sub in subs:
                sub.rechecks -= 1
                verdict = verdicts.get(sub, REVOKED if sub not in self.subs else None)
                if sub.gate is not None and (sub.rechecks == 0 or verdict is not None):
                    if verdict is None:
                        sub.refilter()
                    gate, sub.gate = sub.gate, None
                    if not gate.done():
                        gate.set_result(verdict)

    def add(self, sub: Subscription) -> None:
        self.subs.add(sub)
        if self.task is None or self.task.get_loop() is not asyncio.get_running_loop():
            self.task = asyncio.create_task(self._run())

    def discard(self, sub: Subscription) -> None:
        self.subs.discard(sub)
        if not self.subs and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(VIEWER_REFRESH_SECONDS)
            await self.refresh()

    async def refresh(self, subs: list[Subscription] | None = None) -> dict[Credentials, Viewer | None]:
        """Read the users of ``subs`` (all open sockets by default) again and apply what
        changed; what was read (a batch the database failed to read is missing)."""
        subs = list(self.subs) if subs is None else subs
        pending = list({s.credentials for s in subs})
        viewers: dict[Credentials, Viewer | None] = {}
        for start in range(0, len(pending), self.BATCH):
            batch = pending[start:start + self.BATCH]
            try:
                viewers.update(await self.ctx.db.read(partial(_load_viewers, credentials=batch)))
            except Exception:  # the database is briefly unavailable: keep the last known rights
                log.exception("refreshing live sockets' users failed")
        for sub in subs:
            if sub.credentials not in viewers or sub not in self.subs:
                continue
            viewer = viewers[sub.credentials]
            if viewer is None:
                self.subs.discard(sub)
                sub.interrupt(REVOKED)
            else:
                sub.viewer = viewer
        return viewers


def _load_viewers(conn: Connection, credentials: list[Credentials]) -> dict[Credentials, Viewer | None]:
    return {cred: load_viewer(conn, *cred) for cred in credentials}


def _refresher(ws: WebSocket, ctx: Context) -> ViewerRefresher:
    refresher: ViewerRefresher | None = getattr(ws.app.state, "live_viewer_refresher", None)
    if refresher is None:
        refresher = ws.app.state.live_viewer_refresher = ViewerRefresher(ctx)
    return refresher


ACTIVITY = '{"type":"activity"}'


async def _drain_incoming(ws: WebSocket, sub: Subscription, ctx: Context) -> None:
    """We expect nothing from the client but its activity reports (compared as a string,
    never parsed); this notices when it goes away."""
    try:
        while (message := await ws.receive())["type"] != "websocket.disconnect":
            if message.get("text") == ACTIVITY:
                await _presence(actions.agent_active(ctx, sub.viewer.user_id))
    finally:
        sub.interrupt(CLOSED)


routes = [WebSocketRoute("/ws", websocket_endpoint)]
