"""WhatsApp Cloud API end to end: Meta's handshake, signed webhooks (recorded payloads in
tests/fixtures/whatsapp/) -> stored -> live events; replies, media and templates through
pywa to a fake Graph API; status webhooks; the 24-hour window; one customer across SMS
and WhatsApp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.fakes.whatsapp import FakeGraph
from tests.helpers.browser import browser, login
from tests.helpers.csat import answer_and_resolve, ask_on_resolve, events
from tests.helpers.server import serve
from tests.helpers.whatsapp import fixture, message, signed, status_for, value
from tests.test_automation import by_rule, rule
from tests.test_auto_reply import add_calendar

PHONE_NUMBER_ID = "106540352242922"  # as in the fixtures
OTHER_PHONE_NUMBER_ID = "106540352242933"
WABA_ID = "102290129340398"
ACCESS_TOKEN = "EAAGtest0123456789"
OTHER_TOKEN = "EAAGother987654321"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "a-verify-token-we-chose"
CUSTOMER = "15557654321"  # the fixtures' wa_id
BSUID = "US.13491208655302741918"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WINDOW_REASON = "The 24-hour customer service window has closed; send an approved template"


__all__ = ["browser"]  # a fixture, used by the browser test below


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph({PHONE_NUMBER_ID: ACCESS_TOKEN, OTHER_PHONE_NUMBER_ID: OTHER_TOKEN})
    async with serve(fake.app) as url:
        fake.url = url
        yield fake
        fake.release.set()


@pytest.fixture
def live_overrides(graph: FakeGraph, tmp_path: Path) -> dict[str, Any]:
    return {"graph_api_base": graph.url, "media_dir": str(tmp_path / "media")}


@dataclass
class WhatsApp:
    live: Live
    graph: FakeGraph
    inbox: dict[str, Any]

    async def post(self, body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> httpx.Response:
        return await self.live.client.post("/webhooks/whatsapp", **signed(body, secret))

    async def conversation(self) -> dict[str, Any]:
        items = (await self.live.get("/api/conversations"))["items"]
        assert len(items) == 1, items
        return items[0]  # type: ignore[no-any-return]

    async def messages(self, conversation_id: int, direction: str | None = None) -> list[dict[str, Any]]:
        items = (await self.live.get(f"/api/conversations/{conversation_id}/timeline"))["items"]
        return [i for i in items if i["type"] == "message" and direction in (None, i["direction"])]

    async def reply(self, conversation_id: int, **json: Any) -> httpx.Response:
        return await self.live.client.post(f"/api/conversations/{conversation_id}/messages",
                                           headers=self.live.as_("agent"), json=json)


async def create_inbox(live: Live, name: str = "WhatsApp support", **settings: Any) -> httpx.Response:
    settings = {"phone_number_id": PHONE_NUMBER_ID, "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN, **settings}
    return await live.client.post("/api/inboxes", headers=live.as_("admin"),
                                  json={"kind": "whatsapp", "name": name, "settings": settings})


@pytest.fixture
async def wa(live: Live, graph: FakeGraph) -> WhatsApp:
    r = await create_inbox(live)
    assert r.status_code == 201, r.text
    return WhatsApp(live, graph, r.json())


def updated(wamid: str, status: str | None = None) -> Any:
    return lambda e: (e["type"] == "message.updated" and e["data"]["message"]["provider_message_id"] == wamid
                      and status in (None, e["data"]["message"]["status"]))


# -- setup and handshake ----------------------------------------------------------------

async def test_inbox_settings_secrets_and_the_handshake(live: Live, graph: FakeGraph) -> None:
    missing = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "whatsapp", "name": "x", "settings": {"phone_number_id": PHONE_NUMBER_ID}})
    assert missing.status_code == 422
    assert "access_token, app_secret, verify_token" in missing.json()["error"]["message"]
    not_an_id = await create_inbox(live, phone_number_id="+1 555 078 3881")
    assert not_an_id.json()["error"]["code"] == "invalid_phone_number_id"
    bad_templates = await create_inbox(live, templates=[{"language": "en_US"}])
    assert bad_templates.json()["error"]["code"] == "invalid_templates"

    r = await create_inbox(live, waba_id=WABA_ID)
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert inbox["address"] == PHONE_NUMBER_ID
    assert inbox["settings"]["access_token"] == inbox["settings"]["app_secret"] == "********"
    assert inbox["settings"]["verify_token"] == "********" and inbox["settings"]["waba_id"] == WABA_ID
    assert inbox["webhook_urls"] == {"callback_url": live.url + "/webhooks/whatsapp"}

    # Meta's handshake when the callback URL is saved: the challenge comes back only for our token.
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = await live.client.get("/webhooks/whatsapp", params=query)
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}, {"hub.verify_token": ""}):
        r = await live.client.get("/webhooks/whatsapp", params={**query, **wrong})
        assert r.status_code == 403, wrong
        assert "1158201444" not in r.text


# -- inbound ----------------------------------------------------------------------------

async def test_text_message_creates_a_conversation_named_after_the_profile(wa: WhatsApp) -> None:
    stream = await wa.live.events("agent")
    r = await wa.post(fixture("text"))
    assert r.status_code == 200, r.text

    created = await stream.next(lambda e: e["type"] == "conversation.created")
    event = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert created["data"]["conversation"]["channel"] == "whatsapp"
    assert event["text"] == "Hi, is my order on its way?"
    assert event["sender"] == {"contact_id": event["sender"]["contact_id"], "name": "Sheena Nelson",
                               "handle": CUSTOMER, "channel": "whatsapp"}
    assert event["payload"] == {"whatsapp_user": {"user_id": BSUID}}
    assert event["provider_message_id"] == message(fixture("text"))["id"]

    contact = await wa.live.get(f"/api/contacts/{event['sender']['contact_id']}")
    assert contact["name"] == "Sheena Nelson" and contact["phone"] == "+15557654321"
    assert [(i["kind"], i["handle"], i["profile_name"]) for i in contact["identities"]] == [
        ("whatsapp", CUSTOMER, "Sheena Nelson")]
    await stream.close()


async def test_payloads_with_and_without_user_id_and_with_only_a_bsuid(wa: WhatsApp) -> None:
    for name in ("text", "text_without_user_id"):
        assert (await wa.post(fixture(name))).status_code == 200
    conv = await wa.conversation()
    texts = [m["text"] for m in await wa.messages(conv["id"])]
    assert texts == ["Hi, is my order on its way?", "Sent from an older app"]  # one identity: the phone

    # A user who hides their number behind a username has only a business-scoped user id.
    assert (await wa.post(fixture("text_bsuid_only"))).status_code == 200
    contacts = {c["name"]: c for c in (await wa.live.get("/api/contacts"))["items"]}
    jordan = await wa.live.get(f"/api/contacts/{contacts['Jordan']['id']}")
    assert jordan["phone"] is None
    assert [(i["kind"], i["handle"]) for i in jordan["identities"]] == [("whatsapp", BSUID)]
    latest = (await wa.messages(jordan["conversations"][0]["id"]))[0]
    assert latest["text"] == "Hello from a username"
    assert latest["payload"] == {"whatsapp_user": {"user_id": BSUID, "username": "@jordan.k"}}
    # Replies to them are addressed to the BSUID ("recipient"), not a phone ("to").
    assert (await wa.reply(jordan["conversations"][0]["id"], text="Hi Jordan")).status_code == 202
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent["recipient"] == BSUID and "to" not in sent
    assert sent["text"]["body"] == "Hi Jordan"


async def test_image_is_downloaded_with_the_token_and_served_to_agents(wa: WhatsApp) -> None:
    body = fixture("image")
    wa.graph.publish(message(body)["image"]["id"], JPEG, "image/jpeg")
    stream = await wa.live.events()
    assert (await wa.post(body)).status_code == 200
    created = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert created["text"] == "The box arrived damaged"
    assert created["attachments"] == [{"content_type": "image/jpeg", "media_id": "1003383421387256",
                                       "kind": "image"}]

    done = await stream.next(lambda e: e["type"] == "message.updated"
                             and "path" in e["data"]["message"]["attachments"][0])
    attachment = done["data"]["message"]["attachments"][0]
    assert attachment["size"] == len(JPEG) and "error" not in attachment
    served = await wa.live.client.get(f"/media/{attachment['path']}?m={created['id']}", headers=wa.live.as_("agent"))
    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    await stream.close()


async def test_location_interactive_replies_and_reactions_are_readable(wa: WhatsApp) -> None:
    for name in ("location", "interactive_button_reply", "interactive_list_reply", "reaction"):
        assert (await wa.post(fixture(name))).status_code == 200, name
    conv = await wa.conversation()
    location, button, choice, reaction = await wa.messages(conv["id"])
    assert location["text"] == ("Location: Philz Coffee, 1 Hacker Way, Menlo Park, CA 94025 "
                                "(37.483307, -122.148981)")
    assert location["payload"]["location"]["latitude"] == 37.483307
    assert button["text"] == "Reschedule delivery"
    assert button["payload"]["interactive"]["button_reply"]["id"] == "reschedule"
    assert button["reply_to"] == "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI1QzFFN0Y0RjY1RTFEOEJGNkIA"
    assert choice["text"] == "Tomorrow 9-12 - Morning slot"
    assert reaction["text"] == "reacted 👍 to a message"
    assert reaction["reply_to"] == "wamid.HBgLMTU1NTc2NTQzMjEVAgARGBI1QzFFN0Y0RjY1RTFEOEJGNkIA"
    assert not any(m["has_raw"] for m in (location, button, choice, reaction))


async def test_unsupported_type_is_a_placeholder_with_the_raw_payload(wa: WhatsApp) -> None:
    body = fixture("unsupported")
    assert (await wa.post(body)).status_code == 200
    conv = await wa.conversation()
    [stored] = await wa.messages(conv["id"])
    assert stored["text"] == "[Unsupported WhatsApp message: unsupported]" and stored["has_raw"]
    raw = await wa.live.get(f"/api/messages/{stored['id']}/raw")
    assert raw["raw"] == message(body)
    assert raw["raw"]["errors"][0]["code"] == 131051


async def test_every_entry_and_change_of_one_post_is_stored(wa: WhatsApp) -> None:
    r = await create_inbox(wa.live, "Second number", phone_number_id=OTHER_PHONE_NUMBER_ID,
                           access_token=OTHER_TOKEN)
    assert r.status_code == 201
    other = r.json()
    assert (await wa.post(fixture("multiple"))).status_code == 200
    stored = []
    for conv in (await wa.live.get("/api/conversations"))["items"]:
        stored += [(m["text"], m["inbox_id"]) for m in await wa.messages(conv["id"])]
    assert sorted(stored) == [("first change", wa.inbox["id"]), ("second change", other["id"]),
                              ("second entry", wa.inbox["id"])]


async def test_a_change_is_accepted_only_with_its_own_inboxs_app_secret(wa: WhatsApp) -> None:
    r = await create_inbox(wa.live, "Other app", phone_number_id=OTHER_PHONE_NUMBER_ID, access_token=OTHER_TOKEN,
                           app_secret="the-other-apps-secret", verify_token="another-verify-token")
    other = r.json()

    async def stored() -> list[tuple[str, int]]:
        out = []
        for conv in (await wa.live.get("/api/conversations"))["items"]:
            out += [(m["text"], m["inbox_id"]) for m in await wa.messages(conv["id"])]
        return sorted(out)

    assert (await wa.post(fixture("multiple"))).status_code == 200
    assert await stored() == [("first change", wa.inbox["id"]), ("second entry", wa.inbox["id"])]
    assert (await wa.post(fixture("multiple"), secret="the-other-apps-secret")).status_code == 200
    assert await stored() == [("first change", wa.inbox["id"]), ("second change", other["id"]),
                              ("second entry", wa.inbox["id"])]
    # Either inbox's verify token completes the handshake of the shared callback URL.
    query = {"hub.mode": "subscribe", "hub.verify_token": "another-verify-token", "hub.challenge": "42"}
    assert (await wa.live.client.get("/webhooks/whatsapp", params=query)).text == "42"


async def test_duplicate_webhook_is_stored_once(wa: WhatsApp) -> None:
    body = fixture("text")
    assert (await wa.post(body)).status_code == 200
    assert (await wa.post(body)).status_code == 200  # Meta retries until it gets a 200
    conv = await wa.conversation()
    assert [m["text"] for m in await wa.messages(conv["id"])] == ["Hi, is my order on its way?"]
    assert conv["unread_count"] == 1


async def test_bad_signature_malformed_body_and_unknown_number_store_nothing(wa: WhatsApp) -> None:
    body = fixture("text")
    assert (await wa.post(body, secret="not-the-app-secret")).status_code == 403
    unsigned = signed(body, APP_SECRET)
    del unsigned["headers"]["X-Hub-Signature-256"]
    assert (await wa.live.client.post("/webhooks/whatsapp", **unsigned)).status_code == 403
    tampered = signed(body, APP_SECRET)
    tampered["content"] = tampered["content"].replace(b"on its way", b"cancelled!")
    forbidden = await wa.live.client.post("/webhooks/whatsapp", **tampered)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "invalid_signature"

    malformed = await wa.post(b'{"object": "whatsapp_business_account", "entry": [')
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    assert (await wa.post({"object": "page", "entry": []})).status_code == 400
    assert (await wa.post({"object": "whatsapp_business_account", "entry": {"id": 1}})).status_code == 400
    nameless = fixture("text")
    del message(nameless)["from"], message(nameless)["from_user_id"], value(nameless)["contacts"]
    assert (await wa.post(nameless)).status_code == 400

    elsewhere = fixture("text")
    value(elsewhere)["metadata"]["phone_number_id"] = "999999999999999"
    unknown = await wa.post(elsewhere)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_inbox"
    assert (await wa.live.get("/api/conversations"))["items"] == []


# -- outbound and statuses --------------------------------------------------------------

async def test_reply_goes_out_through_graph_and_follows_status_webhooks(wa: WhatsApp) -> None:
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    stream = await wa.live.events("agent")
    r = await wa.reply(conv["id"], text="It left the warehouse today.")
    assert r.status_code == 202, r.text

    [sent] = await wa.graph.wait_for_sent(1)
    assert sent == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
                    "type": "text", "text": {"body": "It left the warehouse today.", "preview_url": False}}
    wamid = wa.graph.wamids[0]
    acked = await stream.next(updated(wamid))
    assert acked["data"]["message"]["id"] == r.json()["id"]

    for status in ("sent", "delivered", "read"):
        assert (await wa.post(status_for(f"status_{status}", wamid))).status_code == 200
        await stream.next(updated(wamid, status))
    # A late "delivered" never moves a read message back.
    assert (await wa.post(status_for("status_delivered", wamid))).status_code == 200
    assert (await wa.messages(conv["id"], "out"))[0]["status"] == "read"
    await stream.close()


async def test_media_reply_is_sent_by_link_with_its_caption(wa: WhatsApp) -> None:
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    r = await wa.reply(conv["id"], text="Your invoice", attachments=[
        {"url": "https://files.example.com/invoice-1234.pdf", "content_type": "application/pdf"}])
    assert r.status_code == 202, r.text
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent["type"] == "document"
    assert sent["document"] == {"link": "https://files.example.com/invoice-1234.pdf", "caption": "Your invoice",
                                "filename": "invoice-1234.pdf"}


async def test_provider_5xx_and_rate_limit_are_retried_then_delivered_exactly_once(wa: WhatsApp) -> None:
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    wa.graph.fail_next(500, 1, "An unknown error has occurred.", transient=True)
    wa.graph.fail_next(400, 130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.")
    stream = await wa.live.events("agent")
    r = await wa.reply(conv["id"], text="Sorry for the wait")
    assert r.status_code == 202
    await wa.graph.wait_for_sent(1)
    wamid = wa.graph.wamids[0]
    done = await stream.next(updated(wamid))
    assert done["data"]["message"]["error"] is None and done["data"]["message"]["status"] == "queued"
    assert wa.graph.attempts == 3 and len(wa.graph.sent) == 1
    assert (await wa.messages(conv["id"], "out"))[0]["provider_message_id"] == wamid
    await stream.close()


async def test_permanent_errors_and_failed_statuses_show_the_reason(wa: WhatsApp) -> None:
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    stream = await wa.live.events("agent")
    wa.graph.fail_next(400, 100, "(#100) Invalid parameter", "Parameter 'text.body' is too long.")
    wa.graph.fail_next(400, 131047, "(#131047) Re-engagement message",
                       "Message failed to send because more than 24 hours have passed since the customer last "
                       "replied to this number.")
    for text in ("first", "second"):
        assert (await wa.reply(conv["id"], text=text)).status_code == 202
        await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed"
                          and e["data"]["message"]["text"] == text)
    first, second = await wa.messages(conv["id"], "out")
    assert first["error"] == {"code": "100",
                              "message": "(#100) Invalid parameter: Parameter 'text.body' is too long."}
    assert second["error"] == {"code": "131047", "message": WINDOW_REASON}
    assert wa.graph.attempts == 2 and wa.graph.sent == []

    # 131047 also comes back later, as a failed status of a message Graph accepted.
    assert (await wa.reply(conv["id"], text="third")).status_code == 202
    await wa.graph.wait_for_sent(1)
    wamid = wa.graph.wamids[0]
    await stream.next(updated(wamid))
    assert (await wa.post(status_for("status_failed", wamid))).status_code == 200
    failed = await stream.next(updated(wamid, "failed"))
    assert failed["data"]["message"]["error"] == {"code": "131047", "message": WINDOW_REASON}
    await stream.close()


async def test_outside_the_window_only_a_template_is_sent(wa: WhatsApp, clock: MovableClock) -> None:
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    clock.advance(timedelta(hours=25))  # the customer wrote 25 hours ago

    channel = [c for c in (await wa.live.get(f"/api/conversations/{conv['id']}"))["reply_channels"]
               if c["kind"] == "whatsapp"][0]
    assert channel["template_required"] and not channel["window"]["open"]
    refused = await wa.reply(conv["id"], text="Are you still there?")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "window_closed"

    accepted = await wa.reply(conv["id"], template={"name": "order_update", "language": "en_US",
                                                    "parameters": ["Sheena", "#1234"]})
    assert accepted.status_code == 202, accepted.text
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
                    "type": "template", "template": {
                        "name": "order_update", "language": {"code": "en_US"},
                        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sheena"},
                                                                       {"type": "text", "text": "#1234"}]}]}}


async def test_the_composer_offers_templates_once_the_window_has_closed(wa: WhatsApp, browser: Browser,
                                                                       clock: MovableClock) -> None:
    r = await wa.live.client.patch(f"/api/inboxes/{wa.inbox['id']}", headers=wa.live.as_("admin"), json={
        "settings": {"templates": [{"name": "order_update", "language": "en_US"}]}})
    assert r.status_code == 200, r.text
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    clock.advance(timedelta(hours=25))

    page = await login(browser, wa.live)
    await page.goto(wa.live.url + f"/inbox?tab=all&c={conv['id']}")
    await expect(page.locator("#reply-blocked")).to_contain_text("only an approved template can be sent")
    await expect(page.get_by_label("Message")).to_be_hidden()  # free text cannot go: no box to type it in
    await expect(page.locator("#template-select")).to_have_value("order_update|en_US")
    await page.get_by_label("Parameters").fill("Sheena, #1234")
    await page.get_by_role("button", name="Send").click()
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent["type"] == "template" and sent["template"]["name"] == "order_update"
    assert [p["text"] for p in sent["template"]["components"][0]["parameters"]] == ["Sheena", "#1234"]


async def test_templates_are_the_configured_ones_plus_the_approved_ones(live: Live, graph: FakeGraph) -> None:
    graph.templates[WABA_ID] = [
        {"name": "order_update", "parameter_format": "POSITIONAL", "status": "APPROVED", "category": "UTILITY",
         "language": "en_US", "id": "594425479261596", "components": [
             {"type": "BODY", "text": "Hi {{1}}, order {{2}} is on its way.",
              "example": {"body_text": [["Sheena", "#1234"]]}}]},
        {"name": "spring_sale", "parameter_format": "NAMED", "status": "REJECTED", "category": "MARKETING",
         "language": "en_US", "id": "594425479261597", "components": [{"type": "BODY", "text": "Sale!"}]},
    ]
    configured = {"name": "hello_world", "language": "en_US", "parameters": []}
    r = await create_inbox(live, waba_id=WABA_ID, templates=[configured])
    path = f"/api/inboxes/{r.json()['id']}/templates"
    items = (await live.get(path))["items"]
    assert items == [{**configured, "source": "configured"},
                     {"name": "order_update", "language": "en_US", "parameters": ["1", "2"],
                      "text": "Hi {{1}}, order {{2}} is on its way.", "category": "UTILITY", "source": "whatsapp"}]
    graph.templates_down = True
    assert (await live.get(path))["items"] == [{**configured, "source": "configured"}]


async def test_a_template_send_is_stored_as_what_the_customer_reads(wa: WhatsApp, clock: MovableClock) -> None:
    wa.graph.templates[WABA_ID] = [
        {"name": "order_update", "status": "APPROVED", "category": "UTILITY", "language": "en_US",
         "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} is on its way."}]}]
    r = await wa.live.client.patch(f"/api/inboxes/{wa.inbox['id']}", headers=wa.live.as_("admin"),
                                   json={"settings": {"waba_id": WABA_ID}})
    assert r.status_code == 200, r.text
    await wa.post(fixture("text"))
    conv = await wa.conversation()
    clock.advance(timedelta(hours=25))
    accepted = await wa.reply(conv["id"], text="typed beside it, never sent", template={
        "name": "order_update", "language": "en_US", "parameters": ["Sheena", "#1234"]})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["text"] == "Hi Sheena, order #1234 is on its way."
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent["type"] == "template"
    timeline = (await wa.live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert timeline[-1]["text"] == "Hi Sheena, order #1234 is on its way."


# -- one customer across channels -------------------------------------------------------

async def test_sms_and_whatsapp_of_one_number_are_one_contact_and_conversation(wa: WhatsApp) -> None:
    assert (await wa.live.sms("+1 (555) 765-4321", "Texting you first")).status_code == 200
    assert (await wa.post(fixture("text"))).status_code == 200
    conv = await wa.conversation()
    assert [(m["text"], m["inbox_id"]) for m in await wa.messages(conv["id"])] == [
        ("Texting you first", wa.live.inbox["id"]), ("Hi, is my order on its way?", wa.inbox["id"])]
    contact = await wa.live.get(f"/api/contacts/{conv['contact']['id']}")
    assert contact["phone"] == "+15557654321"
    assert sorted((i["kind"], i["handle"]) for i in contact["identities"]) == [
        ("sms", "+15557654321"), ("whatsapp", CUSTOMER)]
    # The reply goes out through the channel the customer last wrote on.
    assert (await wa.reply(conv["id"], text="Got it")).status_code == 202
    assert (await wa.graph.wait_for_sent(1))[0]["to"] == CUSTOMER


# -- satisfaction survey (docs/csat.md) -----------------------------------------------------

async def test_csat_is_a_list_message_in_the_window_and_the_template_outside_it(
        wa: WhatsApp, clock: MovableClock) -> None:
    live = wa.live
    await ask_on_resolve(live, wa.inbox["id"], interval_days=0,
                         whatsapp_template={"name": "csat_survey", "language": "en_US"})
    assert (await wa.post(fixture("text"))).status_code == 200
    conv = await wa.conversation()
    await answer_and_resolve(live, conv["id"])
    _, survey = await wa.graph.wait_for_sent(2)
    assert survey["type"] == "interactive" and survey["interactive"]["type"] == "list"
    [section] = survey["interactive"]["action"]["sections"]
    rows = section["rows"]
    assert [r["title"] for r in rows] == ["5 - Excellent", "4 - Good", "3 - Okay", "2 - Poor", "1 - Very poor"]
    assert survey["interactive"]["body"]["text"].startswith("How would you rate the help you got from us?")

    press = fixture("interactive_list_reply")
    message(press)["interactive"]["list_reply"] = {"id": rows[1]["id"], "title": rows[1]["title"]}
    assert (await wa.post(press)).status_code == 200
    [answered] = await events(live, conv["id"], "csat_answered")
    assert answered["data"]["score"] == 4 and (await wa.conversation())["status"] == "resolved"

    # The customer writes again; a day and more later the window has closed: the template goes,
    # its quick-reply buttons carrying the scores, and a press on one is the answer.
    again = fixture("text")
    message(again)["id"] = "wamid.second-message-of-the-customer"
    assert (await wa.post(again)).status_code == 200
    clock.advance(timedelta(hours=25))
    r = await live.client.post(f"/api/conversations/{conv['id']}/status", headers=live.as_("agent"),
                               json={"status": "resolved"})
    assert r.status_code == 200
    *_, template = await wa.graph.wait_for_sent(3)
    assert template["type"] == "template" and template["template"]["name"] == "csat_survey"
    buttons = [c for c in template["template"]["components"] if c["type"] == "button"]
    assert [b["index"] for b in buttons] == ["0", "1", "2", "3", "4"]
    payloads = [b["parameters"][0]["payload"] for b in buttons]
    assert all(p.endswith(f":{s}") for p, s in zip(payloads, (5, 4, 3, 2, 1)))
    button = fixture("text")
    msg = message(button)
    msg.pop("text")
    msg.update(id="wamid.template-button-press", type="button",
               button={"text": "1 - Very poor", "payload": payloads[4]})
    assert (await wa.post(button)).status_code == 200
    scores = [e["data"]["score"] for e in await events(live, conv["id"], "csat_answered")]
    assert scores == [4, 1]


# -- automation ------------------------------------------------------------------------------

async def test_a_message_in_closed_hours_gets_the_template_a_rule_sends(wa: WhatsApp) -> None:
    """An automation rule (docs/automation.md): closed by the inbox's calendar (a calendar
    with no hours at all), a WhatsApp message is answered with an approved template."""
    calendar = await add_calendar(wa.live, "Never open", "Europe/Berlin", [])
    r = await wa.live.client.patch(f"/api/inboxes/{wa.inbox['id']}", headers=wa.live.as_("admin"),
                                   json={"calendar_id": calendar})
    assert r.status_code == 200, r.text
    made = await rule(wa.live, name="Closed: the template", trigger="message_received", conditions=[
        {"field": "channel", "op": "in", "value": ["whatsapp"]}, {"field": "business_hours", "op": "closed"}],
        actions=[{"type": "send_template", "name": "closed_notice", "language": "en_US",
                  "params": ["{{contact_name}}"]}])
    watcher = await wa.live.events("lead")
    await wa.post(fixture("text"))
    created = await watcher.next(by_rule(made["id"], "message.created"))
    assert created["data"]["message"]["automatic"] == "automation"
    [sent] = await wa.graph.wait_for_sent(1)
    assert sent["type"] == "template" and sent["template"]["name"] == "closed_notice"
    conv = await wa.conversation()
    params = sent["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == [conv["contact"]["name"]]
    await watcher.close()
