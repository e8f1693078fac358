"""Outbound webhooks end to end (docs/webhooks.md): endpoints made through the REST API, events
caused through signed provider webhooks and the API, and a real receiver on 127.0.0.1 that
records every request and answers as a test tells it. Signatures are checked by a verifier
written here from the Standard Webhooks specification, not by our signing code. Time moves
with the clock only; nothing sleeps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.helpers.server import serve

FAST_RETRIES = {"webhook_retry_base_seconds": 0.05}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Receiver:
    """An integrator's endpoint: records every request; answers each with the next status
    of ``answers`` (then 200), a 302 to ``redirect_to`` for status 302."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.redirect_to = ""
        self._changed = asyncio.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        status = self.answers.pop(0) if self.answers else 200
        self.requests.append(Received(request.url.path, dict(request.headers), await request.body(), status))
        async with self._changed:
            self._changed.notify_all()
        if status == 302:
            return Response(status_code=302, headers={"location": self.redirect_to})
        return Response("ok" if status < 300 else "busy, try later", status_code=status)

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.requests) >= n), timeout)
        return self.requests

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if r.status == 200]


async def _receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve(receiver.app) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in _receiver():
        yield r


@pytest.fixture
async def elsewhere() -> AsyncIterator[Receiver]:
    """Another server, where a redirect points."""
    async for r in _receiver():
        yield r


