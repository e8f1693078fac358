"""Accessibility (issue 13): axe-core over every page and state of the UI, failing on a
serious or critical violation, and what axe cannot see, driven by the keyboard: the skip
link, Tab order into the list, Enter opening a conversation, dialogs returning focus.

axe-core comes bundled in the axe-playwright-python package (tests extra): it is injected
into the page from disk, so nothing is fetched while the tests run.
"""

from __future__ import annotations

import re
from typing import Any

from axe_playwright_python.base import AXE_SCRIPT
from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login

__all__ = ["browser"]

FAILING = ("serious", "critical")
# The customer's HTML email is shown in a sandboxed iframe without scripts: its content is
# what the customer sent, not ours to fix, and axe cannot enter it anyway (no script runs
# there). The iframe element itself (its title) is still checked.
EXCLUDE = [["iframe[sandbox] html"]]
ADMIN_SECTIONS = ("inboxes", "users", "teams", "calendars", "labels", "canned", "tokens", "sla", "automation",
                  "macros", "webhooks")


async def _call(live: Live, method: str, path: str, who: str, status: int, **kw: Any) -> Any:
    r = await live.client.request(method, path, headers=live.as_(who), **kw)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def _conversation(live: Live, phone: str, text: str) -> dict[str, Any]:
    assert (await live.sms(phone, text)).status_code == 200
    items = (await live.get("/api/conversations", "lead", params={"q": phone}))["items"]
    [conv] = items
    return conv  # type: ignore[no-any-return]


async def _seed(live: Live) -> dict[str, Any]:
    """A working day's state, made the way the app makes it: signed webhooks and REST."""
    team = await _call(live, "POST", "/api/teams", "admin", 201,
                       json={"name": "Billing", "member_ids": [live.users["agent"]["id"]]})
    for name, colour in (("VIP", "#1e7a3c"), ("Refund", "#b42318"), ("Shipping", "#1f5fbf")):
        await _call(live, "POST", "/api/labels", "admin", 201, json={"name": name, "colour": colour})
    await _call(live, "POST", "/api/canned_responses", "admin", 201,
                json={"short_code": "ship", "text": "Your order ships within 24 hours."})
    await _call(live, "POST", "/api/tokens", "admin", 201, json={"name": "Reporting"})
    await _call(live, "POST", "/api/macros", "admin", 201, json={"name": "Refund done", "shared": True, "steps": [
        {"type": "add_note", "text": "Refund sent"}, {"type": "resolve"}]})
    await _call(live, "POST", "/api/macros", "agent", 201, json={"name": "Urgent", "steps": [
        {"type": "set_priority", "priority": "urgent"}]})
    await _call(live, "POST", "/api/calendars", "admin", 201, json={
        "name": "Support EU", "timezone": "Europe/Berlin",
        "intervals": [{"day": "fri", "start": "22:00", "end": "06:00"}],
        "exceptions": [{"date": "2027-12-24", "closed": True, "name": "Christmas Eve"}]})

    main = await _conversation(live, "+15557654321", "Where is my order #1042? It was due Monday.")
    other = await _conversation(live, "+15551112222", "Can I change my delivery address?")
    await _conversation(live, "+15553334444", "Thanks, all sorted!")
    await _call(live, "POST", f"/api/conversations/{main['id']}/assignment", "lead", 200,
                json={"user_id": live.users["agent"]["id"]})  # a notification for the agent
    await _call(live, "POST", f"/api/conversations/{other['id']}/assignment", "lead", 200,
                json={"team_id": team["id"]})
    await _call(live, "POST", f"/api/conversations/{main['id']}/labels", "agent", 200, json={"add": ["VIP", "Refund"]})
    await _call(live, "PATCH", f"/api/conversations/{main['id']}", "agent", 200, json={"priority": "urgent"})
    await _call(live, "POST", f"/api/conversations/{main['id']}/notes", "agent", 201,
                json={"text": "Courier says it left the depot today, @lead"})

    # a reply the provider refuses: the timeline shows the failure and Retry
    stream = await live.events("agent")
    live.fake.fail_next(400, 21211, "The 'To' number +15557654321 is not a valid phone number.")
    await _call(live, "POST", f"/api/conversations/{main['id']}/messages", "agent", 202,
                json={"text": "Sorry, checking with the courier now."})
    await stream.next(lambda e: e["type"] == "message.updated" and e["data"]["message"]["status"] == "failed")
    await stream.close()
    await live.sms("+15557654321", "Any news?")
    return main


