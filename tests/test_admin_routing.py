"""Routing in the admin pages: an inbox's policy (the mode, capacity, weight, teams, handbacks,
the no-reply timeout, the queue order), a team's overrides set and cleared back to inherit,
an agent's own capacity, each user's presence. Through the browser, and the same forms
posted without JavaScript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.helpers.forms import form_login, page_token

__all__ = ["browser"]


async def _team(live: Live, name: str, *members: str) -> dict[str, Any]:
    r = await live.client.post("/api/teams", headers=live.as_("admin"),
                               json={"name": name, "member_ids": [live.users[m]["id"] for m in members]})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _inbox_routing(live: Live) -> dict[str, Any]:
    return (await live.get(f"/api/inboxes/{live.inbox['id']}", who="admin"))["routing"]  # type: ignore[no-any-return]


async def _team_routing(live: Live, team_id: int) -> dict[str, Any]:
    [team] = [t for t in (await live.get("/api/teams"))["items"] if t["id"] == team_id]
    return team["routing"]  # type: ignore[no-any-return]


async def _agent(live: Live, who: str) -> dict[str, Any]:
    [agent] = [a for a in (await live.get("/api/agents", who="lead"))["items"] if a["id"] == live.users[who]["id"]]
    return agent  # type: ignore[no-any-return]


async def _open_routing(page: Page, card: str) -> Any:
    routing = page.locator(f"{card} details.routing")
    await routing.locator("summary").click()
    return routing.locator("form")


async def test_an_inbox_set_to_balanced_routes_at_once(live: Live, browser: Browser) -> None:
    billing = await _team(live, "Billing", "agent")
    await _team(live, "Sales", "agent2")
    lead = await live.events("lead")
    agent = await live.events("agent")  # the agent is present: online
    assert (await live.sms("+15557654321", "where is my refund?")).status_code == 200
    [waiting] = (await live.get("/api/conversations", who="lead"))["items"]
    assert waiting["assignee_id"] is None  # by hand (the default): it waits

    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/inboxes")
    card = f"[data-inbox='{live.inbox['id']}']"
    await expect(page.locator(f"{card} .routing-now")).to_have_text("By hand")
    form = await _open_routing(page, card)
    await expect(form.get_by_label("Capacity per agent")).to_have_attribute("placeholder", "default: 10")
    await expect(form.get_by_label("Capacity per agent")).to_have_value("")
    await expect(form.get_by_label("By hand")).to_be_checked()
    await form.get_by_label("Balanced").check()
    await form.get_by_label("Capacity per agent").fill("3")
    await form.get_by_role("group", name="Teams that take its conversations").get_by_label("Billing").check()
    await form.get_by_role("button", name="Save routing of Support line").click()
    await expect(page.get_by_role("status")).to_have_text("Routing of Support line saved")
    assert await _inbox_routing(live) == {"mode": "balanced", "capacity": 3, "team_ids": [billing["id"]]}

    # Routing ran at once, not at its next pass: the waiting conversation went to Billing's agent.
    assigned = await lead.next(lambda e: e["type"] == "conversation.assigned" and "routing" in e["data"])
    assert assigned["data"]["conversation"]["assignee_id"] == live.users["agent"]["id"]
    await expect(page.locator(f"{card} .routing-now")).to_have_text("Balanced · 3 per agent · team Billing")
    form = await _open_routing(page, card)
    await expect(form.get_by_label("Capacity per agent")).to_have_value("3")
    await expect(form.get_by_label("Weight of one conversation")).to_have_attribute("placeholder", "default: 1")
    await expect(form.get_by_label("Return their open conversations to the queue")).to_be_checked()

    # Back to the defaults: blank numbers and the default choices store nothing.
    await form.get_by_label("By hand").check()
    await form.get_by_label("Capacity per agent").fill("")
    await form.get_by_role("group", name="Teams that take its conversations").get_by_label("Billing").uncheck()
    await form.get_by_role("button", name="Save routing of Support line").click()
    await expect(page.get_by_role("status")).to_have_text("Routing of Support line saved")
    assert await _inbox_routing(live) == {}
    await lead.close()
    await agent.close()


@asynccontextmanager
async def _session(live: Live, who: str = "admin") -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser without JavaScript: logged in through the form, with a page's CSRF token."""
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        assert (await form_login(client, who)).status_code == 303
        yield client, await page_token(client, "/admin/inboxes" if who == "admin" else "/inbox")


INBOX_FORM = {"mode": "round_robin", "capacity": "4", "weight": "0.5", "reassign_when_offline": "true",
              "keep_replied_minutes": "", "no_reply_minutes": "30", "no_reply_action": "notify",
              "queue_order": "priority"}


