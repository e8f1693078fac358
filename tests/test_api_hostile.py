"""The REST API against a client that lies: attachments naming files it was never given,
ids past the 64-bit range, bodies nested to exhaust the parser, empty changes. Every
answer is a 4xx with a reason, and nothing is stored or sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Live

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 48
SECRET_PNG = b"\x89PNG\r\n\x1a\n" + b"secret invoice scan" + b"\x00" * 16


def _stored(e: dict[str, Any]) -> bool:
    return e["type"] == "message.updated" and all("path" in a for a in e["data"]["message"]["attachments"])


async def _hidden_file(live: Live) -> str:
    """The stored copy of a customer's photo in a conversation of a team the agent is not in."""
    team = await live.client.post("/api/teams", headers=live.as_("admin"),
                                  json={"name": "Billing", "member_ids": [live.users["agent2"]["id"]]})
    stream = await live.events("lead")
    photo = live.fake.media_url("ME9", SECRET_PNG, "image/png")
    await live.sms("+15551110000", "my invoice", NumMedia="1", MediaUrl0=photo, MediaContentType0="image/png")
    message = (await stream.next(_stored))["data"]["message"]
    await stream.close()
    r = await live.client.post(f"/api/conversations/{message['conversation_id']}/assignment",
                               headers=live.as_("lead"), json={"team_id": team.json()["id"]})
    assert r.status_code == 200
    assert (await live.get("/api/conversations", who="agent"))["items"] == []
    return message["attachments"][0]["path"]  # type: ignore[no-any-return]


async def _upload(live: Live, who: str, content: bytes = PNG) -> dict[str, Any]:
    r = await live.client.post("/api/uploads", headers=live.as_(who),
                               files={"file": ("label.png", content, "image/png")})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_reply_attaches_only_files_uploaded_by_its_author(live: Live) -> None:
    secret = await _hidden_file(live)
    await live.sms("+15557654321", "where is my label?")
    [conv] = (await live.get("/api/conversations", who="agent"))["items"]
    path = f"/api/conversations/{conv['id']}/messages"

    async def reply(*attachments: dict[str, Any]) -> Any:
        return await live.client.post(path, headers=live.as_("agent"),
                                      json={"text": "here", "attachments": list(attachments)})

    forged = [{"url": "https://cdn.example.com/x.png", "path": secret, "content_type": "image/png"},
              {"url": f"{live.url}/media/{secret}", "content_type": "image/png"},
              {"url": f"{live.url}/media/public/{secret}?expires=9999999999&sig=00", "content_type": "image/png"}]
    for attachment in forged:
        r = await reply(attachment)
        assert r.status_code == 403 and r.json()["error"]["code"] == "attachment_not_issued", r.text

    theirs = await _upload(live, "agent2")
    for attachment in ({"handle": theirs["handle"]}, {"handle": theirs["handle"][:-2] + "xx"}):
        r = await reply(attachment)
        assert r.status_code == 403 and r.json()["error"]["code"] == "attachment_not_issued", r.text
    mine = await _upload(live, "agent")
    r = await reply({**mine, "path": secret})  # a real handle does not vouch for another path
    assert r.status_code == 403 and r.json()["error"]["code"] == "attachment_not_issued"

    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert [m["direction"] for m in timeline if m["type"] == "message"] == ["in"]  # nothing was queued
    assert live.fake.sent == []
    inbound = next(m for m in timeline if m["type"] == "message")
    leak = await live.client.get(f"/media/{secret}?m={inbound['id']}", headers=live.as_("agent"))
    assert leak.status_code == 403

    # The agent's own upload goes out, by the very link the upload answered with.
    r = await reply({"handle": mine["handle"]})
    assert r.status_code == 202, r.text
    [attached] = r.json()["attachments"]
    assert attached["path"] == mine["path"] and attached["url"] == mine["url"] and "handle" not in attached
    sent = (await live.fake.wait_for_sent(1))[0]
    assert sent["media_url"] == [mine["url"]]
    fetched = await live.client.get(sent["media_url"][0])  # as Twilio does, without credentials
    assert fetched.status_code == 200 and fetched.content == PNG
    shown = await live.client.get(f"/media/{mine['path']}?m={r.json()['id']}", headers=live.as_("agent"))
    assert shown.status_code == 200 and shown.content == PNG


