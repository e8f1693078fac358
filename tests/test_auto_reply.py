"""Out-of-office and acknowledgement replies end to end: a customer's SMS or mail while the
inbox's calendar is closed (or open) gets the inbox's automatic reply through the fake
Twilio API or over real SMTP, with the next opening in the customer's own time zone; never
twice within INBOX_AUTO_REPLY_INTERVAL, never to an automatic message, an opted-out
customer, or while an agent is in the conversation. Time moves with the app's clock only."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import insert

from inbox import actions
from inbox.actions.autoreply import AutoReplyPolicy
from inbox.actions.ingest import ingest
from inbox.domain.channels import InboundMessage
from inbox.domain.clock import MovableClock
from inbox.domain.tables import CALENDARS
from inbox.storage.db import Database, Tx
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.email import Sink, sink, smtp_port, smtp_send
from tests.helpers.forms import form_login, page_token

__all__ = ["browser", "sink", "smtp_port"]  # fixtures

BERLIN, TOKYO, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")]
SATURDAY, MONDAY = 5, 0
CLOSED = "Hi {{contact_name}}, {{inbox_name}} is closed. We are back {{next_opening}}."
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


# -- helpers ---------------------------------------------------------------------------------

async def add_calendar(live: Live, name: str = "Support EU", zone: str = "Europe/Berlin",
                       intervals: list[dict[str, str]] = WEEKDAYS) -> int:
    """A calendar row as the calendars API would store it (written once, never aged)."""
    now = live.app.state.ctx.clock.now()

    def job(tx: Tx) -> int:
        return int(tx.conn.execute(insert(CALENDARS).values(
            name=name, timezone=zone, intervals=intervals, exceptions=[], version=1, created_at=now,
            updated_at=now)).inserted_primary_key[0])  # type: ignore[index]
    return await live.app.state.ctx.db.write(job)  # type: ignore[no-any-return]


async def set_replies(live: Live, inbox_id: int, **body: Any) -> dict[str, Any]:
    r = await live.client.patch(f"/api/inboxes/{inbox_id}", headers=live.as_("admin"), json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def move_to(clock: MovableClock, zone: ZoneInfo, weekday: int, hour: int) -> datetime:
    """Advance the clock to the next ``weekday`` at ``hour``:00 wall time in ``zone``."""
    now = clock.now().astimezone(zone)
    day = now.date() + timedelta(days=(weekday - now.weekday()) % 7)
    target = datetime.combine(day, time(hour), zone)
    if target <= now:
        target = datetime.combine(day + timedelta(days=7), time(hour), zone)
    clock.advance(target.astimezone(timezone.utc) - clock.now())
    return target


def shown(opening: datetime, zone: ZoneInfo, abbreviation_place: str, now: datetime) -> str:
    """How a customer in ``zone`` reads ``opening`` (written out here, not by the code under test)."""
    local = opening.astimezone(zone)
    year = f" {local.year}" if local.year != now.astimezone(zone).year else ""
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    return (f"{days[local.weekday()]} {local.day} {MONTHS[local.month - 1]}{year} at "
            f"{local.hour:02d}:{local.minute:02d} ({local.tzname()}, {abbreviation_place} time)")


def next_monday_nine(after: datetime) -> datetime:
    day: date = after.astimezone(BERLIN).date()
    day += timedelta(days=(MONDAY - day.weekday()) % 7 or 7)
    return datetime.combine(day, time(9), BERLIN)


async def conversation_of(live: Live, phone: str) -> dict[str, Any]:
    [conv] = [c for c in (await live.get("/api/conversations"))["items"] if c["contact"]["name"] == phone]
    return conv


async def timeline(live: Live, conversation_id: int) -> list[dict[str, Any]]:
    return (await live.get(f"/api/conversations/{conversation_id}/timeline"))["items"]  # type: ignore[no-any-return]


async def messages(live: Live, conversation_id: int) -> list[dict[str, Any]]:
    return [i for i in await timeline(live, conversation_id) if i["type"] == "message"]


async def sms(live: Live, from_: str, body: str) -> None:
    r = await live.sms(from_, body)
    assert r.status_code == 200, r.text


# -- SMS --------------------------------------------------------------------------------------

@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_a_customer_writing_while_closed_gets_the_out_of_office_in_their_zone(
        live: Live, clock: MovableClock) -> None:
    calendar = await add_calendar(live)
    inbox = await set_replies(live, live.inbox["id"], calendar_id=calendar,
                              auto_reply={"closed": {"enabled": True, "text": CLOSED}})
    assert inbox["calendar_id"] == calendar
    assert inbox["auto_reply"] == {"closed": {"enabled": True, "text": CLOSED}, "open": {"enabled": False, "text": ""}}
    saturday = move_to(clock, BERLIN, SATURDAY, 10)
    stream = await live.events()
    await sms(live, "+81312345678", "Where is my order?")  # a Tokyo number: one zone, Asia/Tokyo

    [sent] = await live.fake.wait_for_sent(1)
    opening = next_monday_nine(saturday)
    assert sent["to"] == "+81312345678"
    assert sent["body"] == (f"Hi +81312345678, Support line is closed. We are back "
                            f"{shown(opening, TOKYO, 'Tokyo', clock.now())}.")
    assert "(JST, Tokyo time)" in sent["body"]

    conv = await conversation_of(live, "+81312345678")
    inbound, reply = await messages(live, conv["id"])
    assert (reply["direction"], reply["automatic"], reply["author_id"]) == ("out", "out_of_office", None)
    assert inbound["automatic"] is None and reply["text"] == sent["body"]
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["id"] == reply["id"]
                      and e["data"]["message"]["provider_message_id"] == sent["sid"])
    await stream.close()
    # Not an agent's response: the customer still waits, the conversation is still unread.
    conv = await conversation_of(live, "+81312345678")
    assert conv["waiting_since"] == inbound["created_at"]
    assert (conv["unread_count"], conv["last_message_direction"]) == (1, "in")
    [event] = [i for i in await timeline(live, conv["id"]) if i["type"] == "event" and i["kind"] == "auto_reply"]
    assert event["actor_id"] is None
    assert event["data"]["kind"] == "out_of_office" and event["data"]["message_id"] == reply["id"]
    assert event["data"]["zone"] == "Asia/Tokyo"


async def test_once_per_interval_in_the_zone_of_the_contacts_attribute(live: Live, clock: MovableClock) -> None:
    phone = "+15557654321"  # a number phonenumbers cannot place: the attribute tells
    calendar = await add_calendar(live)
    move_to(clock, BERLIN, SATURDAY, 9)
    await sms(live, phone, "Hello?")  # no reply is on yet
    conv = await conversation_of(live, phone)
    r = await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("agent"),
                                json={"attributes": {"timezone": "America/New_York"}})
    assert r.status_code == 200, r.text
    await set_replies(live, live.inbox["id"], calendar_id=calendar,
                      auto_reply={"closed": {"enabled": True, "text": "Back {{next_opening}}"}})

    clock.advance(timedelta(hours=1))
    await sms(live, phone, "Anyone there?")
    [first] = await live.fake.wait_for_sent(1)
    assert first["body"] == "Back " + shown(next_monday_nine(clock.now()), NEW_YORK, "New York", clock.now())

    clock.advance(timedelta(hours=2))  # within INBOX_AUTO_REPLY_INTERVAL (24 hours): nothing more
    await sms(live, phone, "Still waiting")
    assert [m["automatic"] for m in await messages(live, conv["id"]) if m["direction"] == "out"] == ["out_of_office"]

    clock.advance(timedelta(hours=24))  # Sunday, still closed, the interval has passed
    await sms(live, phone, "Hello again")
    sent = await live.fake.wait_for_sent(2)
    assert sent[1]["body"].startswith("Back Monday ")
    assert [m["automatic"] for m in await messages(live, conv["id"]) if m["direction"] == "out"] == [
        "out_of_office", "out_of_office"]


async def test_an_acknowledgement_while_open_and_always_open_without_a_calendar(
        live: Live, clock: MovableClock) -> None:
    calendar = await add_calendar(live)
    await set_replies(live, live.inbox["id"], calendar_id=calendar, auto_reply={
        "closed": {"enabled": True, "text": "We are closed."},
        "open": {"enabled": True, "text": "Thanks {{ contact_name }}, an agent will answer shortly."}})
    move_to(clock, BERLIN, MONDAY, 11)
    await sms(live, "+12125550123", "Quick question")
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["body"] == "Thanks +12125550123, an agent will answer shortly."
    conv = await conversation_of(live, "+12125550123")
    assert [m["automatic"] for m in await messages(live, conv["id"])] == [None, "acknowledgement"]

    await set_replies(live, live.inbox["id"], calendar_id=None)  # no calendar: open around the clock
    move_to(clock, BERLIN, SATURDAY, 23)
    await sms(live, "+14155550123", "Late question")
    sent = await live.fake.wait_for_sent(2)
    assert sent[1]["body"] == "Thanks +14155550123, an agent will answer shortly."


async def test_no_reply_to_an_opted_out_customer(live: Live, clock: MovableClock) -> None:
    await set_replies(live, live.inbox["id"], calendar_id=await add_calendar(live),
                      auto_reply={"closed": {"enabled": True, "text": "We are closed."}})
    move_to(clock, BERLIN, SATURDAY, 10)
    await sms(live, "+15557654321", "STOP")
    await sms(live, "+15557654321", "and another thing")
    await sms(live, "+12125550123", "Hello")  # the same inbox, a customer who did not opt out
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["to"] == "+12125550123"
    conv = await conversation_of(live, "+15557654321")
    assert [m["direction"] for m in await messages(live, conv["id"])] == ["in", "in"]


async def test_no_reply_when_an_agent_replied_two_minutes_before(live: Live, clock: MovableClock) -> None:
    phone = "+15557654321"
    calendar = await add_calendar(live)
    move_to(clock, BERLIN, SATURDAY, 10)
    await sms(live, phone, "Hi")
    conv = await conversation_of(live, phone)
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "Hello, weekend duty here. How can I help?"})
    assert r.status_code == 202, r.text
    await live.fake.wait_for_sent(1)
    await set_replies(live, live.inbox["id"], calendar_id=calendar,
                      auto_reply={"closed": {"enabled": True, "text": "We are closed."}})

    clock.advance(timedelta(minutes=2))
    await sms(live, phone, "My order #1042")
    assert [m["author_id"] is None for m in await messages(live, conv["id"]) if m["direction"] == "out"] == [False]

    clock.advance(timedelta(minutes=4))  # six minutes after the agent: they have gone quiet
    await sms(live, phone, "Hello?")
    sent = await live.fake.wait_for_sent(2)
    assert sent[1]["body"] == "We are closed."


# -- the settings ---------------------------------------------------------------------------

async def test_inbox_settings_are_checked_and_shown(live: Live) -> None:
    iid = live.inbox["id"]
    shown_ = await live.get(f"/api/inboxes/{iid}", who="admin")
    assert shown_["calendar_id"] is None
    assert shown_["auto_reply"] == {"closed": {"enabled": False, "text": ""}, "open": {"enabled": False, "text": ""}}

    async def refused(body: Any) -> dict[str, Any]:
        r = await live.client.patch(f"/api/inboxes/{iid}", headers=live.as_("admin"), json=body)
        assert r.status_code == 422, r.text
        return r.json()["error"]  # type: ignore[no-any-return]

    assert (await refused({"calendar_id": 999}))["code"] == "unknown_calendar"
    assert (await refused({"calendar_id": "1"}))["code"] == "invalid_field"
    assert (await refused({"calendar_id": 2**63}))["code"] == "invalid_field"
    cases = {
        "auto_reply.weekend": {"weekend": {"enabled": True}},
        "auto_reply.closed must be an object": {"closed": "on"},
        "auto_reply.closed.enabled": {"closed": {"enabled": "yes", "text": "x"}},
        "auto_reply.open.text must be text of at most 2000": {"open": {"enabled": True, "text": "x" * 2001}},
        "auto_reply.open.text: no variable {{customer}}": {"open": {"enabled": True, "text": "Hi {{customer}}"}},
        "auto_reply.closed.text: a reply that is on needs a text": {"closed": {"enabled": True, "text": "  "}},
        "auto_reply.closed.colour": {"closed": {"colour": "red"}},
    }
    for words, auto_reply in cases.items():
        error = await refused({"auto_reply": auto_reply})
        assert error["code"] == "invalid_auto_reply" and words in error["message"], (words, error)
    assert (await refused({"auto_reply": ["closed"]}))["code"] == "invalid_auto_reply"
    # Nothing was stored by the refusals; a partial change keeps the rest.
    assert (await live.get(f"/api/inboxes/{iid}", who="admin"))["auto_reply"] == shown_["auto_reply"]
    calendar = await add_calendar(live)
    await set_replies(live, iid, calendar_id=calendar, auto_reply={"open": {"enabled": True, "text": "Got it"}})
    after = await set_replies(live, iid, auto_reply={"open": {"enabled": False}})
    assert after["calendar_id"] == calendar
    assert after["auto_reply"]["open"] == {"enabled": False, "text": "Got it"}
    assert (await live.get("/api/inboxes", who="admin"))["items"][0]["auto_reply"]["open"]["text"] == "Got it"
    forbidden = await live.client.patch(f"/api/inboxes/{iid}", headers=live.as_("agent"), json={"calendar_id": None})
    assert forbidden.status_code == 403


async def test_the_admin_form_sets_the_calendar_and_both_replies(live: Live) -> None:
    calendar = await add_calendar(live)
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "admin")).status_code == 303
        token = await page_token(client, "/admin/inboxes")
        page = (await client.get("/admin/inboxes")).text
        assert "Support EU (Europe/Berlin)" in page and "{{next_opening}}" in page
        form = {"csrf_token": token, "inbox_id": str(live.inbox["id"]), "calendar_id": str(calendar),
                "closed_enabled": "true", "closed_text": "Closed until {{next_opening}}", "open_text": "Thanks!"}
        r = await client.post("/admin/inbox-auto-reply", data=form)
        assert r.status_code == 303 and "saved" in r.headers["location"]
        inbox = await live.get(f"/api/inboxes/{live.inbox['id']}", who="admin")
        assert inbox["calendar_id"] == calendar
        assert inbox["auto_reply"] == {"closed": {"enabled": True, "text": "Closed until {{next_opening}}"},
                                       "open": {"enabled": False, "text": "Thanks!"}}
        page = (await client.get("/admin/inboxes")).text
        assert "Out of office · Support EU" in page
        r = await client.post("/admin/inbox-auto-reply", data={**form, "open_enabled": "true", "open_text": ""})
        assert r.status_code == 303
        error = (await client.get(r.headers["location"])).text
        assert "Acknowledgement text: a reply that is on needs a text" in error
        assert (await live.get(f"/api/inboxes/{live.inbox['id']}", who="admin"))["auto_reply"]["open"]["text"] == \
            "Thanks!"


async def test_the_admin_form_in_the_browser(live: Live, browser: Browser, tmp_path: Path) -> None:
    await add_calendar(live)
    for scheme, width in (("light", 1280), ("dark", 390)):
        page = await login(browser, live, "admin", color_scheme=scheme, viewport={"width": width, "height": 900})
        await page.goto(live.url + "/admin/inboxes")
        box = page.locator(f"[data-inbox='{live.inbox['id']}'] details.auto-reply")
        await box.locator("summary").click()
        await box.get_by_label("Calendar").select_option(label="Support EU (Europe/Berlin)")
        await box.get_by_label("Send while the inbox is closed").check()
        await box.locator("textarea[name=closed_text]").fill("Closed until {{next_opening}}, {{contact_name}}.")
        await page.screenshot(path=str(tmp_path / f"admin-auto-reply-{scheme}.png"), full_page=True)
        await box.get_by_role("button", name="Save automatic replies of Support line").click()
        await expect(page.get_by_role("status")).to_have_text("Automatic replies of Support line saved")
        await expect(page.locator(f"[data-inbox='{live.inbox['id']}'] details.auto-reply summary")).to_contain_text(
            "Out of office · Support EU")
        await page.close()
    inbox = await live.get(f"/api/inboxes/{live.inbox['id']}", who="admin")
    assert inbox["auto_reply"]["closed"] == {"enabled": True,
                                             "text": "Closed until {{next_opening}}, {{contact_name}}."}


# -- email ------------------------------------------------------------------------------------

@pytest.fixture
def live_overrides(smtp_port: int) -> dict[str, Any]:
    return {"smtp_listen": f"127.0.0.1:{smtp_port}"}


async def email_inbox(live: Live, sink: Sink) -> dict[str, Any]:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "email", "name": "Support mail", "settings": {
            "address": "support@example.com", "smtp_host": "127.0.0.1", "smtp_port": sink.port,
            "smtp_security": "none"}})
    assert r.status_code == 201, r.text
    return await set_replies(live, r.json()["id"], calendar_id=await add_calendar(live),
                             auto_reply={"closed": {"enabled": True, "text": "Dear {{contact_name}}, we are closed."}})


def mail(sender: str, subject: str, headers: str = "", body: str = "Where is my order?",
         content_type: str = 'text/plain; charset="UTF-8"') -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '-')}@mail.example.org>\r\n"
            f"{headers}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n{body}\r\n").encode()


async def email_conversation(live: Live, address: str) -> dict[str, Any]:
    [conv] = [c for c in (await live.get("/api/conversations"))["items"] if c["channel"] == "email"
              and address in c["contact"]["name"].lower()]
    return conv


async def test_an_email_out_of_office_carries_auto_submitted_and_answers_no_auto_reply(
        live: Live, clock: MovableClock, sink: Sink, smtp_port: int) -> None:
    inbox = await email_inbox(live, sink)
    move_to(clock, BERLIN, SATURDAY, 10)
    vacation = mail("Ana Souza <ana@example.org>", "Automatic reply: your newsletter",
                    "Auto-Submitted: auto-replied\r\n", "I am away until Monday.")
    assert (await smtp_send(smtp_port, vacation, in_thread=True))[0] == 250
    ana = await email_conversation(live, "ana")
    [stored] = await messages(live, ana["id"])
    assert stored["automatic"] == "auto_submitted"  # and nothing was queued in answer

    events = await live.events()
    # A name with what looks like a variable: put in as written, never read for variables.
    bob_mail = mail('"Bob {{inbox_name}} Stone" <bob@example.org>', "Order 1042")
    assert (await smtp_send(smtp_port, bob_mail, in_thread=True))[0] == 250
    ours: EmailMessage = await sink.next()
    assert ours["Auto-Submitted"] == "auto-replied"
    assert ours["To"] == "bob@example.org" and ours["In-Reply-To"] == "<Order-1042@mail.example.org>"
    text = ours.get_body(("plain",)).get_content().strip()  # type: ignore[union-attr]
    assert text == "Dear Bob {{inbox_name}} Stone, we are closed."
    bob = await email_conversation(live, "bob")
    inbound, reply = await messages(live, bob["id"])
    assert (reply["automatic"], reply["inbox_id"]) == ("out_of_office", inbox["id"])
    await events.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["id"] == reply["id"]
                      and e["data"]["message"]["status"] == "sent")
    await events.close()
    assert (await email_conversation(live, "bob"))["waiting_since"] == inbound["created_at"]
    # Bob's own responder answers ours: stored as automatic, answered by nothing.
    assert (await smtp_send(smtp_port, mail("bob@example.org", "Re Order 1042",
                                            f"In-Reply-To: {ours['Message-ID']}\r\nAuto-Submitted: auto-replied\r\n",
                                            "I am on holiday."), in_thread=True))[0] == 250
    assert [m["automatic"] for m in await messages(live, bob["id"])] == [None, "out_of_office", "auto_submitted"]
    assert sink.mails.empty() and len(sink.envelopes) == 1


REPORT = ("multipart/report; report-type=disposition-notification; boundary=b1",
          "--b1\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
          "--b1\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/MDN-sent-manually; "
          "displayed\r\n--b1--")


@pytest.mark.parametrize(("sender", "headers", "envelope", "automatic", "answered"), [
    ("c1@example.org", "Auto-Submitted: auto-generated\r\n", None, True, False),
    ("c2@example.org", "Auto-Submitted: no\r\n", None, False, True),
    ("c3@example.org", "Precedence: bulk\r\n", None, True, False),
    ("c4@example.org", "Precedence: list\r\n", None, True, False),
    ("c5@example.org", "X-Autorespond: Out of office\r\n", None, True, False),
    ("c6@example.org", "X-Auto-Response-Suppress: OOF, AutoReply\r\n", None, False, False),
    ("c7@example.org", "X-Auto-Response-Suppress: DR, RN, NRN\r\n", None, False, True),
    ("MAILER-DAEMON@mx.example.net", "", None, True, False),
    ("c9@example.org", "Return-Path: <>\r\n", None, True, False),
    ("c10@example.org", "", "", True, False),  # MAIL FROM:<>
    ("c11@example.org", "", None, True, False),  # a read receipt (multipart/report)
], ids=["auto-generated", "auto-submitted-no", "bulk", "list", "x-autorespond", "suppress-oof", "suppress-reports",
        "mailer-daemon", "return-path-null", "null-envelope", "read-report"])
async def test_which_mail_is_automatic_and_which_is_answered(
        live: Live, clock: MovableClock, sink: Sink, smtp_port: int, sender: str, headers: str,
        envelope: str | None, automatic: bool, answered: bool) -> None:
    await email_inbox(live, sink)
    move_to(clock, BERLIN, SATURDAY, 10)
    kind = {"content_type": REPORT[0], "body": REPORT[1]} if sender.startswith("c11") else {}
    raw = mail(sender, "Case " + sender.split("@")[0], headers, **kind)
    code, _ = await smtp_send(smtp_port, raw, sender=sender if envelope is None else envelope, in_thread=True)
    assert code == 250
    conv = await email_conversation(live, sender.split("@")[0].lower())
    stored = await messages(live, conv["id"])
    assert stored[0]["automatic"] == ("auto_submitted" if automatic else None)
    assert [m["automatic"] for m in stored[1:]] == (["out_of_office"] if answered else [])
    if answered:
        assert (await sink.next())["Auto-Submitted"] == "auto-replied"


# -- the timeline ----------------------------------------------------------------------------

async def test_the_timeline_shows_an_automatic_reply_as_automatic(
        live: Live, clock: MovableClock, browser: Browser, tmp_path: Path) -> None:
    await set_replies(live, live.inbox["id"], calendar_id=await add_calendar(live),
                      auto_reply={"closed": {"enabled": True, "text": "We are closed until {{next_opening}}."}})
    move_to(clock, BERLIN, SATURDAY, 10)
    await sms(live, "+81312345678", "Where is my order?")
    await live.fake.wait_for_sent(1)
    conv = await conversation_of(live, "+81312345678")
    for scheme, width in (("light", 1280), ("dark", 390)):
        page = await login(browser, live, "agent", color_scheme=scheme, viewport={"width": width, "height": 800})
        await page.goto(f"{live.url}/inbox?c={conv['id']}")
        reply = page.locator("li.message.out.automatic")
        await expect(reply.locator(".author")).to_have_text("Automatic reply · out of office")
        await expect(reply.locator(".bubble")).to_contain_text("We are closed until Monday")
        await expect(page.locator("li.message.in")).to_contain_text("Where is my order?")
        await expect(page.locator("li.event", has_text="auto reply")).to_have_count(0)
        await page.screenshot(path=str(tmp_path / f"auto-reply-{scheme}.png"))
        await page.close()


# -- the hot path ----------------------------------------------------------------------------

def test_an_inbox_without_an_automatic_reply_costs_ingest_no_statement(tmp_path: Path) -> None:
    """A known customer's next message takes the six statements of ingest.py's docstring,
    whether the inbox has no automatic reply or has texts switched off."""
    db = Database(f"sqlite:///{tmp_path}/hot.db")
    db.migrate()
    inbox = db.write_sync(lambda tx: actions.create_inbox(tx, kind="sms", name="Line", address="+15550001111",
                                                          settings={}))
    policy = AutoReplyPolicy(timedelta(hours=24), {})
    now = datetime.now(timezone.utc)

    def traced(n: int) -> list[str]:
        msg = InboundMessage(inbox_id=inbox["id"], kind="sms", handle="+15557654321", provider_message_id=f"SM{n}",
                             text="hello", timestamp=now, phone="+15557654321")
        statements: list[str] = []

        def job(tx: Tx) -> None:
            raw = tx.conn.connection.driver_connection
            raw.set_trace_callback(statements.append)  # type: ignore[union-attr]
            try:
                ingest(tx, msg, timedelta(days=7), now + timedelta(seconds=n), policy)
            finally:
                raw.set_trace_callback(None)  # type: ignore[union-attr]
        db.write_sync(job)
        # SQLite traces what triggers run (the search index's) as "-- ..." lines, and the
        # statement that fired them once more for each: one statement each, here.
        top = [s for s in statements if not s.startswith("--")]
        return [s for i, s in enumerate(top) if i == 0 or s != top[i - 1]]

    traced(1)  # the customer's first message: contact, identity, conversation
    second = traced(2)
    assert len(second) == 6 and sum("INSERT INTO report_fact" in s for s in second) == 1
    db.write_sync(lambda tx: actions.set_auto_reply(tx, inbox["id"], {"auto_reply": {
        "closed": {"enabled": False, "text": "We are closed."}, "open": {"enabled": False, "text": "Thanks"}}}, now))
    statements = traced(3)
    assert len(statements) == 6 and not any(("calendar" in s and "report_fact" not in s) or "auto_replied_at" in s
                                               for s in statements)
    db.write_sync(lambda tx: actions.set_auto_reply(tx, inbox["id"], {"auto_reply": {"open": {"enabled": True}}}, now))
    assert len(traced(4)) > 6  # now it looks (and answers: no calendar is always open)
    db.stop()
