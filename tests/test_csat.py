"""Satisfaction surveys end to end (docs/csat.md), through the fake providers: asked when an
agent resolves, in the customer's channel (SMS: "reply 1 to 5", a typed "4"; Telegram: an
inline keyboard and its callback query; email: one link per score to our rating page);
the answer shows in the timeline, on the contact and in the reports, credited to the agent
who resolved it, with the survey's wording version. The rules: one survey per cycle, none
to an opted-out contact, none twice within the interval; the signed link works once and
expires. WhatsApp and Messenger have theirs in tests/test_whatsapp.py and test_messenger.py
(their fakes share the Graph base URL). Time moves with the clock only."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from inbox.actions.reports import rebuild_batch
from inbox.domain.clock import MovableClock
from inbox.domain.tables import FACTS
from playwright.async_api import Browser, expect

from tests.conftest import Live
from tests.fakes.telegram import FakeTelegram
from tests.helpers.browser import browser, login
from tests.helpers.csat import answer_and_resolve, ask_on_resolve, conversation, csat_figures, events
from tests.helpers.email import Sink, sink, smtp_port, smtp_send
from tests.helpers.telegram import BOT_TOKEN, SECRET, deliver, fake_telegram, update

__all__ = ["browser", "fake_telegram", "sink", "smtp_port"]  # fixtures

CHAT = "111222333"  # the Telegram fixtures' customer
LINK = re.compile(r"https?://[^\s]+/rate/[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+")


@pytest.fixture
def live_overrides(fake_telegram: FakeTelegram, smtp_port: int) -> dict[str, Any]:
    return {"telegram_api_base": fake_telegram.url, "smtp_listen": f"127.0.0.1:{smtp_port}"}


async def sms_conversation(live: Live, phone: str, text: str = "Where is my order?") -> int:
    assert (await live.sms(phone, text)).status_code == 200
    found = await live.get("/api/conversations", who="lead")
    return next(c["id"] for c in found["items"] if c["contact"]["name"] == phone)


async def survey_sms(live: Live, n: int) -> str:
    sent = await live.fake.wait_for_sent(n)
    return str(sent[n - 1]["body"])


# -- SMS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_sms_asks_for_a_digit_and_a_typed_4_is_the_answer_credited_to_the_resolver(
        live: Live, clock: MovableClock) -> None:
    setting = await ask_on_resolve(live, live.inbox["id"], question="How did we do today?")
    assert setting["version"] == 2 and setting["mode"] == "on_resolve"  # the question changed: version 2
    cid = await sms_conversation(live, "+15550001111")
    clock.advance(timedelta(minutes=4))
    await answer_and_resolve(live, cid, who="agent2")
    body = await survey_sms(live, 2)  # the agent's reply, then the survey
    assert body.startswith("How did we do today?\nReply with a number from 1 (very poor) to 5 (excellent)")
    assert LINK.search(body) is not None
    assert (await conversation(live, cid))["status"] == "resolved"

    stream = await live.events("lead")
    clock.advance(timedelta(minutes=2))
    assert (await live.sms("+15550001111", " 4 ")).status_code == 200
    await stream.next(lambda e: e["type"] == "conversation.updated" and e["data"]["conversation"]["id"] == cid)
    await stream.close()
    conv = await conversation(live, cid)
    assert conv["status"] == "resolved" and conv["waiting_since"] is None  # an answer reopens nothing
    [answered] = await events(live, cid, "csat_answered")
    assert answered["data"]["score"] == 4 and answered["data"]["source"] == "channel"
    assert answered["data"]["agent_id"] == live.users["agent2"]["id"]

    # Another "5" now is an ordinary message: the survey is answered; it reopens the conversation.
    assert (await live.sms("+15550001111", "5")).status_code == 200
    assert (await conversation(live, cid))["status"] == "open"
    assert len(await events(live, cid, "csat_answered")) == 1

    figures = await csat_figures(live, group="agent")
    assert figures["metrics"]["csat"]["responses"] == 1 and figures["metrics"]["csat"]["average"] == 4
    [row] = [g for g in figures["groups"] if g["metrics"]["csat"]["responses"]]
    assert row["key"] == live.users["agent2"]["id"]  # the resolver, though agent2 never saw the answer

    contact = (await live.get(f"/api/conversations/{cid}", who="lead"))["contact"]
    page = await live.client.get(f"/ui/conversations/{cid}", headers=live.as_("lead"))
    assert page.status_code == 200 and "4/5 · Good" in page.text and "The customer rated 4 of 5 (Good)" in page.text
    assert contact["id"]

    # Rebuilt from the timeline, the satisfaction fact is the one written as it happened.
    def facts(conn: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(select(FACTS.c.kind, FACTS.c.score, FACTS.c.agent_id, FACTS.c.cycle)
                                               .where(FACTS.c.kind == "csat"))]
    before = await live.app.state.ctx.db.read(facts)
    await live.app.state.ctx.db.write(lambda tx: rebuild_batch(tx, 0))
    assert await live.app.state.ctx.db.read(facts) == before == [("csat", 4, live.users["agent2"]["id"], 1)]


async def test_one_survey_per_cycle_none_within_the_interval_none_to_an_opted_out_contact(
        live: Live, clock: MovableClock) -> None:
    await ask_on_resolve(live, live.inbox["id"], interval_days=3)
    cid = await sms_conversation(live, "+15550002222")
    await answer_and_resolve(live, cid)
    await survey_sms(live, 2)
    # Reopened by the agent and resolved again: a new cycle (docs/metrics.md), within the interval.
    for status in ("open", "resolved"):
        r = await live.client.post(f"/api/conversations/{cid}/status", headers=live.as_("agent"),
                                   json={"status": status})
        assert r.status_code == 200
    assert len(await events(live, cid, "csat_sent")) == 1
    [skipped] = await events(live, cid, "csat_skipped")
    assert skipped["data"]["cycle"] == 2 and "within 3 days" in skipped["data"]["reason"]
    # The customer writes again a day later: still within the interval, no survey.
    clock.advance(timedelta(days=1))
    later = await sms_conversation(live, "+15550002222", "One more question")
    await answer_and_resolve(live, later)
    assert len(await events(live, later, "csat_skipped")) == (2 if later == cid else 1)
    assert len(await events(live, later, "csat_sent")) == (1 if later == cid else 0)
    # Four days on, it would be asked again, but the contact opted out.
    clock.advance(timedelta(days=4))
    last = await sms_conversation(live, "+15550002222", "And another")
    assert (await live.sms("+15550002222", "STOP")).status_code == 200
    await answer_and_resolve(live, last, reply=False)
    opted_out = (await events(live, last, "csat_skipped"))[-1]
    assert opted_out["data"]["reason"] == "the contact has opted out of messages"
    assert len(await events(live, last, "csat_sent")) == (1 if last == cid else 0)
    assert not any("Reply with a number" in str(m["body"]) for m in live.fake.sent[2:])


# -- Telegram ---------------------------------------------------------------------------------

async def test_telegram_sends_an_inline_keyboard_and_a_press_is_the_answer(
        live: Live, fake_telegram: FakeTelegram) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "telegram", "name": "Telegram support", "settings": {"bot_token": BOT_TOKEN, "secret_token": SECRET}})
    assert r.status_code == 201, r.text
    inbox = r.json()
    await ask_on_resolve(live, inbox["id"])
    assert (await deliver(live.client, inbox["id"], update("text"), SECRET)).status_code == 200
    [conv] = (await live.get("/api/conversations", who="lead"))["items"]
    await answer_and_resolve(live, conv["id"])
    sent = await fake_telegram.wait_for("sendMessage", 2)
    survey = sent[1]
    [row] = survey["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["5", "4", "3", "2", "1"]
    assert all(re.fullmatch(r"csat:\d+:[1-5]", b["callback_data"]) for b in row)
    assert survey["text"].startswith("How would you rate the help you got from us?\nChoose a score below")

    press = {"update_id": 900001, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "chat_instance": "-8123456789",
        "from": {"id": int(CHAT), "is_bot": False, "first_name": "Ada"},
        "message": {"message_id": 1002, "date": 1764700000, "chat": {"id": int(CHAT), "type": "private"},
                    "text": survey["text"], "reply_markup": survey["reply_markup"]},
        "data": row[0]["callback_data"]}}
    assert (await deliver(live.client, inbox["id"], press, SECRET)).status_code == 200
    [answered] = await events(live, conv["id"], "csat_answered")
    assert answered["data"]["score"] == 5
    [ack] = await fake_telegram.wait_for("answerCallbackQuery")
    assert ack["callback_query_id"] == "4382bfdwdsb323b2d9"
    assert (await conversation(live, conv["id"]))["status"] == "resolved"
    # Telegram redelivers the same update: stored once, answered once.
    assert (await deliver(live.client, inbox["id"], press, SECRET)).status_code == 200
    assert len(await events(live, conv["id"], "csat_answered")) == 1


# -- email and the rating page -----------------------------------------------------------------

async def test_email_links_lead_to_a_rating_page_that_works_once_and_expires(
        live: Live, clock: MovableClock, sink: Sink, smtp_port: int) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "email", "name": "Support mail", "settings": {
            "address": "support@example.com", "smtp_host": "127.0.0.1", "smtp_port": sink.port,
            "smtp_security": "none"}})
    assert r.status_code == 201, r.text
    await ask_on_resolve(live, r.json()["id"], expiry_days=2)

    async def mail_in(sender: str, subject: str) -> int:
        raw = (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject.replace(' ', '-')}@mail.example.org>\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n").encode()
        assert (await smtp_send(smtp_port, raw, in_thread=True))[0] == 250
        items = (await live.get("/api/conversations", who="lead"))["items"]
        return next(c["id"] for c in items if sender in c["contact"]["name"].lower() or c["channel"] == "email"
                    and c["last_message_preview"] == "Hello there" and c["status"] == "open")

    cid = await mail_in("ann@example.org", "Order 1")
    await answer_and_resolve(live, cid)
    await sink.next()  # the agent's reply
    survey = await sink.next()
    body = survey.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    links = re.findall(LINK.pattern + r"\?score=([1-5])", text)
    assert links == ["5", "4", "3", "2", "1"]
    url = re.search(LINK.pattern + r"\?score=4", text)
    assert url is not None
    path = url.group(0)[len(live.url):] if url.group(0).startswith(live.url) else url.group(0).split("/", 3)[3]
    path = "/" + path.lstrip("/")

    # Opening the link records nothing (scanners open links); the page has score 4 chosen.
    page = await live.client.get(path)
    assert page.status_code == 200 and 'value="4" required checked' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await events(live, cid, "csat_answered") == []
    forged = await live.client.get(re.sub(r"\.[A-Za-z0-9_-]+\?", ".AAAAAAAAAAAAAAAAAAAAAAAA?", path))
    assert forged.status_code == 404 and "not valid" in forged.text

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "score": "2", "comment": "Slow <b>answer</b>"}
    done = await live.client.post(path.split("?")[0], data=form)
    assert done.status_code == 200 and "You rated us 2 of 5" in done.text
    again = await live.client.post(path.split("?")[0], data={**form, "score": "5"})
    assert "Already answered" in again.text
    [answered] = await events(live, cid, "csat_answered")
    assert answered["data"] == {**answered["data"], "score": 2, "comment": "Slow <b>answer</b>", "source": "link"}
    timeline = await live.client.get(f"/ui/conversations/{cid}", headers=live.as_("lead"))
    assert "Slow &lt;b&gt;answer&lt;/b&gt;" in timeline.text  # the comment is escaped

    # A second customer's link, past its 2 days: expired, and nothing recorded.
    cid2 = await mail_in("bob@example.org", "Order 2")
    await answer_and_resolve(live, cid2)
    await sink.next()
    text2 = (await sink.next()).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = LINK.search(text2)
    assert found is not None
    path2 = "/" + found.group(0).split("/", 3)[3]
    clock.advance(timedelta(days=2, seconds=1))
    expired = await live.client.get(path2)
    assert expired.status_code == 410 and "expired" in expired.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    late = await live.client.post(path2, data={"csrf_token": token.group(1), "score": "5"})
    assert late.status_code == 410 and await events(live, cid2, "csat_answered") == []


async def test_the_setting_is_checked(live: Live) -> None:
    url = f"/api/inboxes/{live.inbox['id']}"
    for bad, field in (({"mode": "always"}, "csat.mode"), ({"question": ""}, "csat.question"),
                       ({"interval_days": -1}, "csat.interval_days"), ({"expiry_days": 0}, "csat.expiry_days"),
                       ({"colour": "red"}, "csat.colour")):
        r = await live.client.patch(url, headers=live.as_("admin"), json={"csat": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] in ("invalid_csat", "invalid_body") and field.split(".")[0] in r.text
    inbox = (await live.client.get(url, headers=live.as_("admin"))).json()
    assert inbox["csat"]["mode"] == "off" and inbox["csat"]["version"] == 1
    assert (await live.client.patch(url, headers=live.as_("agent"), json={"csat": {"mode": "on_resolve"}})
            ).status_code == 403


async def test_reports_list_the_answers_with_their_comments(live: Live) -> None:
    await ask_on_resolve(live, live.inbox["id"], interval_days=0)
    ids = []
    for n, (phone, score) in enumerate((("+15550003331", "5"), ("+15550003332", "2"))):
        cid = await sms_conversation(live, phone)
        ids.append(cid)
        await answer_and_resolve(live, cid, who="agent" if n == 0 else "agent2")
        assert (await live.sms(phone, score)).status_code == 200
    today = live.app.state.ctx.clock.now().date().isoformat()
    got = await live.get("/api/reports/csat", who="lead", params={"from": today, "to": today})
    assert [(a["conversation_id"], a["score"], a["agent_name"]) for a in got["items"]] == [
        (ids[1], 2, live.users["agent2"]["name"]), (ids[0], 5, live.users["agent"]["name"])]
    assert got["next_after"] is None
    figures = (await csat_figures(live))["metrics"]["csat"]
    assert figures["responses"] == 2 and figures["distribution"]["5"] == 1 and figures["distribution"]["2"] == 1
    assert (await live.client.get("/api/reports/csat", headers=live.as_("agent"))).status_code == 403


async def test_the_admin_sets_the_survey_in_the_browser(live: Live, browser: Browser, tmp_path: Path) -> None:
    iid = live.inbox["id"]
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/inboxes")
    box = page.locator(f"[data-inbox='{iid}'] details.csat-setting")
    await box.locator("summary").click()
    await box.get_by_label("Ask the customer to rate the help when a conversation is resolved").check()
    await box.get_by_label("Asked as").fill("How did we do (dark)?")
    await box.get_by_label("Not again to the same contact within (days)").fill("14")
    await box.get_by_role("button", name="Save the survey of Support line").click()
    await expect(page.get_by_role("status")).to_have_text("Satisfaction survey of Support line saved")
    await expect(page.locator(f"[data-inbox='{iid}'] details.csat-setting summary")).to_contain_text(
        "Asked on resolve")
    # As a phone shows it, dark: nothing wider than the screen.
    await page.emulate_media(color_scheme="dark")
    await page.set_viewport_size({"width": 390, "height": 900})
    await page.locator(f"[data-inbox='{iid}'] details.csat-setting summary").click()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(tmp_path / "admin-csat-dark.png"), full_page=True)
    setting = (await live.get(f"/api/inboxes/{iid}", who="admin"))["csat"]
    assert (setting["mode"], setting["question"], setting["interval_days"]) == (
        "on_resolve", "How did we do (dark)?", 14)
    assert setting["version"] == 2  # a new question
    # Refused in the form's words, nothing changed.
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/inboxes")
    box = page.locator(f"[data-inbox='{iid}'] details.csat-setting")
    await box.locator("summary").click()
    await box.get_by_label("Asked as").fill("   ")
    await box.get_by_role("button", name="Save the survey of Support line").click()
    await expect(page.get_by_role("alert")).to_contain_text("The question must be text")
    assert (await live.get(f"/api/inboxes/{iid}", who="admin"))["csat"]["question"] == "How did we do (dark)?"
