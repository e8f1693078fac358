"""The delivery worker against a misbehaving fake Twilio: outages, permanent errors,
timeouts, the retry budget, manual retries, and idempotent reply requests."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Live


async def _conversation(live: Live, body: str = "hi") -> dict[str, Any]:
    assert (await live.sms("+15557654321", body)).status_code == 200
    return (await live.get("/api/conversations"))["items"][0]  # type: ignore[no-any-return]


async def _reply(live: Live, conv_id: int, text: str, **headers: str) -> Any:
    return await live.client.post(f"/api/conversations/{conv_id}/messages", json={"text": text},
                                  headers={**live.as_("agent"), **headers})


async def test_reply_queued_while_provider_down_is_delivered_exactly_once_when_back(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.down = True
    r = await _reply(live, conv["id"], "sorry for the wait")
    assert r.status_code == 202
    # The agent sees the outage on the message while it is retried.
    retrying = await stream.next(lambda e: e["type"] == "message.updated"
                                 and (e["data"]["message"]["error"] or {}).get("message", "").find("retrying") >= 0)
    assert retrying["data"]["message"]["status"] == "queued"
    assert live.fake.sent == []
    live.fake.down = False
    sent = await live.fake.wait_for_sent(1)
    done = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["provider_message_id"])
    assert done["data"]["message"]["error"] is None
    assert [m["body"] for m in sent] == ["sorry for the wait"]
    assert live.fake.attempts >= 2
    # Nothing is sent again later: the job is done. A second reply proves the worker is
    # still running and that the first was not resent alongside it.
    await _reply(live, conv["id"], "second")
    await live.fake.wait_for_sent(2)
    assert [m["body"] for m in live.fake.sent] == ["sorry for the wait", "second"]
    await stream.close()


async def test_permanent_provider_error_fails_the_message_at_once(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.fail_next(400, 21211, "The 'To' number +15557654321 is not a valid phone number.")
    await _reply(live, conv["id"], "hello")
    failed = await stream.next(lambda e: e["type"] == "message.updated"
                               and e["data"]["message"]["status"] == "failed")
    assert failed["data"]["message"]["error"]["code"] == "21211"
    assert "not a valid phone number" in failed["data"]["message"]["error"]["message"]
    assert live.fake.attempts == 1  # not retried
    await stream.close()


async def test_unsubscribed_recipient_marks_identity_opted_out(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    await _reply(live, conv["id"], "hello")
    failed = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    assert "unsubscribed" in failed["data"]["message"]["error"]["message"]
    detail = await live.get(f"/api/conversations/{conv['id']}")
    sms = [c for c in detail["reply_channels"] if c["kind"] == "sms"][0]
    assert sms["available"] is False and "opted out" in sms["reason"]
    r = await _reply(live, conv["id"], "again")
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out"
    await stream.close()


async def test_retry_budget_then_visible_failure_then_manual_retry_resends(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    for _ in range(4):  # max_attempts is 4 in tests: 500, timeout, 429, 500
        live.fake.fail_next(500, 20500, "Internal Server Error")
    live.fake.failures[1].hang = True
    live.fake.failures[2].status = 429
    msg = (await _reply(live, conv["id"], "are you there?")).json()
    failed = await stream.next(lambda e: e["type"] == "message.updated"
                               and e["data"]["message"]["status"] == "failed", timeout=20)
    assert "gave up after 4 attempts" in failed["data"]["message"]["error"]["message"]
    assert live.fake.attempts == 4 and live.fake.sent == []

    r = await live.client.post(f"/api/messages/{msg['id']}/retry", headers=live.as_("agent"))
    assert r.status_code == 202 and r.json()["status"] == "queued"
    sent = await live.fake.wait_for_sent(1)
    assert sent[0]["body"] == "are you there?"
    again = await live.client.post(f"/api/messages/{msg['id']}/retry", headers=live.as_("agent"))
    assert again.status_code == 409  # only failed messages can be retried
    await stream.close()


async def test_a_send_twilio_took_whose_answer_was_lost_is_recorded_not_sent_again(live: Live) -> None:
    """Twilio takes the message but its answer never arrives (here: a timeout; as well, a
    worker killed before it committed the answer). The retry asks Twilio first."""
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.fail_next(201, 0, "", hang=True, accept=True)
    msg = (await _reply(live, conv["id"], "your parcel left the depot")).json()
    sent = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["id"] == msg["id"]
                             and e["data"]["message"]["status"] == "sent", timeout=20)
    [taken] = live.fake.sent
    assert taken["body"] == "your parcel left the depot" and live.fake.attempts == 1  # asked, not sent again
    assert sent["data"]["message"]["provider_message_id"] == taken["sid"]
    # The next reply with the same words is a new message: sent, as the first was recorded.
    second = (await _reply(live, conv["id"], "your parcel left the depot")).json()
    assert (await live.fake.wait_for_sent(2))[1]["body"] == "your parcel left the depot"
    done = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["id"] == second["id"]
                             and e["data"]["message"]["provider_message_id"] is not None)
    assert done["data"]["message"]["provider_message_id"] == live.fake.sent[1]["sid"]
    await stream.close()


async def test_idempotency_key_never_creates_two_replies(live: Live) -> None:
    conv = await _conversation(live)
    first = await _reply(live, conv["id"], "once", **{"Idempotency-Key": "abc-123"})
    second = await _reply(live, conv["id"], "once", **{"Idempotency-Key": "abc-123"})
    assert first.status_code == 202 and second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    await live.fake.wait_for_sent(1)
    other = await _reply(live, conv["id"], "twice", **{"Idempotency-Key": "abc-456"})
    assert other.status_code == 202
    await live.fake.wait_for_sent(2)
    assert [m["body"] for m in live.fake.sent] == ["once", "twice"]


async def test_reply_validation(live: Live) -> None:
    conv = await _conversation(live)
    empty = await _reply(live, conv["id"], "   ")
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_message"
    missing = await live.client.post("/api/conversations/9999/messages", json={"text": "x"}, headers=live.as_("agent"))
    assert missing.status_code == 404
    bad_inbox = await live.client.post(f"/api/conversations/{conv['id']}/messages",
                                       json={"text": "x", "inbox_id": 4242}, headers=live.as_("agent"))
    assert bad_inbox.status_code == 422 and bad_inbox.json()["error"]["code"] == "no_channel"


async def test_rate_limit_honours_retry_after(live: Live) -> None:
    conv = await _conversation(live)
    stream = await live.events()
    live.fake.fail_next(429, 20429, "Too Many Requests", headers={"Retry-After": "1"})
    await _reply(live, conv["id"], "patience")
    waiting = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["error"])
    started = asyncio.get_running_loop().time()
    assert "rate limiting" in waiting["data"]["message"]["error"]["message"]
    assert "retrying in 1 s" in waiting["data"]["message"]["error"]["message"]  # not the 0.05 s backoff
    await live.fake.wait_for_sent(1)
    assert asyncio.get_running_loop().time() - started >= 0.9
    await stream.close()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_an_uploaded_file_goes_out_by_a_signed_public_link(live: Live) -> None:
    conv = await _conversation(live)
    up = await live.client.post("/api/uploads", headers=live.as_("agent"),
                                files={"file": ("label.png", PNG, "image/png")})
    assert up.status_code == 201, up.text
    link = up.json()["url"]
    assert link.startswith(live.url + "/media/public/") and "sig=" in link
    fetched = await live.client.get(link)  # what the provider does: no credentials
    assert fetched.status_code == 200 and fetched.content == PNG
    assert (await live.client.get(link.replace("sig=", "sig=0"))).status_code == 403
    assert (await live.client.get(link.split("?")[0])).status_code == 403

    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "your label", "attachments": [up.json()]})
    assert r.status_code == 202, r.text
    sent = (await live.fake.wait_for_sent(1))[0]
    assert sent["media_url"] == [link] and sent["body"] == "your label"

    html = await live.client.post("/api/uploads", headers=live.as_("agent"),
                                  files={"file": ("x.html", b"<script>alert(1)</script>", "text/html")})
    assert html.status_code == 422 and html.json()["error"]["code"] == "file_rejected"
    assert (await live.client.post("/api/uploads", files={"file": ("a.png", PNG, "image/png")})).status_code == 401


async def test_an_inbox_send_rate_is_never_exceeded_and_nothing_is_sent_twice(live: Live) -> None:
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"settings": {"send_rate_per_second": 20}})
    assert r.status_code == 200 and r.json()["settings"]["send_rate_per_second"] == 20
    bad = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                  json={"settings": {"send_rate_per_second": -1}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_send_rate"
    conv = await _conversation(live)
    for i in range(40):
        assert (await _reply(live, conv["id"], f"update {i}")).status_code == 202
    sent = await live.fake.wait_for_sent(40, timeout=20)
    assert sorted(m["body"] for m in sent) == sorted(f"update {i}" for i in range(40))  # each once
    times = sorted(m["at"] for m in sent)
    assert times[-1] - times[0] >= 39 / 20 * 0.95  # paced, not all at once
    # No more than 20 sends start in any 1.2 s (PACE_JITTER), so however their way to the
    # fake varies by up to 0.2 s, no rolling second there holds a 21st.
    assert min(times[i + 20] - times[i] for i in range(len(times) - 20)) >= 1.0
