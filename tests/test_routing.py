"""Routing: presence (chosen, from sockets with a grace period, from inactivity), capacity
and weights, balanced and round-robin assignment, the queue and why a conversation waits,
handbacks when an agent goes offline or away, reopened conversations, the no-reply
timeout, and the reasons every decision leaves in the timeline. Time moves with the
clock; every wait is for an event, with a timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from inbox import actions
from inbox.actions import presence
from inbox.domain.clock import MovableClock
from tests.conftest import Live
from tests.helpers.live import EventStream


async def _route(live: Live, **policy: Any) -> None:
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"routing": policy})
    assert r.status_code == 200, r.text


async def _online(live: Live, who: str) -> None:
    r = await live.client.put("/api/me/presence", headers=live.as_(who), json={"status": "online"})
    assert r.status_code == 200 and r.json()["status"] == "online", r.text


def _assigned(conversation_id: int | None = None, to: int | None = -1) -> Any:
    def match(e: dict[str, Any]) -> bool:
        if e["type"] != "conversation.assigned" or "routing" not in e["data"]:
            return False
        conv = e["data"]["conversation"]
        return (conversation_id is None or conv["id"] == conversation_id) and (to == -1 or conv["assignee_id"] == to)
    return match


async def _gone(live: Live, who: str, stream: EventStream) -> None:
    """Close an agent's socket and wait until the server has noted it (its grace period
    runs from then)."""
    await stream.close()
    uid = live.users[who]["id"]

    async def closed() -> None:
        while uid in live.app.state.online:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(closed(), 5)


async def _text(live: Live, stream: EventStream, phone: str, body: str = "hi") -> dict[str, Any]:
    """A customer writes; their conversation as the message's event carries it."""
    assert (await live.sms(phone, body)).status_code == 200
    stored = await stream.next(lambda e: e["type"] == "message.created" and e["data"]["message"]["text"] == body)
    return stored["data"]["conversation"]  # type: ignore[no-any-return]


async def _timeline_reasons(live: Live, conversation_id: int) -> list[str]:
    items = (await live.get(f"/api/conversations/{conversation_id}/timeline", who="lead"))["items"]
    return [i["data"]["reason"] for i in items if i["type"] == "event" and "reason" in i["data"]]


async def test_balanced_routing_fills_the_least_loaded_then_queues_with_a_reason(live: Live) -> None:
    await _route(live, mode="balanced", capacity=2)
    lead = await live.events("lead")
    agent, agent2 = live.users["agent"]["id"], live.users["agent2"]["id"]
    await _online(live, "agent")
    await _online(live, "agent2")
    owners = []
    for n in range(4):
        conv = await _text(live, lead, f"+1555100000{n}", f"hello {n}")
        ev = await lead.next(_assigned(conv["id"]))
        owners.append(ev["data"]["conversation"]["assignee_id"])
    assert sorted(owners) == [agent, agent, agent2, agent2]
    assert owners[0] != owners[1]  # the second goes to whoever has fewer
    reasons = await _timeline_reasons(live, conv["id"])
    assert reasons[-1].startswith("assigned by routing to ") and reasons[-1].endswith("balanced, 2 of 2 open")

    # Both are full: the fifth waits, and the queue says why.
    fifth = await _text(live, lead, "+15551000009", "hello 5")
    board = await live.get("/api/queue", who="lead")
    [waiting] = [w for w in board["waiting"] if w["id"] == fifth["id"]]
    assert (waiting["reason"], waiting["reason_text"]) == \
        ("at_capacity", "everyone online is at capacity")
    agents = {a["id"]: a for a in (await live.get("/api/agents"))["items"]}
    assert (agents[agent]["load"], agents[agent]["capacity"], agents[agent]["can_take_more"],
            agents[agent]["open_by_channel"]) == (2, 2, False, {"sms": 2})

    # Resolving one frees room: the waiting one goes there at once.
    freed = owners.index(agent2)
    first_of_agent2 = (await live.get("/api/conversations?assignee=" + str(agent2), who="lead"))["items"][0]
    r = await live.client.post(f"/api/conversations/{first_of_agent2['id']}/status", headers=live.as_("agent2"),
                               json={"status": "resolved"})
    assert r.status_code == 200 and freed >= 0
    ev = await lead.next(_assigned(fifth["id"]))
    assert ev["data"]["conversation"]["assignee_id"] == agent2
    assert ev["data"]["routing"]["reason"].endswith("balanced, 2 of 2 open")


