"""An inbox's keywords (docs/automation.md, "Keywords and opt-out"): keyword replies that
answer and label, and opt-out words on every channel with each channel's confirmation,
through the fake providers' signed webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Live
from tests.fakes.telegram import FakeTelegram
from tests.helpers.telegram import BOT_TOKEN, SECRET, deliver, fake_telegram, update

__all__ = ["fake_telegram"]  # a fixture


@pytest.fixture
def live_overrides(fake_telegram: FakeTelegram) -> dict[str, Any]:
    return {"telegram_api_base": fake_telegram.url}


async def _patch(live: Live, inbox_id: int, keywords: dict[str, Any], status: int = 200) -> Any:
    r = await live.client.patch(f"/api/inboxes/{inbox_id}", headers=live.as_("admin"), json={"keywords": keywords})
    assert r.status_code == status, r.text
    return r.json()


async def _conversation_of(live: Live, name: str) -> dict[str, Any]:
    found = await live.get("/api/conversations", who="lead", params={"status": ""})
    return next(c for c in found["items"] if c["contact"]["name"] == name)


async def test_a_keyword_on_sms_replies_and_labels(live: Live) -> None:
    label = (await live.client.post("/api/labels", headers=live.as_("admin"),
                                    json={"name": "hours", "colour": "#336699"})).json()
    inbox = await _patch(live, live.inbox["id"], {"rules": [
        {"word": "hours", "reply": "We are open 9:00-17:00, Monday to Friday.", "label_ids": [label["id"]]}]})
    assert inbox["keywords"]["rules"] == [{"word": "HOURS", "reply": "We are open 9:00-17:00, Monday to Friday.",
                                           "label_ids": [label["id"]]}]
    assert inbox["keywords"]["stop"][0] == "STOP" and inbox["keywords"]["stop_reply"] == ""  # Twilio confirms
    assert (await live.sms("+15550002020", "Hours? and are you open on Sunday")).status_code == 200
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["to"] == "+15550002020" and sent["body"] == "We are open 9:00-17:00, Monday to Friday."
    conv = await _conversation_of(live, "+15550002020")
    assert [x["name"] for x in conv["labels"]] == ["hours"]
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline", who="lead"))["items"]
    assert any(i.get("kind") == "keyword" and i["data"]["word"] == "HOURS" for i in timeline)
    # Not the first word: no keyword.
    assert (await live.sms("+15550002121", "What are your hours?")).status_code == 200
    assert (await live.sms("+15550002020", "thanks")).status_code == 200
    other = await _conversation_of(live, "+15550002121")
    assert other["labels"] == [] and len(live.fake.sent) == 1


async def test_a_custom_opt_out_word_on_sms_opts_out_and_start_opts_in(live: Live) -> None:
    await _patch(live, live.inbox["id"], {"stop": ["STOP", "ARRET"], "stop_reply": "Vous ne recevrez plus rien."})
    assert (await live.sms("+15550002222", "Arrêt?")).status_code == 200  # not the word: nothing
    assert (await live.sms("+15550002222", "arret!")).status_code == 200
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["body"] == "Vous ne recevrez plus rien."  # the one message an opted-out customer gets
    conv = await _conversation_of(live, "+15550002222")
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "are you sure?"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out"
    assert (await live.sms("+15550002222", "START")).status_code == 200
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "welcome back"})
    assert r.status_code == 202, r.text


async def test_stop_on_telegram_opts_out_of_telegram_with_its_confirmation(
        live: Live, fake_telegram: FakeTelegram) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "telegram", "name": "Telegram support", "settings": {"bot_token": BOT_TOKEN, "secret_token": SECRET}})
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert inbox["keywords"]["stop"] == ["STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT"]  # no CANCEL outside SMS
    assert (await deliver(live.client, inbox["id"], update("text", text="Cancel"), SECRET)).status_code == 200
    assert (await deliver(live.client, inbox["id"], update("text", text="STOP", message_id=99), SECRET)
            ).status_code == 200
    [confirmation] = await fake_telegram.wait_for("sendMessage", 1)
    assert confirmation["text"].startswith("You will get no more messages from us here.")
    [conv] = (await live.get("/api/conversations", who="lead"))["items"]
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "one more thing"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_opted_out"
    assert (await deliver(live.client, inbox["id"], update("text", text="start", message_id=100), SECRET)
            ).status_code == 200
    sent = await fake_telegram.wait_for("sendMessage", 2)
    assert sent[1]["text"].startswith("Welcome back")


async def test_keywords_are_checked(live: Live) -> None:
    for keywords, words in (({"stop": ["STOP"], "rules": [{"word": "stop", "reply": "x"}]}, "STOP is both"),
                            ({"rules": [{"word": "two words", "reply": "x"}]}, "is not one word"),
                            ({"rules": [{"word": "MENU"}]}, "a keyword replies, labels, or both"),
                            ({"colour": "red"}, "unknown")):
        r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                    json={"keywords": keywords})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_keywords", r.text
        assert words in r.json()["error"]["message"], r.text
