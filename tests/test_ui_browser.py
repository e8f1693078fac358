"""The agent UI in a real browser (Debian's chromium driven by Playwright): log in, see a
customer's message arrive live, open it, reply and write a private note."""

from __future__ import annotations

import re

import struct
import zlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, live_ready, login
from tests.helpers.forms import form_login, page_token

_login = login
__all__ = ["browser"]

async def test_login_rejects_a_wrong_password(live: Live, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(live.url + "/login")
    await page.get_by_label("Email").fill("agent@example.com")
    await page.get_by_label("Password").fill("nope")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")


async def test_message_arrives_live_then_agent_replies_and_notes(live: Live, browser: Browser) -> None:
    page = await _login(browser, live)
    await page.get_by_role("tab", name="All").click()  # the reply below takes it out of Unassigned
    await expect(page.get_by_text("No conversations here.")).to_be_visible()

    await live.sms("+15557654321", "<script>alert('x')</script> my parcel is late")
    row = page.locator(".row").first
    await expect(row).to_contain_text("my parcel is late", timeout=5000)  # pushed, no reload
    await expect(page).to_have_title("(1) inbox")
    await row.click()
    timeline = page.locator("#timeline")
    # Customer text is shown as text, never run as markup.
    await expect(timeline.locator(".message.in")).to_contain_text("<script>alert('x')</script>")

    composer = page.get_by_label("Message")
    await composer.fill("It ships today.")
    await composer.press("Enter")
    sent = await live.fake.wait_for_sent(1)
    assert sent[0]["body"] == "It ships today."
    await expect(timeline.locator(".message.out")).to_contain_text("It ships today.")
    await expect(page.locator("#conversation-header")).to_contain_text("Assigned to Agent")  # replying took it

    # A note cannot pass for a reply: note mode has the note colour, says who sees it, adds
    # rather than sends, and shows nothing of a reply (channel, attachment, SMS segments).
    reply_through = page.get_by_label("Reply through")
    await expect(reply_through).to_be_visible()
    await page.get_by_label("Private note").check()
    await expect(page.locator("#note-banner")).to_contain_text("only agents see this")
    await expect(reply_through).to_be_hidden()
    await expect(page.get_by_label("Attach a file")).to_be_hidden()
    await expect(page.get_by_role("button", name="Add note")).to_be_visible()
    await expect(page.get_by_role("button", name="Send")).to_have_count(0)
    await expect(page.get_by_label("Message")).to_have_attribute("placeholder", re.compile("only agents see it"))
    assert await page.locator(".composer").evaluate("f => getComputedStyle(f).backgroundColor") == "rgb(255, 246, 199)"
    await page.get_by_label("Message").fill("Customer is upset, be kind")
    await expect(page.locator("#composer-hint")).to_be_hidden()  # no segment counter for a note
    await page.get_by_label("Message").press("Enter")
    await expect(timeline.locator(".note")).to_contain_text("Customer is upset, be kind")
    await expect(timeline.locator(".note")).to_contain_text("only agents see this")
    assert len(live.fake.sent) == 1  # the note never left
    await expect(page.get_by_label("Private note")).to_be_checked()  # still in note mode for the next one
    await page.get_by_label("Reply", exact=True).check()
    await expect(reply_through).to_be_visible()
    await expect(page.locator("#note-banner")).to_be_hidden()

    # A second message from the customer appears in the open conversation by itself, and
    # counts as read: the agent is looking at it (no badge, no count in the title, and the
    # server is told).
    await expect(row).to_have_class(re.compile(r"\bselected\b"))
    # (the conversation's read, not the notification centre's /ui/notifications/read)
    async with page.expect_response(lambda r: re.search(r"/ui/conversations/\d+/read$", r.url) is not None
                                    and r.request.method == "POST"):
        await live.sms("+15557654321", "thanks!")
        await expect(timeline.locator(".message.in").last).to_contain_text("thanks!")
    await expect(page).to_have_title("inbox")
    await expect(row.locator(".badge")).to_have_count(0)
    conversation_id = await row.get_attribute("data-conversation")
    assert (await live.get(f"/api/conversations/{conversation_id}"))["unread_count"] == 0


async def test_the_selection_follows_the_open_conversation_and_j_k_move_it(live: Live, browser: Browser) -> None:
    for number in ("+15550000001", "+15550000002", "+15550000003"):
        await live.sms(number, f"hello from {number}")
    page = await _login(browser, live)
    await page.get_by_role("tab", name="Unassigned").click()
    rows = page.locator("#list .row")
    await expect(rows).to_have_count(3)
    selected = page.locator("#list .row.selected")
    await rows.nth(1).click()
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation",
                                                                  await rows.nth(1).get_attribute("data-conversation"))
    await expect(selected).to_have_count(1)
    await expect(rows.nth(1)).to_have_class(re.compile(r"\bselected\b"))  # the clicked row, not the first
    await page.locator("body").press("j")
    await expect(rows.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation",
                                                                  await rows.nth(2).get_attribute("data-conversation"))
    await page.locator("body").press("k")
    await page.locator("body").press("k")
    await expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    await expect(selected).to_have_count(1)
    await expect(rows.nth(0).locator("a")).to_have_attribute("aria-current", "true")


