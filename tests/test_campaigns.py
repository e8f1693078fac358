"""Campaigns (docs/campaigns.md) through the API and the fake Twilio: consent decides who gets
a marketing message, STOP and caps are honoured, quiet hours hold a message until they end
in the recipient's zone (moved with the clock), each recipient is messaged once, one
failure stops nothing, results never move backwards, replies and opt-outs are counted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from inbox.domain import campaigns
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.test_accessibility import _axe

__all__ = ["browser"]  # a fixture


async def _contacts(live: Live, *phones: str) -> dict[str, int]:
    """A contact per number, made by its first message."""
    for phone in phones:
        assert (await live.sms(phone, "hello")).status_code == 200
    found = await live.get("/api/conversations", who="lead", params={"status": ""})
    named = {c["contact"]["name"]: c["contact"]["id"] for c in found["items"]}
    return {phone: named[phone] for phone in phones}


async def _consent(live: Live, contact_id: int, state: str = "opt_in", purpose: str = "marketing") -> None:
    r = await live.client.post(f"/api/contacts/{contact_id}/consent", headers=live.as_("lead"), json={
        "channel": "sms", "purpose": purpose, "state": state, "proof": "ticked the box at checkout"})
    assert r.status_code == 201, r.text


async def _campaign(live: Live, **fields: Any) -> dict[str, Any]:
    body = {"name": "Winter sale", "purpose": "marketing", "audience": {"channels": ["sms"]},
            "messages": [{"channel": "sms", "inbox_id": live.inbox["id"],
                          "text": "Hi {{contact_name}}, 20% off this week. Reply STOP to opt out."}],
            "quiet_hours": False, **fields}
    r = await live.client.post("/api/campaigns", headers=live.as_("lead"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft"
    return r.json()  # type: ignore[no-any-return]


async def _post(live: Live, path: str, who: str = "lead", status: int = 200) -> dict[str, Any]:
    r = await live.client.post(path, headers=live.as_(who))
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


async def _settled(live: Live, campaign_id: int, status: str = "done") -> dict[str, Any]:
    """The campaign once the worker has left it in ``status``."""
    for _ in range(50):
        await live.app.state.campaigns.settled()
        found = await live.get(f"/api/campaigns/{campaign_id}", who="lead")
        if found["status"] == status:
            return found  # type: ignore[no-any-return]
    raise AssertionError(f"campaign {campaign_id} stayed {found['status']}: {found['totals']}")


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_a_marketing_campaign_reaches_only_the_opted_in_once_each(live: Live) -> None:
    ids = await _contacts(live, "+15550004001", "+15550004002", "+15550004003")
    yes, never, stopped = ids.values()
    await _consent(live, yes)
    await _consent(live, stopped)
    assert (await live.sms("+15550004003", "STOP")).status_code == 200  # STOP outranks the opt-in
    sent_before = len(live.fake.sent)  # STOP's confirmation
    campaign = await _campaign(live)

    check = await _post(live, f"/api/campaigns/{campaign['id']}/preflight")
    assert (check["recipients"], check["will_send"], check["skipped"]) == (3, 1, 2)
    assert check["skipped_by_reason"] == {"no_consent": 1, "opted_out": 1}
    [sample] = check["samples"]
    assert sample["text"] == "Hi +15550004001, 20% off this week. Reply STOP to opt out."
    assert sample["segments"] == 1 and check["sms_segments"] == 1

    started = await _post(live, f"/api/campaigns/{campaign['id']}/start")
    assert started["status"] in ("scheduled", "sending", "done")
    [sent] = (await live.fake.wait_for_sent(sent_before + 1))[sent_before:]
    assert (sent["to"], sent["body"]) == ("+15550004001", sample["text"])
    done = await _settled(live, campaign["id"])
    totals = done["totals"]
    assert (totals["recipients"], totals["skipped"], totals["skipped_by_reason"]) == (
        3, 2, {"no_consent": 1, "opted_out": 1})
    assert totals["sent"] + totals["queued"] == 1 and totals["failed"] == 0
    # Its message is in the contact's conversation, marked with the campaign, and sent by nobody.
    items = (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead"))["items"]
    assert {(i["contact"]["id"], i["result"] in ("queued", "sent"), i["reason"]) for i in items} == {
        (yes, True, None), (never, False, "no_consent"), (stopped, False, "opted_out")}
    mine = next(i for i in items if i["contact"]["id"] == yes)
    timeline = await live.get(f"/api/conversations/{mine['conversation_id']}/timeline", who="lead")
    message = next(t for t in timeline["items"] if t["type"] == "message" and t.get("id") == mine["message_id"])
    assert message["payload"]["campaign"] == {"id": campaign["id"], "name": "Winter sale"}
    assert message["author_id"] is None and message["automatic"] == "campaign"
    # Done is done: it cannot start again, and nothing more is sent.
    await _post(live, f"/api/campaigns/{campaign['id']}/start", status=409)
    assert len(live.fake.sent) == sent_before + 1

    # The next marketing campaign the same day meets the daily cap.
    again = await _campaign(live, name="Flash sale")
    check = await _post(live, f"/api/campaigns/{again['id']}/preflight")
    assert check["skipped_by_reason"] == {"no_consent": 1, "opted_out": 1, "frequency_cap": 1}
    await _post(live, f"/api/campaigns/{again['id']}/start")
    done = await _settled(live, again["id"])
    assert done["totals"]["skipped_by_reason"]["frequency_cap"] == 1 and len(live.fake.sent) == sent_before + 1


def _zone_at(hour: int, now: datetime) -> str:
    """An IANA zone where it is ``hour`` o'clock (and the minutes of ``now``) right now."""
    offset = (hour - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


async def test_quiet_hours_hold_a_message_until_they_end_in_the_recipients_zone(live: Live) -> None:
    ids = await _contacts(live, "+15550004101", "+15550004102")
    night, day = ids.values()
    now = live.app.state.ctx.clock.now()
    for cid, hour in ((night, 23), (day, 12)):
        r = await live.client.patch(f"/api/contacts/{cid}", headers=live.as_("lead"),
                                    json={"attributes": {"timezone": _zone_at(hour, now)}})
        assert r.status_code == 200, r.text
        await _consent(live, cid)
    campaign = await _campaign(live, quiet_hours=None)  # marketing's default: 21:00-08:00
    check = await _post(live, f"/api/campaigns/{campaign['id']}/preflight")
    assert (check["will_send"], check["held_for_quiet_hours"]) == (2, 1)
    assert check["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    [first] = await live.fake.wait_for_sent(1)
    assert first["to"] == "+15550004102"
    held = await _settled(live, campaign["id"], "sending")
    assert (held["totals"]["pending"], held["totals"]["recipients"]) == (1, 2)
    pending = (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead",
                              params={"result": "pending"}))["items"]
    due = datetime.fromisoformat(pending[0]["due_at"])
    local = due.astimezone(campaigns.zone_of({"timezone": _zone_at(23, now)}, None, "UTC", now))
    assert (local.hour, local.minute) == (8, 0) and due > now
    live.app.state.ctx.clock.advance(due - now + timedelta(seconds=1))
    sent = await live.fake.wait_for_sent(2)
    assert sent[1]["to"] == "+15550004101"
    await _settled(live, campaign["id"])


async def test_transactional_needs_no_opt_in_and_replies_and_opt_outs_are_counted(live: Live) -> None:
    ids = await _contacts(live, "+15550004201", "+15550004202")
    campaign = await _campaign(live, name="Your order ships today", purpose="transactional",
                               messages=[{"channel": "sms", "inbox_id": live.inbox["id"],
                                          "text": "Order {{contact.order}} ships today"}])
    r = await live.client.patch(f"/api/contacts/{ids['+15550004201']}", headers=live.as_("lead"),
                                json={"attributes": {"order": "A-1009"}})
    assert r.status_code == 200, r.text
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    sent = await live.fake.wait_for_sent(2)
    assert sorted(m["body"] for m in sent) == ["Order  ships today", "Order A-1009 ships today"]
    await _settled(live, campaign["id"])
    assert (await live.sms("+15550004201", "Thanks! What time?")).status_code == 200
    assert (await live.sms("+15550004202", "STOP")).status_code == 200
    done = await live.get(f"/api/campaigns/{campaign['id']}", who="lead")
    assert (done["totals"]["replied"], done["totals"]["opted_out"]) == (2, 1)
    # The reply is in the conversation the campaign's message went to.
    [item] = [i for i in (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead"))["items"]
              if i["contact"]["id"] == ids["+15550004201"]]
    timeline = await live.get(f"/api/conversations/{item['conversation_id']}/timeline", who="lead")
    assert any(t["type"] == "message" and t.get("text") == "Thanks! What time?" for t in timeline["items"])


async def test_one_failure_stops_nothing_and_results_never_move_backwards(live: Live) -> None:
    ids = await _contacts(live, "+15550004301", "+15550004302", "+15550004303")
    live.fake.fail_next(400, 21211, "The 'To' number +15550004301 is not a valid phone number.")
    campaign = await _campaign(live, purpose="transactional")
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    await live.fake.wait_for_sent(2)
    for _ in range(50):
        done = await _settled(live, campaign["id"])
        if done["totals"]["failed"] == 1:
            break
    assert (done["totals"]["failed"], done["totals"]["recipients"]) == (1, 3)
    failed = (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead",
                             params={"result": "failed"}))["items"]
    assert failed[0]["contact"]["id"] == ids["+15550004301"] and "not a valid phone number" in failed[0]["detail"]
    # Receipts: delivered, then a late "sent" changes nothing.
    sid = next(m["sid"] for m in live.fake.sent if m["to"] == "+15550004302")
    assert (await live.status_callback(sid, "delivered", To="+15550004302")).status_code in (200, 204)
    assert (await live.status_callback(sid, "sent", To="+15550004302")).status_code in (200, 204)
    totals = (await live.get(f"/api/campaigns/{campaign['id']}", who="lead"))["totals"]
    assert totals["delivered"] == 1 and totals["failed"] == 1


async def test_pause_resume_and_cancel(live: Live) -> None:
    await _contacts(live, "+15550004401", "+15550004402")
    later = (live.app.state.ctx.clock.now() + timedelta(hours=2)).isoformat()
    campaign = await _campaign(live, purpose="transactional", schedule={"at": later})
    assert (await _post(live, f"/api/campaigns/{campaign['id']}/start"))["status"] == "scheduled"
    await _settled(live, campaign["id"], "scheduled")
    assert (await _post(live, f"/api/campaigns/{campaign['id']}/pause"))["status"] == "paused"
    live.app.state.ctx.clock.advance(timedelta(hours=3))
    await live.app.state.campaigns.settled()
    assert live.fake.sent == []  # paused: nothing goes, though it is due
    assert (await _post(live, f"/api/campaigns/{campaign['id']}/resume"))["status"] == "scheduled"
    await live.fake.wait_for_sent(2)
    await _settled(live, campaign["id"])

    other = await _campaign(live, name="Next week", purpose="transactional",
                            schedule={"at": (live.app.state.ctx.clock.now() + timedelta(days=7)).isoformat()})
    await _post(live, f"/api/campaigns/{other['id']}/start")
    await _settled(live, other["id"], "scheduled")
    cancelled = await _post(live, f"/api/campaigns/{other['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["totals"]["skipped_by_reason"] == {"cancelled": 2}
    await _post(live, f"/api/campaigns/{other['id']}/resume", status=409)


async def test_an_inbox_send_rate_paces_the_campaign(live: Live) -> None:
    phones = [f"+1555000450{i}" for i in range(8)]
    await _contacts(live, *phones)
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"settings": {"send_rate_per_second": 4}})
    assert r.status_code == 200, r.text
    campaign = await _campaign(live, purpose="transactional")
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    sent = await live.fake.wait_for_sent(8, timeout=20)
    # The first arrival is left out: its request opens the connection to the provider, so
    # under load it can arrive late, up against the second.
    times = sorted(m["at"] for m in sent)[1:]
    assert times[-1] - times[0] >= 6 / 4 * 0.95, times  # paced, not all at once
    # Sends start 255 ms apart (tests/test_delivery.py); arrivals at the fake jitter with
    # the machine's load, so the tightest run of 4 gaps may bunch a little, never to a burst.
    assert min(times[i + 4] - times[i] for i in range(len(times) - 4)) >= 0.85, times
    await _settled(live, campaign["id"])