async def test_round_robin_takes_turns_whatever_the_load(live: Live) -> None:
    await _route(live, mode="round_robin", capacity=5)
    lead = await live.events("lead")
    await _online(live, "agent")
    await _online(live, "agent2")
    owners = []
    for n in range(4):
        conv = await _text(live, lead, f"+1555200000{n}", f"rr {n}")
        owners.append((await lead.next(_assigned(conv["id"])))["data"]["conversation"]["assignee_id"])
    assert owners[0] != owners[1] and owners[0] == owners[2] and owners[1] == owners[3]
    reasons = await _timeline_reasons(live, conv["id"])
    assert "round robin" in reasons[-1]


async def test_weights_count_what_the_work_costs(live: Live) -> None:
    await _route(live, mode="balanced", capacity=1, weight=0.5)
    lead = await live.events("lead")
    await _online(live, "agent")
    agent = live.users["agent"]["id"]
    for n in range(2):
        conv = await _text(live, lead, f"+1555300000{n}", f"w {n}")
        assert (await lead.next(_assigned(conv["id"])))["data"]["conversation"]["assignee_id"] == agent
    third = await _text(live, lead, "+15553000009", "w 3")
    [waiting] = [w for w in (await live.get("/api/queue", who="lead"))["waiting"] if w["id"] == third["id"]]
    assert waiting["reason"] == "at_capacity"
    [me] = [a for a in (await live.get("/api/agents"))["items"] if a["id"] == agent]
    assert (me["load"], me["open"]) == (1.0, 2)


async def test_nobody_online_waits_and_an_agent_coming_online_gets_it(live: Live, clock: MovableClock) -> None:
    await _route(live, mode="balanced")
    lead = await live.events("lead")
    conv = await _text(live, lead, "+15554000001", "anyone?")
    [waiting] = [w for w in (await live.get("/api/queue", who="lead"))["waiting"] if w["id"] == conv["id"]]
    assert (waiting["reason"], waiting["reason_text"]) == ("nobody_online", "nobody online")
    assert waiting["waited_seconds"] >= 0
    # Its inbox's business hours are closed (they open only on a day weeks away): the board says so.
    opening = (clock.now() + timedelta(days=40)).date()
    r = await live.client.post("/api/calendars", headers=live.as_("admin"), json={
        "name": "Opening day", "timezone": "UTC", "intervals": [],
        "exceptions": [{"date": opening.isoformat(), "intervals": [{"start": "09:00", "end": "17:00"}]}]})
    assert r.status_code == 201, r.text
    live.app.state.ctx.db.write_sync(lambda tx: actions.set_calendar(tx, "inbox", live.inbox["id"], r.json()["id"],
                                                                           live.app.state.ctx.clock.now()))
    [waiting] = [w for w in (await live.get("/api/queue", who="lead"))["waiting"] if w["id"] == conv["id"]]
    assert (waiting["reason"], waiting["reason_text"]) == (
        "nobody_online", f"nobody online: outside business hours, opens {opening:%a %-d %b} 09:00 UTC")
    present = await live.events("agent2")  # a socket: agent2 opens the app
    ev = await lead.next(_assigned(conv["id"]))
    assert ev["data"]["conversation"]["assignee_id"] == live.users["agent2"]["id"]
    await present.close()


