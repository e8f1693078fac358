"""Searching conversations (GET /api/conversations?q=) on both engines: words of messages
through the full-text index, names and handles as substrings; whatever is typed, an answer
and never a 500. Also the migration that builds the index over existing messages, and
``inbox db seed``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, Engine, column, insert, table

from inbox import queries
from inbox.domain.access import Viewer
from inbox.domain.models import utcnow
from inbox.domain.tables import CONV_EVENTS
from inbox.storage import migrate
from inbox.storage.seed import seed
from tests.conftest import Live
from tests.test_telegram import Bot, bot, fake_telegram, live_overrides, update  # noqa: F401 - fixtures


@pytest.fixture(params=["sqlite", "postgres"])
def database_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def found(live: Live, q: str, who: str = "agent") -> list[int]:
    return [c["id"] for c in (await live.get("/api/conversations", who, params={"q": q}))["items"]]


async def conversation_of(live: Live, phone: str, text: str) -> int:
    r = await live.sms(phone, text)
    assert r.status_code == 200, r.text
    convs = (await live.get("/api/conversations", "admin"))["items"]
    return next(c["id"] for c in convs if c["last_message_preview"] == text)


async def test_words_of_messages_find_their_conversation_as_soon_as_it_is_stored(live: Live) -> None:
    parcel = await conversation_of(live, "+15550000001", "My parcel never arrived; tracking says Delivered")
    other = await conversation_of(live, "+15550000002", "Can I change the delivery address?")
    assert await found(live, "parcel") == [parcel]
    assert await found(live, "PARCEL tracking") == [parcel]  # every word, in any case, in any order
    assert await found(live, "tracking parcel zebra") == []
    assert await found(live, "deliv") == [other, parcel]  # the last word is also a prefix: delivery, delivered
    assert await found(live, "par") == []  # from four letters: shorter ones begin too many words
    assert await found(live, "arrived.") == [parcel]  # punctuation is not part of a word
    # A second message of the same conversation: found too, and the conversation listed once.
    await live.sms("+15550000001", "Still no parcel, parcel, parcel")
    assert await found(live, "parcel") == [parcel]
    assert await found(live, "still") == [parcel]


async def test_names_and_handles_are_found_by_any_part(live: Live) -> None:
    conv = await conversation_of(live, "+15557654321", "hello")
    contact_id = (await live.get(f"/api/conversations/{conv}"))["contact"]["id"]
    r = await live.client.patch(f"/api/contacts/{contact_id}", headers=live.as_("agent"), json={"name": "Dana Scully"})
    assert r.status_code == 200, r.text
    assert await found(live, "scul") == [conv]
    assert await found(live, "a sc") == [conv]  # a substring across words, as before the index
    assert await found(live, "7654321") == [conv]
    assert await found(live, "+1555765") == [conv]


async def test_search_keeps_to_what_the_agent_may_see(live: Live) -> None:
    theirs = await conversation_of(live, "+15550000003", "secret word pineapple")
    r = await live.client.post(f"/api/conversations/{theirs}/assignment", headers=live.as_("lead"),
                               json={"user_id": live.users["agent2"]["id"]})
    assert r.status_code == 200, r.text
    assert await found(live, "pineapple", "agent2") == [theirs]
    assert await found(live, "pineapple", "agent") == []
    assert await found(live, "pineapple", "lead") == [theirs]


HOSTILE = ['"', '""', "*", "NEAR(", "NEAR(a b)", "a OR", "OR", "AND", "NOT", "a AND NOT", "(", ")", "^", ":", "-",
           "col:word", "'", "''", "\\", "%", "_", "%_%", "a & b | !c", "<->", "word:*", "a:* & b", "ü", "café",
           "日本語", "😀", "\u0000", "\u200b", " ", "x" * 2000, " ".join(["w"] * 100), "+", "@", "#1234", "{}", "[",
           "null", "a'b\"c", "SELECT 1; --", "e\u0301", "½", "x²", "ǅ", "ـ", "a\u0000b"]


async def test_no_input_makes_the_search_fail(live: Live) -> None:
    await conversation_of(live, "+15550000004", "café au lait, naïve question about order #1234")
    for q in HOSTILE:
        for path in ("/api/conversations", "/api/contacts"):
            r = await live.client.get(path, headers=live.as_("agent"), params={"q": q})
            assert r.status_code == 200, (path, q, r.text)
    r = await live.client.get("/api/conversations?q=", headers=live.as_("agent"))
    assert r.status_code == 200 and len(r.json()["items"]) == 1  # an empty search is no search
    assert len(await found(live, "1234")) == 1
    assert len(await found(live, "#1234")) == 1
    assert len(await found(live, "CAFÉ")) == 1


async def test_an_edited_message_is_found_by_its_new_words_only(bot: Bot) -> None:  # noqa: F811 - the fixture
    live = bot.live
    await bot.post(update("text"))  # "Hello, my order #1234 has not arrived"
    conv = await bot.conversation()
    assert await found(live, "1234") == [conv["id"]]
    assert (await bot.post(update("edited_message"))).status_code == 200  # now "... #1235 ..."
    assert await found(live, "1235") == [conv["id"]]
    assert await found(live, "1234") == []


async def test_pages_of_search_results_follow_the_cursor(live: Live) -> None:
    convs = [await conversation_of(live, f"+1555000010{i}", f"invoice question number {i}") for i in range(5)]
    first = await live.get("/api/conversations", params={"q": "invoice", "limit": 2})
    second = await live.get("/api/conversations", params={"q": "invoice", "limit": 2, "cursor": first["next_cursor"]})
    third = await live.get("/api/conversations", params={"q": "invoice", "limit": 2, "cursor": second["next_cursor"]})
    pages = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert pages == convs[::-1] and third["next_cursor"] is None


# -- the migration, over messages stored before it -----------------------------------------

def _store_messages_at_0001(engine: Engine, texts: list[str]) -> int:
    """A conversation holding ``texts``, written at revision 0001 (before the index), through
    tables as 0001 has them (the models are at head: their later columns do not exist yet)."""
    migrate.upgrade(engine, "0001")
    now = utcnow()
    inboxes = table("inbox", column("id"), column("kind"), column("name"), column("address"),
                    column("settings", JSON), column("created_at"))
    contacts = table("contact", column("id"), column("name"), column("attributes", JSON), column("created_at"),
                     column("updated_at"))
    conversations = table("conversation", *(column(c) for c in (
        "id", "contact_id", "status", "unread_count", "last_message_at", "last_message_preview",
        "last_message_direction", "created_at", "updated_at")))
    messages = table("message", *(column(c) for c in (
        "conversation_id", "inbox_id", "direction", "text", "status", "created_at", "updated_at")),
        column("attachments", JSON))
    with engine.begin() as conn:
        inbox = conn.execute(insert(inboxes).values(kind="sms", name="sms", address="+15550001111", settings={},
                                                   created_at=now).returning(inboxes.c.id)).scalar_one()
        contact = conn.execute(insert(contacts).values(name="Old Customer", attributes={}, created_at=now,
                                                      updated_at=now).returning(contacts.c.id)).scalar_one()
        conv = conn.execute(insert(conversations).values(
            contact_id=contact, status="open", unread_count=0, last_message_at=now, last_message_preview="",
            last_message_direction="in", created_at=now, updated_at=now).returning(conversations.c.id)).scalar_one()
        conn.execute(insert(messages), [
            {"conversation_id": conv, "inbox_id": inbox, "direction": "in", "text": text, "attachments": [],
             "status": "received", "created_at": now, "updated_at": now} for text in texts])
    return int(conv)


def _search(engine: Engine, q: str) -> list[int]:
    with engine.connect() as conn:
        return [c["id"] for c in queries.list_conversations(conn, Viewer(0, "admin"), q=q)["items"]]


def test_the_migration_indexes_messages_already_stored(empty_engine: Engine) -> None:
    engine = empty_engine
    conv = _store_messages_at_0001(engine, ["an old complaint about the blender", "anything else"])
    migrate.upgrade(engine)
    assert migrate.differences(engine) == []
    assert _search(engine, "blender") == [conv]
    assert _search(engine, "old customer") == [conv]
    assert _search(engine, "toaster") == []
    with engine.begin() as conn:  # and back down, and up again
        command.downgrade(migrate.config(conn), "0001")
    migrate.upgrade(engine)
    assert _search(engine, "complaint") == [conv]


# -- inbox db seed ---------------------------------------------------------------------------

def test_seeding_a_small_database(empty_engine: Engine, tmp_path: Path) -> None:
    engine = empty_engine
    if engine.dialect.name == "sqlite":  # from the shell, as documented
        out = subprocess.run([sys.executable, "-m", "inbox.cli", "db", "seed", "--conversations", "30",
                              "--messages", "600"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                             env={**os.environ, "INBOX_DATABASE_URL": str(engine.url), "INBOX_SECRET_KEY": "k"})
        assert out.returncode == 0, out.stderr
        summary: dict[str, Any] = json.loads(out.stdout)
    else:
        migrate.upgrade(engine)
        summary = seed(engine, conversations=30, messages=600).as_dict()
    assert summary["conversations"] == 30 and summary["messages"] == 600
    with engine.connect() as conn:
        viewer = Viewer(0, "admin")
        everything = queries.list_conversations(conn, viewer, limit=100)["items"]
        assert len(everything) == 30 and everything[0]["id"] == summary["big_conversation_id"]
        big = queries.timeline(conn, summary["big_conversation_id"], limit=200)
        messages = [item for item in big["items"] if item["type"] == "message"]
        assert len(messages) == 60 and big["next_cursor"] is None  # a tenth of the messages
        # ... and its log: created, and assigned (the big one is always an agent's).
        assert [item["kind"] for item in big["items"] if item["type"] == "event"] == ["created", "assigned"]
        assert {c["status"] for c in everything} >= {"open", "resolved"}
        # the seeded words are searchable, the search index filled
        assert queries.list_conversations(conn, viewer, q="hi")["items"]
    # seeding again adds to what is there
    more = seed(engine, conversations=5, messages=50)
    with engine.connect() as conn:
        assert len(queries.list_conversations(conn, Viewer(0, "admin"), limit=100)["items"]) == 35
        assert queries.list_conversations(conn, Viewer(0, "admin"), q="hi")["items"]
    assert more.big_conversation_id > summary["big_conversation_id"]
    # What the app writes next gets ids of its own (PostgreSQL's sequences were moved past
    # every seeded id, the timeline's too: a snooze waking wrote one and collided).
    with engine.begin() as conn:
        conn.execute(insert(CONV_EVENTS).values(conversation_id=more.big_conversation_id, kind="status_changed",
                                                actor_id=None, data={}, created_at=utcnow()))


def test_seeding_refuses_impossible_numbers(tmp_path: Path) -> None:
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "INBOX_SECRET_KEY": "k"}
    out = subprocess.run([sys.executable, "-m", "inbox.cli", "db", "seed", "--conversations", "10", "--messages", "5"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)
    assert out.returncode == 1 and "at least one message per conversation" in out.stderr
