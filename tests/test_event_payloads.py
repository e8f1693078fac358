"""Every live event carries its entities as a fresh GET of the REST API returns them (in
the spirit of Zulip's verify_action): each action is done through the API or a signed
webhook, and each payload of the events it pushes is compared with the entity read again.
A payload built apart from the serializers, or a field one side forgets, fails here.

Where the two views legitimately differ, the difference is named where it is removed:
- ``GET /api/conversations/{id}`` adds ``reply_channels``, worked out at read time for
  that request (reply windows move with the clock), and ``sla_detail`` (the SLA targets
  and clock); events carry neither (``sla`` is the summary both have).
- ``GET /api/contacts/{id}`` adds ``conversations``, only those the reader may see, and
  ``identities``; ``contact.updated`` goes to every user, so it carries no conversations,
  and identities only after a merge.
- A timeline item has ``type: "message"`` / ``"note"``; the inbound message's event adds
  ``sender`` (docs/events.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import Live
from tests.fakes.telegram import FakeTelegram
from tests.helpers.live import EventStream
from tests.helpers.telegram import BOT_TOKEN, SECRET, deliver, fake_telegram, update

__all__ = ["fake_telegram"]  # a fixture
WHO = "lead"  # sees every conversation, so every event and every GET


@pytest.fixture
def live_overrides(fake_telegram: FakeTelegram) -> dict[str, Any]:
    return {"telegram_api_base": fake_telegram.url}


def of(kind: str, **match: Any) -> Any:
    """An event of that type whose data's entities have these ids (``message=3``...)."""
    return lambda e: e["type"] == kind and all(e["data"][k]["id"] == v for k, v in match.items())


async def fresh_conversation(live: Live, conversation_id: int) -> dict[str, Any]:
    conv: dict[str, Any] = await live.get(f"/api/conversations/{conversation_id}", WHO)
    del conv["reply_channels"], conv["sla_detail"]  # read-time only, see the module's docstring
    return conv


async def timeline_item(live: Live, conversation_id: int, kind: str, item_id: int) -> dict[str, Any]:
    items = (await live.get(f"/api/conversations/{conversation_id}/timeline", WHO))["items"]
    [item] = [i for i in items if i["type"] == kind and i["id"] == item_id]
    del item["type"]  # the timeline's tag, not a field of the entity
    return item  # type: ignore[no-any-return]


async def fresh_contact(live: Live, contact_id: int, *, identities: bool = False) -> dict[str, Any]:
    contact: dict[str, Any] = await live.get(f"/api/contacts/{contact_id}", WHO)
    del contact["conversations"]  # the reader's own view, see the module's docstring
    if not identities:
        del contact["identities"]
    return contact


async def check_conversation(live: Live, event: dict[str, Any]) -> dict[str, Any]:
    conv = event["data"]["conversation"]
    assert conv == await fresh_conversation(live, conv["id"])
    return conv  # type: ignore[no-any-return]


async def check_message(live: Live, event: dict[str, Any]) -> dict[str, Any]:
    message = dict(event["data"]["message"])
    message.pop("sender", None)  # the inbound event's addition, checked apart
    assert message == await timeline_item(live, message["conversation_id"], "message", message["id"])
    if "conversation" in event["data"]:
        await check_conversation(live, event)
    return message


async def sms_events(live: Live, stream: EventStream, from_: str, text: str, *types: str) -> list[dict[str, Any]]:
    assert (await live.sms(from_, text)).status_code == 200
    return [await stream.next(lambda e, t=t: e["type"] == t) for t in types]  # type: ignore[misc]


async def post(live: Live, path: str, body: dict[str, Any], status: int = 200) -> Any:
    r = await live.client.post(path, json=body, headers=live.as_(WHO))
    assert r.status_code == status, r.text
    return r.json()


async def test_a_customer_from_a_new_handle_then_again(live: Live) -> None:
    stream = await live.events(WHO)
    contact_ev, created, first = await sms_events(live, stream, "+15557654321", "Where is my order?",
                                                  "contact.updated", "conversation.created", "message.created")
    assert contact_ev["data"]["contact"] == await fresh_contact(live, contact_ev["data"]["contact"]["id"])
    assert contact_ev["data"]["contact"]["merged_into_id"] is None
    await check_conversation(live, created)
    message = await check_message(live, first)
    contact = contact_ev["data"]["contact"]
    assert first["data"]["message"]["sender"] == {"contact_id": contact["id"], "name": contact["name"],
                                                  "handle": "+15557654321", "channel": "sms"}

    # An existing contact and conversation: the message and the conversation after it.
    [again] = await sms_events(live, stream, "+15557654321", "Any news?", "message.created")
    assert again["data"]["message"]["id"] != message["id"]
    await check_message(live, again)
    await stream.close()


