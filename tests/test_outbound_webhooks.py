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
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.domain.clock import MovableClock
from inbox.redact import redact
from inbox.workers.webhooks import WebhookWorker
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.server import serve
from tests.test_accessibility import _axe
from webhooks.outbound import make_poster

__all__ = ["browser"]  # a fixture

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
    [logged] = await settled(live, endpoint["id"], lambda log: log[0]["state"] == "delivered")
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
    logged = await settled(live, endpoint["id"], lambda log: all(d["state"] == "delivered" for d in log))
    assert len(logged) == 5
    first = logged[-1]
    assert first["attempts"] == 4 and [a["status"] for a in first["attempt_log"]] == [503, 503, 503, 200]
    assert first["attempt_log"][0]["response"] == "busy, try later"
    assert (await live.get(f"/api/webhooks/{endpoint['id']}", "admin"))["pending"] == 0


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_with_a_second_worker_each_delivery_still_goes_once_in_order(live: Live, receiver: Receiver) -> None:
    """A second worker, as another process would run one (its own name on the leases),
    beside the app's: both are woken by every event and claim; one at a time holds an
    endpoint's queue."""
    ctx = live.app.state.ctx
    other = WebhookWorker(ctx, make_poster(ctx.settings))
    live.app.state.ctx.bus.subscribe(other.on_event)
    running = asyncio.create_task(other.run())
    try:
        endpoints = [await create(live, f"{receiver.url}/{n}", ["message.created"]) for n in range(3)]
        texts = [f"message {n}" for n in range(12)]
        await messages(live, *texts)
        await receiver.wait_for(36)
        for e in endpoints:
            got = [r for r in receiver.requests if r.path == f"/{e['id'] - endpoints[0]['id']}"]
            assert [r.json["data"]["message"]["text"] for r in got] == texts
            assert len({r.headers["webhook-id"] for r in got}) == 12
        assert len(receiver.requests) == 36
    finally:
        await other.stop()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await other.poster.aclose()


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


