"""Scheduled messages (docs/campaigns.md, "Scheduled messages"): an agent's reply at the
customer's local time, cancelled or sent when the clock gets there; the API's reminders
with an idempotency key; each checked at its time (a STOP meanwhile fails it, with the
reason), a marketing one held for the customer's quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.test_accessibility import _axe

__all__ = ["browser"]  # a fixture


async def _conversation(live: Live, phone: str) -> dict[str, Any]:
    assert (await live.sms(phone, "hello")).status_code == 200
    [conv] = (await live.get("/api/conversations", who="lead", params={"q": phone}))["items"]
    return conv  # type: ignore[no-any-return]


async def _sent(live: Live) -> None:
    """Until the worker has looked at what fell due."""
    await live.app.state.campaigns.settled()


async def test_an_agent_schedules_a_reply_at_the_customers_time_and_cancels_another(live: Live) -> None:
    conv = await _conversation(live, "+15550005001")
    r = await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("lead"),
                                json={"attributes": {"timezone": "Asia/Tokyo"}})
    assert r.status_code == 200, r.text
    now = live.app.state.ctx.clock.now()
    tomorrow = (now.astimezone(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)).date()
    path = f"/api/conversations/{conv['id']}/scheduled"
    r = await live.client.post(path, headers={**live.as_("agent"), "Idempotency-Key": "k-1"},
                               json={"text": "Good morning! Your parcel arrives today.",
                                     "local": f"{tomorrow}T09:00"})
    assert r.status_code == 201, r.text
    first = r.json()
    due = datetime.fromisoformat(first["due_at"])
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M") == f"{tomorrow} 09:00"
    assert first["local"] == f"{tomorrow}T09:00 Asia/Tokyo" and first["state"] == "scheduled"
    again = await live.client.post(path, headers={**live.as_("agent"), "Idempotency-Key": "k-1"},
                                   json={"text": "Good morning! Your parcel arrives today.",
                                         "local": f"{tomorrow}T09:00"})
    assert again.status_code == 200 and again.json()["id"] == first["id"]  # stored once
    other = await live.client.post(path, headers=live.as_("agent"), json={
        "text": "Never mind", "at": (now + timedelta(hours=1)).isoformat()})
    assert other.status_code == 201, other.text
    listed = (await live.get(path))["items"]
    assert [i["id"] for i in listed] == [other.json()["id"], first["id"]]  # soonest first
    gone = await live.client.delete(f"/api/scheduled/{other.json()['id']}", headers=live.as_("agent"))
    assert gone.status_code == 200 and gone.json()["state"] == "cancelled"
    twice = await live.client.delete(f"/api/scheduled/{other.json()['id']}", headers=live.as_("agent"))
    assert twice.status_code == 409
    for body, words in (({"text": "x", "at": (now - timedelta(minutes=1)).isoformat()}, "that time has passed"),
                        ({"text": "x"}, "say when"), ({"at": (now + timedelta(hours=1)).isoformat()}, "needs a text"),
                        ({"text": "x", "local": "tomorrow"}, "local is the customer's date and time")):
        bad = await live.client.post(path, headers=live.as_("agent"), json=body)
        assert bad.status_code == 422 and words in bad.json()["error"]["message"], bad.text

    await _sent(live)
    assert live.fake.sent == []  # not yet
    live.app.state.ctx.clock.advance(due - live.app.state.ctx.clock.now() + timedelta(seconds=1))
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["body"] == "Good morning! Your parcel arrives today."
    for _ in range(20):
        await _sent(live)
        done = await live.get(f"/api/scheduled/{first['id']}")
        if done["state"] == "sent":
            break
    assert done["state"] == "sent" and done["message_id"]
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline")
    message = next(t for t in timeline["items"] if t["type"] == "message" and t.get("id") == done["message_id"])
    assert message["author_id"] == live.users["agent"]["id"] and message["automatic"] is None  # the agent's reply


async def test_reminders_through_the_api_obey_consent_at_their_time(live: Live) -> None:
    kept = await _conversation(live, "+15550005101")
    stopped = await _conversation(live, "+15550005102")
    now = live.app.state.ctx.clock.now()
    at = (now + timedelta(hours=2)).isoformat()

    async def remind(contact_id: int, key: str, **extra: Any) -> dict[str, Any]:
        r = await live.client.post(f"/api/contacts/{contact_id}/scheduled",
                                   headers={**live.as_("admin"), "Idempotency-Key": key},
                                   json={"text": "Reminder: your appointment is tomorrow at 10:00.", "at": at,
                                         "inbox_id": live.inbox["id"], **extra})
        assert r.status_code in (200, 201), r.text
        return r.json()  # type: ignore[no-any-return]
    one = await remind(kept["contact"]["id"], "appt-1")
    assert (await remind(kept["contact"]["id"], "appt-1"))["id"] == one["id"]
    two = await remind(stopped["contact"]["id"], "appt-2")
    agent = await live.client.post(f"/api/contacts/{kept['contact']['id']}/scheduled", headers=live.as_("agent"),
                                   json={"text": "x", "at": at, "inbox_id": live.inbox["id"]})
    assert agent.status_code == 403
    assert (await live.sms("+15550005102", "STOP")).status_code == 200
    confirmations = len(live.fake.sent)
    live.app.state.ctx.clock.advance(timedelta(hours=2, seconds=1))
    sent = await live.fake.wait_for_sent(confirmations + 1)
    assert [m["to"] for m in sent[confirmations:]] == ["+15550005101"]
    for _ in range(20):
        await _sent(live)
        a, b = (await live.get(f"/api/scheduled/{one['id']}", who="admin"),
                await live.get(f"/api/scheduled/{two['id']}", who="admin"))
        if a["state"] == "sent" and b["state"] == "failed":
            break
    assert a["state"] == "sent" and a["conversation_id"] == kept["id"]
    assert b["state"] == "failed" and b["reason"] == "opted out of sms messages"
    timeline = await live.get(f"/api/conversations/{kept['id']}/timeline", who="admin")
    message = next(t for t in timeline["items"] if t["type"] == "message" and t.get("id") == a["message_id"])
    assert message["automatic"] == "reminder" and message["author_id"] is None


async def test_a_marketing_reminder_waits_for_the_customers_quiet_hours_to_end(live: Live) -> None:
    from tests.test_campaigns import _zone_at
    conv = await _conversation(live, "+15550005201")
    contact = conv["contact"]["id"]
    now = live.app.state.ctx.clock.now()
    night = _zone_at(23, now + timedelta(hours=1))  # 23:00 there when it falls due
    assert (await live.client.patch(f"/api/contacts/{contact}", headers=live.as_("lead"),
                                    json={"attributes": {"timezone": night}})).status_code == 200
    r = await live.client.post(f"/api/contacts/{contact}/consent", headers=live.as_("lead"), json={
        "channel": "sms", "purpose": "marketing", "state": "opt_in"})
    assert r.status_code == 201
    r = await live.client.post(f"/api/contacts/{contact}/scheduled", headers=live.as_("admin"), json={
        "text": "New arrivals this week", "purpose": "marketing", "inbox_id": live.inbox["id"],
        "at": (now + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201, r.text
    live.app.state.ctx.clock.advance(timedelta(hours=1, seconds=1))
    for _ in range(20):
        await _sent(live)
        held = await live.get(f"/api/scheduled/{r.json()['id']}", who="admin")
        if datetime.fromisoformat(held["due_at"]) > now + timedelta(hours=2):
            break
    local = datetime.fromisoformat(held["due_at"]).astimezone(ZoneInfo(night))
    assert held["state"] == "scheduled" and (local.hour, local.minute) == (8, 0)
    assert live.fake.sent == []
    live.app.state.ctx.clock.advance(datetime.fromisoformat(held["due_at"]) - live.app.state.ctx.clock.now()
                                     + timedelta(seconds=1))
    [sent] = await live.fake.wait_for_sent(1)
    assert sent["body"] == "New arrivals this week"


async def test_an_agent_schedules_and_cancels_a_reply_from_the_composer(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15550005301")
    assert (await live.client.patch(f"/api/contacts/{conv['contact']['id']}", headers=live.as_("lead"), json={
        "attributes": {"timezone": "Europe/Berlin"}})).status_code == 200
    page = await login(browser, live, "agent")
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await page.get_by_label("Message").fill("We will call you tomorrow morning.")
    tomorrow = (live.app.state.ctx.clock.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(days=1)).date()
    await page.locator("details.send-later summary").click()
    await expect(page.get_by_label("The customer's time (Europe/Berlin)")).to_be_checked()
    await page.get_by_label("When").fill(f"{tomorrow}T09:30")
    found = await _axe(page, "the composer's Send later open")
    await page.get_by_role("button", name="Schedule").click()
    item = page.locator("#timeline li.scheduled")
    await expect(item).to_contain_text("We will call you tomorrow morning.")
    await expect(item).to_contain_text("09:30 the customer's time (Europe/Berlin)")
    await expect(page.get_by_label("Message")).to_have_value("")  # it left the composer
    [scheduled] = (await live.get(f"/api/conversations/{conv['id']}/scheduled"))["items"]
    assert datetime.fromisoformat(scheduled["due_at"]).astimezone(ZoneInfo("Europe/Berlin")).strftime(
        "%Y-%m-%d %H:%M") == f"{tomorrow} 09:30"
    found += await _axe(page, "a scheduled reply on the timeline")
    await item.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#timeline li.scheduled")).to_have_count(0)
    assert (await live.get(f"/api/scheduled/{scheduled['id']}"))["state"] == "cancelled"
    await page.context.close()
    assert not found, "\n".join(found)