async def test_the_inbox_form_without_javascript_and_a_bad_value_changes_nothing(live: Live) -> None:
    async with _session(live) as (client, token):
        base = {"csrf_token": token, "inbox_id": str(live.inbox["id"])}
        saved = await client.post("/admin/inbox-routing", data={**base, **INBOX_FORM})
        assert saved.status_code == 303 and "done=" in saved.headers["location"], saved.headers
        stored = {"mode": "round_robin", "capacity": 4, "weight": 0.5, "no_reply_minutes": 30,
                  "no_reply_action": "notify", "queue_order": "priority"}
        assert await _inbox_routing(live) == stored

        for field, value, message in (
                ("capacity", "5000", "Capacity per agent must be a whole number from 0 to 1000"),
                ("capacity", "2.5", "Capacity per agent must be a whole number from 0 to 1000"),
                ("weight", "heavy", "Weight of one conversation must be a number from 0.05 to 100"),
                ("mode", "random", "Mode must be one of manual, round_robin, balanced"),
                ("no_reply_minutes", "-1", "No-reply timeout must be a whole number from 0 to 10080")):
            bad = await client.post("/admin/inbox-routing", data={**base, **INBOX_FORM, "capacity": "7", field: value})
            assert bad.status_code == 303, bad.text
            shown = await client.get(bad.headers["location"])
            assert f'<p class="error" role="alert">{message}</p>' in shown.text, (field, value)
            assert await _inbox_routing(live) == stored, (field, value)  # the good fields were not saved either

        unknown = await client.post("/admin/inbox-routing", data={**base, **INBOX_FORM, "team_ids": "9999"})
        assert "no+such+team" in unknown.headers["location"]
        assert await _inbox_routing(live) == stored
        async with _session(live, "lead") as (not_admin, lead_token):
            refused = await not_admin.post("/admin/inbox-routing", data={
                **INBOX_FORM, "csrf_token": lead_token, "inbox_id": str(live.inbox["id"]), "mode": "balanced"})
            assert refused.status_code == 403
        assert await _inbox_routing(live) == stored


async def test_a_team_override_set_and_cleared_back_to_inherit(live: Live, browser: Browser) -> None:
    team = await _team(live, "Billing", "agent")
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/teams")
    card = f"[data-team='{team['id']}']"
    await expect(page.locator(f"{card} .routing-now")).to_have_text("As the inbox")
    form = await _open_routing(page, card)
    await expect(form.get_by_label("Inherit from the inbox")).to_be_checked()
    await expect(form.get_by_label("Capacity per agent")).to_have_attribute("placeholder", "the inbox's")
    await form.get_by_label("Round robin").check()
    await form.get_by_label("Capacity per agent").fill("2")
    await form.get_by_label("Their open conversations").select_option(label="Stay with them")
    await form.get_by_role("button", name="Save routing of Billing").click()
    await expect(page.get_by_role("status")).to_have_text("Routing of Billing saved")
    assert await _team_routing(live, team["id"]) == {"mode": "round_robin", "capacity": 2,
                                                     "reassign_when_offline": False}
    await expect(page.locator(f"{card} .routing-now")).to_have_text("Round robin · capacity 2 · 1 more override")

    form = await _open_routing(page, card)
    await expect(form.get_by_label("Round robin")).to_be_checked()
    await expect(form.get_by_label("Capacity per agent")).to_have_value("2")
    await form.get_by_label("Inherit from the inbox").check()
    await form.get_by_label("Capacity per agent").fill("")
    await form.get_by_label("Their open conversations").select_option(label="Inherit from the inbox")
    await form.get_by_role("button", name="Save routing of Billing").click()
    await expect(page.get_by_role("status")).to_have_text("Routing of Billing saved")
    assert await _team_routing(live, team["id"]) == {}
    await expect(page.locator(f"{card} .routing-now")).to_have_text("As the inbox")


async def test_an_agents_capacity_set_and_cleared_and_presence_shown(live: Live, browser: Browser) -> None:
    stream = await live.events("agent2")  # present: online
    away = await live.client.put("/api/me/presence", headers=live.as_("lead"), json={"status": "away"})
    assert away.status_code == 200, away.text
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/users")
    row = page.locator(f"tr[data-user='{live.users['agent2']['id']}']")
    await expect(row.get_by_label("Capacity of Agent2")).to_have_attribute("placeholder", "policy: 10")
    await expect(row.locator("[data-presence]")).to_have_text("Online")
    await expect(page.locator(f"[data-presence='{live.users['lead']['id']}']")).to_have_text("Away")
    await expect(page.locator(f"[data-presence='{live.users['agent']['id']}']")).to_have_text("Offline")
    # Live: the agent opens the app elsewhere, and the admin's page follows.
    agent_socket = await live.events("agent")
    await expect(page.locator(f"[data-presence='{live.users['agent']['id']}']")).to_have_text("Online")
    await agent_socket.close()

    await row.get_by_label("Capacity of Agent2").fill("2")
    await row.get_by_role("button", name="Save capacity of Agent2").click()
    await expect(page.get_by_role("status")).to_have_text("Capacity of Agent2: 2")
    assert (await _agent(live, "agent2"))["own_capacity"] == 2
    await expect(row).to_contain_text("0 of 2 open")

    await row.get_by_label("Capacity of Agent2").fill("")
    await row.get_by_role("button", name="Save capacity of Agent2").click()
    await expect(page.get_by_role("status")).to_have_text("Capacity of Agent2: the routing policy's (10)")
    assert (await _agent(live, "agent2"))["own_capacity"] is None
    await stream.close()

    async with _session(live) as (client, token):
        bad = await client.post("/admin/user-capacity", data={
            "csrf_token": token, "user_id": str(live.users["agent2"]["id"]), "capacity": "-3"})
        shown = await client.get(bad.headers["location"])
        assert "Capacity must be a whole number from 0 to 1000, or blank for the policy&#39;s" in shown.text
    assert (await _agent(live, "agent2"))["own_capacity"] is None
