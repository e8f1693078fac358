"""Messenger end to end: Meta's handshake, signed webhooks replayed from recorded payloads,
replies through a fake Graph API (its exact JSON, the 24-hour and 7-day windows), echoes,
delivery and read watermarks, media, retries and Graph's errors."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from inbox.domain.channels import OutboundMessage, ProviderRejected
from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.fakes.messenger import PERSON_UNAVAILABLE, RATE_LIMITED, UNEXPECTED, FakeGraph
from tests.helpers.csat import answer_and_resolve, ask_on_resolve, events
from tests.helpers.forms import form_login
from tests.helpers.live import EventStream
from tests.helpers.messenger import _fixture, body, event, now_ms, signed
from tests.helpers.server import serve

PAGE_ID = "106412345678901"
PAGE_TOKEN = "EAAGm0PX4ZCpsBAKfakePageAccessToken"
APP_SECRET = "5f1b2c3d4e5f60718293a4b5c6d7e8f9"
VERIFY_TOKEN = "a-verify-token-we-chose"
PSID = "24681357924680135"
AVATAR = "https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=24681357924680135&height=200&hash=AbC"
OTHER_PAGE, OTHER_TOKEN = "106499999999999", "EAAGm0PX4ZCpsBAKotherPageToken"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph({PAGE_ID: PAGE_TOKEN, OTHER_PAGE: OTHER_TOKEN})
    fake.profiles[PSID] = {"first_name": "Jane", "last_name": "Doe", "profile_pic": AVATAR}
    async with serve(fake.app) as url, serve(fake.cdn) as cdn_url:
        fake.url, fake.cdn_url = url, cdn_url
        yield fake


@pytest.fixture
def live_overrides(graph: FakeGraph) -> dict[str, Any]:
    # The fake CDN is on another loopback port: a stand-in, allowed as an admin would allow one.
    return {"graph_api_base": graph.url, "private_media_origins": graph.cdn_url}


@dataclass
class Page:
    live: Live
    graph: FakeGraph
    inbox: dict[str, Any]

    async def post(self, *events: dict[str, Any], page_id: str = PAGE_ID,
                   secret: str = APP_SECRET) -> httpx.Response:
        return await self.live.client.post("/webhooks/messenger", **signed(body((page_id, list(events))), secret))

    async def say(self, text: str = "hello", psid: str = PSID) -> dict[str, Any]:
        """The customer writes; returns their conversation."""
        r = await self.post(event("text", PAGE_ID, psid, text=text))
        assert r.status_code == 200, r.text
        conversations = (await self.live.get("/api/conversations", who="lead"))["items"]
        return next(c for c in conversations if c["contact"]["name"] in ("Jane Doe", psid))  # type: ignore[no-any-return]

    async def reply(self, conversation_id: int, text: str, **extra: Any) -> httpx.Response:
        return await self.live.client.post(f"/api/conversations/{conversation_id}/messages",
                                           json={"text": text, **extra}, headers=self.live.as_("agent"))

    async def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        timeline = await self.live.get(f"/api/conversations/{conversation_id}/timeline")
        return [i for i in timeline["items"] if i["type"] == "message"]


async def create_inbox(live: Live, page_id: str, token: str, name: str) -> dict[str, Any]:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "messenger", "name": name, "settings": {
            "page_id": page_id, "page_access_token": token, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture
async def page(live: Live, graph: FakeGraph) -> Page:
    return Page(live, graph, await create_inbox(live, PAGE_ID, PAGE_TOKEN, "Shop page"))


def updated(match: Any) -> Any:
    return lambda e: e["type"] == "message.updated" and match(e["data"]["message"])


# -- setup and inbound -----------------------------------------------------------------------

async def test_verification_handshake_echoes_the_challenge_for_a_known_token(page: Page) -> None:
    client = page.live.client
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = await client.get("/webhooks/messenger", params=params)
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    wrong = await client.get("/webhooks/messenger", params={**params, "hub.verify_token": "guess"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invalid_verify_token"
    assert (await client.get("/webhooks/messenger", params={**params, "hub.mode": "unsubscribe"})).status_code == 403
    # What the admin needs for the dashboard; the secrets are never shown again.
    assert page.inbox["address"] == PAGE_ID
    assert page.inbox["webhook_urls"] == {"callback_url": page.live.url + "/webhooks/messenger"}
    assert page.inbox["settings"]["app_secret"] == "********" and page.inbox["settings"]["human_agent_tag"] is True


async def test_text_in_creates_a_named_contact_and_pushes_the_event(page: Page) -> None:
    stream = await page.live.events()
    r = await page.post(event("text", PAGE_ID, PSID, text="Where is my order #1042?"))
    assert r.status_code == 200
    created = (await stream.next(lambda e: e["type"] == "message.created"))["data"]
    assert created["message"]["text"] == "Where is my order #1042?" and created["message"]["direction"] == "in"
    assert created["message"]["sender"]["handle"] == PSID and created["message"]["sender"]["name"] == "Jane Doe"
    assert created["conversation"]["channel"] == "messenger"
    contact = await page.live.get(f"/api/contacts/{created['message']['sender']['contact_id']}")
    assert contact["avatar_url"] == AVATAR
    # The token goes as "Authorization: Bearer", never in the URL (httpx logs request lines).
    assert page.graph.profile_requests == [{"psid": PSID, "fields": "first_name,last_name,profile_pic",
                                            "token": PAGE_TOKEN}]

    # The profile is looked up once; a customer whose profile Meta withholds is named by PSID.
    await page.post(event("text", PAGE_ID, PSID, text="Any news?"))
    await page.post(event("text", PAGE_ID, "7777000011112222", text="hi"))
    other = await stream.next(lambda e: e["type"] == "message.created" and e["data"]["message"]["text"] == "hi")
    assert other["data"]["message"]["sender"]["name"] == "7777000011112222"
    assert [r["psid"] for r in page.graph.profile_requests] == [PSID, "7777000011112222"]
    await stream.close()


async def test_image_is_downloaded_from_the_cdn_and_served_to_agents(page: Page) -> None:
    stream = await page.live.events()
    url = page.graph.publish("471928573_1108474387622513_n.png", PNG, "image/png")
    image = event("image", PAGE_ID, PSID)
    image["message"]["attachments"][0]["payload"]["url"] = url
    assert (await page.post(image)).status_code == 200
    created = (await stream.next(lambda e: e["type"] == "message.created"))["data"]
    assert created["message"]["attachments"] == [{"content_type": "image/png", "url": url, "kind": "image"}]
    assert created["conversation"]["last_message_preview"] == "[1 attachment]"
    stored = (await stream.next(updated(lambda m: "path" in m["attachments"][0])))["data"]["message"]
    assert stored["attachments"][0]["size"] == len(PNG)
    served = await page.live.client.get(f"/media/{stored['attachments'][0]['path']}?m={stored['id']}",
                                        headers=page.live.as_("agent"))
    assert served.status_code == 200 and served.content == PNG
    # CDN links are public: the Page token is not sent to them.
    assert page.graph.file_requests and all("access_token" not in q for q in page.graph.file_requests)
    await stream.close()


async def test_quick_replies_postbacks_stickers_locations_and_links_are_readable(page: Page) -> None:
    sticker = event("sticker", PAGE_ID, PSID)
    for attachment in sticker["message"]["attachments"]:
        attachment["payload"]["url"] = page.graph.publish("851557_369239266556155_n.png", PNG, "image/png")
    template = event("template", PAGE_ID, PSID)
    r = await page.post(event("quick_reply", PAGE_ID, PSID), event("postback", PAGE_ID, PSID), sticker,
                        event("location", PAGE_ID, PSID), event("fallback", PAGE_ID, PSID),
                        event("reply_to", PAGE_ID, PSID, text="this one"), template,
                        event("reaction", PAGE_ID, PSID))
    assert r.status_code == 200
    conv = (await page.live.get("/api/conversations"))["items"][0]
    quick, postback, sticky, place, link, reply, unknown = await page.messages(conv["id"])
    assert (quick["text"], quick["payload"]) == ("Track my order", {"quick_reply": {"payload": "TRACK_ORDER"}})
    assert postback["text"] == "Talk to a human"
    assert postback["payload"] == {"postback": {"title": "Talk to a human", "payload": "HUMAN_HANDOVER"}}
    # Meta sends a sticker twice (as "sticker" and "image") during its transition: one attachment.
    assert [a["kind"] for a in sticky["attachments"]] == ["sticker"]
    assert sticky["payload"] == {"sticker_id": 369239263222822}
    assert place["text"] == "Location: Pinned Location (52.52, 13.405)"
    assert place["payload"]["location"]["latitude"] == 52.52
    assert link["text"].startswith("Order #1042 - Example Shop https://l.facebook.com/")
    assert (reply["text"], reply["reply_to"]) == ("this one", "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU")
    assert unknown["text"] == "[Unsupported Messenger message: template]" and unknown["has_raw"]
    raw = await page.live.get(f"/api/messages/{unknown['id']}/raw")
    assert raw["raw"] == template


async def test_several_entries_and_events_in_one_post_are_all_stored(page: Page) -> None:
    other = await create_inbox(page.live, OTHER_PAGE, OTHER_TOKEN, "Second page")
    raw = body((PAGE_ID, [event("text", PAGE_ID, PSID, text="one"), event("text", PAGE_ID, "5550001", text="two")]),
               (OTHER_PAGE, [event("text", OTHER_PAGE, "5550002", text="three")]))
    assert (await page.live.client.post("/webhooks/messenger", **signed(raw, APP_SECRET))).status_code == 200
    conversations = (await page.live.get("/api/conversations", who="lead"))["items"]
    got = {(c["last_message_preview"], c["inbox_id"]) for c in conversations}
    assert got == {("one", page.inbox["id"]), ("two", page.inbox["id"]), ("three", other["id"])}


async def test_duplicate_webhook_is_stored_once(page: Page) -> None:
    raw = body((PAGE_ID, [event("text", PAGE_ID, PSID, text="only once")]))
    for _ in range(2):  # Meta retries a webhook it thinks failed
        assert (await page.live.client.post("/webhooks/messenger", **signed(raw, APP_SECRET))).status_code == 200
    conv = (await page.live.get("/api/conversations"))["items"][0]
    assert [m["text"] for m in await page.messages(conv["id"])] == ["only once"]


async def test_bad_signature_is_403_and_malformed_input_400_storing_nothing(page: Page) -> None:
    client = page.live.client
    raw = body((PAGE_ID, [event("text", PAGE_ID, PSID, text="forged")]))
    forged = await client.post("/webhooks/messenger", **signed(raw, "not-the-app-secret"))
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "invalid_signature"
    unsigned = await client.post("/webhooks/messenger", content=raw, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403
    tampered = signed(raw, APP_SECRET)
    tampered["content"] = raw.replace(b"forged", b"tamper")
    assert (await client.post("/webhooks/messenger", **tampered)).status_code == 403

    for bad in (b"{not json", b'{"object": "instagram", "entry": []}', b'{"object": "page", "entry": [{}]}'):
        r = await client.post("/webhooks/messenger", **signed(bad, APP_SECRET))
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_body", bad
    no_mid = event("text", PAGE_ID, PSID)
    del no_mid["message"]["mid"]
    assert (await page.post(no_mid)).status_code == 400
    unknown = await page.post(event("text", "999", PSID), page_id="999")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_inbox"
    assert (await page.live.get("/api/conversations", who="lead"))["items"] == []


# -- replies -----------------------------------------------------------------------------------

async def test_reply_goes_out_as_a_response_and_its_echo_is_not_stored_twice(page: Page) -> None:
    conv = await page.say()
    stream = await page.live.events()
    r = await page.reply(conv["id"], "Your parcel ships today")
    assert r.status_code == 202
    reply_id = r.json()["id"]
    [sent] = await page.graph.wait_for_sent(1)
    assert sent["path"] == f"/v23.0/{PAGE_ID}/messages" and sent["access_token"] == PAGE_TOKEN
    assert sent["query"] == {}  # the token came in the Authorization header
    assert sent["body"] == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                            "message": {"text": "Your parcel ships today", "metadata": f"inbox:{reply_id}"}}
    done = (await stream.next(updated(lambda m: m["provider_message_id"])))["data"]["message"]
    assert (done["provider_message_id"], done["status"]) == (sent["message_id"], "sent")

    # Meta echoes our reply back: recognised by its metadata, not stored again.
    ours = event("echo", PAGE_ID, PSID, mid=sent["message_id"], text="Your parcel ships today",
                 metadata=f"inbox:{reply_id}")
    assert (await page.post(ours)).status_code == 200
    # Someone answers from the Page's own inbox: stored as outbound, once however often it comes.
    theirs = event("echo", PAGE_ID, PSID, text="(Page inbox) we are on it")
    for _ in range(2):
        assert (await page.post(theirs)).status_code == 200
    echoed = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert (echoed["direction"], echoed["text"], echoed["author_id"]) == ("out", "(Page inbox) we are on it", None)
    messages = await page.messages(conv["id"])
    outbound = [(m["text"], m["provider_message_id"]) for m in messages if m["direction"] == "out"]
    assert outbound == [("Your parcel ships today", sent["message_id"]),
                        ("(Page inbox) we are on it", theirs["message"]["mid"])]
    await stream.close()


async def test_media_reply_sends_text_then_each_attachment_without_repeating_a_part(page: Page) -> None:
    conv = await page.say()
    page.graph.succeed_next()
    page.graph.fail_next(UNEXPECTED)  # the attachment fails once, after the text went out
    r = await page.reply(conv["id"], "Here is your invoice",
                         attachments=[{"url": "https://files.example.com/invoice-1042.pdf",
                                       "content_type": "application/pdf"}])
    reply_id = r.json()["id"]
    text, pdf = await page.graph.wait_for_sent(2)
    assert text["body"]["message"] == {"text": "Here is your invoice", "metadata": f"inbox:{reply_id}"}
    assert pdf["body"] == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {
        "attachment": {"type": "file", "payload": {"url": "https://files.example.com/invoice-1042.pdf",
                                                   "is_reusable": False}},
        "metadata": f"inbox:{reply_id}"}}
    assert page.graph.attempts == 3
    # Both parts are echoed; the attachment's mid is not the one recorded on the message,
    # so only the metadata marker tells it is ours.
    echoes = [event("echo", PAGE_ID, PSID, mid=part["message_id"], metadata=f"inbox:{reply_id}", **content)
              for part, content in ((text, {"text": "Here is your invoice"}), (pdf, {"text": None, "attachments": [
                  {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/t59.2708-21/invoice-1042.pdf"}}]}))]
    assert (await page.post(*echoes)).status_code == 200
    [mine] = [m for m in await page.messages(conv["id"]) if m["direction"] == "out"]
    assert mine["provider_message_id"] == text["message_id"]


async def test_delivery_and_read_watermarks_move_replies_on(page: Page) -> None:
    conv = await page.say()
    before = now_ms() - 1000
    await page.reply(conv["id"], "first")
    await page.reply(conv["id"], "second")
    first, second = await page.graph.wait_for_sent(2)
    stream = await page.live.events()
    sent_ids = {first["message_id"], second["message_id"]}

    def has(mid: str, status: str) -> Any:
        return updated(lambda m: m["provider_message_id"] == mid and m["status"] == status)
    recorded = {m["provider_message_id"] for m in await page.messages(conv["id"]) if m["direction"] == "out"}
    for mid in sent_ids - recorded:  # the worker records the ids just after the fake answers
        await stream.next(has(mid, "sent"))
    # "delivered" for the first by its mid; the watermark predates both replies.
    delivery = event("delivery", PAGE_ID, PSID)
    delivery["delivery"] = {"mids": [first["message_id"]], "watermark": before}
    assert (await page.post(delivery)).status_code == 200
    await stream.next(has(first["message_id"], "delivered"))
    statuses = {m["text"]: m["status"] for m in await page.messages(conv["id"]) if m["direction"] == "out"}
    assert statuses == {"first": "delivered", "second": "sent"}
    # "read" up to now covers both.
    read = event("read", PAGE_ID, PSID)
    read["read"]["watermark"] = now_ms()
    assert (await page.post(read)).status_code == 200
    await stream.next(has(first["message_id"], "read"))
    await stream.next(has(second["message_id"], "read"))
    await stream.close()


async def test_after_24_hours_the_reply_goes_with_the_human_agent_tag_unless_disabled(
        page: Page, clock: MovableClock) -> None:
    conv = await page.say()
    clock.advance(timedelta(hours=30))  # the customer last wrote 30 hours ago
    detail = await page.live.get(f"/api/conversations/{conv['id']}")
    [channel] = [c for c in detail["reply_channels"] if c["kind"] == "messenger"]
    assert channel["available"] and channel["window"]["open"]
    assert (await page.reply(conv["id"], "Sorry for the delay")).status_code == 202
    [sent] = await page.graph.wait_for_sent(1)
    assert sent["body"]["messaging_type"] == "MESSAGE_TAG" and sent["body"]["tag"] == "HUMAN_AGENT"

    r = await page.live.client.patch(f"/api/inboxes/{page.inbox['id']}", headers=page.live.as_("admin"),
                                     json={"settings": {"human_agent_tag": "false"}})
    assert r.status_code == 200 and r.json()["settings"]["human_agent_tag"] is False
    stream = await page.live.events()
    await page.reply(conv["id"], "Still there?")
    failed = (await stream.next(updated(lambda m: m["status"] == "failed")))["data"]["message"]
    assert failed["error"]["code"] == "window_closed" and "HUMAN_AGENT" in failed["error"]["message"]
    assert len(page.graph.sent) == 1 and page.graph.attempts == 1
    await stream.close()


async def test_after_7_days_a_reply_is_refused_with_window_closed(page: Page, clock: MovableClock) -> None:
    conv = await page.say()
    clock.advance(timedelta(days=8))
    r = await page.reply(conv["id"], "hello again")
    assert r.status_code == 409 and r.json()["error"]["code"] == "window_closed"
    [channel] = [c for c in (await page.live.get(f"/api/conversations/{conv['id']}"))["reply_channels"]
                 if c["kind"] == "messenger"]
    assert channel["window"]["open"] is False
    assert channel["template_required"] is False and "once the customer writes again" in channel["reason"]
    assert (await page.live.get(f"/api/inboxes/{page.inbox['id']}/templates"))["items"] == []
    template = await page.live.client.post(f"/api/conversations/{conv['id']}/messages", headers=page.live.as_("agent"),
                                           json={"template": {"name": "hello", "language": "en_US"}})
    assert template.status_code == 422 and template.json()["error"]["code"] == "templates_unsupported"
    assert page.graph.attempts == 0


async def test_provider_errors_are_retried_then_the_reply_is_delivered_exactly_once(page: Page) -> None:
    conv = await page.say()
    stream = await page.live.events()
    page.graph.fail_next(UNEXPECTED)
    page.graph.fail_next(RATE_LIMITED)
    await page.reply(conv["id"], "third time lucky")
    retrying = await stream.next(updated(lambda m: "retrying" in ((m["error"] or {}).get("message") or "")))
    assert retrying["data"]["message"]["status"] == "queued"
    done = (await stream.next(updated(lambda m: m["provider_message_id"])))["data"]["message"]
    assert done["error"] is None and done["status"] == "sent"
    assert page.graph.attempts == 3
    assert [s["body"]["message"]["text"] for s in page.graph.sent] == ["third time lucky"]
    assert done["provider_message_id"] == page.graph.sent[0]["message_id"]
    await stream.close()


async def test_a_permanent_graph_error_is_shown_on_the_message(page: Page) -> None:
    conv = await page.say()
    stream: EventStream = await page.live.events()
    page.graph.fail_next(PERSON_UNAVAILABLE)
    await page.reply(conv["id"], "hello?")
    failed = (await stream.next(updated(lambda m: m["status"] == "failed")))["data"]["message"]
    assert failed["error"]["code"] == "551/1545041"
    assert "isn't available right now" in failed["error"]["message"]
    assert page.graph.attempts == 1  # not retried
    await stream.close()


# -- events without a PSID, postbacks, shared links ------------------------------------------

def plugin_event(name: str) -> dict[str, Any]:
    """A fixture whose sender is a plugin's user_ref (or absent), as Meta sends it."""
    e = copy.deepcopy(_fixture(name))
    e["recipient"], e["timestamp"] = {"id": PAGE_ID}, now_ms()
    return e