async def test_bad_campaigns_are_refused_with_the_reason_and_agents_cannot_reach_them(live: Live) -> None:
    inbox = live.inbox["id"]
    for body, words in (
            ({"name": "x"}, "a campaign needs messages"),
            ({"name": "x", "messages": []}, "messages is a list"),
            ({"name": "x", "messages": [{"channel": "fax", "inbox_id": inbox, "text": "hi"}]}, "channel must be"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": inbox}]}, "needs a text or a template"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": inbox, "text": "hi {{nope}}"}]},
             "unknown variable {{nope}}"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": 999, "text": "hi"}]}, "is not a sms inbox"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": inbox, "text": "hi"}],
              "quiet_hours": {"start": "25:00", "end": "08:00"}}, "quiet_hours is"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": inbox, "text": "hi"}],
              "schedule": {"at": "tomorrow"}}, "schedule.at is an ISO 8601 instant"),
            ({"name": "x", "messages": [{"channel": "sms", "inbox_id": inbox, "text": "hi"}],
              "audience": {"attributes": {"a b": "c"}}}, "must be a plain key")):
        r = await live.client.post("/api/campaigns", headers=live.as_("lead"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert words in r.json()["error"]["message"], (words, r.text)
    r = await live.client.get("/api/campaigns", headers=live.as_("agent"))
    assert r.status_code == 403
    assert (await live.get("/api/campaigns", who="lead"))["items"] == []


def test_sms_segments_as_carriers_count_them() -> None:
    assert campaigns.sms_segments("a" * 160) == {"encoding": "GSM-7", "length": 160, "segments": 1}
    assert campaigns.sms_segments("a" * 161)["segments"] == 2
    assert campaigns.sms_segments("€" * 80) == {"encoding": "GSM-7", "length": 160, "segments": 1}
    assert campaigns.sms_segments("é" * 70)["encoding"] == "GSM-7"
    assert campaigns.sms_segments("ć" * 70) == {"encoding": "UCS-2", "length": 70, "segments": 1}
    assert campaigns.sms_segments("ć" * 71)["segments"] == 2
    assert campaigns.sms_segments("😀" * 35) == {"encoding": "UCS-2", "length": 70, "segments": 1}


def test_quiet_hours_cross_midnight_and_daylight_saving() -> None:
    from zoneinfo import ZoneInfo
    berlin, window = ZoneInfo("Europe/Berlin"), campaigns.quiet_window({"purpose": "marketing"})
    # 22:30 in Berlin, the night DST ends (2026-10-25): held until 08:00 local, which is 07:00 UTC.
    at = datetime(2026, 10, 24, 20, 30, tzinfo=timezone.utc)
    assert campaigns.after_quiet(at, berlin, window) == datetime(2026, 10, 25, 7, 0, tzinfo=timezone.utc)
    # 06:00 local: held until 08:00 the same day; 12:00 local: not held.
    assert campaigns.after_quiet(datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc), berlin, window) == \
        datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc)
    noon = datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)
    assert campaigns.after_quiet(noon, berlin, window) == noon
    assert campaigns.quiet_window({"purpose": "transactional"}) is None