async def test_resolve_and_phone_layout(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await _login(browser, live, viewport={"width": 390, "height": 844})
    await page.goto(live.url + f"/inbox?tab=unassigned&c={conv['id']}")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#conversation .status")).to_have_text("resolved")
    assert (await live.get(f"/api/conversations/{conv['id']}"))["status"] == "resolved"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone


async def test_lead_queue_shows_waiting_and_presence_and_reassigns(live: Live, browser: Browser) -> None:
    agent_socket = await live.events("agent")  # the agent is online
    await live.sms("+15557654321", "first in line")
    page = await _login(browser, live, "lead")
    await page.goto(live.url + "/queue")
    agent_row = page.locator(f".agent-card[data-agent='{live.users['agent']['id']}']")
    await expect(agent_row.locator(".presence")).to_have_text("Online")
    agent2_row = page.locator(f".agent-card[data-agent='{live.users['agent2']['id']}']")
    await expect(agent2_row.locator(".presence")).to_have_text("Offline")
    waiting = page.locator(".qcard[data-conversation]")
    await waiting.first.get_by_role("checkbox").check()
    await page.get_by_label("Assign the selected to").select_option(f"user:{live.users['agent']['id']}")
    await live.sms("+15551112222", "second in line")  # arrives while the lead is choosing
    await expect(waiting).to_have_count(2)
    await expect(waiting.first).to_contain_text("+15557654321")  # longest wait first
    # The refresh that brought the newcomer kept the lead's choices.
    await expect(waiting.first.get_by_role("checkbox")).to_be_checked()
    await expect(waiting.nth(1).get_by_role("checkbox")).not_to_be_checked()
    await expect(page.get_by_label("Assign the selected to")).to_have_value(f"user:{live.users['agent']['id']}")

    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("1 conversation assigned.")
    await expect(waiting).to_have_count(1)
    await expect(agent_row.locator(".load-text")).to_have_text("1 of 10 open")
    ev = await agent_socket.next(lambda e: e["type"] == "conversation.assigned")
    assert ev["data"]["conversation"]["assignee_id"] == live.users["agent"]["id"]
    await agent_socket.close()


async def test_a_forged_queue_assignment_is_refused_not_a_crash(live: Live) -> None:
    await form_login(live.client, "lead")
    token = await page_token(live.client, "/queue")
    r = await live.client.post("/queue/assign", data={"assignee": "user:abc", "conversation": "1", "csrf_token": token})
    assert r.status_code == 303 and "error=" in r.headers["location"]
    page = await live.client.get(r.headers["location"])
    assert "pick someone to assign to" in page.text


async def test_agents_cannot_open_the_queue(live: Live, browser: Browser) -> None:
    page = await _login(browser, live, "agent")
    response = await page.goto(live.url + "/queue")
    assert response is not None and response.status == 403


async def test_composer_counts_sms_segments(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await _login(browser, live)
    await page.goto(live.url + f"/inbox?tab=unassigned&c={conv['id']}")
    composer, hint = page.get_by_label("Message"), page.locator("#composer-hint")
    await composer.fill("Your order ships today")
    await expect(hint).to_have_text("22 characters · 1 segment (GSM-7)")
    await composer.fill("x" * 161)
    await expect(hint).to_have_text("161 characters · 2 segments (GSM-7)")
    await composer.fill("[braces] cost two")  # the GSM extension characters [ and ]
    await expect(hint).to_have_text("19 characters · 1 segment (GSM-7)")
    await composer.fill("Thanks 😀")
    await expect(hint).to_have_text("9 characters · 1 segment (UCS-2)")


async def _open(browser: Browser, live: Live, body: str = "hello", who: str = "agent") -> tuple[Page, dict[str, Any]]:
    await live.sms("+15557654321", body)
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await _login(browser, live, who)
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    return page, conv


async def test_a_snooze_ends_when_the_agent_says_in_their_own_time_zone(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "call me next week")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await login(browser, live, "agent", timezone_id="America/New_York")
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await page.get_by_label("Snooze", exact=True).click()  # the menu beside Resolve
    await page.get_by_label("until", exact=True).fill("2027-01-02T10:30")  # New York winter: UTC-5
    await page.get_by_role("button", name="Snooze until then").click()
    await expect(page.locator("#conversation .status")).to_have_text("snoozed")
    assert (await live.get(f"/api/conversations/{conv['id']}"))["snoozed_until"] == "2027-01-02T15:30:00.000Z"

    watcher = await live.events("lead")
    await page.get_by_label("Snooze", exact=True).click()
    await page.get_by_role("button", name="until tomorrow 9:00").click()
    new_york = ZoneInfo("America/New_York")
    tomorrow = (datetime.now(new_york) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    # Snoozed already: the change is the new time, awaited on the live stream.
    changed = await watcher.next(lambda e: e["type"] == "conversation.updated" and e["data"]["conversation"][
        "snoozed_until"] not in (None, "2027-01-02T15:30:00.000Z"))
    await watcher.close()
    until = datetime.fromisoformat(changed["data"]["conversation"]["snoozed_until"])
    assert abs(until - tomorrow) <= timedelta(hours=1)  # 9:00 there (an hour either way across a DST change)


async def test_failed_reply_shows_reason_and_retry_resends(live: Live, browser: Browser) -> None:
    page, conv = await _open(browser, live)
    live.fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    await page.get_by_label("Message").fill("first try")
    await page.get_by_label("Message").press("Enter")
    failed = page.locator(".message.out").last
    await expect(failed.locator(".tick")).to_have_text("failed")  # pushed live when the send failed
    await expect(failed.locator(".send-error")).to_contain_text("not a valid phone number")
    await failed.get_by_role("button", name="Retry").click()
    sent = await live.fake.wait_for_sent(1)
    assert sent[0]["body"] == "first try"
    await expect(failed.locator(".tick")).to_have_text("queued")


async def test_snooze_attributes_merge_and_shortcuts(live: Live, browser: Browser) -> None:
    await live.sms("+15551112222", "from my other phone")
    page, conv = await _open(browser, live, "from my main phone", who="lead")
    other = [c for c in (await live.get("/api/conversations"))["items"] if c["id"] != conv["id"]][0]

    await page.get_by_label("Attribute").fill("plan")
    await page.get_by_label("Value", exact=True).fill("gold")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_label("Value of plan")).to_have_value("gold")
    assert (await live.get(f"/api/contacts/{conv['contact']['id']}"))["attributes"] == {"plan": "gold"}

    await page.get_by_text("Merge with another contact").click()
    await page.get_by_label("Find the other contact").fill("+15551112222")
    await page.locator("#merge-results").get_by_role("link", name=f"#{other['contact']['id']}").click()
    await page.get_by_role("button", name="Merge", exact=True).click()
    await expect(page.locator("#contact .identities")).to_contain_text("+15551112222")
    await expect(page.locator("#contact .history li")).to_have_count(2)  # both conversations now the contact's

    await page.get_by_label("Snooze", exact=True).click()
    await page.get_by_role("button", name="for 4 hours").click()
    await expect(page.locator("#conversation .status")).to_have_text("snoozed")

    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.goto(live.url + f"/inbox?tab=all&status=&c={conv['id']}")
    await page.keyboard.press("e")  # resolve
    await expect(page.locator("#conversation .status")).to_have_text("resolved")
    await page.keyboard.press("r")
    await expect(page.get_by_label("Message")).to_be_focused()


async def test_admin_pages_then_canned_response_in_the_composer(live: Live, browser: Browser) -> None:
    page = await _login(browser, live, "admin")
    await page.goto(live.url + "/admin")
    inbox_card = page.locator(f"[data-inbox='{live.inbox['id']}']")
    await expect(inbox_card).to_contain_text(live.url + "/webhooks/twilio")  # the URL to give Twilio

    await page.goto(live.url + "/admin/users")
    await page.get_by_text("Add a user").click()
    form = page.locator("form[action='/admin/user']")
    await form.get_by_label("Name").fill("Fox Mulder")
    await form.get_by_label("Email").fill("fox@example.com")
    await form.get_by_label("Role").select_option("lead")
    await form.get_by_label("Password").fill("trust no one 1013")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("status")).to_have_text("User fox@example.com created")

    await page.goto(live.url + "/admin/teams")
    await page.get_by_text("Add a team").click()
    form = page.locator("form[action='/admin/team']")
    await form.get_by_label("Team name").fill("Billing")
    await form.get_by_label("Fox Mulder").check()
    await form.get_by_role("button", name="Create team").click()
    await expect(page.get_by_role("status")).to_have_text("Team Billing created")
    teams = (await live.get("/api/teams"))["items"]
    fox = [u for u in (await live.get("/api/users", who="admin"))["items"] if u["email"] == "fox@example.com"][0]
    assert teams[0]["name"] == "Billing" and teams[0]["member_ids"] == [fox["id"]] and fox["role"] == "lead"

    await page.goto(live.url + "/admin/canned")
    await page.get_by_label("Short code").fill("ship")
    await page.get_by_label("Text", exact=True).fill("Your order ships within 24 hours.")
    await page.get_by_role("button", name="Save canned response").click()
    await expect(page.get_by_role("status")).to_have_text("/ship saved")

    await live.sms("+15557654321", "when will it ship?")
    conv = (await live.get("/api/conversations"))["items"][0]
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    composer = page.get_by_label("Message")
    await composer.type("/sh")
    await expect(page.get_by_role("listbox", name="Canned responses")).to_contain_text("/ship")
    await composer.press("Enter")  # picks the canned response, does not send
    await expect(composer).to_have_value("Your order ships within 24 hours.")
    assert live.fake.sent == []
    await composer.press("Enter")
    assert (await live.fake.wait_for_sent(1))[0]["body"] == "Your order ships within 24 hours."


async def test_admin_page_is_for_admins(live: Live, browser: Browser) -> None:
    page = await _login(browser, live, "lead")
    response = await page.goto(live.url + "/admin")
    assert response is not None and response.status == 403


async def test_agent_and_lead_side_by_side_ticks_and_reassignment(live: Live, browser: Browser) -> None:
    """Two agents and a lead in three browser contexts, each with its own session."""
    agent = await _login(browser, live, "agent")
    agent2 = await _login(browser, live, "agent2")
    lead = await _login(browser, live, "lead")
    await agent.goto(live.url + "/inbox?tab=unassigned")
    await live.sms("+15557654321", "is anyone there?")
    row = agent.locator(".row").first
    await expect(row).to_contain_text("is anyone there?")
    await row.click()
    await agent.get_by_label("Assignee").click()  # the header's assignee menu
    await agent.get_by_role("button", name=re.compile(r"^Me \(")).click()
    await expect(agent.locator("#conversation-header")).to_contain_text("Assigned to Agent")
    await expect(agent.get_by_label("Assignee")).to_contain_text("Agent")
    await agent.get_by_label("Message").fill("Yes! How can I help?")
    await agent.get_by_label("Message").press("Enter")
    sent = (await live.fake.wait_for_sent(1))[0]
    tick = agent.locator(".message.out .tick").last
    await expect(tick).to_have_text("queued")
    await live.status_callback(sent["sid"], "delivered")
    await expect(tick).to_have_text("delivered")  # pushed: no reload

    await agent.goto(live.url + "/inbox?tab=mine")
    await agent2.goto(live.url + "/inbox?tab=mine")
    await expect(agent.locator(".row")).to_have_count(1)
    await expect(agent2.get_by_text("No conversations here.")).to_be_visible()
    conv = (await live.get("/api/conversations", who="lead"))["items"][0]
    # A deactivated colleague is not offered, and the menu shows who owns it now.
    admin = live.as_("admin")
    gone = (await live.client.post("/api/users", headers=admin, json={
        "email": "gone@example.com", "name": "Gone Agent", "role": "agent", "password": "long enough pw"})).json()
    deactivated = await live.client.patch(f"/api/users/{gone['id']}", headers=admin, json={"active": False})
    assert deactivated.status_code == 200
    await lead.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    assignee = lead.get_by_label("Assignee")
    await expect(assignee).to_contain_text(live.users["agent"]["name"])  # the owner, not "me"
    await assignee.click()
    menu = lead.locator("details[data-keep=assignee] .menu-panel")
    owner = menu.get_by_role("button", name=live.users["agent"]["name"], exact=True)
    await expect(owner).to_have_attribute("aria-current", "true")
    await expect(menu.get_by_role("button", name="Gone Agent")).to_have_count(0)
    await menu.get_by_role("button", name=live.users["agent2"]["name"], exact=True).click()
    await expect(agent.get_by_text("No conversations here.")).to_be_visible()  # left one agent's Mine
    await expect(agent2.locator(".row")).to_contain_text("+15557654321")  # arrived in the other's
    await expect(lead.get_by_label("Assignee")).to_contain_text(live.users["agent2"]["name"])


async def test_after_a_reconnect_the_page_catches_up(live: Live, browser: Browser) -> None:
    page = await _login(browser, live)
    await page.goto(live.url + "/inbox?tab=unassigned")
    await live_ready(page)
    await page.evaluate("window.inboxSocket.close()")  # the network drops
    await live.sms("+15557654321", "sent while you were offline")
    await expect(page.locator(".row").first).to_contain_text("sent while you were offline", timeout=10000)


async def test_email_subject_quoted_history_and_html_in_a_sandbox(live: Live, browser: Browser) -> None:
    """Shown from what the email adapter stores: the UI must keep even hostile HTML inert."""
    from datetime import datetime, timezone

    from inbox import actions
    from inbox.domain.channels import InboundMessage
    from inbox.domain.tables import INBOXES

    inbox_id = await live.app.state.ctx.db.write(lambda tx: tx.conn.execute(INBOXES.insert().values(
        kind="email", name="Support mail", address="support@example.com", settings={},
        created_at=datetime.now(timezone.utc))).inserted_primary_key[0])
    rel, _ = live.app.state.ctx.media.save(_png(), "image/png")  # an inline image the adapter kept
    hostile = ('<p>Hello <b>team</b></p><script>parent.pwned = 1</script><img src=x onerror="parent.pwned = 2">'
               f'<img src="/media/{rel}" alt="box">')
    result = await actions.record_inbound(live.app.state.ctx, InboundMessage(
        inbox_id=inbox_id, kind="email", handle="dana@example.org", email="dana@example.org",
        provider_message_id="<m1@example.org>", text="Where is my refund?", timestamp=datetime.now(timezone.utc),
        payload={"subject": "Refund #88", "html": hostile, "quoted": "> On Monday you wrote:\n> we will refund"}))
    page = await _login(browser, live)
    await page.goto(live.url + f"/inbox?tab=all&c={result.conversation_id}")
    message = page.locator(".message.in").first
    await expect(message.locator(".subject")).to_have_text("Refund #88")
    await message.get_by_text("Show quoted history").click()
    await expect(message.locator(".quoted pre")).to_contain_text("we will refund")
    await message.get_by_text("Show the formatted email").click()
    frame = message.locator("iframe")
    assert await frame.get_attribute("sandbox") == ""
    await expect(page.frame_locator(".email-html iframe").locator("b")).to_have_text("team")
    # The frame has no origin, so no session cookie goes with its requests: the image is
    # linked by a signed path, and it does load.
    inline = page.frame_locator(".email-html iframe").locator('img[alt="box"]')
    assert (await inline.get_attribute("src") or "").startswith(f"/media/public/{rel}?expires=")
    await inline.evaluate("img => img.decode()")  # resolves once loaded and decoded; throws if broken
    assert await inline.evaluate("img => img.naturalWidth") == 1
    assert await page.evaluate("window.pwned") is None  # nothing in the email ran
    await page.get_by_label("Reply through").select_option(str(inbox_id))
    await page.get_by_label("Message").fill("On it")
    await expect(page.locator("#composer-hint")).to_have_text("Subject: Re: Refund #88")


async def test_agent_attaches_a_file_to_a_reply(live: Live, browser: Browser, tmp_path: Any) -> None:
    await live.sms("+15557654321", "send me the label")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await _login(browser, live)
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    label = tmp_path / "label.png"
    label.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    await page.get_by_label("Attach a file").set_input_files(str(label))
    await page.get_by_label("Message").fill("Here it is")
    await page.get_by_label("Message").press("Enter")
    sent = (await live.fake.wait_for_sent(1))[0]
    assert sent["body"] == "Here it is" and len(sent["media_url"]) == 1 and "/media/public/" in sent["media_url"][0]
    await expect(page.locator(".message.out img")).to_be_visible()


async def test_agents_see_who_else_is_viewing(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    first = await _login(browser, live, "agent")
    await first.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    second = await _login(browser, live, "agent2")
    await second.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await expect(second.locator("#viewers")).to_have_text("Also viewing: Agent")
    await first.evaluate("window.inboxHeartbeat()")  # its next heartbeat, now
    await expect(first.locator("#viewers")).to_have_text("Also viewing: Agent2")


async def test_team_tab_and_inbox_filter(live: Live, browser: Browser) -> None:
    team = (await live.client.post("/api/teams", headers=live.as_("admin"), json={
        "name": "Billing", "member_ids": [live.users["agent"]["id"]]})).json()
    await live.sms("+15557654321", "about my invoice")
    await live.sms("+15551112222", "something else")
    convs = (await live.get("/api/conversations", who="lead"))["items"]
    billing = next(c for c in convs if c["last_message_preview"] == "about my invoice")
    await live.client.post(f"/api/conversations/{billing['id']}/assignment", headers=live.as_("lead"),
                           json={"team_id": team["id"]})
    page = await _login(browser, live)
    await page.get_by_role("tab", name="Billing").click()
    await expect(page.locator(".row")).to_have_count(1)
    await expect(page.locator(".row")).to_contain_text("about my invoice")
    await page.get_by_role("tab", name="All").click()
    await page.get_by_label("Inbox").select_option(str(live.inbox["id"]))  # applies at once: no button
    await expect(page).to_have_url(re.compile(f"inbox={live.inbox['id']}"))
    await expect(page.locator(".row")).to_have_count(2)


async def test_admin_edits_an_inbox_and_a_mention_notifies_the_agent(live: Live, browser: Browser) -> None:
    admin = await _login(browser, live, "admin")
    await admin.goto(live.url + "/admin")
    await admin.get_by_text("Edit Support line").click()
    form = admin.locator("form[action='/admin/inbox-update']")
    await form.get_by_label("Name").fill("Main line")
    await form.get_by_label("Messaging Service SID").fill("MG0123456789abcdef0123456789abcdef")
    await form.get_by_role("button", name="Save Support line").click()
    await expect(admin.get_by_role("status")).to_have_text("Inbox Main line saved")
    inbox = (await live.get("/api/inboxes", who="admin"))["items"][0]
    assert inbox["name"] == "Main line" and inbox["settings"]["messaging_service_sid"].startswith("MG")
    assert inbox["settings"]["auth_token"] == "********"  # a blank secret field changed nothing
    await live.sms("+15557654321", "still works after the edit")  # signed with the unchanged auth token

    agent = await _login(browser, live, "agent")
    await agent.goto(live.url + "/inbox?tab=all")
    await live_ready(agent)  # subscribed: the note's event reaches the page (a toast is live only)
    conv = (await live.get("/api/conversations"))["items"][0]
    await live.client.post(f"/api/conversations/{conv['id']}/notes", headers=live.as_("lead"),
                           json={"text": "@agent please call this customer back"})
    await expect(agent.locator(".toast")).to_contain_text("You were mentioned in a note: @agent please call")


def _png() -> bytes:
    """A real 1x1 PNG, so that the browser can decode it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


async def test_a_refused_reply_keeps_the_agents_text(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await _login(browser, live)
    await page.goto(live.url + f"/inbox?tab=unassigned&c={conv['id']}")
    draft = "A long answer. " * 700  # over the 10,000 characters a reply may have
    await page.get_by_label("Message").fill(draft)
    await page.get_by_label("Message").press("Enter")
    await expect(page.locator("#conversation .error")).to_contain_text("limited to 10000 characters")
    await expect(page.get_by_label("Message")).to_have_value(draft)  # refused, not lost
    assert live.fake.sent == []


async def test_leads_land_on_all_and_agents_on_mine(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    conv = (await live.get("/api/conversations"))["items"][0]
    assigned = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                                      json={"user_id": live.users["agent2"]["id"]})
    assert assigned.status_code == 200
    lead = await login(browser, live, "lead")
    await expect(lead.get_by_role("tab", name="All")).to_have_attribute("aria-selected", "true")
    await expect(lead.locator("#list .row")).to_contain_text("+15557654321")  # an agent's, seen at once
    agent = await login(browser, live, "agent")
    await expect(agent.get_by_role("tab", name="Mine")).to_have_attribute("aria-selected", "true")
