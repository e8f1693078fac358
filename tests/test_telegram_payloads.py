"""Real-world Telegram updates that lack fields the current Bot API always sends (older
clients, other bridges and test tools: no User.is_bot, no file_unique_id, no Sticker.is_video,
polls without their newer ids...). python-telegram-bot's strict parser refuses each of them;
we read what we need from the JSON, so each is stored once, with the right text and files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.telegram import FIXTURES, update
from tests.test_telegram import CHAT, JPEG, WEBP, Bot, bot, fake_telegram, live_overrides  # noqa: F401 - fixtures

CONTENT = {"image/jpeg": JPEG, "image/webp": WEBP, "application/pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"}

# fixture -> (fixtures posted before it, what the conversation then shows); None: acknowledged, nothing stored.
EXPECTED: dict[str, tuple[tuple[str, ...], dict[str, Any] | None]] = {
    "text_user_without_is_bot": ((), {"text": "Is anyone there? My parcel is late"}),
    "text_chat_without_type": ((), {"text": "Sent from an old client"}),
    "photo_without_file_unique_id": ((), {"text": "Damaged corner", "attachments": [
        {"content_type": "image/jpeg", "media_id": "AgADBAADsparse_large", "size": 48211, "kind": "image"}]}),
    "sticker_without_is_video": ((), {"text": "", "payload": {"sticker": {"emoji": "\U0001F600",
                                                                           "set_name": "HappyFaces"},
                                                               "username": "ada_l"}, "attachments": [
        {"content_type": "image/webp", "media_id": "CAADAgADsparse_sticker", "size": 21532, "kind": "sticker"}]}),
    "poll": ((), {"text": "[Unsupported Telegram message: poll]", "has_raw": True}),
    "document_without_file_unique_id": ((), {"text": "My receipt", "attachments": [
        {"content_type": "application/pdf", "media_id": "BQADBAADsparse_doc", "size": 90210,
         "filename": "receipt-2291.pdf", "kind": "document"}]}),
    "voice_without_duration": ((), {"text": "", "attachments": [
        {"content_type": "audio/ogg", "media_id": "AwADBAADsparse_voice", "size": 7310, "kind": "voice"}]}),
    "video_note_without_length": ((), {"text": "", "attachments": [
        {"content_type": "video/mp4", "media_id": "DQADBAADsparse_note", "size": 183022, "kind": "video"}]}),
    "location_user_without_is_bot": ((), {"text": "[Location] 48.858844, 2.294351", "payload": {
        "location": {"latitude": 48.858844, "longitude": 2.294351}, "username": "ada_l"}}),
    "contact_without_first_name": ((), {"text": "[Contact] +33612345678", "payload": {
        "contact": {"phone": "+33612345678", "user_id": 555666777}, "username": "ada_l"}}),
    "edited_message_user_without_is_bot": (("text_user_without_is_bot",), {
        "text": "Is anyone there? My parcel is two days late", "edited": True,
        "payload": {"username": "ada_l", "previous_texts": ["Is anyone there? My parcel is late"]}}),
    "callback_query_without_chat_instance": ((), {"text": "[Button] Great", "reply_to": f"{CHAT}:1001",
                                                  "payload": {"callback_data": "rate:5", "username": "ada_l"}}),
    "channel_post": ((), None),
    "my_chat_member_kicked_bot_without_is_bot": ((), None),
}


def test_every_sparse_fixture_is_covered() -> None:
    assert sorted(EXPECTED) == sorted(p.stem for p in (FIXTURES / "sparse").glob("*.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_a_sparse_update_is_stored_once_with_its_content(bot: Bot, name: str) -> None:  # noqa: F811 - the fixture
    before, expected = EXPECTED[name]
    files = (expected or {}).get("attachments", [])
    for i, a in enumerate(files):
        bot.fake.add_file(a["media_id"], CONTENT.get(a["content_type"], b"\x1aE\xdf\xa3 some media"), f"files/file_{i}")
    stream = await bot.live.events()
    for earlier in before:
        assert (await bot.post(update(f"sparse/{earlier}"))).status_code == 200
    for _ in range(2):  # Telegram redelivers an update it thinks failed
        r = await bot.post(update(f"sparse/{name}"))
        assert r.status_code == 200 and r.json() == {"ok": True}, r.text
    if expected is None:
        assert (await bot.live.get("/api/conversations"))["items"] == []
        await stream.close()
        return
    if files:  # downloaded by the file_id alone
        await stream.next(lambda e: e["type"] == "message.updated"
                          and all("path" in a for a in e["data"]["message"]["attachments"]))
    await stream.close()
    [message] = await bot.messages()
    assert message["text"] == expected["text"] and message["direction"] == "in"
    # As announced in the update; once downloaded, the size is the file's.
    assert [{k: v for k, v in a.items() if k not in ("path", "size")} for a in message["attachments"]] == \
        [{k: v for k, v in a.items() if k != "size"} for a in files]
    assert all(a.get("path") and a["size"] == len(bot.fake.files[a["media_id"]].content)
               for a in message["attachments"])
    assert message["payload"] == expected.get("payload", {"username": "ada_l"})
    assert message["has_raw"] is expected.get("has_raw", False)
    assert (message["edited_at"] is not None) is expected.get("edited", False)
    assert message["reply_to"] == expected.get("reply_to")
    conversation = await bot.conversation()
    assert conversation["contact"]["name"] == "Ada Lovelace"