async def test_offline_after_the_grace_period_hands_back_but_a_reload_does_not_flap(
        live: Live, clock: MovableClock) -> None:
    await _route(live, mode="balanced", keep_replied_minutes=0)
    lead = await live.events("lead")
    agent, agent2 = live.users["agent"]["id"], live.users["agent2"]["id"]
    first = await live.events("agent")
    conv = await _text(live, lead, "+15555000001", "stay with me")
    assert (await lead.next(_assigned(conv["id"])))["data"]["conversation"]["assignee_id"] == agent
    # A reload: the socket closes and another opens within the grace period. No change.
    await _gone(live, "agent", first)
    clock.advance(timedelta(seconds=30))
    second = await live.events("agent")
    clock.advance(timedelta(seconds=45))  # 75 s after the close, but a socket is open again
    history = (await live.get(f"/api/agents/{agent}/presence", who="lead"))["items"]
    assert [h["status"] for h in history] == ["online"]
    # Gone for good: offline after the grace period, and the conversation goes to agent2.
    await _gone(live, "agent", second)
    await live.events("agent2")  # a socket: present past the grace period (a PUT alone is not)
    clock.advance(timedelta(seconds=61))
    gone = await lead.next(lambda e: e["type"] == "agent.presence_changed" and e["data"]["user_id"] == agent)
    assert (gone["data"]["status"], gone["data"]["cause"]) == ("offline", "disconnected")
    back = await lead.next(_assigned(conv["id"], to=None))
    assert back["data"]["routing"]["reason"] == "returned to queue: Agent offline for 61 s"
    moved = await lead.next(_assigned(conv["id"], to=agent2))
    assert moved["data"]["routing"]["reason"].startswith("assigned by routing to Agent2")
    history = (await live.get(f"/api/agents/{agent}/presence", who="lead"))["items"]
    assert [(h["status"], h["cause"]) for h in history] == [("offline", "disconnected"), ("online", "back")]


async def test_going_away_keeps_what_they_just_replied_to_for_a_while(live: Live, clock: MovableClock) -> None:
    await _route(live, mode="balanced", keep_replied_minutes=5)
    lead = await live.events("lead")
    await _online(live, "agent")
    replied = await _text(live, lead, "+15556000001", "one")
    await lead.next(_assigned(replied["id"]))
    quiet = await _text(live, lead, "+15556000002", "two")
    await lead.next(_assigned(quiet["id"]))
    r = await live.client.post(f"/api/conversations/{replied['id']}/messages", headers=live.as_("agent"),
                               json={"text": "on it"})
    assert r.status_code in (200, 201, 202), r.text
    r = await live.client.put("/api/me/presence", headers=live.as_("agent"), json={"status": "away"})
    assert r.json()["status"] == "away"
    ev = await lead.next(_assigned(quiet["id"], to=None))
    assert ev["data"]["routing"]["reason"].startswith("returned to queue: Agent away for")
    conv = (await live.get(f"/api/conversations/{replied['id']}", who="lead"))
    assert conv["assignee_id"] == live.users["agent"]["id"]  # kept: they were in the middle of it
    clock.advance(timedelta(minutes=6))
    await lead.next(_assigned(replied["id"], to=None))


async def test_a_reopened_conversation_returns_to_its_agent_only_if_eligible(live: Live) -> None:
    await _route(live, mode="balanced", capacity=1)
    lead = await live.events("lead")
    agent = live.users["agent"]["id"]
    await _online(live, "agent")
    conv = await _text(live, lead, "+15557000001", "first")
    await lead.next(_assigned(conv["id"], to=agent))
    r = await live.client.post(f"/api/conversations/{conv['id']}/status", headers=live.as_("agent"),
                               json={"status": "resolved"})
    assert r.status_code == 200
    # Eligible (online, room for it): the customer's return reopens it with the same agent.
    assert (await live.sms("+15557000001", "back again")).status_code == 200
    await lead.next(lambda e: e["type"] == "conversation.updated" and e["data"].get("previous_status") == "resolved")
    r = await live.client.post(f"/api/conversations/{conv['id']}/status", headers=live.as_("agent"),
                               json={"status": "resolved"})
    # Now the agent is full with someone else: the reopened one goes back to the queue.
    other = await _text(live, lead, "+15557000002", "other")
    await lead.next(_assigned(other["id"], to=agent))
    assert (await live.sms("+15557000001", "and again")).status_code == 200
    ev = await lead.next(_assigned(conv["id"], to=None))
    assert ev["data"]["routing"]["reason"] == "returned to queue: reopened, Agent is at capacity (2 of 1 open)"


