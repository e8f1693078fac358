"""Notifications and per-user preferences: who is told what, through the REST API, the
live socket (to that user alone) and the notification centre in the browser."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, expect

from tests.conftest import Live
from tests.helpers.browser import browser, live_ready, login, until
from tests.helpers.forms import form_login, page_token

__all__ = ["browser"]


async def _conversation(live: Live, phone: str = "+15557654321", text: str = "hello?") -> dict[str, Any]:
    assert (await live.sms(phone, text)).status_code == 200
    items = (await live.get("/api/conversations", who="lead"))["items"]
    return next(c for c in items if c["last_message_preview"] == text)


async def _assign(live: Live, who: str, conversation_id: int, user: str) -> None:
    r = await live.client.post(f"/api/conversations/{conversation_id}/assignment", headers=live.as_(who),
                               json={"user_id": live.users[user]["id"]})
    assert r.status_code == 200, r.text


async def _notifications(live: Live, who: str, query: str = "") -> dict[str, Any]:
    return await live.get(f"/api/notifications{query}", who=who)  # type: ignore[no-any-return]


async def test_a_leads_assignment_notifies_the_agent_but_taking_one_yourself_does_not(live: Live) -> None:
    conv = await _conversation(live)
    await _assign(live, "agent", conv["id"], "agent")  # the agent takes it: nobody to tell
    assert (await _notifications(live, "agent"))["items"] == []
    await _assign(live, "lead", conv["id"], "agent2")
    page = await _notifications(live, "agent2")
    assert page["unread_count"] == 1
    [n] = page["items"]
    assert (n["kind"], n["conversation_id"], n["actor_id"], n["actor_name"], n["contact_name"], n["preview"],
            n["read_at"]) == ("assigned", conv["id"], live.users["lead"]["id"], "Lead", "+15557654321", "hello?", None)
    assert (await _notifications(live, "lead"))["items"] == []


async def test_bulk_reassignment_from_the_queue_notifies_each_new_owner(live: Live) -> None:
    first = await _conversation(live, "+15551110001", "one")
    second = await _conversation(live, "+15551110002", "two")
    await form_login(live.client, "lead")
    token = await page_token(live.client, "/queue")
    r = await live.client.post("/queue/assign", data={
        "assignee": f"user:{live.users['agent']['id']}", "conversation": [str(first["id"]), str(second["id"])],
        "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/queue?done=2"
    page = await _notifications(live, "agent")
    assert [(n["kind"], n["conversation_id"]) for n in page["items"]] == [
        ("assigned", second["id"]), ("assigned", first["id"])]  # newest first


async def test_a_mention_notifies_a_colleague_who_can_see_the_conversation(live: Live) -> None:
    conv = await _conversation(live)
    r = await live.client.post(f"/api/conversations/{conv['id']}/notes", headers=live.as_("agent"),
                               json={"text": "@agent2 can you take this one?"})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["mentions"] == [live.users["agent2"]["id"]] and note["not_notified"] == []
    [n] = (await _notifications(live, "agent2"))["items"]
    assert (n["kind"], n["note_id"], n["actor_name"], n["preview"]) == (
        "mentioned", note["id"], "Agent", "@agent2 can you take this one?")
    assert (await _notifications(live, "agent"))["items"] == []  # the writer is not told of their own note


async def test_a_mention_of_someone_who_cannot_see_it_warns_the_writer_and_notifies_nobody(live: Live) -> None:
    conv = await _conversation(live)
    await _assign(live, "agent", conv["id"], "agent")  # now only the agent (and leads) see it
    r = await live.client.post(f"/api/conversations/{conv['id']}/notes", headers=live.as_("agent"),
                               json={"text": "@agent2 do you know this customer?"})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["mentions"] == []
    assert note["not_notified"] == [{"user_id": live.users["agent2"]["id"], "name": "Agent2",
                                     "reason": "cannot_see_conversation", "can_assign": True}]
    assert (await _notifications(live, "agent2"))["items"] == []


async def test_the_ui_warns_of_the_unreachable_mention_and_offers_to_assign(live: Live) -> None:
    conv = await _conversation(live)
    await _assign(live, "agent", conv["id"], "agent")
    await form_login(live.client, "agent")
    token = await page_token(live.client, f"/inbox?c={conv['id']}")
    r = await live.client.post(f"/ui/conversations/{conv['id']}/send", headers={"HX-Request": "true"},
                               data={"mode": "note", "text": "@agent2 look", "csrf_token": token})
    assert r.status_code == 200
    assert "Agent2 cannot see this conversation" in r.text
    assert f'name="assignee" value="user:{live.users["agent2"]["id"]}"' in r.text
    assert "Assign to Agent2" in r.text


async def test_a_customer_message_notifies_the_owner(live: Live) -> None:
    conv = await _conversation(live, text="first")
    assert (await _notifications(live, "agent"))["items"] == []  # unassigned: nobody owns it yet
    await _assign(live, "agent", conv["id"], "agent")
    await live.sms("+15557654321", "are you there?")
    [n] = (await _notifications(live, "agent"))["items"]
    assert (n["kind"], n["conversation_id"], n["actor_id"], n["contact_name"], n["preview"]) == (
        "new_message", conv["id"], None, "+15557654321", "are you there?")
    assert n["message_id"] is not None
    assert (await _notifications(live, "agent2"))["items"] == []


async def test_a_kind_switched_off_creates_nothing(live: Live) -> None:
    r = await live.client.patch("/api/me/preferences", headers=live.as_("agent"),
                                json={"notify": {"new_message": False}, "sound": True})
    assert r.status_code == 200, r.text
    prefs = r.json()
    assert prefs["notify"] == {"assigned": True, "mentioned": True, "new_message": False, "sla_warning": True,
                              "sla_breached": True, "no_reply": True}
    assert (prefs["sound"], prefs["desktop"]) == (True, False)
    assert await live.get("/api/me/preferences") == prefs
    conv = await _conversation(live, text="first")
    await _assign(live, "lead", conv["id"], "agent")
    await live.sms("+15557654321", "second")
    assert [n["kind"] for n in (await _notifications(live, "agent"))["items"]] == ["assigned"]
    bad = await live.client.patch("/api/me/preferences", headers=live.as_("agent"), json={"notify": {"spam": True}})
    assert bad.status_code == 422


async def test_read_some_then_all_and_opening_a_conversation_reads_its_own(live: Live) -> None:
    convs = [await _conversation(live, f"+1555111000{i}", f"c{i}") for i in range(3)]
    for conv in convs:
        await _assign(live, "lead", conv["id"], "agent")
    page = await _notifications(live, "agent", "?limit=2")
    assert page["unread_count"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    rest = await _notifications(live, "agent", f"?limit=2&cursor={page['next_cursor']}")
    assert [n["conversation_id"] for n in rest["items"]] == [convs[0]["id"]] and rest["next_cursor"] is None
    newest = page["items"][0]
    r = await live.client.post("/api/notifications/read", headers=live.as_("agent"), json={"ids": [newest["id"]]})
    assert r.json() == {"updated": 1, "unread_count": 2}
    # Someone else cannot mark them.
    other = await live.client.post("/api/notifications/read", headers=live.as_("agent2"), json={"all": True})
    assert other.json() == {"updated": 0, "unread_count": 0}
    unread = await _notifications(live, "agent", "?unread=true")
    assert [n["conversation_id"] for n in unread["items"]] == [convs[1]["id"], convs[0]["id"]]
    await live.sms("+15551110000", "more")  # c0's owner hears of it: unread then rises to 3
    assert (await live.client.post(f"/api/conversations/{convs[0]['id']}/read",
                                   headers=live.as_("agent"))).status_code == 200
    assert [n["conversation_id"] for n in (await _notifications(live, "agent", "?unread=true"))["items"]] == [
        convs[1]["id"]]
    r = await live.client.post("/api/notifications/read", headers=live.as_("agent"), json={"all": True})
    assert r.json() == {"updated": 1, "unread_count": 0}


async def test_notification_created_reaches_only_its_users_socket(live: Live) -> None:
    agent, agent2, lead, admin = [await live.events(w) for w in ("agent", "agent2", "lead", "admin")]
    conv = await _conversation(live)
    await _assign(live, "lead", conv["id"], "agent")
    ev = await agent.next(lambda e: e["type"] == "notification.created")
    assert ev["data"]["notification"]["kind"] == "assigned"
    assert ev["data"]["notification"]["conversation_id"] == conv["id"]
    # An event everyone sees, after it: by then the others would have had the notification.
    await live.sms("+15559990000", "a later customer")
    for stream in (agent2, lead, admin):
        await stream.next(lambda e: e["type"] == "conversation.created"
                          and e["data"]["conversation"]["last_message_preview"] == "a later customer")
        assert [e for e in stream.seen if e["type"] == "notification.created"] == []
    # Nor is it replayed to a lead reconnecting from the start.
    replayed = await live.events("lead", after=0)
    assert any(e["type"] == "conversation.assigned" for e in replayed.seen)
    assert not any(e["type"] == "notification.created" for e in replayed.seen)
    for stream in (agent, agent2, lead, admin, replayed):
        await stream.close()


async def test_the_landing_tab_is_honoured(live: Live) -> None:
    await form_login(live.client, "agent")
    page = (await live.client.get("/inbox")).text
    assert re.search(r'aria-selected="true" href="/inbox\?tab=mine', page)  # the default for agents
    token = await page_token(live.client, "/settings")
    r = await live.client.post("/settings", data={"csrf_token": token, "landing_tab": "unassigned",
                                                  "notify_assigned": "on", "notify_mentioned": "on"})
    assert r.status_code == 303 and r.headers["location"] == "/settings?saved=1"
    prefs = await live.get("/api/me/preferences")
    assert prefs["landing_tab"] == "unassigned"
    assert prefs["notify"]["new_message"] is False  # unticked on the form
    page = (await live.client.get("/inbox")).text
    assert re.search(r'aria-selected="true" href="/inbox\?tab=unassigned', page)
    page = (await live.client.get("/inbox?tab=all")).text  # a tab asked for still wins
    assert re.search(r'aria-selected="true" href="/inbox\?tab=all', page)
    bad = await live.client.patch("/api/me/preferences", headers=live.as_("agent"), json={"landing_tab": "team:99"})
    assert bad.status_code == 422  # not a team of theirs


async def test_the_bell_counts_live_lists_and_opening_reads(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, text="where is my parcel?")
    page = await login(browser, live, "agent")
    bell = page.locator("#notification-badge")
    await expect(bell).to_have_attribute("data-unread", "0")
    await _assign(live, "lead", conv["id"], "agent")
    await expect(bell).to_have_text(re.compile(r"^1\b"))  # live, no reload
    await page.get_by_role("button", name=re.compile("Notifications")).click()
    item = page.locator("#notifications-panel .notification")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("Lead assigned you +15557654321")
    await expect(item).to_contain_text("where is my parcel?")
    await item.get_by_role("link").click()
    await expect(page).to_have_url(live.url + f"/inbox?c={conv['id']}")
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation", str(conv["id"]))
    await expect(page.locator("#notification-badge")).to_have_attribute("data-unread", "0")
    assert (await _notifications(live, "agent"))["unread_count"] == 0


# Records what the page asks of the browser (a desktop notification, a tone) without
# changing it: the real Notification and AudioContext still do their work.
RECORD = """
window.__shown = []; window.__tones = 0; window.__heard = 0;
document.addEventListener("inbox:event", (e) => { if (e.detail.type === "notification.created") window.__heard += 1; });
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) { super(title, options); window.__shown.push(title); }
};
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__tones += 1; return createOscillator.call(this); };
"""


async def test_desktop_notification_and_sound_when_opted_in_but_not_for_the_open_conversation(
        live: Live, browser: Browser) -> None:
    opened = await _conversation(live, text="where is my parcel?")
    other = await _conversation(live, phone="+15551112222", text="can I get a refund?")
    r = await live.client.patch("/api/me/preferences", headers=live.as_("agent"), json={"desktop": True, "sound": True})
    assert r.status_code == 200, r.text
    page = await login(browser, live, "agent", permissions=["notifications"])
    await page.context.add_init_script(RECORD)
    await page.goto(live.url + f"/inbox?tab=all&c={opened['id']}")
    bell = page.locator("#notification-badge")
    await expect(bell).to_have_attribute("data-desktop", "true")
    await live_ready(page)  # a popup comes of a live event only: the socket must be subscribed

    await _assign(live, "lead", other["id"], "agent")  # not the one on screen: a popup and a chime
    await until(page, "window.__shown.length === 1", timeout=10_000)
    assert await page.evaluate("window.__shown") == ["Lead assigned you +15551112222"]
    assert await page.evaluate("window.__tones") == 2  # two tones of one chime

    await _assign(live, "lead", opened["id"], "agent")  # the one being read: no popup, no chime
    await until(page, "window.__heard === 2", timeout=10_000)  # heard (and handled: same dispatch)
    assert await page.evaluate("window.__shown.length") == 1
    assert await page.evaluate("window.__tones") == 2
