"""Who may hold a WebSocket open: refusals the client can tell apart, and a user whose
access ends while their socket is open."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.conftest import Live
from tests.helpers.live import EventStream
from ui import live as live_module


async def _close_code(stream: EventStream) -> int:
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await asyncio.wait_for(stream.next(lambda e: False), 5)  # whatever comes first, until it closes
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.mark.parametrize("after", ["yesterday", str(2**63), "9" * 400])  # not an id; past 64 bits (a 500 before)
async def test_a_bad_after_is_closed_with_4400(live: Live, after: str) -> None:
    url = live.url.replace("http://", "ws://") + f"/ws?token={live.tokens['agent']}&after={after}"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_deactivating_a_user_closes_their_open_socket(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "VIEWER_REFRESH_SECONDS", 0.05)
    stream = await live.events("agent2")
    bystander = await live.events("agent")
    r = await live.client.patch(f"/api/users/{live.users['agent2']['id']}", headers=live.as_("admin"),
                                json={"active": False})
    assert r.status_code == 200
    assert await _close_code(stream) == 4401
    # The others' sockets stay open and live.
    await live.sms("+15557654321", "still here?")
    assert (await bystander.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"] == "still here?"
    await bystander.close()


async def test_revoking_a_token_closes_the_socket_opened_with_it(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "VIEWER_REFRESH_SECONDS", 0.05)
    token = (await live.client.post("/api/tokens", headers=live.as_("agent"), json={"name": "script"})).json()
    stream = await EventStream.connect(live.url, token["token"])
    listed = (await live.get("/api/tokens"))["items"]
    token_id = next(t["id"] for t in listed if t["name"] == "script")
    assert (await live.client.delete(f"/api/tokens/{token_id}", headers=live.as_("agent"))).status_code == 204
    assert await _close_code(stream) == 4401