async def test_no_reply_timeout_reassigns_then_tells_the_leads(live: Live, clock: MovableClock) -> None:
    await _route(live, mode="balanced", no_reply_minutes=10)
    lead = await live.events("lead")
    agent, agent2 = live.users["agent"]["id"], live.users["agent2"]["id"]
    await live.events("agent")  # sockets: present however far the clock moves
    conv = await _text(live, lead, "+15558000001", "hello?")
    await lead.next(_assigned(conv["id"], to=agent))
    await live.events("agent2")
    clock.advance(timedelta(minutes=11))
    ev = await lead.next(_assigned(conv["id"], to=agent2))
    assert ev["data"]["routing"]["reason"].startswith(
        "reassigned by routing to Agent2: Agent had not replied for 11 min")
    # The same wait acts once; agent2 does not answer either and nobody else is eligible:
    # the leads are told.
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                json={"routing": {"no_reply_action": "notify"}})
    assert r.status_code == 200
    clock.advance(timedelta(minutes=11))
    note = await lead.next(lambda e: e["type"] == "notification.created")
    assert (note["data"]["notification"]["kind"], note["data"]["notification"]["conversation_id"]) == \
        ("no_reply", conv["id"])
    assert (await live.get(f"/api/conversations/{conv['id']}", who="lead"))["assignee_id"] == agent2


async def test_a_leads_assignment_is_not_undone_by_routing_unless_the_agent_goes(
        live: Live, clock: MovableClock) -> None:
    await _route(live, mode="balanced", capacity=1, no_reply_minutes=5, keep_replied_minutes=0)
    lead = await live.events("lead")
    agent = live.users["agent"]["id"]
    await live.events("agent")
    conv = await _text(live, lead, "+15559000001", "mine")
    await lead.next(_assigned(conv["id"], to=agent))
    extra = await _text(live, lead, "+15559000002", "extra")
    r = await live.client.post(f"/api/conversations/{extra['id']}/assignment", headers=live.as_("lead"),
                               json={"user_id": agent})  # over capacity: the lead's choice
    assert r.status_code == 200
    clock.advance(timedelta(minutes=6))  # no-reply applies to routing's assignment, not the lead's
    told = await lead.next(lambda e: e["type"] == "notification.created")
    assert told["data"]["notification"]["conversation_id"] == conv["id"]  # nobody else to give it to
    assert (await live.get(f"/api/conversations/{conv['id']}", who="lead"))["assignee_id"] == agent
    assert (await live.get(f"/api/conversations/{extra['id']}", who="lead"))["assignee_id"] == agent
    r = await live.client.put("/api/me/presence", headers=live.as_("agent"), json={"status": "away"})
    ev = await lead.next(_assigned(extra["id"], to=None))
    assert ev["data"]["routing"]["reason"].startswith("returned to queue: Agent away for")


async def test_team_pools_and_overrides(live: Live) -> None:
    r = await live.client.post("/api/teams", headers=live.as_("admin"),
                               json={"name": "Billing", "member_ids": [live.users["agent2"]["id"]]})
    billing = r.json()["id"]
    await _route(live, mode="balanced", team_ids=[billing])
    lead = await live.events("lead")
    await _online(live, "agent")
    conv = await _text(live, lead, "+15551100001", "invoice")
    [waiting] = [w for w in (await live.get("/api/queue", who="lead"))["waiting"] if w["id"] == conv["id"]]
    assert waiting["reason_text"] == "nobody online in team Billing"  # agent is online, but not in Billing
    assert (waiting["team_id"], waiting["pool_team_ids"]) == (None, [billing])  # Billing's through its inbox
    await _online(live, "agent2")
    assert (await lead.next(_assigned(conv["id"])))["data"]["conversation"]["assignee_id"] == \
        live.users["agent2"]["id"]
    # A team's own policy wins for its conversations: Billing assigns by hand.
    r = await live.client.patch(f"/api/teams/{billing}", headers=live.as_("admin"),
                                json={"routing": {"mode": "manual"}})
    assert r.status_code == 200 and r.json()["routing"] == {"mode": "manual"}, r.text
    await live.client.put("/api/me/presence", headers=live.as_("agent2"), json={"status": "away"})
    later = await _text(live, lead, "+15551100002", "refund")
    r = await live.client.post(f"/api/conversations/{later['id']}/assignment", headers=live.as_("lead"),
                               json={"team_id": billing})
    assert r.status_code == 200
    await _online(live, "agent2")
    [waiting] = [w for w in (await live.get("/api/queue", who="lead"))["waiting"] if w["id"] == later["id"]]
    assert waiting["reason"] == "manual" and waiting["reason_text"] == "assigned by hand: team Billing does not route"


