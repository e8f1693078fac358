"""An inbox's channel fallback (docs/campaigns.md, "Channel fallback"): an agent's WhatsApp
reply that fails, or is not delivered in time, goes again by SMS once, through the fake
Twilio; the first is sent with a validity period that ends before the fallback; an
opted-out SMS identity gets nothing and the conversation says why; the settings are
checked, and the admin form sets them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import Live
from tests.helpers.forms import form_login, page_token
from tests.test_campaigns import _two_channel_contact
from tests.fakes.twilio import Failure
from tests.test_twilio_whatsapp import CUSTOMER, SENDER, create_inbox, reply


async def _fallback_to_sms(live: Live, minutes: int = 10) -> tuple[dict[str, Any], int]:
    """The WhatsApp inbox falls back to the SMS inbox; (the WhatsApp inbox, the conversation)."""
    wa, contact = await _two_channel_contact(live)
    r = await live.client.patch(f"/api/inboxes/{wa['id']}", headers=live.as_("admin"), json={
        "settings": {"fallback_inbox_id": live.inbox["id"], "fallback_minutes": minutes}})
    assert r.status_code == 200, r.text
    assert (r.json()["settings"]["fallback_inbox_id"], r.json()["settings"]["fallback_minutes"]) == (
        live.inbox["id"], minutes)
    [conv] = (await live.get("/api/conversations", who="lead", params={"q": CUSTOMER}))["items"]
    return r.json(), conv["id"]


async def _events(live: Live, conv_id: int, kind: str) -> list[dict[str, Any]]:
    timeline = await live.get(f"/api/conversations/{conv_id}/timeline", who="agent")
    return [t for t in timeline["items"] if t["type"] == "event" and t["kind"] == kind]


async def test_a_whatsapp_reply_that_fails_goes_again_by_sms_once(live: Live) -> None:
    wa, conv = await _fallback_to_sms(live)
    live.fake.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    assert (await reply(live, conv, text="Your parcel is at the desk", inbox_id=wa["id"])).status_code == 202
    [sms] = await live.fake.wait_for_sent(1, timeout=20)  # the WhatsApp attempt was refused, not sent
    assert (sms["to"], sms["body"]) == (CUSTOMER, "Your parcel is at the desk")
    assert sms["validity_period"] is None  # the SMS inbox has no fallback of its own
    [event] = await _events(live, conv, "fallback")
    assert (event["data"]["from"], event["data"]["to"]) == ("whatsapp", "sms")
    assert event["data"]["why"].startswith("failed: ") and "window has closed" in event["data"]["why"]
    timeline = await live.get(f"/api/conversations/{conv}/timeline", who="agent")
    out = [t for t in timeline["items"] if t["type"] == "message" and t.get("direction") == "out"]
    assert [(m["status"], m["automatic"]) for m in out][-2:] == [("failed", None), ("queued", "fallback")]
    assert out[-1]["author_id"] == out[-2]["author_id"] is not None  # the agent's, sent again
    assert out[-1]["payload"]["fallback_of"] == out[-2]["id"]
    page = await live.client.get(f"/ui/conversations/{conv}", headers=live.as_("agent"))
    assert "WhatsApp message failed: " in page.text and "sent again by SMS" in page.text
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == 1  # once


async def test_a_reply_not_delivered_in_time_goes_by_sms_and_the_first_expires_before(live: Live) -> None:
    wa, conv = await _fallback_to_sms(live, minutes=10)
    assert (await reply(live, conv, text="Your table is ready", inbox_id=wa["id"])).status_code == 202
    [first] = await live.fake.wait_for_sent(1)
    assert first["to"] == f"whatsapp:{CUSTOMER}" and first["validity_period"] == str(10 * 60 - 30)
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == 1  # nothing before its time
    live.app.state.ctx.clock.advance(timedelta(minutes=10, seconds=1))
    sent = await live.fake.wait_for_sent(2)
    assert (sent[1]["to"], sent[1]["body"]) == (CUSTOMER, "Your table is ready")
    [event] = await _events(live, conv, "fallback")
    assert event["data"]["why"] == "not delivered within 10 minutes"
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == 2


async def test_a_reply_delivered_in_time_needs_no_fallback(live: Live) -> None:
    wa, conv = await _fallback_to_sms(live, minutes=10)
    assert (await reply(live, conv, text="On its way", inbox_id=wa["id"])).status_code == 202
    [first] = await live.fake.wait_for_sent(1)
    r = await live.status_callback(first["sid"], "delivered", From=f"whatsapp:{SENDER}", To=f"whatsapp:{CUSTOMER}")
    assert r.status_code == 204
    live.app.state.ctx.clock.advance(timedelta(minutes=11))
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == 1 and await _events(live, conv, "fallback") == []


async def test_no_fallback_to_an_opted_out_identity_and_the_conversation_says_why(live: Live) -> None:
    wa, conv = await _fallback_to_sms(live, minutes=5)
    assert (await live.sms(CUSTOMER, "STOP")).status_code == 200
    await live.app.state.campaigns.settled()
    sent_before = len(live.fake.sent)
    live.fake.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    stream = await live.events("agent")
    assert (await reply(live, conv, text="One more thing", inbox_id=wa["id"])).status_code == 202
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    await stream.close()
    await live.app.state.campaigns.settled()
    [skipped] = await _events(live, conv, "fallback_skipped")
    assert "opted out" in skipped["data"]["reason"], skipped
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == sent_before  # no SMS


async def test_the_fallback_settings_are_checked(live: Live) -> None:
    wa, _ = await _two_channel_contact(live)

    async def patch(settings: dict[str, Any]) -> httpx.Response:
        return await live.client.patch(f"/api/inboxes/{wa['id']}", headers=live.as_("admin"),
                                       json={"settings": settings})
    for bad, words in (({"fallback_inbox_id": wa["id"]}, "no other inbox"),
                       ({"fallback_inbox_id": 9999}, "no other inbox"),
                       ({"fallback_inbox_id": live.inbox["id"], "fallback_minutes": 0}, "1 to 600"),
                       ({"fallback_inbox_id": "sms"}, "the id of another inbox")):
        r = await patch(bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_fallback", (bad, r.text)
        assert words in r.json()["error"]["message"]
    second = await create_inbox(live, phone_number="+14155230000", fallback_inbox_id=wa["id"])
    assert second.status_code == 422 and "same channel" in second.json()["error"]["message"]
    ok = await patch({"fallback_inbox_id": live.inbox["id"]})
    assert ok.status_code == 200 and ok.json()["settings"]["fallback_minutes"] == 15  # the default
    off = await patch({"fallback_inbox_id": None, "fallback_minutes": None})
    assert off.status_code == 200 and "fallback_inbox_id" not in off.json()["settings"]


async def test_an_admin_sets_the_fallback_on_the_inbox_page(live: Live) -> None:
    wa, _ = await _two_channel_contact(live)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "admin")).status_code == 303
        token = await page_token(client, "/admin/inboxes")
        page = await client.get("/admin/inboxes")
        assert f'id="inbox-{wa["id"]}-fallback"' in page.text and "Channel fallback" in page.text
        saved = await client.post("/admin/inbox-fallback", data={
            "csrf_token": token, "inbox_id": str(wa["id"]), "fallback_inbox_id": str(live.inbox["id"]),
            "fallback_minutes": "20"})
        assert saved.status_code == 303 and "done=" in saved.headers["location"], saved.text
        inbox = await live.get(f"/api/inboxes/{wa['id']}", who="admin")
        assert (inbox["settings"]["fallback_inbox_id"], inbox["settings"]["fallback_minutes"]) == (
            live.inbox["id"], 20)
        page = await client.get("/admin/inboxes")
        assert "after 20 min" in page.text
        refused = await client.post("/admin/inbox-fallback", data={
            "csrf_token": token, "inbox_id": str(wa["id"]), "fallback_inbox_id": str(live.inbox["id"]),
            "fallback_minutes": "900"})
        assert refused.status_code == 303 and "error=" in refused.headers["location"]
        shown = await client.get(refused.headers["location"])
        assert "Wait for delivery is 1 to 600 minutes" in shown.text
        off = await client.post("/admin/inbox-fallback", data={
            "csrf_token": token, "inbox_id": str(wa["id"]), "fallback_inbox_id": "", "fallback_minutes": "20"})
        assert off.status_code == 303
        inbox = await live.get(f"/api/inboxes/{wa['id']}", who="admin")
        assert "fallback_inbox_id" not in inbox["settings"] and "fallback_minutes" not in inbox["settings"]


async def test_a_reply_waiting_for_its_retry_is_withdrawn_when_its_fallback_goes(live: Live) -> None:
    """Twilio asked us to come back in an hour (429, Retry-After); ten minutes on, the SMS goes
    and the WhatsApp send waiting for its retry is withdrawn: an hour later nothing else goes."""
    wa, conv = await _fallback_to_sms(live, minutes=10)
    live.fake.failures.append(Failure(429, 20429, "Too Many Requests", headers={"Retry-After": "3600"}))
    stream = await live.events("agent")
    assert (await reply(live, conv, text="Your code is 4711", inbox_id=wa["id"])).status_code == 202
    await stream.next(lambda e: e["type"] == "message.updated" and (e["data"]["message"]["error"] or {}).get("message"))
    live.app.state.ctx.clock.advance(timedelta(minutes=10, seconds=1))
    [sms] = await live.fake.wait_for_sent(1)
    assert (sms["to"], sms["body"]) == (CUSTOMER, "Your code is 4711")
    withdrawn = await stream.next(lambda e: e["type"] == "message.updated"
                                  and e["data"]["message"]["status"] == "failed")
    await stream.close()
    assert withdrawn["data"]["message"]["error"]["code"] == "withdrawn"
    assert "sent by sms instead" in withdrawn["data"]["message"]["error"]["message"]
    live.app.state.ctx.clock.advance(timedelta(hours=2))  # past the retry it was waiting for
    # A later reply is claimed after anything due before it: once it is sent, a WhatsApp
    # send still waiting would have gone first.
    assert (await reply(live, conv, text="And one more", inbox_id=live.inbox["id"])).status_code == 202
    sent = await live.fake.wait_for_sent(2)
    assert [(m["to"], m["body"]) for m in sent] == [(CUSTOMER, "Your code is 4711"), (CUSTOMER, "And one more")]
