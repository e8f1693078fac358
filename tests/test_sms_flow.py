"""Twilio SMS end to end: inbound webhook -> stored -> live event; reply -> fake Twilio ->
status callbacks -> live updates."""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Live
from tests.helpers.twilio import inbound_params, signed


async def test_inbound_sms_creates_contact_conversation_and_pushes_event(live: Live) -> None:
    stream = await live.events("agent")
    other = await live.events("agent2")
    r = await live.sms("+1 (555) 765-4321", "Hello, my order is late")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml")
    assert "<Response>" in r.text

    created = await stream.next(lambda e: e["type"] == "conversation.created")
    message = await stream.next(lambda e: e["type"] == "message.created")
    await other.next(lambda e: e["type"] == "message.created")
    conv = created["data"]["conversation"]
    assert conv["status"] == "open" and conv["unread_count"] == 1 and conv["channel"] == "sms"
    assert conv["last_message_preview"] == "Hello, my order is late"
    assert message["data"]["message"]["text"] == "Hello, my order is late"
    assert message["data"]["message"]["sender"]["handle"] == "+15557654321"
    assert message["id"] > created["id"]

    # A second text lands in the same conversation.
    assert (await live.sms("+15557654321", "Any news?")).status_code == 200
    second = await stream.next(lambda e: e["type"] == "message.created")
    assert second["data"]["conversation"]["id"] == conv["id"]
    assert second["data"]["conversation"]["unread_count"] == 2

    page = await live.get("/api/conversations")
    assert [c["id"] for c in page["items"]] == [conv["id"]]
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline")
    texts = [i["text"] for i in timeline["items"] if i["type"] == "message"]
    assert texts == ["Hello, my order is late", "Any news?"]
    await stream.close()
    await other.close()


async def test_duplicate_webhook_is_stored_once(live: Live) -> None:
    params = inbound_params(OUR_NUMBER, "+15557654321", "only once", AccountSid=ACCOUNT_SID)
    request = signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN)
    first = await live.client.post("/webhooks/twilio", **request)
    again = await live.client.post("/webhooks/twilio", **request)
    assert first.status_code == again.status_code == 200
    convs = (await live.get("/api/conversations"))["items"]
    assert len(convs) == 1
    timeline = await live.get(f"/api/conversations/{convs[0]['id']}/timeline")
    assert [i["text"] for i in timeline["items"] if i["type"] == "message"] == ["only once"]
    assert convs[0]["unread_count"] == 1


async def test_reply_is_sent_through_twilio_and_follows_status_callbacks(live: Live) -> None:
    await live.sms("+15557654321", "Where is my parcel?")
    conv = (await live.get("/api/conversations"))["items"][0]
    stream = await live.events("agent")

    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "It left the warehouse today."})
    assert r.status_code == 202, r.text
    reply = r.json()
    assert reply["status"] == "queued" and reply["direction"] == "out"

    sent = (await live.fake.wait_for_sent(1))[0]
    assert sent["to"] == "+15557654321" and sent["from"] == OUR_NUMBER
    assert sent["body"] == "It left the warehouse today."
    assert sent["status_callback"] == live.url + "/webhooks/twilio/status"
    acked = await stream.next(lambda e: e["type"] == "message.updated"
                              and e["data"]["message"]["provider_message_id"] == sent["sid"])
    assert acked["data"]["message"]["status"] == "queued"

    for status in ("sent", "delivered"):
        assert (await live.status_callback(sent["sid"], status)).status_code == 204
        ev = await stream.next(lambda e: e["type"] == "message.updated")
        assert ev["data"]["message"]["status"] == status
    # A late "sent" never moves a delivered message back.
    await live.status_callback(sent["sid"], "sent")
    message = [i for i in (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
               if i["type"] == "message" and i["direction"] == "out"][0]
    assert message["status"] == "delivered"
    await stream.close()


async def test_failed_status_callback_shows_the_providers_reason(live: Live) -> None:
    await live.sms("+15557654321", "hi")
    conv = (await live.get("/api/conversations"))["items"][0]
    await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                           json={"text": "hello"})
    sent = (await live.fake.wait_for_sent(1))[0]
    stream = await live.events("agent")
    await live.status_callback(sent["sid"], "undelivered", ErrorCode="30003")
    ev = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    assert ev["data"]["message"]["error"]["code"] == "30003"
    assert "Unreachable" in ev["data"]["message"]["error"]["message"]
    await stream.close()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_mms_media_is_downloaded_stored_and_served_to_agents_only(live: Live) -> None:
    stream = await live.events()
    photo = live.fake.media_url("ME1", PNG, "image/png")
    page = live.fake.media_url("ME2", b"<script>alert(1)</script>", "text/html")
    r = await live.sms("+15557654321", "", NumMedia="2", MediaUrl0=photo, MediaContentType0="image/png",
                       MediaUrl1=page, MediaContentType1="text/html")
    assert r.status_code == 200
    created = await stream.next(lambda e: e["type"] == "message.created")
    assert created["data"]["conversation"]["last_message_preview"] == "[2 attachments]"
    assert [a["url"] for a in created["data"]["message"]["attachments"]] == [photo, page]

    def settled(e: dict) -> bool:
        return e["type"] == "message.updated" and all(
            "path" in a or "error" in a and "could not download" in a["error"]
            for a in e["data"]["message"]["attachments"])
    message = (await stream.next(settled))["data"]["message"]
    done = message["attachments"]
    assert done[0]["content_type"] == "image/png" and done[0]["size"] == len(PNG)
    assert "text/html are not kept" in done[1]["error"] and "path" not in done[1]

    served = await live.client.get(f"/media/{done[0]['path']}?m={message['id']}", headers=live.as_("agent"))
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert (await live.client.get(f"/media/{done[0]['path']}")).status_code == 401
    assert (await live.client.get("/media/../inbox.db", headers=live.as_("agent"))).status_code == 404
    await stream.close()


