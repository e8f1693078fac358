"""The REST API against a client that lies: attachments naming files it was never given,
ids past the 64-bit range, bodies nested to exhaust the parser, empty changes. Every
answer is a 4xx with a reason, and nothing is stored or sent."""

from __future__ import annotations

from typing import Any

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
