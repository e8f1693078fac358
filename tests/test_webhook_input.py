"""Bad webhook input gets a clear 4xx and stores nothing; never a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Live
from tests.helpers.twilio import inbound_params, signed


async def _count_conversations(live: Live) -> int:
    return len((await live.get("/api/conversations", who="lead"))["items"])


async def test_bad_or_missing_signature_is_403_and_stores_nothing(live: Live) -> None:
    params = inbound_params(OUR_NUMBER, "+15557654321", "forged", AccountSid=ACCOUNT_SID)
    forged = signed(live.url, "/webhooks/twilio", params, "not-the-auth-token")
    assert (await live.client.post("/webhooks/twilio", **forged)).status_code == 403
    unsigned = await live.client.post("/webhooks/twilio", data=params)
    assert unsigned.status_code == 403 and unsigned.json()["error"]["code"] == "invalid_signature"
    # Signed for other params than those sent.
    tampered = signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN)
    tampered["data"] = {**params, "Body": "tampered"}
    assert (await live.client.post("/webhooks/twilio", **tampered)).status_code == 403
    assert await _count_conversations(live) == 0


async def test_unknown_destination_is_404(live: Live) -> None:
    params = inbound_params("+15559999999", "+15557654321", "to nobody", AccountSid=ACCOUNT_SID)
    r = await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_inbox"
    assert await _count_conversations(live) == 0


async def test_malformed_bodies_are_400(live: Live) -> None:
    for body in (b"\xff\xfe\x00garbage", b"To=%2B15550001111&&=&%zz"):
        r = await live.client.post("/webhooks/twilio", content=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == "malformed_body"
    # A valid signature over a body with no MessageSid: still a 400, with the reason.
    params = {"To": OUR_NUMBER, "From": "+15557654321", "Body": "x"}
    r = await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 400 and "MessageSid" in r.json()["error"]["message"]
    assert await _count_conversations(live) == 0


async def test_oversized_body_is_413(live: Live) -> None:
    params = inbound_params(OUR_NUMBER, "+15557654321", "x" * 2_000_000, AccountSid=ACCOUNT_SID)
    r = await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert await _count_conversations(live) == 0


async def test_status_callback_with_bad_signature_changes_nothing(live: Live) -> None:
    await live.sms("+15557654321", "hi")
    conv = (await live.get("/api/conversations"))["items"][0]
    await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "yo"}, headers=live.as_("agent"))
    sent = (await live.fake.wait_for_sent(1))[0]
    params = {"MessageSid": sent["sid"], "MessageStatus": "failed", "AccountSid": ACCOUNT_SID, "ErrorCode": "30007"}
    r = await live.client.post("/webhooks/twilio/status", **signed(live.url, "/webhooks/twilio/status", params, "x"))
    assert r.status_code == 403
    msgs = [i for i in (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
            if i["type"] == "message" and i["direction"] == "out"]
    assert msgs[0]["status"] != "failed"


async def test_fuzzed_twilio_params_never_500(live: Live) -> None:
    """Signed but mutated payloads: every answer is 200 or a clear 4xx."""
    base = inbound_params(OUR_NUMBER, "+15557654321", "hello", AccountSid=ACCOUNT_SID)
    mutations: list[dict[str, str]] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(sorted(base) + ["NumMedia", "MediaUrl0", "OptOutType", "To"]),
                           st.text(max_size=40), max_size=5))
    def mutate(changes: dict[str, str]) -> None:
        mutations.append({**base, **changes})

    mutate()  # collect the examples first: the posts below need the event loop
    for params in mutations:
        r = await live.client.post("/webhooks/twilio", **signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
        assert r.status_code in (200, 400, 403, 404), (params, r.status_code, r.text)
    assert len(mutations) >= 30