# -- 4xx, never 500 ---------------------------------------------------------------------------

HUGE = 2**63  # one past the largest id the database stores
HUGER = 10**30


async def test_ids_past_64_bits_are_404_or_422(live: Live) -> None:
    await live.sms("+15557654321", "hi")
    [conv] = (await live.get("/api/conversations"))["items"]
    admin = live.as_("admin")
    for big in (HUGE, HUGER):
        for path in (f"/api/conversations/{big}", f"/api/conversations/{big}/timeline", f"/api/contacts/{big}",
                     f"/api/messages/{big}/raw", f"/api/inboxes/{big}", f"/api/inboxes/{big}/templates"):
            r = await live.client.get(path, headers=admin)
            assert r.status_code == 404, (path, r.text)
        for query in ({"team": big}, {"inbox": big}, {"assignee": big}, {"limit": big}):
            r = await live.client.get("/api/conversations", params=query, headers=admin)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field", (query, r.text)
        r = await live.client.get("/api/tokens", params={"user_id": big}, headers=admin)
        assert r.status_code == 422
        cid = conv["id"]
        for path, body in ((f"/api/conversations/{cid}/assignment", {"user_id": big}),
                           (f"/api/conversations/{cid}/assignment", {"team_id": big}),
                           (f"/api/conversations/{cid}/notes", {"text": "x", "mentions": [big]}),
                           (f"/api/conversations/{cid}/messages", {"text": "x", "inbox_id": big}),
                           (f"/api/contacts/{conv['contact']['id']}/merge", {"other_id": big}),
                           ("/api/teams", {"name": "T", "member_ids": [big]}),
                           ("/api/tokens", {"user_id": big})):
            r = await live.client.post(path, json=body, headers=admin)
            assert r.status_code == 422, (path, body, r.text)
    # A JSON number too big for a float is infinity to Python's parser: no integer either.
    r = await live.client.post(f"/api/contacts/{conv['contact']['id']}/merge", content=b'{"other_id": 1e400}',
                               headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422
    for far in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):  # past year 9999 / before year 1 in UTC
        r = await live.client.post(f"/api/conversations/{cid}/status", headers=admin,
                                   json={"status": "snoozed", "snoozed_until": far})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field", r.text
    after = await live.get(f"/api/conversations/{cid}", who="admin")
    assert (after["assignee_id"], after["team_id"], after["status"]) == (None, None, "open")