async def test_optins_and_postbacks_from_a_user_ref_are_acknowledged_and_not_stored(
        page: Page, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="webhooks.messenger")
    for name in ("optin_user_ref", "postback_user_ref"):
        r = await page.post(plugin_event(name))
        assert r.status_code == 200 and r.text == "EVENT_RECEIVED", (name, r.text)
    assert (await page.live.get("/api/conversations", who="lead"))["items"] == []
    assert "messenger optin acknowledged (type 'checkbox_plugin')" in caplog.text
    assert "user_ref (plugin guest) skipped" in caplog.text
    assert page.graph.profile_requests == [] and page.graph.elsewhere == []


async def test_a_postback_without_mid_title_or_recipient_becomes_a_message_once(page: Page) -> None:
    started = event("postback_get_started", PAGE_ID, PSID)
    del started["recipient"], started["postback"]["mid"]
    for _ in range(2):  # Meta retries: the derived id (PSID and timestamp) stores it once
        assert (await page.post(started)).status_code == 200
    conv = (await page.live.get("/api/conversations"))["items"][0]
    [pressed] = await page.messages(conv["id"])
    assert pressed["text"] == "GET_STARTED" and pressed["direction"] == "in"
    assert pressed["payload"] == {"postback": {"payload": "GET_STARTED", "referral": {
        "ref": "spring-sale", "source": "SHORTLINK", "type": "OPEN_THREAD"}}}
    assert pressed["provider_message_id"] == f"postback:{PSID}:{started['timestamp']}"