async def test_status_changes_snooze_reopen_read_assign_and_notes(live: Live) -> None:
    await live.sms("+15557654321", "hello")
    stream = await live.events(WHO)
    conv = (await live.get("/api/conversations", WHO))["items"][0]
    path = f"/api/conversations/{conv['id']}"

    until = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    for body in ({"status": "pending"}, {"status": "snoozed", "snoozed_until": until}, {"status": "open"},
                 {"status": "resolved"}):
        answer = await post(live, f"{path}/status", body)
        event = await stream.next(of("conversation.updated", conversation=conv["id"]))
        assert event["data"]["conversation"]["status"] == body["status"]
        assert await check_conversation(live, event) == answer  # the action's own answer, too

    # The customer writes again: the resolved conversation is woken, then the message.
    woken, created = await sms_events(live, stream, "+15557654321", "still there?",
                                      "conversation.updated", "message.created")
    assert woken["data"]["previous_status"] == "resolved"
    await check_conversation(live, woken)
    await check_message(live, created)

    await post(live, f"{path}/read", {})
    await check_conversation(live, await stream.next(of("conversation.updated", conversation=conv["id"])))

    await post(live, f"{path}/assignment", {"user_id": live.users["agent"]["id"]})
    await check_conversation(live, await stream.next(of("conversation.assigned", conversation=conv["id"])))

    note = await post(live, f"{path}/notes", {"text": "@agent please call them"}, 201)
    assert note.pop("not_notified") == []  # for the writer only: who was mentioned in vain
    event = await stream.next(lambda e: e["type"] == "note.created")
    assert event["data"]["note"] == note == await timeline_item(live, conv["id"], "note", note["id"])
    assert note["mentions"] == [live.users["agent"]["id"]]
    await stream.close()


async def test_a_reply_its_acceptance_a_receipt_and_a_retry(live: Live) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations", WHO))["items"][0]
    stream = await live.events(WHO)
    # The fake Twilio holds each send until released, so the reply is read back as queued.
    release = asyncio.Event()

    async def hold(_: dict[str, Any]) -> None:
        await release.wait()
    live.fake.before_reply = hold

    reply = await post(live, f"/api/conversations/{conv['id']}/messages", {"text": "On its way"}, 202)
    queued = await stream.next(of("message.created", message=reply["id"]))
    assert await check_message(live, queued) == reply
    release.set()
    accepted = await stream.next(lambda e: e["type"] == "message.updated"
                                 and e["data"]["message"]["provider_message_id"] is not None)
    await check_message(live, accepted)

    sid = accepted["data"]["message"]["provider_message_id"]
    assert (await live.status_callback(sid, "undelivered", ErrorCode="30003")).status_code == 204
    failed = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    assert (await check_message(live, failed))["error"]["code"] == "30003"

    release.clear()
    retried = await post(live, f"/api/messages/{reply['id']}/retry", {}, 202)
    event = await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "queued")
    assert await check_message(live, event) == retried
    release.set()
    await stream.close()


async def test_a_contact_edit_and_a_merge(live: Live) -> None:
    await live.sms("+15557654321", "from my phone")
    await live.sms("+15553334444", "from my other phone")
    keep, other = sorted((await live.get("/api/contacts", WHO))["items"], key=lambda c: c["id"])
    stream = await live.events(WHO)

    r = await live.client.patch(f"/api/contacts/{keep['id']}", headers=live.as_(WHO),
                                json={"name": "Maria Lopez", "attributes": {"plan": "gold"}})
    assert r.status_code == 200, r.text
    edited = await stream.next(of("contact.updated", contact=keep["id"]))
    assert edited["data"]["contact"] == r.json() == await fresh_contact(live, keep["id"])

    merged = await post(live, f"/api/contacts/{keep['id']}/merge", {"other_id": other["id"]})
    event = await stream.next(of("contact.updated", contact=keep["id"]))
    assert event["data"]["merged_contact_id"] == other["id"]
    # After a merge the event lists the identities too (both handles now).
    assert event["data"]["contact"] == await fresh_contact(live, keep["id"], identities=True)
    assert len(event["data"]["contact"]["identities"]) == 2
    assert {k: v for k, v in merged.items() if k != "conversations"} == event["data"]["contact"]
    moved = await stream.next(lambda e: e["type"] == "conversation.updated")
    assert (await check_conversation(live, moved))["contact"] == {"id": keep["id"], "name": "Maria Lopez"}
    await stream.close()


async def test_a_customer_edit_through_the_telegram_webhook(live: Live) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "telegram", "name": "Telegram", "settings": {"bot_token": BOT_TOKEN, "secret_token": SECRET}})
    assert r.status_code == 201, r.text
    inbox_id = r.json()["id"]
    stream = await live.events(WHO)
    assert (await deliver(live.client, inbox_id, update("text"), SECRET)).status_code == 200
    created = await stream.next(lambda e: e["type"] == "message.created")
    await check_message(live, created)

    assert (await deliver(live.client, inbox_id, update("edited_message"), SECRET)).status_code == 200
    edited = await stream.next(of("message.updated", message=created["data"]["message"]["id"]))
    assert (await check_message(live, edited))["edited_at"] is not None
    await stream.close()
