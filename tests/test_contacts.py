"""One customer, one contact, one conversation: identity resolution across channels and
format variants, the reopen window, and merging contacts without losing anything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


from inbox import actions
from inbox.domain.channels import InboundMessage
from inbox.domain.clock import MovableClock
from inbox.domain.tables import INBOXES
from tests.conftest import Live


async def _whatsapp_inbox(live: Live) -> int:
    """A WhatsApp inbox row, so a WhatsApp-shaped message can be recorded before that
    channel's adapter exists (the identity rules are channel-agnostic)."""
    def create(tx):  # type: ignore[no-untyped-def]
        return tx.conn.execute(INBOXES.insert().values(
            kind="whatsapp", name="WA", address="1234567890", settings={},
            created_at=datetime.now(timezone.utc))).inserted_primary_key[0]
    return await live.app.state.ctx.db.write(create)  # type: ignore[no-any-return]


async def test_sms_and_whatsapp_of_one_number_are_one_contact_and_one_conversation(live: Live) -> None:
    await live.sms("(555) 765-4321", "on SMS this morning")  # a national-format variant
    wa_inbox = await _whatsapp_inbox(live)
    await actions.record_inbound(live.app.state.ctx, InboundMessage(
        inbox_id=wa_inbox, kind="whatsapp", handle="15557654321", phone="+15557654321",
        provider_message_id="wamid.HBgL", text="on WhatsApp this afternoon", profile_name="Dana Scully",
        timestamp=datetime.now(timezone.utc)))

    convs = (await live.get("/api/conversations"))["items"]
    assert len(convs) == 1
    conv = convs[0]
    assert conv["channel"] == "whatsapp" and conv["inbox_id"] == wa_inbox  # replies default to the latest channel
    contact = await live.get(f"/api/contacts/{conv['contact']['id']}")
    assert sorted((i["kind"], i["handle"]) for i in contact["identities"]) == [
        ("sms", "+15557654321"), ("whatsapp", "15557654321")]
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert [(m["text"], m["inbox_id"]) for m in timeline if m["type"] == "message"] == [
        ("on SMS this morning", live.inbox["id"]), ("on WhatsApp this afternoon", wa_inbox)]
    channels = {c["kind"]: c for c in (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"]}
    assert channels["sms"]["available"] and channels["whatsapp"]["default"]


async def test_resolved_conversation_reopens_within_window_and_starts_anew_after(live: Live,
                                                                                 clock: MovableClock) -> None:
    await live.sms("+15557654321", "first")
    conv = (await live.get("/api/conversations"))["items"][0]
    r = await live.client.post(f"/api/conversations/{conv['id']}/status", json={"status": "resolved"},
                               headers=live.as_("agent"))
    assert r.status_code == 200 and r.json()["status"] == "resolved"

    await live.sms("+15557654321", "one more thing")
    convs = (await live.get("/api/conversations"))["items"]
    assert [(c["id"], c["status"]) for c in convs] == [(conv["id"], "open")]

    await live.client.post(f"/api/conversations/{conv['id']}/status", json={"status": "resolved"},
                           headers=live.as_("agent"))
    clock.advance(timedelta(days=8))  # past the reopen window (settings.reopen_days)
    await live.sms("+15557654321", "new problem")
    convs = (await live.get("/api/conversations"))["items"]
    assert len(convs) == 2 and convs[0]["id"] != conv["id"] and convs[0]["status"] == "open"
    contact = await live.get(f"/api/contacts/{conv['contact']['id']}")
    assert {c["id"] for c in contact["conversations"]} == {c["id"] for c in convs}
    events = [i for i in (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"] if i["type"] == "event"]
    assert [(e["kind"], e["data"].get("to")) for e in events] == [
        ("created", None), ("status_changed", "resolved"), ("status_changed", "open"), ("status_changed", "resolved")]


async def test_merge_moves_identities_conversations_and_notes(live: Live) -> None:
    await live.sms("+15557654321", "from phone A")
    await live.sms("+15551112222", "from phone B")
    convs = (await live.get("/api/conversations"))["items"]
    a, b = sorted(convs, key=lambda c: c["id"])
    note = await live.client.post(f"/api/conversations/{b['id']}/notes", json={"text": "VIP customer"},
                                  headers=live.as_("agent"))
    assert note.status_code == 201
    patch = await live.client.patch(f"/api/contacts/{b['contact']['id']}", headers=live.as_("agent"),
                                    json={"name": "Fox Mulder", "attributes": {"plan": "gold"}})
    assert patch.status_code == 200

    stream = await live.events()
    r = await live.client.post(f"/api/contacts/{a['contact']['id']}/merge", json={"other_id": b["contact"]["id"]},
                               headers=live.as_("agent"))
    assert r.status_code == 200, r.text
    merged = r.json()
    assert sorted(i["handle"] for i in merged["identities"]) == ["+15551112222", "+15557654321"]
    assert {c["id"] for c in merged["conversations"]} == {a["id"], b["id"]}
    assert merged["attributes"] == {"plan": "gold"}
    ev = await stream.next(lambda e: e["type"] == "contact.updated")
    assert ev["data"]["merged_contact_id"] == b["contact"]["id"]

    timeline = (await live.get(f"/api/conversations/{b['id']}/timeline"))["items"]
    assert [i["text"] for i in timeline if i["type"] == "note"] == ["VIP customer"]
    assert [i["text"] for i in timeline if i["type"] == "message"] == ["from phone B"]
    assert any(i["type"] == "event" and i["kind"] == "merged" for i in timeline)
    gone = await live.client.get(f"/api/contacts/{b['contact']['id']}", headers=live.as_("agent"))
    assert gone.json()["merged_into_id"] == a["contact"]["id"]
    # The merged-away contact's number now reaches the survivor.
    await live.sms("+15551112222", "after merge")
    conv_b = await live.get(f"/api/conversations/{b['id']}")
    assert conv_b["contact"]["id"] == a["contact"]["id"] and conv_b["last_message_preview"] == "after merge"
    await stream.close()


async def test_a_contact_shows_an_agent_only_the_conversations_they_may_see(live: Live) -> None:
    """A merge folds in conversations of teams the agent is not in: neither the merge's
    answer, nor GET /api/contacts/{id}, nor the UI's contact panel lists them."""
    team = await live.client.post("/api/teams", headers=live.as_("admin"),
                                  json={"name": "Billing", "member_ids": [live.users["agent2"]["id"]]})
    await live.sms("+15557654321", "where is my parcel?")
    await live.sms("+15551112222", "refund the card ending 4242")
    mine, hidden = sorted((await live.get("/api/conversations"))["items"], key=lambda c: c["id"])
    r = await live.client.post(f"/api/conversations/{hidden['id']}/assignment", headers=live.as_("lead"),
                               json={"team_id": team.json()["id"]})
    assert r.status_code == 200
    contact = mine["contact"]["id"]

    r = await live.client.post(f"/api/contacts/{contact}/merge", json={"other_id": hidden["contact"]["id"]},
                               headers=live.as_("agent"))
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["conversations"]] == [mine["id"]]
    assert "4242" not in r.text
    assert [c["id"] for c in (await live.get(f"/api/contacts/{contact}"))["conversations"]] == [mine["id"]]
    assert {c["id"] for c in (await live.get(f"/api/contacts/{contact}", who="lead"))["conversations"]} == {
        mine["id"], hidden["id"]}
    assert sorted(i["handle"] for i in r.json()["identities"]) == ["+15551112222", "+15557654321"]

    def panel_links(html: str) -> set[int]:
        panel = html[html.index('<aside id="contact"'):]
        return {int(part.split('"')[0]) for part in panel.split('href="/inbox?c=')[1:]}
    for who, expected in (("agent", {mine["id"]}), ("lead", {mine["id"], hidden["id"]})):
        page = await live.client.get(f"/ui/conversations/{mine['id']}", headers=live.as_(who))
        assert page.status_code == 200 and panel_links(page.text) == expected, who


async def test_contact_search_and_attribute_patch(live: Live) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    cid = conv["contact"]["id"]
    await live.client.patch(f"/api/contacts/{cid}", headers=live.as_("agent"),
                            json={"name": "Dana Scully", "attributes": {"tier": "gold", "city": "DC"}})
    r = await live.client.patch(f"/api/contacts/{cid}", headers=live.as_("agent"), json={"attributes": {"city": None}})
    assert r.json()["attributes"] == {"tier": "gold"}
    bad = await live.client.patch(f"/api/contacts/{cid}", headers=live.as_("agent"), json={"role": "admin"})
    assert bad.status_code == 422
    assert [c["id"] for c in (await live.get("/api/contacts", params={"q": "scully"}))["items"]] == [cid]
    assert [c["id"] for c in (await live.get("/api/contacts", params={"q": "7654321"}))["items"]] == [cid]
    assert (await live.get("/api/contacts", params={"q": "nobody"}))["items"] == []
    assert [c["id"] for c in (await live.get("/api/contacts", params={"q": "Sc"}))["items"]] == [cid]  # short
    assert [c["id"] for c in (await live.get("/api/contacts", params={"q": "NA SCU"}))["items"]] == [cid]
    for hostile in ('"', '"x*', "a\x00bc", "NEAR(", "%_"):  # never query syntax, never a 500
        assert (await live.get("/api/contacts", params={"q": hostile}))["items"] == []
    by_text = await live.get("/api/conversations", params={"q": "hello"})
    assert [c["id"] for c in by_text["items"]] == [conv["id"]]


async def test_snoozed_conversation_wakes_when_its_time_comes(live: Live, clock: MovableClock) -> None:
    await live.sms("+15557654321", "remind me later")
    conv = (await live.get("/api/conversations"))["items"][0]
    stream = await live.events()
    later = (clock.now() + timedelta(hours=3)).isoformat()
    r = await live.client.post(f"/api/conversations/{conv['id']}/status", headers=live.as_("agent"),
                               json={"status": "snoozed", "snoozed_until": later})
    assert r.status_code == 200 and r.json()["status"] == "snoozed" and r.json()["snoozed_until"]
    clock.advance(timedelta(hours=3))  # wakes the timer, which would otherwise wait 30 s before looking again
    woke = await stream.next(lambda e: e["type"] == "conversation.updated"
                             and e["data"]["conversation"]["status"] == "open", timeout=5)
    assert woke["data"]["previous_status"] == "snoozed"
    missing = await live.client.post(f"/api/conversations/{conv['id']}/status", headers=live.as_("agent"),
                                     json={"status": "snoozed"})
    assert missing.status_code == 422
    await stream.close()