async def test_patching_a_user_with_nothing_is_the_user_unchanged(live: Live) -> None:
    agent = live.users["agent"]
    r = await live.client.patch(f"/api/users/{agent['id']}", json={}, headers=live.as_("admin"))
    assert r.status_code == 200 and r.json() == {**agent, "active": True}
    r = await live.client.patch(f"/api/users/{live.users['admin']['id']}", json={"active": False},
                                headers=live.as_("admin"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_demote_self"


async def test_ui_forms_with_ids_that_are_not_numbers_answer_with_a_reason(live: Live) -> None:
    await live.sms("+15557654321", "hi")
    [conv] = (await live.get("/api/conversations"))["items"]
    agent = {**live.as_("agent"), "HX-Request": "true"}
    act = f"/ui/conversations/{conv['id']}"
    for action, form in (("retry", {"message_id": "abc"}), ("retry", {"message_id": str(HUGER)}),
                         ("contact", {"contact_id": "x", "name": "Dana"}),
                         ("contact", {"contact_id": str(conv["contact"]["id"]), "merge_with": "²"}),
                         ("contact", {"contact_id": str(conv["contact"]["id"]), "merge_with": str(HUGE)}),
                         ("send", {"text": "hello", "inbox_id": "1e3"})):
        r = await live.client.post(f"{act}/{action}", data=form, headers=agent)
        assert r.status_code == 200 and 'class="error' in r.text, (action, form, r.status_code, r.text[:300])
    for path in (f"/ui/conversations/{HUGER}", f"/ui/conversations/{HUGE}"):
        assert (await live.client.get(path, headers=agent)).status_code == 404
    r = await live.client.post(f"/ui/conversations/{HUGER}/read", data={}, headers=agent)
    assert r.status_code == 422
    for query in (f"c={HUGER}", f"inbox={HUGER}", f"tab=team:{HUGER}", "throttled=²"):
        page = await live.client.get(f"/inbox?{query}", headers=live.as_("agent"))
        assert page.status_code == 200, query
    assert (await live.client.get("/login?throttled=²")).status_code == 200
    admin = live.as_("admin")
    for action, form in (("user-update", {"user_id": "me", "role": "agent"}),
                         ("team-update", {"team_id": str(HUGER)}), ("canned-delete", {"canned_id": "one"}),
                         ("inbox-update", {"inbox_id": str(HUGE), "kind": "sms"})):
        r = await live.client.post(f"/admin/{action}", data=form, headers=admin)
        assert r.status_code == 303 and "error=" in r.headers["location"], (action, r.headers.get("location"))
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert [m["direction"] for m in timeline if m["type"] == "message"] == ["in"]  # nothing was sent


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_json_nested_past_the_limit_is_400_on_the_api_and_the_webhooks(live: Live) -> None:
    from tests.helpers import messenger as fb
    from tests.helpers.whatsapp import signed as wa_signed
    from tests.test_fuzz_webhooks import FB, TG, WA, _counts, _inboxes

    await live.sms("+15557654321", "hi")
    ids = await _inboxes(live)
    before = await _counts(live)
    for raw in (b"[" * 100_000 + b"]" * 100_000, _nested(65), b'{"object": ' + _nested(500) + b"}"):
        requests = [
            ("/api/contacts/1", {"content": raw, "headers": {**live.as_("admin"), "Content-Type": "application/json"}}),
            ("/webhooks/whatsapp", wa_signed(raw, WA["app_secret"])),
            ("/webhooks/messenger", fb.signed(raw, FB["app_secret"])),
            (f"/webhooks/telegram/{ids['telegram']}", {"content": raw, "headers": {
                "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG["secret_token"]}}),
        ]
        for path, request in requests:
            method = live.client.patch if path.startswith("/api/") else live.client.post
            r = await method(path, **request)
            assert r.status_code == 400 and "nested deeper than 64" in r.text, (path, len(raw), r.text[:200])
            assert len(r.content) < 300
    assert await _counts(live) == before
    ok = await live.client.patch("/api/contacts/1", headers=live.as_("admin"),
                                 json={"attributes": json.loads(_nested(60))})  # deep, but within the limit
    assert ok.status_code == 200


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_api_strings_that_the_database_cannot_store_are_400(live: Live) -> None:
    """PostgreSQL stores no NUL in text or JSON; neither engine stores half a surrogate pair
    in text. Both came back as a 500 from the write."""
    await live.sms("+15557654321", "hi")
    for raw in (b'{"name": "Dana\\u0000"}', b'{"name": "\\ud800 half an emoji"}', b'{"attributes": {"k": NaN}}',
                b'{"attributes": {"\\u0000": 1}}'):
        r = await live.client.patch("/api/contacts/1", content=raw,
                                    headers={**live.as_("agent"), "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json", (raw, r.text)
    emoji = await live.client.patch("/api/contacts/1", content=b'{"name": "Dana \\ud83d\\ude00"}',
                                    headers={**live.as_("agent"), "Content-Type": "application/json"})
    assert emoji.status_code == 200 and emoji.json()["name"] == "Dana \U0001f600"
    r = await live.client.patch("/api/contacts/1", json={"name": None}, headers=live.as_("agent"))
    assert r.status_code == 422  # found by schemathesis: the column is NOT NULL
