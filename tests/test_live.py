"""The WebSocket stream: replay after a reconnect, and slow clients."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from typing import Any

import pytest
import websockets

from inbox import actions
from inbox.domain.access import Viewer
from inbox.domain.clock import MovableClock
from inbox.domain.events import LiveEvent, may_queue_delivery
from tests.conftest import Live
from ui.live import RESYNC, Subscription


async def test_reconnecting_client_receives_what_it_missed_then_live_events(live: Live) -> None:
    stream = await live.events()
    await live.sms("+15557654321", "one")
    last = await stream.next(lambda e: e["type"] == "message.created")
    await stream.close()

    # While disconnected: two more messages and a status change.
    await live.sms("+15557654321", "two")
    await live.sms("+15551112222", "three")
    conv_id = last["data"]["conversation"]["id"]
    await live.client.post(f"/api/conversations/{conv_id}/status", json={"status": "pending"},
                           headers=live.as_("agent"))

    again = await live.events(after=last["id"])
    await live.sms("+15557654321", "four")  # live, after the replay
    texts = []
    while len(texts) < 3:
        ev = await again.next(lambda e: e["type"] == "message.created")
        texts.append(ev["data"]["message"]["text"])
    assert texts == ["two", "three", "four"]
    ids = [e["id"] for e in again.seen if e["id"] is not None]
    assert ids == sorted(set(ids)) and ids[0] > last["id"]  # in order, no duplicates
    assert any(e["type"] == "conversation.updated" for e in again.seen)
    await again.close()


@pytest.mark.parametrize("live_overrides", [{"ws_queue_size": 16}])
async def test_stalled_client_is_told_to_resync_and_does_not_slow_others(live: Live) -> None:
    url = live.url.replace("http://", "ws://") + f"/ws?token={live.tokens['agent']}"
    # A client that stops reading, with a tiny receive buffer so the server's sends back up.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
    stalled = await websockets.connect(url, sock=sock, max_queue=1)
    await stalled.recv()  # "ready"
    stalled.transport.pause_reading()
    healthy = await live.events("agent2")
    for i in range(150):
        assert (await live.sms(f"+1555100{i:04d}", "x" * 1500)).status_code == 200
        await healthy.next(lambda e: e["type"] == "message.created", timeout=5)
    # The healthy client got every event at once. The stalled one, when it reads again,
    # has either every event (the kernel's socket buffers held them) or a resync: never a gap.
    stalled.transport.resume_reading()
    frames: list[dict[str, Any]] = []
    created = 0
    while created < 150 and not any(f["type"] == "resync" for f in frames):
        frames.append(json.loads(await asyncio.wait_for(stalled.recv(), 5)))
        created += frames[-1]["type"] == "message.created"
    if created < 150:
        ids = [f["id"] for f in frames if f["id"] is not None]
        assert ids == sorted(ids)
    await stalled.close()
    await healthy.close()


def test_overflowing_subscription_keeps_one_resync_marker_only() -> None:
    sub = Subscription(Viewer(1, "agent"), size=16)
    for i in range(1, 100):
        sub.offer(LiveEvent(i, "message.created", {}, ["all"]))
    assert sub.queue.qsize() < 16
    items = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert RESYNC in items and sum(1 for i in items if i is RESYNC) == 1
    sub.offer(LiveEvent(100, "message.created", {}, ["user:2"]))  # not this agent's to see
    assert sub.queue.empty()


async def test_replay_past_the_retention_says_resync(live: Live, clock: MovableClock) -> None:
    retention = timedelta(days=live.app.state.ctx.settings.event_retention_days)
    await live.sms("+15557654321", "one")
    await live.sms("+15557654321", "two")
    assert await actions.prune_events(live.app.state.ctx, retention) == 0
    clock.advance(retention + timedelta(minutes=1))
    assert await actions.prune_events(live.app.state.ctx, retention) >= 3
    await live.sms("+15557654321", "three")  # kept: after the prune
    stream = await live.events(after=1)  # events 2.. were pruned: a replay would have a gap
    assert [e["type"] for e in stream.seen][:1] == ["resync"]
    await live.sms("+15557654321", "four")
    ev = await stream.next(lambda e: e["type"] == "message.created")
    assert ev["data"]["message"]["text"] == "four"
    await stream.close()


def test_only_events_that_may_have_queued_work_wake_other_processes_workers() -> None:
    def created(**message: Any) -> LiveEvent:
        return LiveEvent(1, "message.created", {"message": message}, ["all"])
    assert not may_queue_delivery(created(direction="in", attachments=[]))  # a plain webhook: no claim
    assert may_queue_delivery(created(direction="in", attachments=[{"url": "https://cdn.example/1.jpg"}]))
    assert not may_queue_delivery(created(direction="in", attachments=[{"path": "ab/cd/x.jpg"}, {"error": "no"}]))
    assert may_queue_delivery(created(direction="out", status="queued", attachments=[]))
    assert may_queue_delivery(LiveEvent(2, "message.updated", {"message": {"status": "queued"}}, ["all"]))
    assert not may_queue_delivery(LiveEvent(3, "message.updated", {"message": {"status": "sent"}}, ["all"]))