async def test_a_shared_link_is_a_link_not_a_location_and_is_escaped_in_the_ui(page: Page) -> None:
    shared = event("fallback_payload", PAGE_ID, PSID)  # its payload even carries coordinates
    hostile = event("fallback", PAGE_ID, PSID)
    hostile["message"]["attachments"][0].update(title='<img src=x onerror="alert(1)">',
                                                url='https://example.com/?q="><script>alert(2)</script>')
    scripted = event("fallback", PAGE_ID, PSID)
    scripted["message"]["attachments"][0]["url"] = "javascript:alert(3)"
    assert (await page.post(shared, hostile, scripted)).status_code == 200
    conv = (await page.live.get("/api/conversations"))["items"][0]
    link, escaped, refused = await page.messages(conv["id"])
    url = "https://l.facebook.com/l.php?u=https%3A%2F%2Ftracking.example.com%2F1042"
    assert link["text"] == f"Track your parcel {url}"
    assert link["payload"] == {"links": [{"type": "fallback", "title": "Track your parcel", "url": url}]}
    assert "location" not in link["payload"]
    assert refused["text"] == "[Unsupported Messenger message: fallback]" and refused["has_raw"]

    async with httpx.AsyncClient(base_url=page.live.url, timeout=10) as browser:
        assert (await form_login(browser, "agent")).status_code == 303
        html = (await browser.get(f"/inbox?c={conv['id']}")).text
    assert f'<a class="link" href="{url}" rel="noopener noreferrer nofollow" target="_blank">Track your parcel</a>' \
        in html
    assert "<script>alert(2)" not in html and '<img src=x onerror="alert(1)">' not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</a>" in html
    assert 'href="https://example.com/?q=&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in html
    assert 'href="javascript:' not in html


