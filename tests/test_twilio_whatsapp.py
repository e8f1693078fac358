"""WhatsApp through Twilio, end to end against the fake Twilio: inbound ``whatsapp:``
messages are filed as WhatsApp (the same identity as on Meta's Cloud API), replies go with
``whatsapp:`` From and To, the 24-hour window and templates (ContentSid) apply, and status
callbacks move the message on."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from inbox.domain.clock import MovableClock
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Live
from tests.helpers.twilio import inbound_params, signed
from tests.helpers.whatsapp import fixture
from tests.helpers.whatsapp import signed as meta_signed

SENDER = "+14155238886"  # our WhatsApp sender on Twilio
CUSTOMER = "+15557654321"  # the Cloud API fixtures' wa_id, as E.164
TEMPLATE = {"name": "order_update", "language": "en", "content_sid": "HX" + "a" * 32, "parameters": ["name", "order"]}


async def create_inbox(live: Live, **settings: Any) -> httpx.Response:
    return await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "whatsapp", "name": "WhatsApp (Twilio)", "settings": {
            "provider": "twilio", "phone_number": SENDER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
            **settings}})


@pytest.fixture
async def inbox(live: Live) -> dict[str, Any]:
    r = await create_inbox(live, templates=[TEMPLATE])
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def whatsapp(live: Live, body: str, customer: str = CUSTOMER, **extra: str) -> httpx.Response:
    params = inbound_params(f"whatsapp:{SENDER}", f"whatsapp:{customer}", body, AccountSid=ACCOUNT_SID,
                            WaId=customer.lstrip("+"), ProfileName="Jane Doe", **extra)
    return await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))


async def reply(live: Live, conversation_id: int, **json_body: Any) -> httpx.Response:
    return await live.client.post(f"/api/conversations/{conversation_id}/messages", headers=live.as_("agent"),
                                  json=json_body)


def channel(detail: dict[str, Any], inbox_id: int) -> dict[str, Any]:
    return next(c for c in detail["reply_channels"] if c["inbox_id"] == inbox_id)


async def test_the_inbox_is_a_whatsapp_inbox_with_twilio_settings(live: Live, inbox: dict[str, Any]) -> None:
    assert inbox["kind"] == "whatsapp" and inbox["address"] == SENDER
    assert inbox["settings"]["provider"] == "twilio" and inbox["settings"]["auth_token"] == "********"
    assert inbox["webhook_urls"]["messaging"] == live.url + "/webhooks/twilio"
    missing = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "whatsapp", "name": "x", "settings": {"provider": "twilio", "phone_number": "+14155238887"}})
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == "a whatsapp inbox needs account_sid, auth_token"
    assert (await create_inbox(live, phone_number="+14155238887", templates=[{"name": "x"}])
            ).json()["error"]["code"] == "invalid_templates"
    assert (await create_inbox(live, provider="vonage")).json()["error"]["code"] == "unknown_provider"
    assert (await create_inbox(live, phone_number="+14155238887", app_secret="x")
            ).json()["error"]["code"] == "unknown_settings"


async def test_inbound_is_whatsapp_and_the_reply_goes_from_the_whatsapp_sender(live: Live,
                                                                              inbox: dict[str, Any]) -> None:
    stream = await live.events()
    r = await whatsapp(live, "Hi, where is my order?")
    assert r.status_code == 200 and "<Response>" in r.text
    created = (await stream.next(lambda e: e["type"] == "message.created"))["data"]
    assert created["message"]["sender"] == {"contact_id": created["conversation"]["contact"]["id"],
                                            "name": "Jane Doe", "handle": CUSTOMER[1:], "channel": "whatsapp"}
    assert created["message"]["inbox_id"] == inbox["id"] and created["conversation"]["channel"] == "whatsapp"
    conv = created["conversation"]
    detail = await live.get(f"/api/conversations/{conv['id']}")
    assert channel(detail, inbox["id"])["available"] and channel(detail, inbox["id"])["window"]["open"]
    assert not channel(detail, live.inbox["id"])["available"]  # no SMS identity: it came on WhatsApp

    assert (await reply(live, conv["id"], text="It ships today")).status_code == 202
    [sent] = await live.fake.wait_for_sent(1)
    assert (sent["from"], sent["to"], sent["body"]) == (f"whatsapp:{SENDER}", f"whatsapp:{CUSTOMER}", "It ships today")
    assert sent["content_sid"] is None
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["provider_message_id"])
    # The account's SMS inbox shares the AccountSid: the callback's From says whose message it is.
    for status in ("sent", "delivered", "read"):
        r = await live.status_callback(sent["sid"], status, From=f"whatsapp:{SENDER}", To=f"whatsapp:{CUSTOMER}")
        assert r.status_code == 204
        moved = await stream.next(lambda e: e["type"] == "message.updated")
        assert moved["data"]["message"]["status"] == status
    await stream.close()


async def test_one_customer_on_the_cloud_api_twilio_and_sms_is_one_contact(live: Live, inbox: dict[str, Any]) -> None:
    cloud = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "whatsapp", "name": "WhatsApp (Cloud API)", "settings": {
            "phone_number_id": "106540352242922", "access_token": "EAAGtest", "app_secret": "s3cret",
            "verify_token": "v"}})
    assert cloud.status_code == 201, cloud.text
    assert (await live.client.post("/webhooks/whatsapp", **meta_signed(fixture("text"), "s3cret"))).status_code == 200
    assert (await whatsapp(live, "me again, through Twilio")).status_code == 200
    assert (await live.sms(CUSTOMER, "and by text")).status_code == 200
    [conv] = (await live.get("/api/conversations"))["items"]
    contact = await live.get(f"/api/contacts/{conv['contact']['id']}")
    assert sorted((i["kind"], i["handle"]) for i in contact["identities"]) == [("sms", CUSTOMER),
                                                                               ("whatsapp", CUSTOMER[1:])]
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline")
    assert [i["inbox_id"] for i in timeline["items"] if i["type"] == "message"] == [
        cloud.json()["id"], inbox["id"], live.inbox["id"]]


async def test_outside_the_window_only_a_template_goes_as_a_content_sid(live: Live, inbox: dict[str, Any],
                                                                        clock: MovableClock) -> None:
    await whatsapp(live, "hello")
    [conv] = (await live.get("/api/conversations"))["items"]
    clock.advance(timedelta(hours=25))  # the customer wrote 25 hours ago
    offered = channel(await live.get(f"/api/conversations/{conv['id']}"), inbox["id"])
    assert offered["template_required"] and not offered["window"]["open"]
    assert "only an approved template can be sent" in offered["reason"]
    refused = await reply(live, conv["id"], text="Are you still there?")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "window_closed"
    templates = (await live.get(f"/api/inboxes/{inbox['id']}/templates"))["items"]
    assert templates == [{**TEMPLATE, "source": "configured"}]

    accepted = await reply(live, conv["id"], template={"name": "order_update", "language": "en",
                                                       "parameters": ["Sheena", "#1234"]})
    assert accepted.status_code == 202, accepted.text
    [sent] = await live.fake.wait_for_sent(1)
    assert (sent["from"], sent["to"]) == (f"whatsapp:{SENDER}", f"whatsapp:{CUSTOMER}")
    assert sent["content_sid"] == TEMPLATE["content_sid"] and not sent["body"]
    assert json.loads(sent["content_variables"]) == {"1": "Sheena", "2": "#1234"}


async def test_a_free_form_send_twilio_refuses_with_63016_fails_with_the_window_reason(
        live: Live, inbox: dict[str, Any]) -> None:
    await whatsapp(live, "hello")
    [conv] = (await live.get("/api/conversations"))["items"]
    stream = await live.events()
    live.fake.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    assert (await reply(live, conv["id"], text="late answer")).status_code == 202
    failed = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    assert failed["data"]["message"]["error"] == {"code": "63016", "message": (
        "The 24-hour WhatsApp customer service window has closed; send an approved template")}
    assert live.fake.attempts == 1  # permanent: not retried
    await stream.close()


async def test_one_number_can_be_an_sms_inbox_and_a_whatsapp_sender(live: Live, inbox: dict[str, Any]) -> None:
    """To's whatsapp: prefix decides which of the two inboxes a message is for."""
    same = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "whatsapp", "name": "Same number", "settings": {
            "provider": "twilio", "phone_number": OUR_NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}})
    assert same.status_code == 201, same.text
    assert (await live.sms(CUSTOMER, "a text")).status_code == 200
    params = inbound_params(f"whatsapp:{OUR_NUMBER}", f"whatsapp:{CUSTOMER}", "a WhatsApp", AccountSid=ACCOUNT_SID)
    r = await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 200
    [conv] = (await live.get("/api/conversations"))["items"]
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline")
    assert [(i["text"], i["inbox_id"]) for i in timeline["items"] if i["type"] == "message"] == [
        ("a text", live.inbox["id"]), ("a WhatsApp", same.json()["id"])]
