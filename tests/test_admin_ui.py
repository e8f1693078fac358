"""The admin pages in a browser (sections, confirmations before deletes, editing canned
responses, disabling an inbox, resetting a password, a phone's width) and the REST
endpoints behind them (disable and delete an inbox, reset a password, delete a team)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.forms import form_login

__all__ = ["browser"]  # the fixture, imported for pytest


async def _admin(browser: Browser, live: Live, section: str, **context: object) -> Page:
    page = await login(browser, live, "admin", **context)
    await page.goto(f"{live.url}/admin/{section}")
    return page


async def test_sections_have_their_own_views_and_human_labels(live: Live, browser: Browser) -> None:
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin")
    nav = page.get_by_role("navigation", name="Admin sections")
    await expect(nav.get_by_role("link", name="Inboxes")).to_have_attribute("aria-current", "page")
    card = page.locator(f"[data-inbox='{live.inbox['id']}']")
    await expect(card).to_contain_text(live.url + "/webhooks/twilio")
    await card.get_by_text("Edit Support line").click()
    await expect(card.get_by_label("Auth token")).to_have_attribute("placeholder", "unchanged")
    await expect(card.get_by_label("Messaging Service SID")).to_be_visible()
    await nav.get_by_role("link", name="Users").click()
    await expect(page).to_have_url(live.url + "/admin/users")
    await expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    row = page.locator(f"tr[data-user='{live.users['agent']['id']}']")
    await expect(row.get_by_label("Role of Agent")).to_have_value("agent")
    hidden = await row.get_by_text("Role of Agent", exact=True).bounding_box()
    assert hidden is not None and hidden["width"] <= 1 and hidden["height"] <= 1  # for screen readers only
    assert await page.locator(f"[data-inbox='{live.inbox['id']}']").count() == 0  # one section at a time


async def test_deleting_asks_first_cancel_keeps_confirm_deletes(live: Live, browser: Browser) -> None:
    made = await live.client.post("/api/canned_responses", headers=live.as_("admin"),
                                  json={"short_code": "ship", "text": "It ships today."})
    assert made.status_code == 201
    page = await _admin(browser, live, "canned")
    await page.get_by_role("button", name="Delete /ship").click()
    dialog = page.get_by_role("dialog", name="Delete the canned response /ship?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Agents can no longer insert it")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await page.reload()
    assert [c["short_code"] for c in (await live.get("/api/canned_responses"))["items"]] == ["ship"]

    await page.get_by_role("button", name="Delete /ship").click()
    await dialog.get_by_role("button", name="Delete /ship").click()
    await expect(page.get_by_role("status")).to_have_text("Canned response deleted")
    assert (await live.get("/api/canned_responses"))["items"] == []


async def test_edit_a_canned_response_inline(live: Live, browser: Browser) -> None:
    await live.client.post("/api/canned_responses", headers=live.as_("admin"),
                           json={"short_code": "ship", "text": "It ships today."})
    page = await _admin(browser, live, "canned")
    await page.get_by_text("Edit /ship").click()
    form = page.locator("form[action='/admin/canned-update']")
    await form.get_by_label("Short code").fill("shipping")
    await form.get_by_label("Text").fill("It ships within 24 hours.")
    await form.get_by_role("button", name="Save /ship").click()
    await expect(page.get_by_role("status")).to_have_text("/shipping saved")
    await expect(page.locator("td.canned-text")).to_have_text("It ships within 24 hours.")
    [canned] = (await live.get("/api/canned_responses"))["items"]
    assert (canned["short_code"], canned["text"]) == ("shipping", "It ships within 24 hours.")


async def test_a_disabled_inbox_still_receives_but_sends_nothing(live: Live, browser: Browser) -> None:
    page = await _admin(browser, live, "inboxes")
    await page.get_by_role("button", name="Disable Support line").click()
    await expect(page.get_by_role("status")).to_contain_text("Inbox Support line disabled")
    await expect(page.locator(f"[data-inbox='{live.inbox['id']}']")).to_contain_text("Disabled")
    assert (await live.get(f"/api/inboxes/{live.inbox['id']}", who="admin"))["active"] is False

    assert (await live.sms("+15557654321", "are you there?")).status_code == 200  # stored, not refused
    [conv] = (await live.get("/api/conversations"))["items"]
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "yes"})
    assert r.status_code == 409 and "disabled" in r.json()["error"]["message"], r.text
    assert live.fake.sent == []

    await page.get_by_role("button", name="Enable Support line").click()
    await expect(page.get_by_role("status")).to_have_text("Inbox Support line enabled")
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                               json={"text": "yes"})
    assert r.status_code == 202, r.text


async def test_delete_an_inbox_after_confirming(live: Live, browser: Browser) -> None:
    await live.sms("+15557654321", "hello")
    page = await _admin(browser, live, "inboxes")
    await page.get_by_role("button", name="Delete Support line").click()
    dialog = page.get_by_role("dialog", name="Delete inbox Support line?")
    await expect(dialog).to_contain_text("Its conversations and messages stay")
    await dialog.get_by_role("button", name="Delete inbox").click()
    await expect(page.get_by_role("status")).to_have_text("Inbox Support line deleted")
    await expect(page.locator("[data-inbox]")).to_have_count(0)
    assert (await live.sms("+15557654321", "anyone?")).status_code == 404  # refused: no such inbox now
    [conv] = (await live.get("/api/conversations"))["items"]
    timeline = (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
    assert [m["text"] for m in timeline if m["type"] == "message"] == ["hello"]  # history kept


async def test_reset_a_password_ends_the_users_sessions(live: Live, browser: Browser) -> None:
    agent = await login(browser, live, "agent")
    page = await _admin(browser, live, "users")
    row = page.locator(f"tr[data-user='{live.users['agent']['id']}']")
    await row.get_by_role("button", name="Reset password of Agent").click()
    dialog = page.get_by_role("dialog", name="Reset the password of Agent?")
    await dialog.get_by_label("New password").fill("a brand new secret")
    await dialog.get_by_role("button", name="Set password").click()
    await expect(page.get_by_role("status")).to_have_text("Password of Agent changed; they are logged out everywhere")

    await agent.goto(live.url + "/inbox")
    await expect(agent).to_have_url(live.url + "/login?next=%2Finbox")  # the old session is over
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        refused = await form_login(client, "agent")  # the old password no longer works
        assert refused.headers["location"].startswith("/login"), refused.headers
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "agent", password="a brand new secret")).headers["location"] == "/inbox"


async def test_a_generated_password_is_shown_once(live: Live, browser: Browser) -> None:
    page = await _admin(browser, live, "users")
    row = page.locator(f"tr[data-user='{live.users['agent2']['id']}']")
    await row.get_by_role("button", name="Reset password of Agent2").click()
    await page.get_by_role("dialog", name="Reset the password of Agent2?").get_by_role(
        "button", name="Generate a password").click()
    shown = page.locator(".once code")
    await expect(shown).to_have_text(re.compile(r"^\S{18}$"))
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, "agent2", password=await shown.inner_text())).headers["location"] == "/inbox"
    await page.goto(live.url + "/admin/users")
    await expect(page.locator(".once")).to_have_count(0)


async def test_deactivating_a_user_asks_first(live: Live, browser: Browser) -> None:
    page = await _admin(browser, live, "users")
    row = page.locator(f"tr[data-user='{live.users['agent2']['id']}']")
    await row.get_by_role("button", name="Deactivate").click()
    dialog = page.get_by_role("dialog", name="Deactivate Agent2?")
    await expect(dialog).to_contain_text("logged out everywhere")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert (await _user(live, "agent2"))["active"] is True
    await row.get_by_role("button", name="Deactivate").click()
    await dialog.get_by_role("button", name="Deactivate Agent2").click()
    await expect(page.get_by_role("status")).to_have_text("Agent2 deactivated and logged out everywhere")
    assert (await _user(live, "agent2"))["active"] is False
    await expect(row).to_contain_text("Deactivated")


async def _user(live: Live, who: str) -> dict[str, object]:
    [user] = [u for u in (await live.get("/api/users", who="admin"))["items"] if u["id"] == live.users[who]["id"]]
    return user  # type: ignore[no-any-return]


async def test_every_section_fits_a_phone(live: Live, browser: Browser) -> None:
    await live.client.post("/api/canned_responses", headers=live.as_("admin"), json={
        "short_code": "long", "text": "A rather long canned response " * 8})
    await live.client.post("/api/tokens", headers=live.as_("admin"),
                           json={"user_id": live.users["agent"]["id"], "name": "CRM sync"})
    await live.client.post("/api/teams", headers=live.as_("admin"), json={"name": "Billing"})
    page = await login(browser, live, "admin", viewport={"width": 390, "height": 844})
    for section in ("inboxes", "users", "teams", "canned", "tokens"):
        await page.goto(f"{live.url}/admin/{section}")
        await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (section, width)
    await page.goto(live.url + "/admin/users")
    box = await page.get_by_role("button", name="Reset password of Agent", exact=True).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390


async def test_tokens_section_makes_and_revokes(live: Live, browser: Browser) -> None:
    page = await _admin(browser, live, "tokens")
    await page.get_by_label("For").select_option(str(live.users["agent"]["id"]))
    await page.get_by_label("Name").fill("CRM sync")
    await page.get_by_role("button", name="Make token").click()
    token = await page.locator(".once code").inner_text()
    assert (await live.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    await page.goto(live.url + "/admin/tokens")
    row = page.locator("tr[data-token]", has_text="CRM sync")
    await row.get_by_role("button", name="Revoke").click()
    await page.get_by_role("dialog", name="Revoke the token CRM sync of Agent?").get_by_role(
        "button", name="Revoke token").click()
    await expect(page.get_by_role("status")).to_contain_text("Token revoked")
    assert (await live.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


# -- REST ---------------------------------------------------------------------------------

async def test_rest_disable_and_delete_an_inbox(live: Live) -> None:
    iid, admin = live.inbox["id"], live.as_("admin")
    for who in ("agent", "lead"):
        assert (await live.client.patch(f"/api/inboxes/{iid}", headers=live.as_(who), json={"active": False})
                ).status_code == 403
        assert (await live.client.delete(f"/api/inboxes/{iid}", headers=live.as_(who))).status_code == 403
    bad = await live.client.patch(f"/api/inboxes/{iid}", headers=admin, json={"active": "no"})
    assert bad.status_code == 422 and "active" in bad.text
    off = await live.client.patch(f"/api/inboxes/{iid}", headers=admin, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await live.sms("+15557654321", "still stored")).status_code == 200
    [conv] = (await live.get("/api/conversations"))["items"]
    [channel] = (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"]
    assert channel["available"] is False and "disabled" in channel["reason"]

    assert (await live.client.delete(f"/api/inboxes/{iid}", headers=admin)).status_code == 204
    assert (await live.client.get(f"/api/inboxes/{iid}", headers=admin)).status_code == 404
    assert (await live.client.delete(f"/api/inboxes/{iid}", headers=admin)).status_code == 404
    assert (await live.get("/api/inboxes", who="admin"))["items"] == []
    assert (await live.sms("+15557654321", "refused now")).status_code == 404
    assert (await live.get(f"/api/conversations/{conv['id']}"))["reply_channels"] == []
    # The address is free again: the same number can be set up as a new inbox.
    again = await live.client.post("/api/inboxes", headers=admin, json={
        "kind": "sms", "name": "Support line 2", "settings": {
            "phone_number": live.inbox["address"], "account_sid": live.inbox["settings"]["account_sid"],
            "auth_token": "0123456789abcdef0123456789abcdef"}})
    assert again.status_code == 201, again.text


async def test_rest_delete_an_unused_inbox_removes_it(live: Live) -> None:
    admin = live.as_("admin")
    made = await live.client.post("/api/inboxes", headers=admin, json={
        "kind": "sms", "name": "Typo", "settings": {
            "phone_number": "+15550002222", "account_sid": live.inbox["settings"]["account_sid"],
            "auth_token": "0123456789abcdef0123456789abcdef"}})
    assert made.status_code == 201, made.text
    assert (await live.client.delete(f"/api/inboxes/{made.json()['id']}", headers=admin)).status_code == 204
    assert [i["id"] for i in (await live.get("/api/inboxes", who="admin"))["items"]] == [live.inbox["id"]]


async def test_rest_reset_password(live: Live) -> None:
    uid, admin = live.users["agent"]["id"], live.as_("admin")
    for who in ("agent", "lead"):
        r = await live.client.post(f"/api/users/{uid}/password", headers=live.as_(who), json={"password": "x" * 12})
        assert r.status_code == 403
    weak = await live.client.post(f"/api/users/{uid}/password", headers=admin, json={"password": "short"})
    assert weak.status_code == 422 and "8 characters" in weak.text
    wrong_type = await live.client.post(f"/api/users/{uid}/password", headers=admin, json={"password": 12345678})
    assert wrong_type.status_code == 422
    assert (await live.client.post("/api/users/999999/password", headers=admin, json={})).status_code == 404

    async with httpx.AsyncClient(base_url=live.url, timeout=10) as session:
        assert (await form_login(session, "agent")).status_code == 303
        assert (await session.get("/api/me")).status_code == 200
        made = await live.client.post(f"/api/users/{uid}/password", headers=admin, json={})
        assert made.status_code == 200, made.text
        generated = made.json()["password"]
        assert len(generated) == 18 and made.json()["user"]["id"] == uid
        assert (await session.get("/api/me")).status_code == 401  # that session ended
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as session:
        assert (await form_login(session, "agent", password=generated)).headers["location"] == "/inbox"
    chosen = await live.client.post(f"/api/users/{uid}/password", headers=admin, json={"password": "chosen by admin"})
    assert chosen.status_code == 200 and "password" not in chosen.json()


async def test_rest_delete_a_team(live: Live) -> None:
    admin = live.as_("admin")
    team = (await live.client.post("/api/teams", headers=admin, json={
        "name": "Billing", "member_ids": [live.users["agent"]["id"]]})).json()
    assert (await live.client.delete(f"/api/teams/{team['id']}", headers=live.as_("lead"))).status_code == 403
    await live.sms("+15557654321", "billing question")
    [conv] = (await live.get("/api/conversations", who="admin"))["items"]
    moved = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=admin,
                                   json={"team_id": team["id"]})
    assert moved.status_code == 200, moved.text
    held = await live.client.delete(f"/api/teams/{team['id']}", headers=admin)
    assert held.status_code == 409 and "holds 1 conversation" in held.text
    await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=admin, json={"team_id": None})
    assert (await live.client.delete(f"/api/teams/{team['id']}", headers=admin)).status_code == 204
    assert (await live.get("/api/teams"))["items"] == []