async def test_a_lead_writes_checks_starts_and_follows_a_campaign_in_the_browser(live: Live, browser: Browser) -> None:
    ids = await _contacts(live, "+15550004601", "+15550004602", "+15550004603")
    label = await live.client.post("/api/labels", headers=live.as_("admin"), json={"name": "VIP", "colour": "#7a3fbf"})
    vip = label.json()["id"]
    for phone in ("+15550004601", "+15550004602"):
        [conv] = (await live.get("/api/conversations", who="lead", params={"q": phone}))["items"]
        r = await live.client.post(f"/api/conversations/{conv['id']}/labels", headers=live.as_("lead"),
                                   json={"add": [vip]})
        assert r.status_code == 200, r.text
    await _consent(live, ids["+15550004601"])
    page = await login(browser, live, "lead")
    await page.goto(live.url + "/campaigns")
    found = await _axe(page, "/campaigns, none yet")
    await page.get_by_role("link", name="New campaign").first.click()
    await page.get_by_label("Name").fill("VIP sale")
    await page.get_by_label("VIP").check()
    await page.get_by_label("Send through").select_option(str(live.inbox["id"]))
    await page.get_by_label("Text").fill("Hi {{contact_name}}, 20% off for VIPs")
    # No quiet hours: these contacts' zone is UTC's, and the test must not depend on the hour.
    await page.locator("input[name=quiet][value=none]").check()
    # A refused form keeps what was typed, with the reason.
    await page.get_by_label("Text").fill("Hi {{nope}}")
    await page.get_by_role("button", name="Save and check").click()
    await expect(page.locator("#campaign-error")).to_contain_text("unknown variable {{nope}}")
    await expect(page.get_by_label("Name")).to_have_value("VIP sale")
    await page.get_by_label("Text").fill("Hi {{contact_name}}, 20% off for VIPs")
    await page.get_by_role("button", name="Save and check").click()
    check = page.locator("#campaign-check")
    await expect(check).to_contain_text("Will get it")
    await expect(check.locator(".stat").nth(0)).to_contain_text("2")  # the two VIPs
    await expect(check.locator(".stat").nth(1)).to_contain_text("1")  # one opted in
    await expect(check.locator(".campaign-reasons")).to_contain_text("Has not opted in to marketing")
    await expect(check.locator(".sample-text")).to_have_text("Hi +15550004601, 20% off for VIPs")
    found += await _axe(page, "a draft checked")
    await page.get_by_role("button", name="Start: send to 1 contact").click()
    await expect(page.locator(".notice")).to_contain_text("Started")
    [sent] = await live.fake.wait_for_sent(1)
    assert (sent["to"], sent["body"]) == ("+15550004601", "Hi +15550004601, 20% off for VIPs")
    for _ in range(50):
        await live.app.state.campaigns.settled()
        await page.reload()
        if await page.locator(".campaign-status.is-done").count():
            break
    await expect(page.locator(".campaign-status")).to_have_text("Done")
    await expect(page.locator("#recipients tr[data-recipient]")).to_have_count(2)
    await page.emulate_media(color_scheme="dark")
    found += await _axe(page, "a campaign's results, dark")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(live.url + "/campaigns")
    await expect(page.locator("tr[data-campaign]")).to_have_count(1)
    found += await _axe(page, "/campaigns, phone")
    await page.context.close()
    agent = await login(browser, live, "agent")
    r = await agent.goto(live.url + "/campaigns")
    assert r is not None and r.status == 403
    await agent.context.close()
    assert not found, "\n".join(found)