def verify(secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: float = 300) -> int:
    """How many of the request's signatures ``secret`` makes, checked as the Standard
    Webhooks specification says: the key is the base64 after ``whsec_``; the signed content is
    ``{webhook-id}.{webhook-timestamp}.{body}``; HMAC-SHA256, base64, after ``v1,``; several
    space-separated; the timestamp within the tolerance."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(now - int(timestamp)) <= tolerance, (now, timestamp)
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return sum(1 for sig in headers["webhook-signature"].split(" ")
               if sig.startswith("v1,") and hmac.compare_digest(sig[3:].encode(), expected))


async def create(live: Live, url: str, events: list[str]) -> dict[str, Any]:
    r = await live.client.post("/api/webhooks", headers=live.as_("admin"), json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def deliveries(live: Live, endpoint_id: int) -> list[dict[str, Any]]:
    return (await live.get(f"/api/webhooks/{endpoint_id}/deliveries", "admin"))["items"]  # type: ignore[no-any-return]


async def messages(live: Live, *texts: str, phone: str = "+15557654321") -> None:
    for text in texts:
        assert (await live.sms(phone, text)).status_code == 200


# -- signing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_an_event_arrives_signed_per_the_standard_webhooks_scheme(live: Live, receiver: Receiver,
                                                                        clock: MovableClock) -> None:
    endpoint = await create(live, receiver.url + "/hooks/inbox", ["message.created"])
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
    listed = (await live.get("/api/webhooks", "admin"))["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert secret not in json.dumps(listed) and listed[0]["secret"] == "whsec_…" + secret[-4:]
    assert (await live.get(f"/api/webhooks/{endpoint['id']}", "admin"))["secret"] == listed[0]["secret"]

    await messages(live, "Hi, my order #1042 has not arrived yet")
    [request] = await receiver.wait_for(1)
    assert request.path == "/hooks/inbox"
    assert request.headers["content-type"] == "application/json"
    assert verify(secret, request.headers, request.body, clock.now().timestamp()) == 1
    assert verify("whsec_" + base64.b64encode(b"x" * 24).decode(), request.headers, request.body,
                  clock.now().timestamp()) == 0
    payload = request.json
    assert payload["type"] == "message.created" and payload["timestamp"].endswith("Z")
    assert payload["data"]["message"]["text"] == "Hi, my order #1042 has not arrived yet"
    # The same entity the live event carries: the event's id ties the two together.
    [logged] = await deliveries(live, endpoint["id"])
    assert logged["event_id"] == payload["event_id"] and logged["webhook_id"] == request.headers["webhook-id"]
    assert logged["state"] == "delivered" and logged["last_status"] == 200
    assert logged["payload"] == request.body.decode()
    [attempt] = logged["attempt_log"]
    assert attempt["status"] == 200 and attempt["response"] == "ok" and attempt["duration_ms"] >= 0
    assert attempt["timestamp"] == int(request.headers["webhook-timestamp"])
    # Only the subscribed type: the contact and conversation events of that message went nowhere.
    assert len(receiver.requests) == 1


async def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(live: Live, receiver: Receiver,
                                                                          clock: MovableClock) -> None:
    endpoint = await create(live, receiver.url, ["message.created"])
    r = await live.client.post(f"/api/webhooks/{endpoint['id']}/rotate", headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    rotated = r.json()
    old, new = endpoint["secret"], rotated["secret"]
    assert new != old and new.startswith("whsec_") and rotated["previous_secret_until"] is not None

    await messages(live, "first")
    [during] = await receiver.wait_for(1)
    now = clock.now().timestamp()
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(new, during.headers, during.body, now) == 1 and verify(old, during.headers, during.body, now) == 1

    clock.advance(timedelta(hours=24, minutes=1))
    await messages(live, "second")
    after = (await receiver.wait_for(2))[1]
    now = clock.now().timestamp()
    assert verify(new, after.headers, after.body, now) == 1 and verify(old, after.headers, after.body, now) == 0
    assert len(after.headers["webhook-signature"].split(" ")) == 1


# -- delivery ----------------------------------------------------------------------------------

@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
@pytest.mark.parametrize("live_overrides", [FAST_RETRIES])
async def test_a_receiver_that_fails_then_recovers_gets_each_event_once_in_order(live: Live,
                                                                                 receiver: Receiver) -> None:
    endpoint = await create(live, receiver.url, ["message.created"])
    receiver.answers = [503, 503, 503]
    texts = [f"message {n}" for n in range(5)]
    await messages(live, *texts)
    await receiver.wait_for(8)  # three refusals, then the five

    delivered = receiver.delivered
    assert [r.json["data"]["message"]["text"] for r in delivered] == texts
    ids = [r.headers["webhook-id"] for r in delivered]
    assert len(set(ids)) == 5
    # Each refusal was the first message, sent again with the same webhook-id, before any other.
    assert [r.headers["webhook-id"] for r in receiver.requests[:4]] == [ids[0]] * 4
    assert [r.status for r in receiver.requests[:4]] == [503, 503, 503, 200]
    logged = await deliveries(live, endpoint["id"])
    assert [d["state"] for d in logged] == ["delivered"] * 5
    first = logged[-1]
    assert first["attempts"] == 4 and [a["status"] for a in first["attempt_log"]] == [503, 503, 503, 200]
    assert first["attempt_log"][0]["response"] == "busy, try later"
    assert (await live.get(f"/api/webhooks/{endpoint['id']}", "admin"))["pending"] == 0


@pytest.mark.parametrize("live_overrides", [{"run_worker": False}])
async def test_a_delivery_is_written_with_its_event_before_the_webhook_is_answered(live: Live,
                                                                                    receiver: Receiver) -> None:
    """With no worker running, the delivery is there the moment the provider's webhook has its 200."""
    endpoint = await create(live, receiver.url, ["conversation.created", "message.created"])
    stream = await live.events("admin")
    await messages(live, "anyone there?")
    created = await stream.next(lambda e: e["type"] == "message.created")
    await stream.close()
    logged = await deliveries(live, endpoint["id"])
    assert [d["type"] for d in logged] == ["message.created", "conversation.created"]
    assert logged[0]["event_id"] == created["id"] and logged[0]["state"] == "pending"
    assert json.loads(logged[0]["payload"])["data"] == created["data"]
    assert (await live.get(f"/api/webhooks/{endpoint['id']}", "admin"))["pending"] == 2
    assert receiver.requests == []
