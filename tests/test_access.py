"""Authentication and roles: tokens, session login, and who may see and do what."""

from __future__ import annotations

import pytest
import websockets

from tests.conftest import Live
from tests.helpers.live import EventStream


async def test_agent_cannot_reach_admin_routes(live: Live) -> None:
    for method, path in [("GET", "/api/inboxes"), ("POST", "/api/inboxes"), ("GET", "/api/users"),
                         ("POST", "/api/users"), ("POST", "/api/teams"), ("PATCH", "/api/users/1")]:
        r = await live.client.request(method, path, headers=live.as_("agent"), json={})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert (await live.client.get("/api/inboxes", headers=live.as_("admin"))).status_code == 200


async def test_missing_or_bad_credentials_are_401(live: Live) -> None:
    assert (await live.client.get("/api/conversations")).status_code == 401
    r = await live.client.get("/api/conversations", headers={"Authorization": "Bearer inbx_nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    # The WebSocket is accepted, then closed with a code that says why.
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await EventStream.connect(live.url, "inbx_nope")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_session_login_then_api_and_logout(live: Live) -> None:
    bad = await live.client.post("/login", json={"email": "agent@example.com", "password": "wrong"})
    assert bad.status_code == 401
    ok = await live.client.post("/login", json={"email": "agent@example.com", "password": "correct horse battery"})
    assert ok.status_code == 200 and ok.json()["user"]["email"] == "agent@example.com"
    me = await live.client.get("/api/me")  # the client keeps the session cookie
    assert me.status_code == 200 and me.json()["role"] == "agent"
    forged = await live.client.post("/logout")  # a cookie alone cannot change state
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    assert (await live.client.get("/api/me")).status_code == 200
    await live.client.post("/logout", headers={"X-CSRF-Token": me.json()["csrf_token"]})
    assert (await live.client.get("/api/me")).status_code == 401


async def test_assignment_rules_and_visibility(live: Live) -> None:
    await live.sms("+15557654321", "help")
    conv = (await live.get("/api/conversations"))["items"][0]
    agent, agent2 = live.users["agent"]["id"], live.users["agent2"]["id"]
    path = f"/api/conversations/{conv['id']}/assignment"

    watcher = await live.events("agent2")
    taken = await live.client.post(path, json={"user_id": agent}, headers=live.as_("agent"))
    assert taken.status_code == 200 and taken.json()["assignee_id"] == agent
    # agent2 saw it leave the shared queue, and can no longer see or take it.
    ev = await watcher.next(lambda e: e["type"] == "conversation.assigned")
    assert ev["data"]["conversation"]["assignee_id"] == agent
    assert (await live.client.get(f"/api/conversations/{conv['id']}", headers=live.as_("agent2"))).status_code == 404
    assert (await live.get("/api/conversations", who="agent2"))["items"] == []
    steal = await live.client.post(path, json={"user_id": agent2}, headers=live.as_("agent2"))
    assert steal.status_code == 404

    # A lead sees everything and reassigns; both agents get the event.
    assert [c["id"] for c in (await live.get("/api/conversations", who="lead"))["items"]] == [conv["id"]]
    owner = await live.events("agent")
    moved = await live.client.post(path, json={"user_id": agent2}, headers=live.as_("lead"))
    assert moved.status_code == 200
    for stream in (owner, watcher):
        ev = await stream.next(lambda e: e["type"] == "conversation.assigned")
        assert ev["data"]["previous_assignee_id"] == agent and ev["data"]["conversation"]["assignee_id"] == agent2
    mine = await live.get("/api/conversations", who="agent2", params={"assignee": "me"})
    assert mine["items"][0]["id"] == conv["id"]
    # The former owner may no longer reassign it.
    assert (await live.client.post(path, json={"user_id": agent}, headers=live.as_("agent"))).status_code == 404
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline", who="lead"))["items"]
    assert [(e["kind"], e["actor_id"]) for e in timeline if e["type"] == "event"] == [
        ("created", None), ("assigned", agent), ("reassigned", live.users["lead"]["id"])]
    await watcher.close()
    await owner.close()


async def test_team_assignment_and_note_mentions(live: Live) -> None:
    team = await live.client.post("/api/teams", headers=live.as_("admin"),
                                  json={"name": "Billing", "member_ids": [live.users["agent2"]["id"]]})
    assert team.status_code == 201
    await live.sms("+15557654321", "invoice question")
    conv = (await live.get("/api/conversations"))["items"][0]
    r = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                               json={"team_id": team.json()["id"]})
    assert r.json()["team_id"] == team.json()["id"] and r.json()["assignee_id"] is None
    assert (await live.get("/api/conversations", who="agent"))["items"] == []  # not in agent's teams
    assert len((await live.get("/api/conversations", who="agent2"))["items"]) == 1

    mentioned = await live.events("agent2")
    note = await live.client.post(f"/api/conversations/{conv['id']}/notes", headers=live.as_("lead"),
                                  json={"text": "@agent2 can you check the refund?"})
    assert note.status_code == 201 and note.json()["mentions"] == [live.users["agent2"]["id"]]
    ev = await mentioned.next(lambda e: e["type"] == "note.created")
    assert ev["data"]["note"]["text"] == "@agent2 can you check the refund?"
    await mentioned.close()


async def test_admin_manages_users_teams_inboxes_and_tokens(live: Live) -> None:
    admin = live.as_("admin")
    user = await live.client.post("/api/users", headers=admin, json={
        "email": "New.Agent@Example.com", "name": "New Agent", "role": "agent", "password": "long enough pw"})
    assert user.status_code == 201 and user.json()["email"] == "new.agent@example.com"
    dup = await live.client.post("/api/users", headers=admin, json={
        "email": "new.agent@example.com", "name": "x", "role": "agent", "password": "long enough pw"})
    assert dup.status_code == 409
    token = await live.client.post("/api/tokens", headers=admin, json={"user_id": user.json()["id"]})
    assert token.status_code == 201
    me = await live.client.get("/api/me", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert me.json()["email"] == "new.agent@example.com"
    off = await live.client.patch(f"/api/users/{user.json()['id']}", headers=admin, json={"active": False})
    assert off.json()["active"] is False
    me = await live.client.get("/api/me", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert me.status_code == 401

    inboxes = (await live.get("/api/inboxes", who="admin"))["items"]
    assert inboxes[0]["settings"]["auth_token"] == "********"  # secrets never leave
    assert inboxes[0]["webhook_urls"]["messaging"] == live.url + "/webhooks/twilio"
    dup_inbox = await live.client.post("/api/inboxes", headers=admin, json={
        "kind": "sms", "name": "again", "settings": {"phone_number": "+15550001111", "account_sid": "AC1",
                                                     "auth_token": "t"}})
    assert dup_inbox.status_code == 409
    incomplete = await live.client.post("/api/inboxes", headers=admin, json={"kind": "sms", "name": "x",
                                                                             "settings": {"phone_number": "+1555"}})
    assert incomplete.status_code == 422 and "account_sid" in incomplete.json()["error"]["message"]


async def test_openapi_lists_the_api(live: Live) -> None:
    spec = (await live.client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/conversations/{id}/messages"]
    assert (await live.client.get("/healthz")).json() == {"status": "ok"}


async def test_websocket_accepts_the_session_cookie(live: Live) -> None:
    ok = await live.client.post("/login", json={"email": "agent@example.com", "password": "correct horse battery"})
    assert ok.status_code == 200
    cookie = "; ".join(f"{k}={v}" for k, v in live.client.cookies.items())
    ws = await websockets.connect(live.url.replace("http://", "ws://") + "/ws",
                                  additional_headers={"Cookie": cookie})
    stream = EventStream(ws)
    assert (await stream.next())["type"] == "ready"
    await live.sms("+15557654321", "seen through the cookie session")
    ev = await stream.next(lambda e: e["type"] == "message.created")
    assert ev["data"]["message"]["text"] == "seen through the cookie session"
    await stream.close()
