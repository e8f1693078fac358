"""The lead's board (/queue) in a real browser: waiting conversations with why routing has
not assigned them and how long they have waited, assigning by drag and drop and by the
keyboard, the lead's selection across live refreshes; the status menu of the top bar and
presence live on the board; the socket (and its activity frames) on every signed-in page;
away_after_minutes in /settings. Time moves with the clock; every wait is for something."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import Browser, Page, expect

from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.helpers.browser import browser, live_ready, login, renders, until
from tests.helpers.forms import form_login, page_token

__all__ = ["browser"]


async def _route(live: Live, **policy: Any) -> None:
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"routing": policy})
    assert r.status_code == 200, r.text


async def _waiting(live: Live, phone: str, text: str) -> dict[str, Any]:
    assert (await live.sms(phone, text)).status_code == 200
    items = (await live.get("/api/conversations", who="lead"))["items"]
    return next(c for c in items if c["last_message_preview"] == text)


async def _assignee(live: Live, conversation_id: int) -> Any:
    return (await live.get(f"/api/conversations/{conversation_id}", who="lead"))["assignee_id"]


def _card(page: Page, conversation_id: int) -> Any:
    return page.locator(f".qcard[data-conversation='{conversation_id}']")


def _agent(page: Page, live: Live, who: str) -> Any:
    return page.locator(f".agent-card[data-agent='{live.users[who]['id']}']")


async def _board(browser: Browser, live: Live, clock: bool = False, **context: Any) -> Page:
    """The lead's board once it is live: its socket subscribed (an event from then on reaches
    it), and the re-render that its "ready" asks for (app.js) in the page. ``clock``: the
    page's time is Playwright's, moved by the test (page.clock)."""
    page = await login(browser, live, "lead", **context)
    if clock:
        await page.clock.install()
    await page.goto(live.url + "/queue")
    await live_ready(page)
    await until(page, "window.inboxTestRenders.queue >= 1")
    return page


async def test_the_board_shows_who_waits_why_and_for_how_long(live: Live, browser: Browser,
                                                               clock: MovableClock) -> None:
    await _route(live, mode="balanced", capacity=2)
    conv = await _waiting(live, "+15557654321", "where is my parcel?")
    clock.advance(timedelta(minutes=4))
    page = await _board(browser, live, clock=True)
    card = _card(page, conv["id"])
    await expect(card.locator(".why")).to_have_text("Not assigned: nobody online")
    await expect(card.locator("[data-waited]")).to_have_text("4 min")
    await expect(card).to_contain_text("where is my parcel?")
    await expect(page.locator("#queue-total")).to_have_text("1 waiting")
    await expect(page.locator(".reason-group.reason-nobody_online h3")).to_have_text("Nobody online 1")
    # The waited time goes on in the browser between renders: a minute passes in the page
    # (its timers fire), none on the server, and no render comes meanwhile.
    shown = await renders(page, "queue")
    await page.clock.run_for(60_000)
    await expect(card.locator("[data-waited]")).to_have_text("5 min")
    assert await renders(page, "queue") == shown
    # Filter by reason: only that group; the address says so.
    await page.locator(".reason-filter a", has_text="Nobody online").click()
    await expect(page).to_have_url(live.url + "/queue?reason=nobody_online")
    await expect(page.locator(".reason-filter a[aria-current=true]")).to_contain_text("Nobody online")
    await expect(card).to_be_visible()


async def test_a_card_dragged_onto_an_agent_is_theirs_and_the_menu_does_it_from_the_keyboard(
        live: Live, browser: Browser) -> None:
    first = await _waiting(live, "+15551110001", "first")
    second = await _waiting(live, "+15551110002", "second")
    page = await _board(browser, live)
    await expect(_card(page, first["id"]).locator(".why")).to_contain_text(
        "assigned by hand: Support line does not route")
    await _card(page, first["id"]).drag_to(_agent(page, live, "agent"))
    await expect(_card(page, first["id"])).to_have_count(0)
    await expect(page.get_by_role("status")).to_have_text("1 conversation assigned.")
    assert await _assignee(live, first["id"]) == live.users["agent"]["id"]
    await expect(_agent(page, live, "agent").locator(".load-text")).to_have_text("1 of 10 open")

    # The keyboard: the card's "Assign to…" menu, Enter on an agent.
    summary = _card(page, second["id"]).locator(".assign-menu summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    menu = _card(page, second["id"]).locator(".assign-menu .menu-panel")
    await expect(menu.locator("button").first).to_be_focused()  # the choices, from the keyboard
    choice = menu.get_by_role("button", name="Agent2")
    await choice.focus()
    await page.keyboard.press("Enter")
    await expect(_card(page, second["id"])).to_have_count(0)
    assert await _assignee(live, second["id"]) == live.users["agent2"]["id"]
    await expect(page.locator(".board-empty")).to_have_text("Nobody is waiting.")


async def test_the_leads_selection_survives_live_refreshes_and_moves_together(live: Live, browser: Browser) -> None:
    first = await _waiting(live, "+15551110001", "first")
    page = await _board(browser, live)
    await _card(page, first["id"]).get_by_role("checkbox").check()
    await expect(page.locator("#selected-count")).to_have_text("1 selected")
    second = await _waiting(live, "+15551110002", "second")  # arrives while the lead is choosing: a refresh
    await expect(_card(page, second["id"])).to_be_visible()
    await expect(_card(page, first["id"]).get_by_role("checkbox")).to_be_checked()
    await expect(_card(page, second["id"]).get_by_role("checkbox")).not_to_be_checked()
    agent_socket = await live.events("agent")  # the agent comes online: the board hears it
    await expect(_agent(page, live, "agent").locator(".presence")).to_have_text("Online")
    await expect(_card(page, first["id"]).get_by_role("checkbox")).to_be_checked()
    await expect(page.locator("#selected-count")).to_have_text("1 selected")

    # Both ticked and dragged: both go.
    await _card(page, second["id"]).get_by_role("checkbox").check()
    await _card(page, second["id"]).drag_to(_agent(page, live, "agent2"))
    await expect(page.get_by_role("status")).to_have_text("2 conversations assigned.")
    assert [await _assignee(live, c["id"]) for c in (first, second)] == [live.users["agent2"]["id"]] * 2
    await agent_socket.close()


async def test_the_status_menu_sets_away_and_the_board_shows_it_live(live: Live, browser: Browser) -> None:
    board = await _board(browser, live)
    agent = await login(browser, live, "agent")
    row = _agent(board, live, "agent")
    await expect(row.locator(".presence")).to_have_text("Online")  # their socket is open
    menu = agent.locator("#user-menu")
    await expect(menu.locator("summary")).to_have_attribute("aria-label", "Your account: Agent, online")
    await menu.locator("summary").click()
    await menu.get_by_role("button", name="Away").click()
    await expect(row.locator(".presence")).to_have_text("Away")
    await expect(row).to_have_class("agent-card status-away")
    await expect(menu.locator("summary")).to_have_attribute("aria-label", "Your account: Agent, away")
    await expect(menu.locator("summary .presence-dot")).to_have_class("presence-dot away")
    await expect(menu.locator("summary")).to_be_focused()
    # Changed elsewhere (the API, another tab): the menu follows live.
    r = await live.client.put("/api/me/presence", headers=live.as_("agent"), json={"status": "online"})
    assert r.status_code == 200
    await expect(menu.locator("summary")).to_have_attribute("aria-label", "Your account: Agent, online")
    await expect(row.locator(".presence")).to_have_text("Online")
    await menu.locator("summary").click()
    await expect(menu.get_by_role("button", name="Online")).to_have_attribute("aria-pressed", "true")


async def test_the_status_form_works_without_javascript(live: Live) -> None:
    await form_login(live.client, "agent")
    token = await page_token(live.client, "/settings")
    r = await live.client.post("/ui/me/presence", data={"status": "away", "csrf_token": token},
                               headers={"Referer": live.url + "/settings?x=1"})
    assert r.status_code == 303 and r.headers["location"] == "/settings?x=1"
    assert (await live.get("/api/me/presence"))["status"] == "away"
    r = await live.client.post("/ui/me/presence", data={"status": "online", "csrf_token": token},
                               headers={"Referer": "https://elsewhere.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    page = await live.client.get("/settings")
    assert 'aria-label="Your account: Agent, online"' in page.text


async def test_settings_keep_the_socket_and_report_activity(live: Live, browser: Browser,
                                                            clock: MovableClock) -> None:
    r = await live.client.patch("/api/me/preferences", headers=live.as_("agent"), json={"away_after_minutes": 5})
    assert r.status_code == 200
    watcher = await live.events("lead")
    page = await login(browser, live, "agent")
    await page.goto(live.url + "/settings")
    await live_ready(page)
    me = live.users["agent"]["id"]

    def presence(status: str, cause: str) -> Any:
        return lambda e: e["type"] == "agent.presence_changed" and e["data"]["user_id"] == me and \
            (e["data"]["status"], e["data"]["cause"]) == (status, cause)
    # The server has recorded the socket (and with it the agent's last activity) before the
    # clock moves: a page's socket can be open before its connection is written.
    await watcher.next(presence("online", "back"))
    clock.advance(timedelta(minutes=6))
    await watcher.next(presence("away", "inactive"))
    await expect(page.locator("#user-menu summary")).to_have_attribute("aria-label", "Your account: Agent, away")
    await page.locator("body").press("Shift")  # any input: the page sends {"type":"activity"}
    await watcher.next(presence("online", "back"))
    await expect(page.locator("#user-menu summary")).to_have_attribute("aria-label", "Your account: Agent, online")
    await watcher.close()


async def test_settings_save_away_after_minutes(live: Live, browser: Browser) -> None:
    page = await login(browser, live, "lead")
    await page.goto(live.url + "/settings")
    field = page.get_by_label("Set me away after")
    await expect(field).to_have_value("")
    await field.fill("15")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".notice")).to_have_text("Saved.")
    await expect(field).to_have_value("15")
    assert (await live.get("/api/me/preferences", who="lead"))["away_after_minutes"] == 15
    # The lead is offered the no-reply notification, and keeps it on when saving.
    box = page.get_by_label("A conversation routed to someone was not answered in time")
    await expect(box).to_be_checked()
    await field.fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(field).to_have_value("")
    prefs = await live.get("/api/me/preferences", who="lead")
    assert prefs["away_after_minutes"] is None and prefs["notify"]["no_reply"] is True

    await form_login(live.client, "agent")
    token = await page_token(live.client, "/settings")
    r = await live.client.post("/settings", data={"away_after_minutes": "soon", "csrf_token": token})
    assert r.status_code == 303 and "error=" in r.headers["location"]
    shown = await live.client.get(r.headers["location"])
    assert "a whole number of minutes from 1 to 480" in shown.text
    assert "not answered in time" not in shown.text  # an agent is not offered the leads' kind


async def test_routings_decisions_read_as_such_in_the_timeline(live: Live) -> None:
    await _route(live, mode="balanced", capacity=2)
    agent = await live.events("agent")  # online: routing gives them the conversation
    assert (await live.sms("+15557654321", "hello")).status_code == 200
    ev = await agent.next(lambda e: e["type"] == "conversation.assigned" and "routing" in e["data"])
    await form_login(live.client, "lead")
    page = await live.client.get(f"/inbox?tab=all&c={ev['data']['conversation']['id']}")
    assert 'class="event routing"' in page.text
    assert "Routing: assigned to Agent: balanced, 1 of 2 open" in page.text
    await agent.close()


async def test_on_a_phone_the_agents_fold_above_the_cards(live: Live, browser: Browser) -> None:
    conv = await _waiting(live, "+15557654321", "hello from a phone")
    page = await _board(browser, live, viewport={"width": 390, "height": 844})
    agents = page.locator("#board-agents")
    await expect(agents).not_to_have_attribute("open", "")  # folded: the waiting come first
    await expect(_card(page, conv["id"])).to_be_in_viewport()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await agents.locator("summary").click()
    await expect(_agent(page, live, "agent")).to_be_visible()
    await live.sms("+15551112222", "another")  # a live refresh keeps it open
    await expect(page.locator(".qcard")).to_have_count(2)
    await expect(agents).to_have_attribute("open", "")


async def test_the_board_and_the_status_menu_pass_axe(live: Live, browser: Browser) -> None:
    from tests.test_accessibility import _axe

    await _route(live, mode="balanced", capacity=1)
    agent = await live.events("agent")
    await _waiting(live, "+15551110001", "taken by routing")
    conv = await _waiting(live, "+15551110002", "waits: everyone is at capacity")
    page = await _board(browser, live)
    await _card(page, conv["id"]).get_by_role("checkbox").check()
    found = await _axe(page, "/queue")
    await _card(page, conv["id"]).locator(".assign-menu summary").click()
    found += await _axe(page, "/queue assign menu")
    await page.keyboard.press("Escape")
    await page.locator("#user-menu summary").click()
    found += await _axe(page, "/queue user menu")
    await page.emulate_media(color_scheme="dark")
    found += await _axe(page, "/queue dark")
    assert not found, "\n".join(found)
    await agent.close()