# -- hostile ids and the Page token ------------------------------------------------------------

HOSTILE_IDS = ["../../2002/subscribed_apps?x=", "24681357924680135/../../me", "2468%2F..", "\u0661\u0662\u0663",
               "", "1" * 40]


async def test_a_sender_id_that_is_not_a_psid_is_skipped_and_reaches_no_other_graph_path(page: Page) -> None:
    for psid in HOSTILE_IDS:
        r = await page.post(event("text", PAGE_ID, psid, text="hello"))
        assert r.status_code == 200, (psid, r.text)
    echo = event("echo", PAGE_ID, "../../2002/subscribed_apps?x=", text="from the Page inbox")
    assert (await page.post(echo)).status_code == 200
    assert (await page.live.get("/api/conversations", who="lead"))["items"] == []
    assert page.graph.elsewhere == [] and page.graph.profile_requests == []
    # A PSID given as a JSON number is a PSID.
    assert (await page.post(event("text", PAGE_ID, int(PSID), text="numeric"))).status_code == 200  # type: ignore[arg-type]
    [conv] = (await page.live.get("/api/conversations", who="lead"))["items"]
    assert conv["last_message_preview"] == "numeric"


async def test_a_reply_to_an_id_that_is_not_a_psid_is_refused_before_any_request(page: Page) -> None:
    adapter = page.live.app.state.registry.get("messenger")
    settings = {"page_id": PAGE_ID, "page_access_token": PAGE_TOKEN, "human_agent_tag": True}
    for to in HOSTILE_IDS:
        with pytest.raises(ProviderRejected) as refused:
            await adapter.send(OutboundMessage(inbox_id=page.inbox["id"], settings=settings, to=to, text="hi",
                                               last_inbound_at=datetime.now(timezone.utc)))
        assert refused.value.code == "invalid_recipient"
    assert await adapter.profile(settings, "../../2002/subscribed_apps?x=") == (None, None)
    assert page.graph.attempts == 0 and page.graph.elsewhere == [] and page.graph.profile_requests == []
    bad_page = await page.live.client.post("/api/inboxes", headers=page.live.as_("admin"), json={
        "kind": "messenger", "name": "Bad", "settings": {"page_id": "\u0661\u0662\u0663", "page_access_token": "t",
                                                         "app_secret": "s", "verify_token": "v"}})
    assert bad_page.status_code == 422 and bad_page.json()["error"]["code"] == "invalid_page_id"


