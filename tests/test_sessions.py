"""Sessions end on the server: a cookie kept after logging out, a password change or a
deactivation no longer works, and an open WebSocket whose rights are taken away is
closed (or narrowed) before it is sent one more event, in this process and in the others
(through the Redis bus)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import Live, make_settings
from tests.fakes.twilio import FakeTwilio
from tests.helpers.forms import form_login, page_token
from tests.helpers.live import EventStream
from tests.helpers.server import free_port, serve
from ui.app import create_app

PASSWORD = "correct horse battery"


async def _session(live: Live, who: str = "agent") -> httpx.AsyncClient:
    """A browser of its own, logged in as ``who``."""
    client = httpx.AsyncClient(base_url=live.url, timeout=10)
    assert (await form_login(client, who)).status_code == 303
    assert (await client.get("/api/me")).status_code == 200
    return client


async def _replayed(live: Live, stolen: httpx.Cookies) -> tuple[int, int]:
    """What a copy of the cookie gets now: (GET /api/me status, GET /inbox status)."""
    async with httpx.AsyncClient(base_url=live.url, timeout=10, cookies=stolen) as thief:
        me = await thief.get("/api/me")
        page = await thief.get("/inbox")
        assert page.status_code != 303 or page.headers["location"].startswith("/login")
        return me.status_code, page.status_code


def _cookie_header(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def _cookie_socket(live: Live, client: httpx.AsyncClient) -> EventStream:
    ws = await websockets.connect(live.url.replace("http://", "ws://") + "/ws",
                                  additional_headers={"Cookie": _cookie_header(client)})
    stream = EventStream(ws)
    assert (await stream.next())["type"] == "ready"
    return stream


async def _closed_with(stream: EventStream) -> int:
    """Wait for the server to close the socket; its close code."""
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await stream.next(lambda e: False, timeout=5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def _messages(stream: EventStream) -> list[str]:
    return [e["data"]["message"]["text"] for e in stream.seen if e["type"] == "message.created"]


async def test_a_cookie_replayed_after_logout_is_refused(live: Live) -> None:
    browser = await _session(live)
    stolen = httpx.Cookies(browser.cookies)
    assert await _replayed(live, stolen) == (200, 200)
    token = await page_token(browser, "/inbox")
    r = await browser.post("/logout", data={"csrf_token": token}, headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert await _replayed(live, stolen) == (401, 303)
    await browser.aclose()
    again = await _session(live)  # logging in again gives a working session
    assert (await again.get("/api/me")).json()["email"] == "agent@example.com"
    await again.aclose()


async def test_a_password_change_ends_every_session_of_the_user(live: Live) -> None:
    browser, other = await _session(live), await _session(live, "agent2")
    stolen = httpx.Cookies(browser.cookies)
    r = await live.client.patch(f"/api/users/{live.users['agent']['id']}", headers=live.as_("admin"),
                                json={"password": "a brand new password"})
    assert r.status_code == 200 and "session_version" not in r.json()
    assert await _replayed(live, stolen) == (401, 303)
    assert (await other.get("/api/me")).status_code == 200  # another user's session is untouched
    assert (await live.client.get("/api/me", headers=live.as_("agent"))).status_code == 200  # tokens too
    assert (await form_login(browser, "agent", "a brand new password")).status_code == 303
    assert (await browser.get("/api/me")).status_code == 200
    await browser.aclose()
    await other.aclose()


async def test_a_cookie_does_not_come_back_with_a_reactivation(live: Live) -> None:
    browser = await _session(live)
    stolen = httpx.Cookies(browser.cookies)
    path = f"/api/users/{live.users['agent']['id']}"
    assert (await live.client.patch(path, headers=live.as_("admin"), json={"active": False})).status_code == 200
    assert await _replayed(live, stolen) == (401, 303)
    assert (await live.client.patch(path, headers=live.as_("admin"), json={"active": True})).status_code == 200
    assert await _replayed(live, stolen) == (401, 303)
    await browser.aclose()


async def test_log_out_everywhere_ends_every_browser_and_its_socket(live: Live) -> None:
    laptop, phone = await _session(live), await _session(live)
    socket = await _cookie_socket(live, phone)
    token = await page_token(laptop, "/inbox")
    assert 'action="/logout/everywhere"' in (await laptop.get("/inbox")).text  # the button in the header
    r = await laptop.post("/logout/everywhere", data={"csrf_token": token}, headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    await live.sms("+15557654321", "after logging out")
    assert await _closed_with(socket) == 4401
    assert _messages(socket) == []
    for browser in (laptop, phone):
        assert (await browser.get("/api/me")).status_code == 401
        await browser.aclose()


async def test_log_out_everywhere_with_an_api_token_keeps_the_token(live: Live) -> None:
    browser = await _session(live)
    r = await live.client.post("/logout/everywhere", headers=live.as_("agent"))
    assert r.status_code == 204
    assert (await browser.get("/api/me")).status_code == 401
    assert (await live.client.get("/api/me", headers=live.as_("agent"))).status_code == 200
    await browser.aclose()
    other = await _session(live)
    forged = await other.post("/logout/everywhere")  # a cookie alone (another site's form) is refused
    assert forged.status_code == 403 and (await other.get("/api/me")).status_code == 200
    await other.aclose()


async def test_logout_closes_the_socket_opened_with_the_cookie_before_the_next_event(live: Live) -> None:
    browser = await _session(live)
    socket = await _cookie_socket(live, browser)
    token = await page_token(browser, "/inbox")
    assert (await browser.post("/logout", headers={"X-CSRF-Token": token})).status_code == 204
    await live.sms("+15557654321", "after logging out")
    assert await _closed_with(socket) == 4401
    assert _messages(socket) == []
    await browser.aclose()


async def test_a_revoked_token_gets_no_further_event(live: Live) -> None:
    made = (await live.client.post("/api/tokens", headers=live.as_("agent"), json={"name": "script"})).json()
    stream = await EventStream.connect(live.url, made["token"])
    bystander = await live.events("agent")
    token_id = next(t["id"] for t in (await live.get("/api/tokens"))["items"] if t["name"] == "script")
    assert (await live.client.delete(f"/api/tokens/{token_id}", headers=live.as_("agent"))).status_code == 204
    await live.sms("+15557654321", "after the revoke")
    assert await _closed_with(stream) == 4401
    assert _messages(stream) == []
    # The same user's other socket (another token) stays open and live.
    assert (await bystander.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"] == \
        "after the revoke"
    await bystander.close()


async def test_a_deactivated_user_gets_no_further_event(live: Live) -> None:
    stream = await live.events("agent2")
    assert (await live.client.patch(f"/api/users/{live.users['agent2']['id']}", headers=live.as_("admin"),
                                    json={"active": False})).status_code == 200
    await live.sms("+15557654321", "after the deactivation")
    assert await _closed_with(stream) == 4401
    assert _messages(stream) == []


async def team_conversation(live: Live, member: str) -> tuple[int, int]:
    """A team with ``member`` in it, and a conversation assigned to that team alone."""
    team = (await live.client.post("/api/teams", headers=live.as_("admin"),
                                   json={"name": "Billing", "member_ids": [live.users[member]["id"]]})).json()
    await live.sms("+15550009999", "billing question")
    conv = (await live.get("/api/conversations", who="admin"))["items"][0]
    r = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("admin"),
                               json={"team_id": team["id"], "user_id": None})
    assert r.status_code == 200, r.text
    return team["id"], conv["id"]


async def test_an_agent_taken_out_of_a_team_gets_none_of_its_events_after(live: Live) -> None:
    team_id, _ = await team_conversation(live, "agent")
    stream = await live.events("agent")
    await live.sms("+15550009999", "while in the team")
    assert (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"] == \
        "while in the team"
    r = await live.client.patch(f"/api/teams/{team_id}", headers=live.as_("admin"), json={"member_ids": []})
    assert r.status_code == 200
    await live.sms("+15550009999", "after leaving the team")
    await live.sms("+15557654321", "for everyone")  # an unassigned conversation: every agent sees it
    assert (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"] == \
        "for everyone"
    assert "after leaving the team" not in _messages(stream)
    assert not [e for e in stream.seen if e["type"] == "access.changed"]  # internal: never sent
    await stream.close()


async def test_an_agent_added_to_a_team_sees_its_events_at_once(live: Live) -> None:
    team_id, _ = await team_conversation(live, "agent2")
    stream = await live.events("agent")
    r = await live.client.patch(f"/api/teams/{team_id}", headers=live.as_("admin"),
                                json={"member_ids": [live.users["agent"]["id"], live.users["agent2"]["id"]]})
    assert r.status_code == 200
    await live.sms("+15550009999", "now in the team")
    assert (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]["text"] == \
        "now in the team"
    await stream.close()


async def test_a_lead_is_never_sent_the_internal_events(live: Live) -> None:
    stream = await live.events("lead")
    assert (await live.client.patch(f"/api/users/{live.users['agent2']['id']}", headers=live.as_("admin"),
                                    json={"role": "lead"})).status_code == 200
    await live.sms("+15557654321", "after a role change")
    await stream.next(lambda e: e["type"] == "message.created")
    assert [e["type"] for e in stream.seen if e["type"] not in ("ready", "message.created", "conversation.created",
                                                                 "contact.updated")] == []
    await stream.close()
    replay = await live.events("lead", after=0)  # nor replayed
    await live.sms("+15557654321", "again")
    await replay.next(lambda e: e["type"] == "message.created" and e["data"]["message"]["text"] == "again")
    assert not [e for e in replay.seen if e["type"] == "access.changed"]
    await replay.close()


@pytest.mark.parametrize("database_engine", ["postgres"])
async def test_a_revoke_in_one_process_closes_a_socket_held_by_another(
        live: Live, tmp_path: Path, fake_twilio: FakeTwilio, storage: dict[str, str]) -> None:
    port = free_port()
    other = create_app(make_settings(tmp_path, fake_twilio.url, port, **storage))  # type: ignore[attr-defined]
    async with serve(other, port) as other_url:
        made = (await live.client.post("/api/tokens", headers=live.as_("agent"), json={"name": "far"})).json()
        stream = await EventStream.connect(other_url, made["token"])
        token_id = next(t["id"] for t in (await live.get("/api/tokens"))["items"] if t["name"] == "far")
        assert (await live.client.delete(f"/api/tokens/{token_id}", headers=live.as_("agent"))).status_code == 204
        await live.sms("+15557654321", "after the revoke elsewhere")
        assert await _closed_with(stream) == 4401
        assert _messages(stream) == []