async def test_routing_settings_and_presence_are_checked(live: Live) -> None:
    bad = [({"mode": "random"}, "routing.mode"), ({"capacity": -1}, "routing.capacity"),
           ({"weight": "heavy"}, "routing.weight"), ({"colour": "red"}, "unknown routing setting 'colour'"),
           ({"team_ids": [999]}, "no such team: 999")]
    for policy, words in bad:
        r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("admin"),
                                    json={"routing": policy})
        assert r.status_code == 422 and words in r.json()["error"]["message"], (policy, r.text)
    r = await live.client.patch(f"/api/inboxes/{live.inbox['id']}", headers=live.as_("lead"),
                                json={"routing": {"mode": "balanced"}})
    assert r.status_code == 403
    r = await live.client.put("/api/me/presence", headers=live.as_("agent"), json={"status": "offline"})
    assert r.status_code == 422
    r = await live.client.patch(f"/api/agents/{live.users['agent']['id']}", headers=live.as_("agent"),
                                json={"capacity": 3})
    assert r.status_code == 403
    r = await live.client.patch(f"/api/agents/{live.users['agent']['id']}", headers=live.as_("lead"),
                                json={"capacity": 3})
    assert r.status_code == 200 and (r.json()["capacity"], r.json()["own_capacity"]) == (3, 3)
    r = await live.client.get(f"/api/agents/{live.users['agent2']['id']}/presence", headers=live.as_("agent"))
    assert r.status_code == 403


async def test_presence_is_pushed_and_inactivity_makes_away(live: Live, clock: MovableClock) -> None:
    r = await live.client.patch("/api/me/preferences", headers=live.as_("agent"), json={"away_after_minutes": 5})
    assert r.status_code == 200 and r.json()["away_after_minutes"] == 5
    watcher = await live.events("agent2")
    mine = await live.events("agent")
    me = live.users["agent"]["id"]

    def of_agent(e: dict[str, Any]) -> bool:  # the watcher may also hear its own arrival
        return e["type"] == "agent.presence_changed" and e["data"]["user_id"] == me
    came = await watcher.next(of_agent)
    assert (came["data"]["status"], came["data"]["previous"], came["data"]["cause"]) == ("online", "offline", "back")
    clock.advance(timedelta(minutes=6))
    idle = await watcher.next(of_agent)
    assert (idle["data"]["status"], idle["data"]["cause"]) == ("away", "inactive")
    await mine.ws.send('{"type":"activity"}')
    again = await watcher.next(of_agent)
    assert (again["data"]["status"], again["data"]["cause"]) == ("online", "back")


async def test_a_deactivated_agents_conversations_go_back_to_the_queue(live: Live) -> None:
    await _route(live, mode="balanced")
    lead = await live.events("lead")
    await _online(live, "agent2")
    conv = await _text(live, lead, "+15551200001", "who has it?")
    await lead.next(_assigned(conv["id"], to=live.users["agent2"]["id"]))
    r = await live.client.patch(f"/api/users/{live.users['agent2']['id']}", headers=live.as_("admin"),
                                json={"active": False})
    assert r.status_code == 200
    ev = await lead.next(_assigned(conv["id"], to=None))
    assert ev["data"]["routing"]["reason"] == "returned to queue: Agent2 was deactivated"


async def test_an_agent_made_offline_while_present_comes_back_on_the_next_pass(
        live: Live, clock: MovableClock) -> None:
    """If a process's passes stall past the grace period (a slow database), its connected
    agents are made offline by another process; its next pass brings them back."""
    ctx = live.app.state.ctx
    uid = live.users["agent"]["id"]
    await actions.agent_connected(ctx, uid)  # as this process's first socket of theirs does
    grace, later = timedelta(seconds=60), clock.now() + timedelta(seconds=61)
    gone = await ctx.db.write(lambda tx: presence.sweep(tx, [], later, grace))  # another process's view
    assert [(c["user_id"], c["status"], c["cause"]) for c in gone] == [(uid, "offline", "disconnected")]
    back = await ctx.db.write(lambda tx: presence.sweep(tx, [uid], later, grace))  # this process, catching up
    assert [(c["user_id"], c["status"], c["cause"]) for c in back] == [(uid, "online", "back")]
