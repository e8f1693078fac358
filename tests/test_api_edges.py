"""The REST API at its edges: inputs it must refuse cleanly (never a 500), partial
updates that change only what is given, and rules that keep data where it belongs."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from inbox.domain.errors import Invalid
from inbox.domain.tables import INBOXES
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Live
from tests.helpers.forms import page_token
from ui.pages.agent import _snooze_until


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


async def _conversation(live: Live, handle: str = "+15557654321", body: str = "hi") -> dict[str, Any]:
    assert (await live.sms(handle, body)).status_code == 200
    convs = (await live.get("/api/conversations", who="lead"))["items"]
    return next(c for c in convs if c["last_message_preview"] == body)


# -- inboxes ------------------------------------------------------------------------------

async def test_inbox_of_a_kind_without_adapter_is_422(live: Live) -> None:
    for kind in ("fax", "carrier-pigeon"):
        r = await live.client.post("/api/inboxes", headers=live.as_("admin"),
                                   json={"kind": kind, "name": "x", "settings": {"phone_number": "+15550009999"}})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_kind", r.text
    # An inbox of that kind may exist (made before its adapter was removed); its settings cannot be checked.
    wa_id = await live.app.state.ctx.db.write(lambda tx: tx.conn.execute(INBOXES.insert().values(
        kind="fax", name="Fax", address="1234567890", settings={}, created_at=datetime.now(timezone.utc))
    ).inserted_primary_key[0])
    r = await live.client.patch(f"/api/inboxes/{wa_id}", headers=live.as_("admin"), json={"settings": {"x": "y"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_kind", r.text


async def test_moving_an_inbox_to_a_number_another_inbox_has_is_409(live: Live) -> None:
    admin = live.as_("admin")
    sales = await live.client.post("/api/inboxes", headers=admin, json={"kind": "sms", "name": "Sales", "settings": {
        "phone_number": "+15550002222", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}})
    assert sales.status_code == 201
    path = f"/api/inboxes/{sales.json()['id']}"
    taken = await live.client.patch(path, headers=admin, json={"settings": {"phone_number": "+1 555 000 1111"}})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "inbox_exists", taken.text
    same = await live.client.patch(path, headers=admin, json={"settings": {"phone_number": "(555) 000-2222"}})
    assert same.status_code == 200 and same.json()["address"] == "+15550002222"


async def test_a_setting_patched_to_null_is_removed(live: Live) -> None:
    path, admin = f"/api/inboxes/{live.inbox['id']}", live.as_("admin")
    r = await live.client.patch(path, headers=admin, json={"settings": {"messaging_service_sid": "MG" + "2" * 32}})
    assert r.json()["settings"]["messaging_service_sid"] == "MG" + "2" * 32
    r = await live.client.patch(path, headers=admin, json={"settings": {"messaging_service_sid": None}})
    assert r.status_code == 200 and "messaging_service_sid" not in r.json()["settings"], r.text
    assert "messaging_service_sid" not in (await live.get(path, who="admin"))["settings"]
    # Replies go out from the number again, not through the service.
    conv = await _conversation(live)
    await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "hello"},
                           headers=live.as_("agent"))
    sent = (await live.fake.wait_for_sent(1))[0]
    assert sent["messaging_service_sid"] is None and sent["from"] == OUR_NUMBER


# -- pagination ---------------------------------------------------------------------------

async def test_a_cursor_of_another_route_or_a_forged_one_is_400(live: Live) -> None:
    conv = await _conversation(live, body="one")
    await _conversation(live, "+15551112222", body="two")
    await live.client.post(f"/api/conversations/{conv['id']}/notes", json={"text": "a note"},
                           headers=live.as_("agent"))
    list_cursor = (await live.get("/api/conversations", params={"limit": 1}))["next_cursor"]
    timeline = f"/api/conversations/{conv['id']}/timeline"
    timeline_cursor = (await live.get(timeline, params={"limit": 1}))["next_cursor"]
    assert list_cursor and timeline_cursor
    now = "2026-11-23T19:08:34.013000+00:00"
    forged = [_cursor("yesterday", 1), _cursor(now, "1"), _cursor(now, True), _cursor(now, 1.5),
              _cursor("2026-11-23T19:08:34", 1), _cursor(now, 10**30), _cursor(None, 1),
              base64.urlsafe_b64encode(b'{"at": 1}').decode(), "not base64!"]
    for cursor in [timeline_cursor, *forged]:
        r = await live.client.get("/api/conversations", params={"cursor": cursor}, headers=live.as_("agent"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor", (cursor, r.text)
    for cursor in [list_cursor, _cursor("yesterday", 1, 1), _cursor(now, 1, "x"), _cursor(now, 1, 1, 1)]:
        r = await live.client.get(timeline, params={"before": cursor}, headers=live.as_("agent"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor", (cursor, r.text)
    # The real ones still page.
    assert len((await live.get("/api/conversations", params={"cursor": list_cursor}))["items"]) == 1
    assert (await live.get(timeline, params={"before": timeline_cursor}))["items"]


# -- login --------------------------------------------------------------------------------

async def test_login_redirects_only_to_a_path_on_this_site(live: Live) -> None:
    form = {"email": "agent@example.com", "password": "correct horse battery",
            "csrf_token": await page_token(live.client)}
    for next_url, expected in [("/conversations/1?tab=notes", "/conversations/1?tab=notes"),
                               ("//evil.example", "/"), ("//evil.example/path", "/"), ("/\\evil.example", "/"),
                               ("https://evil.example", "/"), ("evil.example", "/")]:
        r = await live.client.post("/login", data={**form, "next": next_url})
        assert r.status_code == 303 and r.headers["location"] == expected, (next_url, r.headers.get("location"))
        form["csrf_token"] = await page_token(live.client)  # a login starts a new session


# -- replies and notes --------------------------------------------------------------------

async def test_retrying_a_reply_to_a_customer_who_has_opted_out_since_is_409(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    msg = (await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "hello"},
                                  headers=live.as_("agent"))).json()
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    await live.sms("+15557654321", "STOP")
    r = await live.client.post(f"/api/messages/{msg['id']}/retry", headers=live.as_("agent"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out", r.text
    assert live.fake.attempts == 1 and live.fake.sent == []
    await stream.close()


async def test_mentioning_someone_who_cannot_see_the_conversation_tells_them_nothing(live: Live) -> None:
    agent, agent2 = live.users["agent"]["id"], live.users["agent2"]["id"]
    team = (await live.client.post("/api/teams", headers=live.as_("admin"),
                                   json={"name": "Billing", "member_ids": [agent2]})).json()
    conv = await _conversation(live, body="invoice question")
    await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                           json={"team_id": team["id"]})
    outsider = await live.events("agent")
    note = await live.client.post(f"/api/conversations/{conv['id']}/notes", headers=live.as_("lead"),
                                  json={"text": "@agent @agent2 the refund is secret", "mentions": [agent]})
    assert note.status_code == 201 and note.json()["mentions"] == [agent2], note.text
    # Events arrive in order: the next one this agent may see shows the note was not among them.
    await live.sms("+15551112222", "a new customer")
    ev = await outsider.next(lambda e: e["type"] in ("note.created", "message.created"))
    assert ev["type"] == "message.created" and ev["data"]["message"]["text"] == "a new customer"
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline", who="lead")
    assert [i["mentions"] for i in timeline["items"] if i["type"] == "note"] == [[agent2]]
    await outsider.close()


async def test_assignment_changes_only_the_fields_given(live: Live) -> None:
    agent2 = live.users["agent2"]["id"]
    team = (await live.client.post("/api/teams", headers=live.as_("admin"),
                                   json={"name": "Billing", "member_ids": [agent2]})).json()
    conv = await _conversation(live)
    path = f"/api/conversations/{conv['id']}/assignment"

    async def assign(body: dict[str, Any]) -> tuple[int | None, int | None]:
        r = await live.client.post(path, json=body, headers=live.as_("lead"))
        assert r.status_code == 200, r.text
        return r.json()["assignee_id"], r.json()["team_id"]

    assert await assign({"team_id": team["id"]}) == (None, team["id"])
    assert await assign({"user_id": agent2}) == (agent2, team["id"])
    assert await assign({}) == (agent2, team["id"])
    assert await assign({"team_id": None}) == (agent2, None)
    assert await assign({"team_id": team["id"], "user_id": None}) == (None, team["id"])
    assert await assign({"user_id": None, "team_id": None}) == (None, None)
    bad = await live.client.post(path, json={"team_id": 999}, headers=live.as_("lead"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_team"


async def test_only_leads_and_admins_change_a_conversations_team(live: Live) -> None:
    """A team decides who sees a conversation: an agent in it who cleared or moved it would
    show it to every agent (or to another team), by the API or by the UI's assign form."""
    agent2 = live.users["agent2"]["id"]
    billing, sales = [(await live.client.post("/api/teams", headers=live.as_("admin"),
                                              json={"name": name, "member_ids": [agent2]})).json()["id"]
                      for name in ("Billing", "Sales")]
    conv = await _conversation(live, body="my card was charged twice")
    path = f"/api/conversations/{conv['id']}/assignment"
    assert (await live.client.post(path, json={"team_id": billing}, headers=live.as_("lead"))).status_code == 200

    for body in ({"team_id": None}, {"user_id": None, "team_id": None}, {"team_id": sales},
                 {"user_id": agent2, "team_id": None}):
        r = await live.client.post(path, json=body, headers=live.as_("agent2"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "team_change_forbidden", (body, r.text)
    for assignee in ("none", f"team:{sales}"):  # the UI's form, as htmx posts it
        r = await live.client.post(f"/ui/conversations/{conv['id']}/assign", data={"assignee": assignee},
                                   headers={**live.as_("agent2"), "HX-Request": "true"})
        assert r.status_code == 200
    after = await live.get(f"/api/conversations/{conv['id']}", who="lead")
    assert (after["assignee_id"], after["team_id"]) == (None, billing)
    assert (await live.get("/api/conversations", who="agent"))["items"] == []  # still hidden from others
    assert "team Sales" not in (await live.client.get(f"/ui/conversations/{conv['id']}",
                                                      headers=live.as_("agent2"))).text

    # Taking it, and handing it back, leave the team as it is; a lead moves it.
    taken = await live.client.post(path, json={"user_id": agent2, "team_id": billing}, headers=live.as_("agent2"))
    assert taken.status_code == 200 and (taken.json()["assignee_id"], taken.json()["team_id"]) == (agent2, billing)
    r = await live.client.post(f"/ui/conversations/{conv['id']}/assign", data={"assignee": "none"},
                               headers=live.as_("agent2"))
    assert r.status_code == 303
    after = await live.get(f"/api/conversations/{conv['id']}", who="lead")
    assert (after["assignee_id"], after["team_id"]) == (None, billing)
    moved = await live.client.post(path, json={"team_id": None}, headers=live.as_("lead"))
    assert moved.status_code == 200 and moved.json()["team_id"] is None
    unteamed = await live.client.post(path, json={"team_id": sales}, headers=live.as_("agent"))
    assert unteamed.status_code == 403  # nor may an agent put one into a team


# -- teams, tokens, contacts --------------------------------------------------------------

async def test_patching_a_team_changes_only_what_is_given(live: Live) -> None:
    admin, agent, agent2 = live.as_("admin"), live.users["agent"]["id"], live.users["agent2"]["id"]
    team = (await live.client.post("/api/teams", headers=admin, json={"name": "Billing", "member_ids": [agent]})).json()
    await live.client.post("/api/teams", headers=admin, json={"name": "Sales"})
    path = f"/api/teams/{team['id']}"
    renamed = await live.client.patch(path, headers=admin, json={"name": " Accounts "})
    assert renamed.json() == {"id": team["id"], "name": "Accounts", "member_ids": [agent], "routing": {},
                              "calendar_id": None}, renamed.text
    members = await live.client.patch(path, headers=admin, json={"member_ids": [agent2]})
    assert members.json() == {"id": team["id"], "name": "Accounts", "member_ids": [agent2], "routing": {},
                              "calendar_id": None}
    assert (await live.client.patch(path, headers=admin, json={"name": "Accounts"})).status_code == 200
    taken = await live.client.patch(path, headers=admin, json={"name": "Sales"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "team_exists"
    assert (await live.client.patch("/api/teams/999", headers=admin, json={"name": "x"})).status_code == 404
    assert (await live.get("/api/teams"))["items"][0] == {"id": team["id"], "name": "Accounts", "member_ids": [agent2],
                                                      "routing": {}, "calendar_id": None}


async def test_tokens_are_listed_and_revoked_by_their_owner_or_an_admin(live: Live) -> None:
    agent_id = live.users["agent"]["id"]
    created = await live.client.post("/api/tokens", headers=live.as_("agent"), json={"name": "zapier"})
    zapier = {"Authorization": f"Bearer {created.json()['token']}"}
    mine = (await live.get("/api/tokens"))["items"]
    assert [t["name"] for t in mine] == ["test", "zapier"]
    assert set(mine[0]) == {"id", "name", "created_at"}  # never the token or its hash
    assert (await live.get("/api/tokens", who="admin", params={"user_id": agent_id}))["items"] == mine
    other = await live.client.get("/api/tokens", params={"user_id": live.users["admin"]["id"]},
                                  headers=live.as_("agent"))
    assert other.status_code == 403

    assert (await live.client.delete(f"/api/tokens/{mine[1]['id']}", headers=live.as_("agent2"))).status_code == 404
    assert (await live.client.delete(f"/api/tokens/{mine[1]['id']}", headers=live.as_("agent"))).status_code == 204
    assert (await live.client.get("/api/me", headers=zapier)).status_code == 401
    assert (await live.client.delete(f"/api/tokens/{mine[0]['id']}", headers=live.as_("admin"))).status_code == 204
    assert (await live.client.get("/api/me", headers=live.as_("agent"))).status_code == 401
    assert (await live.client.delete(f"/api/tokens/{mine[0]['id']}", headers=live.as_("admin"))).status_code == 404

    unknown = await live.client.post("/api/tokens", headers=live.as_("admin"), json={"user_id": 999})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_user"


async def test_a_contact_edited_by_hand_is_found_by_later_messages(live: Live) -> None:
    conv = await _conversation(live)
    path = f"/api/contacts/{conv['contact']['id']}"
    r = await live.client.patch(path, headers=live.as_("agent"),
                                json={"phone": "(555) 222-3333", "email": "  Dana.Scully@Example.COM "})
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["email"]) == ("+15552223333", "dana.scully@example.com")
    await live.sms("+15552223333", "from my other phone")
    contact = await live.get(path)
    assert sorted(i["handle"] for i in contact["identities"]) == ["+15552223333", "+15557654321"]
    assert [c["id"] for c in contact["conversations"]] == [conv["id"]]

    bad = await live.client.patch(path, headers=live.as_("agent"), json={"phone": "call me maybe"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_phone"
    cleared = await live.client.patch(path, headers=live.as_("agent"), json={"phone": "", "email": None})
    assert (cleared.json()["phone"], cleared.json()["email"]) == (None, None)


# -- the API description ------------------------------------------------------------------

async def test_openapi_gives_each_operation_its_real_success_status(live: Live) -> None:
    paths = (await live.client.get("/api/openapi.json")).json()["paths"]

    def success(path: str, method: str) -> list[str]:
        return [code for code in paths[path][method]["responses"] if code != "default"]

    assert success("/api/inboxes", "post") == ["201"] and success("/api/inboxes", "get") == ["200"]
    assert success("/api/conversations/{id}/notes", "post") == ["201"]
    assert success("/api/conversations/{id}/messages", "post") == ["202", "200"]  # 200: a replayed Idempotency-Key
    assert success("/api/uploads", "post") == ["201"]
    assert success("/api/messages/{id}/retry", "post") == ["202"]
    assert success("/api/tokens/{id}", "delete") == ["204"]
    assert "content" not in paths["/api/tokens/{id}"]["delete"]["responses"]["204"]
    assert success("/healthz", "get") == ["200"] and success("/logout", "post") == ["204"]
    assert success("/login", "post") == ["200"] and paths["/login"]["post"]["security"] == []
    assert "get" not in paths["/login"]  # the UI's login page, not the API
    assert "security" not in paths["/api/me"]["get"]  # the document's default: a token or the session


def test_a_snooze_time_from_the_ui_is_read_in_the_agents_zone_and_refused_when_impossible() -> None:
    now = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
    soon = datetime(2030, 5, 3, 8, 30)  # the agent's field: no zone
    assert _snooze_until(now, "1h", soon.isoformat(), "") == soon.replace(tzinfo=timezone.utc)  # no JS: UTC
    assert _snooze_until(now, "1h", soon.isoformat(), "300") == soon.replace(tzinfo=timezone.utc) + timedelta(hours=5)
    nine_at_utc_minus_5 = datetime(2030, 5, 2, 14, 0, tzinfo=timezone.utc)
    assert _snooze_until(now, "tomorrow", "", "300") == nine_at_utc_minus_5
    for bad in ("yesterday", "2030-05-01T11:59", (soon + timedelta(days=400)).isoformat()):
        with pytest.raises(Invalid):
            _snooze_until(now, "1h", bad, "")