async def test_the_page_token_reaches_no_url_and_no_log_record(page: Page, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: httpx logs each request line at INFO
    conv = await page.say()  # looks the profile up
    await page.reply(conv["id"], "On its way")
    [sent] = await page.graph.wait_for_sent(1)
    assert sent["query"] == {} and sent["access_token"] == PAGE_TOKEN
    assert [r["token"] for r in page.graph.profile_requests] == [PAGE_TOKEN]
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any(f"/v23.0/{PAGE_ID}/messages" in line for line in requests), requests
    assert [r.getMessage() for r in caplog.records if PAGE_TOKEN in r.getMessage()] == []


# -- satisfaction survey (docs/csat.md) -----------------------------------------------------

async def test_csat_goes_as_quick_replies_and_a_press_is_the_answer(page: Page) -> None:
    live = page.live
    await ask_on_resolve(live, page.inbox["id"])
    conv = await page.say("My parcel is late")
    await answer_and_resolve(live, conv["id"])
    _, survey = await page.graph.wait_for_sent(2)
    message = survey["body"]["message"]
    assert message["text"].startswith("How would you rate the help you got from us?\nChoose a score below")
    quick = message["quick_replies"]
    assert [q["title"] for q in quick] == ["5 - Excellent", "4 - Good", "3 - Okay", "2 - Poor", "1 - Very poor"]
    assert all(q["content_type"] == "text" for q in quick)
    r = await page.post(event("quick_reply", PAGE_ID, PSID, text=quick[2]["title"],
                              quick_reply={"payload": quick[2]["payload"]}))
    assert r.status_code == 200, r.text
    [answered] = await events(live, conv["id"], "csat_answered")
    assert answered["data"]["score"] == 3 and answered["data"]["source"] == "channel"
    timeline = await live.get(f"/api/conversations/{conv['id']}", who="lead")
    assert timeline["status"] == "resolved"
    # A forged press naming another survey id is only a message: nothing is recorded for it.
    forged = await page.post(event("quick_reply", PAGE_ID, PSID, text="5", quick_reply={"payload": "csat:999999:5"}))
    assert forged.status_code == 200
    assert len(await events(live, conv["id"], "csat_answered")) == 1