async def _two_channel_contact(live: Live) -> tuple[dict[str, Any], int]:
    """A WhatsApp inbox on Twilio, and a contact who wrote there and by SMS (one contact, two
    identities); (the WhatsApp inbox, the contact's id)."""
    from tests.test_twilio_whatsapp import CUSTOMER, create_inbox, whatsapp
    inbox = await create_inbox(live)
    assert inbox.status_code == 201, inbox.text
    assert (await live.sms(CUSTOMER, "hello")).status_code == 200
    assert (await whatsapp(live, "hi on WhatsApp")).status_code == 200
    [conv] = (await live.get("/api/conversations", who="lead", params={"q": CUSTOMER}))["items"]
    kinds = {i["kind"] for i in (await live.get(f"/api/contacts/{conv['contact']['id']}"))["identities"]}
    assert kinds == {"sms", "whatsapp"}
    return inbox.json(), conv["contact"]["id"]


async def test_a_failed_whatsapp_message_falls_back_to_sms_once(live: Live) -> None:
    wa, contact = await _two_channel_contact(live)
    live.fake.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    campaign = await _campaign(live, purpose="transactional", fallback_minutes=10, audience={}, messages=[
        {"channel": "whatsapp", "inbox_id": wa["id"], "text": "Your order has shipped"},
        {"channel": "sms", "inbox_id": live.inbox["id"], "text": "Your order has shipped"}])
    assert campaign["fallback_minutes"] == 10
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    [sms] = await live.fake.wait_for_sent(1, timeout=20)  # the WhatsApp attempt was refused, not sent
    assert (sms["to"], sms["body"]) == ("+15557654321", "Your order has shipped")
    assert sms["validity_period"] is None  # the last channel: nothing after it
    done = await _settled(live, campaign["id"])
    [item] = (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead"))["items"]
    assert item["channel"] == "sms" and [a["kind"] for a in item["attempts"]] == ["whatsapp"]
    assert item["attempts"][0]["why"].startswith("failed: ")
    assert done["totals"]["failed"] == 0 and done["totals"]["recipients"] == 1
    timeline = await live.get(f"/api/conversations/{item['conversation_id']}/timeline", who="lead")
    [event] = [t for t in timeline["items"] if t["type"] == "event" and t["kind"] == "fallback"]
    assert (event["data"]["from"], event["data"]["to"]) == ("whatsapp", "sms")
    await live.app.state.campaigns.settled()
    assert len(live.fake.sent) == 1  # once


async def test_a_message_not_delivered_in_time_goes_by_the_next_channel_and_the_first_expires(live: Live) -> None:
    wa, contact = await _two_channel_contact(live)
    campaign = await _campaign(live, purpose="transactional", fallback_minutes=10, audience={}, messages=[
        {"channel": "whatsapp", "inbox_id": wa["id"], "text": "Your table is ready"},
        {"channel": "sms", "inbox_id": live.inbox["id"], "text": "Your table is ready"}])
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    [first] = await live.fake.wait_for_sent(1)
    # Sent through WhatsApp, valid until just before its fallback is due.
    assert first["to"] == "whatsapp:+15557654321" and first["validity_period"] == str(10 * 60 - 30)
    await _settled(live, campaign["id"], "sending")  # waiting for a delivery receipt
    live.app.state.ctx.clock.advance(timedelta(minutes=10, seconds=1))
    sent = await live.fake.wait_for_sent(2)
    assert sent[1]["to"] == "+15557654321" and sent[1]["body"] == "Your table is ready"
    await _settled(live, campaign["id"])
    [item] = (await live.get(f"/api/campaigns/{campaign['id']}/recipients", who="lead"))["items"]
    assert item["channel"] == "sms" and item["attempts"][0]["why"] == "not delivered within 10 minutes"
    assert len(live.fake.sent) == 2


async def test_the_reports_page_lists_the_campaigns_of_the_period(live: Live) -> None:
    await _contacts(live, "+15550004701")
    campaign = await _campaign(live, name="Reminder run", purpose="transactional")
    await _post(live, f"/api/campaigns/{campaign['id']}/start")
    await live.fake.wait_for_sent(1)
    await _settled(live, campaign["id"])
    today = live.app.state.ctx.clock.now().date()
    page = await live.client.get("/reports", headers=live.as_("lead"), params={"from": str(today), "to": str(today),
                                                                               "tz": "UTC"})
    assert page.status_code == 200
    row = page.text[page.text.index('id="campaigns-table"'):]
    assert f'href="/campaigns/{campaign["id"]}">Reminder run</a>' in row
    cells = row[row.index("Reminder run"):row.index("</tr>", row.index("Reminder run"))]
    assert cells.count('<td class="num">1</td>') == 2  # one recipient, one sent
    earlier = await live.client.get("/reports", headers=live.as_("lead"), params={
        "from": str(today - timedelta(days=9)), "to": str(today - timedelta(days=2)), "tz": "UTC"})
    assert 'id="campaigns-table"' not in earlier.text