async def test_stop_opts_out_and_start_opts_back_in(live: Live) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    path = f"/api/conversations/{conv['id']}/messages"
    await live.sms("+15557654321", " stop ")
    refused = await live.client.post(path, json={"text": "please stay"}, headers=live.as_("agent"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "recipient_opted_out"
    sms = [c for c in (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"] if c["kind"] == "sms"][0]
    assert not sms["available"] and "opted out" in sms["reason"]
    # Twilio's Advanced Opt-Out names the keyword type itself.
    await live.sms("+15557654321", "Sure, go ahead", OptOutType="START")
    allowed = await live.client.post(path, json={"text": "welcome back"}, headers=live.as_("agent"))
    assert allowed.status_code == 202
    assert [m["body"] for m in await live.fake.wait_for_sent(1)] == ["welcome back"]
    # The keywords are kept in the timeline like any message.
    texts = [i["text"] for i in (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
             if i["type"] == "message" and i["direction"] == "in"]
    assert texts == ["hello", " stop ", "Sure, go ahead"]


async def test_a_status_callback_that_overtakes_the_send_response_is_kept(live: Live) -> None:
    await live.sms("+15557654321", "hi")
    conv = (await live.get("/api/conversations"))["items"][0]
    stream = await live.events()

    async def deliver_first(msg: dict) -> None:  # Twilio calls back before its 201 reaches us
        assert (await live.status_callback(msg["sid"], "delivered")).status_code == 204
    live.fake.before_reply = deliver_first
    await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "fast"},
                           headers=live.as_("agent"))
    ev = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "delivered")
    assert ev["data"]["message"]["provider_message_id"] == live.fake.sent[0]["sid"]
    await stream.close()


async def test_a_21610_refusal_records_the_opt_out_and_the_channel_is_no_longer_offered(live: Live) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    path = f"/api/conversations/{conv['id']}/messages"
    stream = await live.events()
    live.fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    assert (await live.client.post(path, json={"text": "hi"}, headers=live.as_("agent"))).status_code == 202
    # Clients showing the contact's channels are told, and the channel is no longer offered.
    changed = await stream.next(lambda e: e["type"] == "contact.updated")
    assert changed["data"]["contact"]["id"] == conv["contact"]["id"]
    sms = [c for c in (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"] if c["kind"] == "sms"][0]
    assert not sms["available"] and "opted out" in sms["reason"]
    refused = await live.client.post(path, json={"text": "again"}, headers=live.as_("agent"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "recipient_opted_out"
    assert live.fake.attempts == 1
    await stream.close()


async def test_a_21610_in_a_status_callback_records_the_opt_out(live: Live) -> None:
    """Through a Messaging Service, Twilio accepts the reply and reports 21610 in its callback."""
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"settings": {"messaging_service_sid": "MG" + "2" * 32}})
    assert r.status_code == 200, r.text
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    path = f"/api/conversations/{conv['id']}/messages"
    stream = await live.events()
    assert (await live.client.post(path, json={"text": "hi"}, headers=live.as_("agent"))).status_code == 202
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["messaging_service_sid"] == "MG" + "2" * 32
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["provider_message_id"])
    r = await live.status_callback(sent["sid"], "failed", ErrorCode="21610")
    assert r.status_code == 204
    failed = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    assert "unsubscribed" in failed["data"]["message"]["error"]["message"]
    await stream.next(lambda e: e["type"] == "contact.updated")
    sms = [c for c in (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"] if c["kind"] == "sms"][0]
    assert not sms["available"] and "opted out" in sms["reason"]
    refused = await live.client.post(path, json={"text": "again"}, headers=live.as_("agent"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "recipient_opted_out"
    await stream.close()


async def test_replying_to_an_unassigned_conversation_takes_it(live: Live) -> None:
    await live.sms("+15557654321", "anyone?")
    conv = (await live.get("/api/conversations"))["items"][0]
    assert conv["assignee_id"] is None
    stream = await live.events("agent2")
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "I'm here"})
    assert r.status_code == 202, r.text
    assigned = await stream.next(lambda e: e["type"] == "conversation.assigned")
    assert assigned["data"]["conversation"]["assignee_id"] == live.users["agent"]["id"]
    assert (await live.get(f"/api/conversations/{conv['id']}"))["assignee_id"] == live.users["agent"]["id"]
    events = (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert [e["kind"] for e in events if e["type"] == "event"] == ["created", "assigned"]
    await stream.close()

    # Taken: a colleague's reply (a lead may reply to anyone's) does not move it.
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("lead"),
                               json={"text": "Agent has you covered"})
    assert r.status_code == 202, r.text
    assert (await live.get(f"/api/conversations/{conv['id']}"))["assignee_id"] == live.users["agent"]["id"]


@pytest.mark.parametrize("live_overrides", [{"assign_on_reply": False}])
async def test_assign_on_reply_can_be_switched_off(live: Live) -> None:
    await live.sms("+15557654321", "anyone?")
    conv = (await live.get("/api/conversations"))["items"][0]
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "I'm here"})
    assert r.status_code == 202, r.text
    assert (await live.get(f"/api/conversations/{conv['id']}"))["assignee_id"] is None
