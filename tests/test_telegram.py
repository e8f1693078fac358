"""Telegram end to end, against a fake Bot API: the inbox registers its webhook; updates
posted with the secret header become messages (text, media, locations, edits...); replies
go out through python-telegram-bot and the Bot API's errors show on the message."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Live
from tests.fakes.telegram import Failure, FakeTelegram, blocked, chat_not_found, flood, server_error
from tests.helpers.server import serve
from tests.helpers.telegram import deliver, update

BOT_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
OTHER_BOT_TOKEN = "7000000002:AAFmzzIMp6lV0b8KZJrkWbF2vE9xLsP7wQ4"
SECRET = "webhook-secret_0123456789"
CHAT = "111222333"  # the customer's private chat id (the fixtures' user)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 120
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram([BOT_TOKEN, OTHER_BOT_TOKEN])
    async with serve(fake.app) as url:
        fake.url = url
        yield fake


@pytest.fixture
def live_overrides(fake_telegram: FakeTelegram) -> dict[str, Any]:
    return {"telegram_api_base": fake_telegram.url}


@dataclass
class Bot:
    """The live app with one Telegram inbox, and its fake Bot API."""

    live: Live
    fake: FakeTelegram
    inbox: dict[str, Any]

    async def post(self, body: dict[str, Any] | bytes, secret: str | None = SECRET) -> Any:
        return await deliver(self.live.client, self.inbox["id"], body, secret)

    async def conversation(self) -> dict[str, Any]:
        convs = (await self.live.get("/api/conversations"))["items"]
        assert len(convs) == 1
        return convs[0]  # type: ignore[no-any-return]

    async def messages(self) -> list[dict[str, Any]]:
        conv = await self.conversation()
        items = (await self.live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
        return [i for i in items if i["type"] == "message"]

    async def reply(self, text: str, **extra: Any) -> dict[str, Any]:
        conv = await self.conversation()
        r = await self.live.client.post(f"/api/conversations/{conv['id']}/messages", headers=self.live.as_("agent"),
                                        json={"text": text, **extra})
        assert r.status_code == 202, r.text
        return r.json()  # type: ignore[no-any-return]


async def create_inbox(live: Live, **settings: str) -> Any:
    return await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "telegram", "name": "Telegram support", "settings": settings})


@pytest.fixture
async def bot(live: Live, fake_telegram: FakeTelegram) -> Bot:
    r = await create_inbox(live, bot_token=BOT_TOKEN, secret_token=SECRET)
    assert r.status_code == 201, r.text
    return Bot(live, fake_telegram, r.json())


def updated(message_id: int, check: Any = lambda m: True) -> Any:
    return lambda e: (e["type"] == "message.updated" and e["data"]["message"]["id"] == message_id
                      and check(e["data"]["message"]))


# -- setting up the inbox --------------------------------------------------------------------

async def test_creating_the_inbox_registers_its_webhook_with_the_secret(bot: Bot, live: Live) -> None:
    assert bot.inbox["address"] == "7000000001"  # the bot id: the same bot cannot be added twice
    assert bot.inbox["settings"] == {"bot_token": "********", "secret_token": "********"}
    url = f"{live.url}/webhooks/telegram/{bot.inbox['id']}"
    assert bot.inbox["webhook_urls"] == {"webhook_url": url}
    assert [m for m, _, _ in bot.fake.calls] == ["getMe", "setWebhook"]
    hook = bot.fake.received("setWebhook")[0]
    assert hook["url"] == url and hook["secret_token"] == SECRET
    assert hook["allowed_updates"] == ["message", "edited_message", "my_chat_member", "callback_query"]

    again = await create_inbox(live, bot_token=BOT_TOKEN)
    assert again.status_code == 409 and again.json()["error"]["code"] == "inbox_exists"

    # Without a secret_token one is generated, registered, and then required.
    other = await create_inbox(live, bot_token=OTHER_BOT_TOKEN)
    assert other.status_code == 201, other.text
    secret = bot.fake.received("setWebhook")[-1]["secret_token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret) and secret != SECRET
    assert (await deliver(live.client, other.json()["id"], update("text"), SECRET)).status_code == 403
    assert (await deliver(live.client, other.json()["id"], update("text"), secret)).status_code == 200


async def test_a_refused_webhook_registration_leaves_no_inbox(live: Live, fake_telegram: FakeTelegram) -> None:
    fake_telegram.require_https = True  # as the real Bot API: our test URL is http://127.0.0.1
    r = await create_inbox(live, bot_token=BOT_TOKEN)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "registration_failed"
    assert error["message"].endswith("Bad webhook: an https url must be provided for webhook")

    fake_telegram.require_https = False
    revoked = "7000000003:AAEj5revokedTokenRevokedToken0000"
    r = await create_inbox(live, bot_token=revoked)
    assert r.status_code == 422 and "rejected the bot token" in r.json()["error"]["message"]
    assert revoked.split(":")[1] not in r.text  # PTB's own message repeats the token

    bad = await create_inbox(live, bot_token="not a token")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_bot_token"
    kinds = [i["kind"] for i in (await live.get("/api/inboxes", who="admin"))["items"]]
    assert kinds == ["sms"]


# -- inbound ---------------------------------------------------------------------------------

async def test_start_and_text_become_a_conversation_with_the_profile_name(bot: Bot) -> None:
    stream = await bot.live.events()
    assert (await bot.post(update("start"))).status_code == 200
    created = await stream.next(lambda e: e["type"] == "conversation.created")
    first = await stream.next(lambda e: e["type"] == "message.created")
    assert first["data"]["message"]["text"] == "/start"
    assert created["data"]["conversation"]["channel"] == "telegram"

    r = await bot.post(update("text"))
    assert r.status_code == 200 and r.json() == {"ok": True}
    message = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert message["text"] == "Hello, my order #1234 has not arrived"
    assert message["sender"]["handle"] == CHAT and message["sender"]["name"] == "Ada Lovelace"
    assert message["provider_message_id"] == f"{CHAT}:17"
    assert message["payload"] == {"username": "ada_l"}
    assert message["conversation_id"] == created["data"]["conversation"]["id"]
    await stream.close()


async def test_a_photo_is_downloaded_with_getfile_and_served(bot: Bot) -> None:
    bot.fake.add_file("AgACAgQAAxkBAAMSaW_large", JPEG, "photos/file_7.jpg")
    stream = await bot.live.events()
    assert (await bot.post(update("photo"))).status_code == 200
    message = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert message["text"] == "The box arrived like this"
    assert message["attachments"] == [{"content_type": "image/jpeg", "media_id": "AgACAgQAAxkBAAMSaW_large",
                                       "size": 64211, "kind": "image"}]

    done = await stream.next(updated(message["id"], lambda m: "path" in m["attachments"][0]))
    stored = done["data"]["message"]["attachments"][0]
    assert bot.fake.received("getFile")[-1]["file_id"] == "AgACAgQAAxkBAAMSaW_large"  # the largest size
    assert bot.fake.downloads == ["photos/file_7.jpg"]
    served = await bot.live.client.get(f"/media/{stored['path']}?m={message['id']}", headers=bot.live.as_("agent"))
    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    await stream.close()


async def test_stickers_and_files_over_20_mb(bot: Bot) -> None:
    bot.fake.add_file("CAACAgIAAxkBAAMUaW_sticker", WEBP, "stickers/file_9.webp")
    # The update understates the size; getFile knows better (and refuses, as Telegram does).
    bot.fake.add_file("BQACAgQAAxkBAAMTaW_doc", b"%PDF-", "documents/file_3.pdf", file_size=21 * 1024 * 1024)
    stream = await bot.live.events()
    await bot.post(update("sticker"))
    sticker = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert sticker["attachments"][0]["content_type"] == "image/webp"
    assert sticker["attachments"][0]["kind"] == "sticker"
    assert sticker["payload"]["sticker"]["emoji"] == "\U0001F44D"
    await stream.next(updated(sticker["id"], lambda m: m["attachments"][0].get("path", "").endswith(".webp")))

    await bot.post(update("document"))
    doc = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    assert doc["attachments"][0]["filename"] == "invoice-1234.pdf"
    assert doc["attachments"][0]["content_type"] == "application/pdf"
    failed = await stream.next(updated(doc["id"], lambda m: "error" in m["attachments"][0]))
    error = failed["data"]["message"]["attachments"][0]["error"]
    assert error.startswith("could not download:") and "up to 20 MB" in error
    assert "documents/file_3.pdf" not in bot.fake.downloads
    await stream.close()


async def test_locations_contacts_and_replies_are_readable(bot: Bot) -> None:
    for name in ("location", "venue", "contact", "reply"):
        assert (await bot.post(update(name))).status_code == 200
    location, venue, contact, reply = await bot.messages()
    assert location["text"] == "[Location] 51.501364, -0.14189"
    assert location["payload"]["location"] == {"latitude": 51.501364, "longitude": -0.14189}
    assert venue["text"] == "[Location] Buckingham Palace, London SW1A 1AA (51.501364, -0.14189)"
    assert venue["payload"]["location"]["name"] == "Buckingham Palace"
    assert contact["text"] == "[Contact] Charles Babbage, +447700900123"
    assert contact["payload"]["contact"] == {"name": "Charles Babbage", "phone": "+447700900123",
                                             "user_id": 444555666}
    assert reply["text"] == "Yes, that one" and reply["reply_to"] == f"{CHAT}:1001"


async def test_an_edit_replaces_the_text_and_marks_the_message_edited(bot: Bot) -> None:
    await bot.post(update("text"))
    [original] = await bot.messages()
    stream = await bot.live.events()
    assert (await bot.post(update("edited_message"))).status_code == 200
    edited = (await stream.next(updated(original["id"])))["data"]["message"]
    assert edited["text"] == "Hello, my order #1235 has not arrived"
    assert edited["edited_at"] is not None
    assert edited["payload"]["previous_texts"] == ["Hello, my order #1234 has not arrived"]
    await stream.close()


async def test_an_unsupported_kind_is_a_placeholder_with_the_raw_update(bot: Bot) -> None:
    await bot.post(update("dice"))
    [message] = await bot.messages()
    assert message["text"] == "[Unsupported Telegram message: dice]"
    assert message["has_raw"] is True
    raw = await bot.live.get(f"/api/messages/{message['id']}/raw")
    assert raw["raw"] == update("dice")


async def test_group_messages_and_blocks_are_acknowledged_and_not_stored(bot: Bot) -> None:
    assert (await bot.post(update("group"))).status_code == 200
    assert (await bot.post(update("my_chat_member_kicked"))).status_code == 200
    assert (await bot.live.get("/api/conversations"))["items"] == []


async def test_a_redelivered_update_is_stored_once(bot: Bot) -> None:
    first = await bot.post(update("text"))
    again = await bot.post(update("text"))
    assert first.status_code == again.status_code == 200
    assert [m["text"] for m in await bot.messages()] == ["Hello, my order #1234 has not arrived"]
    assert (await bot.conversation())["unread_count"] == 1


async def test_refused_webhooks_store_nothing(bot: Bot, live: Live) -> None:
    for secret in (None, "", "wrong-secret", SECRET + "x"):
        r = await bot.post(update("text"), secret=secret)
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_secret_token"
    malformed = await bot.post(b'{"update_id": 1, "message": ')
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    for body in ({"hello": "world"}, {"update_id": "5", "message": {}}, {"update_id": True}, [1]):
        r = await bot.post(body)  # type: ignore[arg-type]
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_update", r.text
    # An Update whose message cannot be attributed to a chat: acknowledged (a 400 would only make
    # Telegram redeliver it a few times, then drop it), logged, nothing stored.
    for body in ({"update_id": 5, "message": "text"}, {"update_id": 6, "message": {"chat": []}},
                 {"update_id": 7, "message": {"chat": {"id": 111222333, "type": "private"}}}):
        r = await bot.post(body)
        assert r.status_code == 200, r.text
    assert (await deliver(live.client, 999, update("text"), SECRET)).status_code == 404
    sms = await deliver(live.client, live.inbox["id"], update("text"), SECRET)  # not a telegram inbox
    assert sms.status_code == 404
    assert (await live.get("/api/conversations"))["items"] == []


# -- replies ---------------------------------------------------------------------------------

async def test_a_reply_is_sent_and_recorded_as_sent(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="telegram")
    await bot.post(update("text"))
    stream = await bot.live.events()
    reply = await bot.reply("It left the warehouse today.")
    [sent] = await bot.fake.wait_for("sendMessage")
    assert sent["chat_id"] == CHAT and sent["text"] == "It left the warehouse today."
    acked = (await stream.next(updated(reply["id"], lambda m: m["provider_message_id"])))["data"]["message"]
    assert acked["provider_message_id"] == f"{CHAT}:1001" and acked["status"] == "sent"
    assert acked["error"] is None

    photo = await bot.reply("Here is the label", attachments=[
        {"url": "https://example.com/label.png", "content_type": "image/png"},
        {"url": "https://example.com/receipt.pdf", "content_type": "application/pdf"}])
    [with_photo] = await bot.fake.wait_for("sendPhoto")
    [document] = await bot.fake.wait_for("sendDocument")
    assert with_photo["photo"] == "https://example.com/label.png" and with_photo["caption"] == "Here is the label"
    assert document["document"] == "https://example.com/receipt.pdf" and "caption" not in document
    acked = (await stream.next(updated(photo["id"], lambda m: m["provider_message_id"])))["data"]["message"]
    assert acked["provider_message_id"] == f"{CHAT}:1002"  # the message that carries the text
    assert len(bot.fake.received("getMe")) == 1  # one Bot per token, initialised once
    assert "/bot<token>/sendMessage" in caplog.text and BOT_TOKEN.split(":")[1] not in caplog.text
    await stream.close()


async def test_a_blocked_bot_fails_the_reply_at_once_with_the_reason(bot: Bot) -> None:
    await bot.post(update("text"))
    stream = await bot.live.events()
    bot.fake.fail_next("sendMessage", blocked())
    reply = await bot.reply("Are you there?")
    failed = (await stream.next(updated(reply["id"], lambda m: m["status"] == "failed")))["data"]["message"]
    assert failed["error"]["code"] == "403"
    assert failed["error"]["message"].startswith("The customer has blocked the bot")
    # Not retried: the next reply is the only other call the Bot API sees.
    bot.fake.fail_next("sendMessage", chat_not_found())
    second = await bot.reply("Hello?")
    failed = (await stream.next(updated(second["id"], lambda m: m["status"] == "failed")))["data"]["message"]
    assert failed["error"]["message"].startswith("Chat not found: the customer never started the bot")
    bot.fake.fail_next("sendMessage", Failure(400, "Bad Request: group chat was upgraded to a supergroup chat",
                                              {"migrate_to_chat_id": -1001234567890}))
    third = await bot.reply("Anyone?")
    failed = (await stream.next(updated(third["id"], lambda m: m["status"] == "failed")))["data"]["message"]
    assert failed["error"]["message"] == "The group became a supergroup with chat id -1001234567890"
    assert len(bot.fake.received("sendMessage")) == 3
    await stream.close()


async def test_flood_control_waits_retry_after_then_sends(bot: Bot) -> None:
    await bot.post(update("text"))
    stream = await bot.live.events()
    bot.fake.fail_next("sendMessage", flood(retry_after=1))
    reply = await bot.reply("Thanks for waiting")
    waiting = await stream.next(updated(reply["id"], lambda m: m["error"] is not None))
    assert "rate limiting" in waiting["data"]["message"]["error"]["message"]
    await stream.next(updated(reply["id"], lambda m: m["status"] == "sent"))
    first, second = [t for m, t in bot.fake.times if m == "sendMessage"]
    assert second - first >= 0.95  # backoff alone would have retried within 0.2 s
    await stream.close()


async def test_a_server_error_is_retried_and_the_reply_sent_once(bot: Bot) -> None:
    await bot.post(update("text"))
    stream = await bot.live.events()
    bot.fake.fail_next("sendMessage", server_error())
    reply = await bot.reply("Once only")
    sent = await stream.next(updated(reply["id"], lambda m: m["status"] == "sent"))
    assert sent["data"]["message"]["provider_message_id"] == f"{CHAT}:1001"
    assert [p["text"] for p in bot.fake.received("sendMessage")] == ["Once only", "Once only"]  # failed, then sent
    # One message in the chat: a later reply is the next message id.
    await bot.reply("Twice now")
    await bot.fake.wait_for("sendMessage", 3)
    assert sum(1 for p in bot.fake.received("sendMessage") if p["text"] == "Once only") == 2
    await stream.close()


# -- the CLI ---------------------------------------------------------------------------------

async def test_cli_creates_the_inbox_and_registers_the_webhook(tmp_path: Path, fake_telegram: FakeTelegram) -> None:
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp_path}/inbox.db",
           "INBOX_PUBLIC_URL": "https://inbox.example.com", "INBOX_SECRET_KEY": "k",
           "INBOX_TELEGRAM_API_BASE": fake_telegram.url, "INBOX_LOG_LEVEL": "warning"}
    cli = [sys.executable, "-m", "inbox.cli"]
    subprocess.run([*cli, "user", "create", "--email", "a@example.com", "--password", "a long password"], env=env,
                   cwd=tmp_path, capture_output=True, check=True, timeout=60)  # creates the schema
    # The fake answers from this event loop, so the CLI runs in a thread.
    out = await _run_in_thread([*cli, "inbox", "create", "telegram", "--name", "T", "--bot-token", BOT_TOKEN],
                               env, tmp_path)
    assert out.returncode == 0, out.stderr
    inbox = json.loads(out.stdout)
    assert inbox["kind"] == "telegram" and inbox["address"] == "7000000001"
    url = f"https://inbox.example.com/webhooks/telegram/{inbox['id']}"
    assert inbox["webhook_urls"] == {"webhook_url": url}
    assert BOT_TOKEN not in out.stdout
    [hook] = fake_telegram.received("setWebhook")
    assert hook["url"] == url and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", hook["secret_token"])


async def _run_in_thread(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, args, env=env, cwd=cwd, capture_output=True, text=True,
                                   timeout=60)



# -- secrets in the log ----------------------------------------------------------------------

async def test_the_bot_token_reaches_no_log_record_of_a_send_or_a_file_download(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every request line at INFO and PTB its URLs at DEBUG; a file URL carries
    the token percent-encoded (PTB quotes the path: ':' becomes '%3A')."""
    caplog.set_level(logging.DEBUG)  # every logger, the root's level
    bot.fake.add_file("AgACAgQAAxkBAAMSaW_large", JPEG, "photos/file_7.jpg")
    stream = await bot.live.events()
    await bot.post(update("photo"))
    message = (await stream.next(lambda e: e["type"] == "message.created"))["data"]["message"]
    await stream.next(updated(message["id"], lambda m: "path" in m["attachments"][0]))
    reply = await bot.reply("Thanks, we are sending a new one")
    await stream.next(updated(reply["id"], lambda m: m["status"] == "sent"))
    await stream.close()
    assert bot.fake.downloads == ["photos/file_7.jpg"]

    secret = BOT_TOKEN.split(":")[1]
    leaks = [(r.name, r.levelname, r.getMessage()) for r in caplog.records
             if secret in r.getMessage() or secret in (caplog.handler.format(r) if r.exc_info else "")]
    assert leaks == []
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/file/bot<token>/photos/file_7.jpg" in line for line in lines), lines
    assert any("/bot<token>/sendMessage" in line for line in lines), lines
