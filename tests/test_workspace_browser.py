"""The agent workspace in a real browser (issue 13): the composer says why a reply cannot go
out before the agent types, drafts survive switching and reloading, a conversation taken by
a colleague says so, the list moves with j/k and arrows, and the phone layout is two views."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login

__all__ = ["browser"]


async def _conversation(live: Live, phone: str, text: str) -> dict[str, Any]:
    await live.sms(phone, text)
    items = (await live.get("/api/conversations", who="lead"))["items"]
    return next(c for c in items if c["last_message_preview"] == text)


async def _open(page: Page, live: Live, conv: dict[str, Any]) -> None:
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation", str(conv["id"]))


async def test_a_stop_shows_in_the_composer_live_before_the_agent_types(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "where is my order?")
    page = await login(browser, live)
    await _open(page, live, conv)
    text = page.get_by_label("Message")
    await expect(text).to_be_enabled()
    await expect(page.locator("#reply-blocked")).to_be_hidden()

    await live.sms("+15557654321", "STOP")  # pushed: the page is not reloaded
    await expect(page.locator("#reply-blocked")).to_be_visible()
    await expect(page.locator("#reply-blocked")).to_contain_text("opted out")
    await expect(text).to_be_disabled()
    await expect(page.locator("#composer-send")).to_be_disabled()

    await page.get_by_text("Private note", exact=True).click()  # a note is still possible
    await expect(text).to_be_enabled()
    await expect(page.locator("#reply-blocked")).to_be_hidden()


async def test_drafts_are_kept_per_conversation_across_switches_and_reloads(live: Live, browser: Browser) -> None:
    first = await _conversation(live, "+15557654321", "first customer")
    second = await _conversation(live, "+15551112222", "second customer")
    page = await login(browser, live)
    await _open(page, live, first)
    await page.get_by_label("Message").fill("Half-written answer for the first")
    await page.locator(f".row[data-conversation='{second['id']}'] a").click()
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation", str(second["id"]))
    await expect(page.get_by_label("Message")).to_have_value("")  # each conversation has its own
    await page.get_by_label("Message").fill("For the second")

    await page.locator(f".row[data-conversation='{first['id']}'] a").click()
    await expect(page.get_by_label("Message")).to_have_value("Half-written answer for the first")
    await page.reload()
    await expect(page.get_by_label("Message")).to_have_value("Half-written answer for the first")

    await page.get_by_label("Message").press("Enter")  # sent: the draft goes
    await live.fake.wait_for_sent(1)
    await expect(page.locator(".message.out")).to_contain_text("Half-written answer for the first")
    await page.reload()
    await expect(page.get_by_label("Message")).to_have_value("")
    await _open(page, live, second)
    await expect(page.get_by_label("Message")).to_have_value("For the second")


async def test_a_conversation_a_colleague_takes_away_stops_the_composer_and_keeps_the_text(
        live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "can someone help?")
    page = await login(browser, live)
    await _open(page, live, conv)
    await page.get_by_label("Message").fill("I am on it")
    team = (await live.client.post("/api/teams", headers=live.as_("admin"), json={
        "name": "Billing", "member_ids": [live.users["agent2"]["id"]]})).json()
    moved = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                                   json={"user_id": live.users["agent2"]["id"], "team_id": team["id"]})
    assert moved.status_code == 200
    await expect(page.get_by_role("alert")).to_contain_text("no longer yours")
    await expect(page.locator("#composer-send")).to_be_disabled()
    await expect(page.get_by_label("Message")).to_have_value("I am on it")


async def test_the_header_follows_a_colleague_taking_the_conversation(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "hello?")
    page = await login(browser, live, "lead")
    await _open(page, live, conv)
    await expect(page.get_by_label("Assignee")).to_contain_text("Unassigned")
    taken = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("agent"),
                                   json={"user_id": live.users["agent"]["id"]})
    assert taken.status_code == 200
    await expect(page.get_by_label("Assignee")).to_contain_text(live.users["agent"]["name"])
    await expect(page.locator("#reply-state")).to_contain_text(f"{live.users['agent']['name']} owns this conversation")


async def test_j_k_and_arrows_move_the_selection(live: Live, browser: Browser) -> None:
    for n in range(3):
        await live.sms(f"+1555000000{n}", f"customer {n}")
    page = await login(browser, live, "lead")
    rows = page.locator("#list .row")
    await expect(rows).to_have_count(3)
    await page.keyboard.press("j")
    await expect(rows.nth(0)).to_have_class("row selected")
    await page.keyboard.press("j")
    await expect(rows.nth(1)).to_have_class("row selected")
    await expect(page.locator("#conversation")).to_have_attribute(
        "data-conversation", await rows.nth(1).get_attribute("data-conversation") or "")
    await rows.nth(1).locator("a").focus()
    await page.keyboard.press("ArrowDown")
    await expect(rows.nth(2)).to_have_class("row selected")
    await page.keyboard.press("k")
    await expect(rows.nth(1)).to_have_class("row selected")


async def test_the_phone_layout_opens_a_conversation_as_its_own_view(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "on my phone")
    page = await login(browser, live, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    await page.goto(live.url + "/inbox?tab=all")
    await expect(page.locator("#list")).to_be_visible()
    await page.locator(f".row[data-conversation='{conv['id']}'] a").tap()
    await expect(page.locator("#list")).to_be_hidden()  # the conversation replaces the list
    send = page.locator("#composer-send")
    await expect(send).to_be_in_viewport()
    box = await send.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off
    await page.get_by_label("Back to the list").tap()
    await expect(page.locator("#list")).to_be_visible()


async def test_earlier_messages_load_above_and_stay_through_a_live_update(live: Live, browser: Browser) -> None:
    for n in range(55):
        await live.sms("+15557654321", f"message number {n}")
    conv = (await live.get("/api/conversations"))["items"][0]
    page = await login(browser, live)
    await _open(page, live, conv)
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("message number 54")
    await expect(timeline.get_by_text("message number 0", exact=True)).to_have_count(0)  # a page of 50
    await page.get_by_role("button", name="Load earlier messages").click()
    await expect(timeline.get_by_text("message number 0", exact=True)).to_have_count(1)
    await expect(page.get_by_role("button", name="Load earlier messages")).to_have_count(0)  # that was all

    await live.sms("+15557654321", "one more")  # re-renders the newest page live
    await expect(timeline).to_contain_text("one more")
    await expect(timeline.get_by_text("message number 0", exact=True)).to_have_count(1)
    await expect(page.locator("#timeline .message")).to_have_count(56)


async def test_opening_an_unread_conversation_marks_it_read_once(live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "read me")
    page = await login(browser, live)
    await page.goto(live.url + "/inbox?tab=all")
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/ui/conversations/" in r.url and r.url.endswith("/read")
            and r.method == "POST" else None)
    row = page.locator(f".row[data-conversation='{conv['id']}']")
    await expect(row).to_have_attribute("data-unread", "1")
    await row.locator("a").click()
    await expect(row).to_have_attribute("data-unread", "0")  # re-rendered from the server after the read
    assert reads == [live.url + f"/ui/conversations/{conv['id']}/read"]
    assert (await live.get(f"/api/conversations/{conv['id']}"))["unread_count"] == 0