async def settled(live: Live, endpoint_id: int, done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The endpoint's log once ``done(log)`` holds: the worker records an answer just after
    the receiver has given it. Read again every 20 ms, failing after ``timeout``."""
    async def check() -> list[dict[str, Any]]:
        while not done(log := await deliveries(live, endpoint_id)):
            await asyncio.sleep(0.02)
        return log
    try:
        return await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        raise AssertionError(f"not settled after {timeout} s: {await deliveries(live, endpoint_id)}") from None


async def test_an_endpoint_failing_for_a_day_is_paused_then_resumed_loses_nothing(live: Live, receiver: Receiver,
                                                                                   clock: MovableClock) -> None:
    endpoint = await create(live, receiver.url, ["message.created"])
    eid = endpoint["id"]
    receiver.answers = [503] * 100
    await messages(live, "is anyone there?")
    attempts = 1
    while True:
        [head] = await settled(live, eid, lambda log, n=attempts: log and log[0]["attempts"] == n)
        state = await live.get(f"/api/webhooks/{eid}", "admin")
        if not state["active"]:
            break
        assert attempts < 30, "never paused"
        due = clock.now().fromisoformat(head["next_attempt_at"].replace("Z", "+00:00"))
        clock.advance(max(due - clock.now(), timedelta()) + timedelta(milliseconds=5))
        attempts += 1
        await receiver.wait_for(attempts)

    # Paused on the first failure past a day: the last wait may be the longest (6 h, +10% jitter).
    failing = re.search(r"failed for (\d+) hours", state["paused_reason"])
    assert failing and 24 <= int(failing[1]) <= 31, state
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps[-1] - stamps[0] >= 24 * 3600  # the attempts spanned at least a day
    assert stamps[1] - stamps[0] in (5, 6)  # the first retry after INBOX_WEBHOOK_RETRY_BASE_SECONDS (5, +10% jitter)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    page = await live.client.get("/admin/inboxes", headers=live.as_("admin"))
    assert "is paused" in page.text and state["paused_reason"] in page.text  # every admin page says so

    # Paused, it still queues what happens; resumed, everything goes, in order, once.
    await messages(live, "hello?")
    assert (await live.get(f"/api/webhooks/{eid}", "admin"))["pending"] == 2
    receiver.answers = []
    r = await live.client.patch(f"/api/webhooks/{eid}", headers=live.as_("admin"), json={"active": True})
    assert r.status_code == 200 and r.json()["active"] and r.json()["paused_reason"] is None
    await receiver.wait_for(attempts + 2)
    assert [r.json["data"]["message"]["text"] for r in receiver.delivered] == ["is anyone there?", "hello?"]


async def test_410_gone_pauses_the_endpoint_at_once(live: Live, receiver: Receiver) -> None:
    endpoint = await create(live, receiver.url, ["message.created"])
    receiver.answers = [410]
    await messages(live, "hi")
    await receiver.wait_for(1)
    await settled(live, endpoint["id"], lambda log: log and log[0]["attempts"] == 1)
    state = await live.get(f"/api/webhooks/{endpoint['id']}", "admin")
    assert not state["active"] and "410 Gone" in state["paused_reason"]


@pytest.mark.parametrize("live_overrides", [FAST_RETRIES])
async def test_a_redirect_is_not_followed(live: Live, receiver: Receiver, elsewhere: Receiver) -> None:
    endpoint = await create(live, receiver.url + "/old", ["message.created"])
    receiver.answers, receiver.redirect_to = [302], elsewhere.url + "/new"
    r = await live.client.post(f"/api/webhooks/{endpoint['id']}/test", headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    test = r.json()
    assert test["state"] == "failed" and test["last_status"] == 302
    assert "not followed" in test["last_error"]
    assert elsewhere.requests == [] and len(receiver.requests) == 1


async def test_send_test_and_replay(live: Live, receiver: Receiver, clock: MovableClock) -> None:
    endpoint = await create(live, receiver.url, ["message.created"])
    r = await live.client.post(f"/api/webhooks/{endpoint['id']}/test", headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    test = r.json()
    assert test["type"] == "webhook.test" and test["state"] == "delivered" and test["last_status"] == 200
    [sent] = receiver.requests
    assert sent.json["type"] == "webhook.test" and sent.headers["webhook-id"] == test["webhook_id"]
    assert verify(endpoint["secret"], sent.headers, sent.body, clock.now().timestamp()) == 1

    await messages(live, "replay me")
    first = (await receiver.wait_for(2))[1]
    [message, _] = await settled(live, endpoint["id"], lambda log: log[0]["state"] == "delivered")
    clock.advance(timedelta(minutes=10))
    r = await live.client.post(f"/api/webhooks/deliveries/{message['id']}/replay", headers=live.as_("admin"))
    assert r.status_code == 202 and r.json()["state"] == "pending", r.text
    again = (await receiver.wait_for(3))[2]
    assert again.body == first.body and again.headers["webhook-id"] == first.headers["webhook-id"]
    assert int(again.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"]) + 600  # signed anew
    assert verify(endpoint["secret"], again.headers, again.body, clock.now().timestamp()) == 1
    [replayed, _] = await settled(live, endpoint["id"], lambda log: log[0]["state"] == "delivered")
    assert [a["status"] for a in replayed["attempt_log"]] == [200, 200]
    r = await live.client.post("/api/webhooks/deliveries/999999/replay", headers=live.as_("admin"))
    assert r.status_code == 404


# -- where requests may go -----------------------------------------------------------------

@pytest.mark.parametrize("live_overrides", [{"webhooks_allow_private": False}])
async def test_private_addresses_are_refused_at_creation_and_at_connect(live: Live, receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    for url in (receiver.url, "http://10.0.0.7/hook", "http://[::1]:8080/hook", "http://169.254.169.254/latest/",
                "http://[::ffff:127.0.0.1]/hook", "https://192.168.1.20/hook", "http://0.0.0.0/", "http://100.64.0.1/"):
        r = await live.client.post("/api/webhooks", headers=live.as_("admin"),
                                   json={"url": url, "events": ["message.created"]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "blocked_address", (url, r.text)
    # A name is checked where it is connected to: localhost resolves to 127.0.0.1.
    endpoint = await create(live, f"http://localhost:{port}/hook", ["message.created"])
    r = await live.client.patch(f"/api/webhooks/{endpoint['id']}", headers=live.as_("admin"),
                                json={"url": "http://127.0.0.1/hook"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "blocked_address"
    r = await live.client.post(f"/api/webhooks/{endpoint['id']}/test", headers=live.as_("admin"))
    test = r.json()
    assert test["state"] == "failed" and test["last_status"] is None
    assert "localhost resolves to 127.0.0.1, a private or local address" in test["last_error"]
    await messages(live, "hi")
    refused = (await settled(live, endpoint["id"], lambda log: log[0]["type"] == "message.created"
                             and log[0]["attempts"] >= 1))[0]
    assert "private or local address" in refused["last_error"] and refused["state"] == "pending"
    assert receiver.requests == []


# -- the API -------------------------------------------------------------------------------

async def test_endpoints_are_admins_and_checked(live: Live, receiver: Receiver) -> None:
    for who in ("lead", "agent"):
        r = await live.client.post("/api/webhooks", headers=live.as_(who),
                                   json={"url": receiver.url, "events": ["message.created"]})
        assert r.status_code == 403
        assert (await live.client.get("/api/webhooks", headers=live.as_(who))).status_code == 403
    for body, code in (({"url": receiver.url, "events": ["message.exploded"]}, "invalid_events"),
                       ({"url": receiver.url, "events": []}, "invalid_events"),
                       ({"url": "ftp://example.com/", "events": ["message.created"]}, "invalid_url"),
                       ({"url": "not a url", "events": ["message.created"]}, "invalid_url")):
        r = await live.client.post("/api/webhooks", headers=live.as_("admin"), json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body, r.text)
    endpoint = await create(live, receiver.url, ["message.created", "conversation.resolved", "csat.received"])
    assert endpoint["events"] == ["message.created", "conversation.resolved", "csat.received"]
    r = await live.client.patch(f"/api/webhooks/{endpoint['id']}", headers=live.as_("admin"),
                                json={"events": ["conversation.resolved"], "active": False})
    assert r.status_code == 200 and r.json()["events"] == ["conversation.resolved"]
    assert r.json()["paused_reason"] == "paused by an admin"
    r = await live.client.delete(f"/api/webhooks/{endpoint['id']}", headers=live.as_("admin"))
    assert r.status_code == 204
    assert (await live.get("/api/webhooks", "admin"))["items"] == []
    assert (await live.client.get(f"/api/webhooks/{endpoint['id']}", headers=live.as_("admin"))).status_code == 404


async def test_resolved_conversations_and_satisfaction_answers_are_their_own_events(live: Live,
                                                                                     receiver: Receiver) -> None:
    endpoint = await create(live, receiver.url, ["conversation.resolved", "csat.received"])
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"csat": {"mode": "on_resolve"}})
    assert r.status_code == 200, r.text
    await messages(live, "Where is my order?")
    cid = (await live.get("/api/conversations", "lead"))["items"][0]["id"]
    for path, body in ((f"/api/conversations/{cid}/assignment", {"user_id": live.users["agent"]["id"]}),
                       (f"/api/conversations/{cid}/messages", {"text": "On its way!"}),
                       (f"/api/conversations/{cid}/status", {"status": "resolved"})):
        assert (await live.client.post(path, headers=live.as_("agent"), json=body)).status_code in (200, 202)
    [resolved] = await receiver.wait_for(1)
    assert resolved.json["type"] == "conversation.resolved"
    data = resolved.json["data"]
    assert data["conversation"]["id"] == cid and data["conversation"]["status"] == "resolved"
    assert data["previous_status"] == "open" and data["actor_id"] == live.users["agent"]["id"]

    await messages(live, "5")  # the survey's answer, typed
    rated = (await receiver.wait_for(2))[1].json
    assert rated["type"] == "csat.received"
    assert rated["data"]["survey"]["score"] == 5 and rated["data"]["survey"]["conversation_id"] == cid
    assert rated["data"]["survey"]["agent_id"] == live.users["agent"]["id"]
    assert rated["data"]["conversation"]["id"] == cid
    assert len(await deliveries(live, endpoint["id"])) == 2


@pytest.mark.parametrize("live_overrides", [FAST_RETRIES])
async def test_no_secret_reaches_a_log(live: Live, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    host = receiver.url.removeprefix("http://")
    endpoint = await create(live, f"http://hook:pa55w0rd-in-url@{host}/hooks", ["message.created"])
    rotated = (await live.client.post(f"/api/webhooks/{endpoint['id']}/rotate", headers=live.as_("admin"))).json()
    receiver.answers = [503, 410]
    await messages(live, "one")
    await receiver.wait_for(2)  # refused, then gone: paused (logged)
    await settled(live, endpoint["id"], lambda log: log[0]["attempts"] == 2)
    r = await live.client.patch(f"/api/webhooks/{endpoint['id']}", headers=live.as_("admin"), json={"active": True})
    assert r.status_code == 200
    await receiver.wait_for(3)
    assert await live.client.post(f"/api/webhooks/{endpoint['id']}/test", headers=live.as_("admin"))
    assert "paused" in caplog.text  # the pause is logged...
    signatures = [s[3:] for r in receiver.requests for s in r.headers["webhook-signature"].split(" ")]
    for secret in (endpoint["secret"], endpoint["secret"][6:], rotated["secret"], rotated["secret"][6:],
                   "pa55w0rd-in-url", *signatures):
        assert secret not in caplog.text  # ...and nothing that signs, or the URL's password
    # Whoever logs a URL or a secret (an error's text, a library at debug level) logs neither.
    logged = redact(f"POST http://hook:pa55w0rd-in-url@{host}/hooks failed")
    assert logged == f"POST http://hook:[redacted]@{host}/hooks failed"
    assert redact(f"secret {endpoint['secret']}.") == "secret [redacted]."


# -- the admin page --------------------------------------------------------------------------

async def test_the_admin_makes_an_endpoint_sees_its_secret_once_tests_it_and_replays(
        live: Live, browser: Browser, receiver: Receiver, clock: MovableClock) -> None:
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/webhooks")
    await expect(page.get_by_text("No endpoint yet")).to_be_visible()
    await page.get_by_label("URL").fill(receiver.url + "/hooks")
    await page.get_by_role("checkbox", name="message.created").check()
    await page.get_by_role("checkbox", name="conversation.resolved").check()
    await page.get_by_role("button", name="Create endpoint").click()
    secret = (await page.locator(".webhook-secret code").inner_text()).strip()
    assert secret.startswith("whsec_")
    card = page.locator("article.webhook")
    await expect(card.locator(".webhook-types")).to_have_text(re.compile(r"message\.created\s*conversation\.resolved"))
    await expect(card.locator(".tag-on")).to_have_text("Active")

    await card.get_by_role("button", name="Send test").click()
    await expect(page.locator(".notice")).to_contain_text("Test delivered: the endpoint answered 200")
    assert page.url.endswith("/admin/webhooks?done=" + page.url.split("done=")[1])  # a redirect: the secret is gone
    assert secret not in await page.content()
    [test] = receiver.requests
    assert verify(secret, test.headers, test.body, clock.now().timestamp()) == 1

    await messages(live, "Hello from the page")
    await receiver.wait_for(2)
    await page.reload()
    row = page.locator("li[data-delivery]").first
    await expect(row.locator(".wd-event")).to_have_text("message.created")
    await expect(row.locator(".webhook-outcome")).to_have_text("Delivered · 200")
    await expect(row.locator(".wd-duration")).to_contain_text("ms")
    await row.locator("summary").click()
    await expect(row.locator("pre")).to_contain_text("Hello from the page")
    await expect(row.locator("pre")).to_contain_text("webhook-id: " + receiver.requests[1].headers["webhook-id"])
    found = await _axe(page, "/admin/webhooks")
    assert not found, "\n".join(found)
    await row.get_by_role("button", name=re.compile("Replay")).click()
    await expect(page.locator(".notice")).to_contain_text("queued again, with the same webhook-id")
    again = (await receiver.wait_for(3))[2]
    assert again.headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    await page.context.close()