async def _axe(page: Page, where: str) -> list[str]:
    """The serious and critical violations on the page as it is now, one line per node."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SCRIPT)
    results = await page.evaluate("context => axe.run(context, {resultTypes: ['violations']})",
                                  {"exclude": EXCLUDE})
    found = []
    for v in results["violations"]:
        if v["impact"] not in FAILING:
            continue
        for node in v["nodes"]:
            found.append(f"{where}: {v['id']} ({v['impact']}) at {node['target']}: {v['help']}"
                         f"\n    {node.get('failureSummary', '').replace(chr(10), ' ')}\n    {node['html'][:200]}")
    return found


async def _open_menu(page: Page, summary: str) -> None:
    menu = page.locator("#conversation-state details.menu", has=page.locator(f"summary[aria-label^='{summary}']"))
    await menu.locator("summary").click()
    await expect(menu).to_have_attribute("open", "")


async def _close_menus(page: Page) -> None:
    await page.evaluate("document.querySelectorAll('details.menu[open]').forEach(d => d.open = false)")


async def test_no_page_has_a_serious_or_critical_axe_violation(live: Live, browser: Browser) -> None:
    conv = await _seed(live)
    found: list[str] = []

    anonymous = await (await browser.new_context()).new_page()
    await anonymous.goto(live.url + "/login")
    found += await _axe(anonymous, "/login")
    await anonymous.context.close()

    agent = await login(browser, live, "agent")
    await expect(agent.locator("#list-rows .row")).not_to_have_count(0)
    found += await _axe(agent, "/inbox")
    await agent.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    await expect(agent.locator(".message.out .tick-failed")).to_be_visible()
    await expect(agent.locator(".note")).to_be_visible()
    found += await _axe(agent, "/inbox conversation")
    await agent.get_by_text("Private note", exact=True).click()
    await expect(agent.locator("#note-banner")).to_be_visible()
    found += await _axe(agent, "/inbox note mode")
    await agent.get_by_text("Reply", exact=True).click()
    for menu in ("Assignee", "Snooze", "Labels", "Priority"):
        await _open_menu(agent, menu)
        found += await _axe(agent, f"/inbox {menu} menu")
        await _close_menus(agent)
    await agent.locator("#notifications-button").click()
    await expect(agent.locator("#notifications-panel .notification").first).to_be_visible()
    found += await _axe(agent, "/inbox notifications")
    await agent.keyboard.press("Escape")

    await agent.emulate_media(color_scheme="dark")
    await agent.reload()
    await expect(agent.locator(".message.out .tick-failed")).to_be_visible()
    assert await agent.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    found += await _axe(agent, "/inbox dark")
    await agent.get_by_text("Private note", exact=True).click()
    found += await _axe(agent, "/inbox dark note mode")
    await agent.emulate_media(color_scheme="light")

    await agent.set_viewport_size({"width": 390, "height": 844})
    await agent.reload()
    await expect(agent.locator("#composer-send")).to_be_in_viewport()
    found += await _axe(agent, "/inbox phone")
    await agent.goto(live.url + "/settings")
    await agent.evaluate("document.querySelectorAll('details.sla-edit').forEach(d => { d.open = true; })")
    found += await _axe(agent, "/settings, a macro's form open")
    await agent.context.close()

    lead = await login(browser, live, "lead")
    await lead.goto(live.url + "/queue")
    found += await _axe(lead, "/queue")
    await lead.context.close()

    admin = await login(browser, live, "admin")
    for section in ADMIN_SECTIONS:
        await admin.goto(live.url + f"/admin/{section}")
        await expect(admin.locator("main")).to_be_visible()
        found += await _axe(admin, f"/admin/{section}")
    await admin.emulate_media(color_scheme="dark")
    for section in ("inboxes", "teams", "users", "calendars", "macros"):  # with every form open, in both themes
        await admin.goto(live.url + f"/admin/{section}")
        await admin.evaluate("document.querySelectorAll('details.routing, details.calendar-edit, details.add-calendar, "
                             "details.disclosure, details.sla-edit, details.sla-add')"
                             ".forEach(d => { d.open = true; })")
        found += await _axe(admin, f"/admin/{section} dark, routing open")
        await admin.emulate_media(color_scheme="light")
        found += await _axe(admin, f"/admin/{section} routing open")
        await admin.emulate_media(color_scheme="dark")
    await admin.context.close()

    assert not found, "axe found serious or critical violations:\n" + "\n".join(found)


async def test_the_keyboard_alone_skips_to_the_list_opens_a_conversation_and_leaves_dialogs(
        live: Live, browser: Browser) -> None:
    conv = await _conversation(live, "+15557654321", "Only the keyboard today")
    await _call(live, "POST", f"/api/conversations/{conv['id']}/assignment", "agent", 200,
                json={"user_id": live.users["agent"]["id"]})  # in Mine, where the agent lands
    page = await login(browser, live, "agent")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()  # shown when focused, not left off screen
    await page.keyboard.press("Enter")
    # from the skip link's target the next Tab lands in the list, not back in the top bar
    await page.keyboard.press("Tab")
    assert await page.evaluate("!!document.activeElement.closest('#list')"), \
        await page.evaluate("document.activeElement.outerHTML")
    row = page.locator(f".row[data-conversation='{conv['id']}'] a")
    for _ in range(15):
        if await row.evaluate("a => a === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(row).to_be_focused()
    outline = await row.evaluate("a => getComputedStyle(a).outlineStyle")
    assert outline != "none", "the focused row shows no focus ring"
    await page.keyboard.press("Enter")
    await expect(page.locator("#conversation")).to_have_attribute("data-conversation", str(conv["id"]))

    # the shortcuts dialog: opened from its button, Escape closes it and focus returns
    button = page.get_by_role("button", name="Keyboard shortcuts")
    await button.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(dialog).to_be_visible()
    assert await page.evaluate("!!document.activeElement.closest('dialog')")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(button).to_be_focused()

    # a header menu: Enter opens it, Tab goes into it, Escape closes it back onto its button
    summary = page.locator("#conversation-state summary[aria-label^='Assignee']")
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("details[data-keep=assignee]")).to_have_attribute("open", "")
    await page.keyboard.press("Tab")
    assert await page.evaluate("!!document.activeElement.closest('details[data-keep=assignee] .menu-panel')")
    await page.keyboard.press("Escape")
    await expect(page.locator("details[data-keep=assignee]")).not_to_have_attribute("open", "")
    await expect(summary).to_be_focused()

    # the timeline scrolls from the keyboard, and a live re-render keeps the focus on it
    timeline = page.get_by_role("list", name="Timeline")
    await timeline.focus()
    await live.sms("+15557654321", "A new message while you read")
    await expect(timeline).to_contain_text("A new message while you read")
    await expect(timeline).to_be_focused()

    # every visible control in the conversation is reachable: none is taken out of the Tab order
    unreachable = await page.evaluate("""() => [...document.querySelectorAll(
        '#main a[href], #main button, #main input:not([type=hidden]), #main select, #main textarea, #main summary')]
        .filter(e => e.checkVisibility() && !e.disabled && e.tabIndex < 0).map(e => e.outerHTML.slice(0, 120))""")
    assert unreachable == []
    assert re.search("Only the keyboard today", await page.locator("#timeline").inner_text())


async def test_an_admin_confirmation_keeps_focus_inside_and_returns_it(live: Live, browser: Browser) -> None:
    await _call(live, "POST", "/api/canned_responses", "admin", 201, json={"short_code": "hi", "text": "Hello!"})
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/canned")
    delete = page.locator("[data-opens]").first
    await delete.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_be_visible()
    for _ in range(4):  # modal: Tab cycles through the dialog's own buttons only
        await page.keyboard.press("Tab")
        assert await page.evaluate("!!document.activeElement.closest('dialog[open]') || "
                                   "document.activeElement === document.body")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(delete).to_be_focused()
