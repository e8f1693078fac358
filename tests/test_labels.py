"""Labels and priority on conversations, and how long the customer has waited: the REST
round trips, filters and search, who may do what, the live events, the timeline log,
waiting_since through a real SMS and reply, the UI's form routes and the migration from
0003 on a database holding data."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, expect
from sqlalchemy import Engine

from inbox import queries
from inbox.domain.clock import MovableClock
from inbox.domain.serialize import iso
from inbox.storage import migrate
from tests.conftest import Live
from tests.helpers.browser import browser, login

__all__ = ["browser"]

ADMIN = "admin"
# Where the SQL differs by engine (ingest's prepared statements, the filters, the search).
BOTH_ENGINES = pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])


async def call(live: Live, method: str, path: str, who: str = "agent", status: int = 200, **kw: Any) -> Any:
    r = await live.client.request(method, path, headers=live.as_(who), **kw)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def label(live: Live, name: str, colour: str = "#1f5fbf", **extra: str) -> dict[str, Any]:
    return await call(live, "POST", "/api/labels", ADMIN, 201,  # type: ignore[no-any-return]
                      json={"name": name, "colour": colour, **extra})


async def conversation(live: Live, phone: str, text: str = "Hello") -> dict[str, Any]:
    assert (await live.sms(phone, text)).status_code == 200
    items = (await live.get("/api/conversations", "lead", params={"q": phone}))["items"]
    [conv] = items
    return conv  # type: ignore[no-any-return]


def text(response: Any) -> str:
    """The page's text with its runs of whitespace as one space, as a reader sees it."""
    return " ".join(response.text.split())


async def ids_for(live: Live, who: str = "lead", **params: Any) -> list[int]:
    return [c["id"] for c in (await live.get("/api/conversations", who, params=params))["items"]]


async def test_an_admin_creates_renames_recolours_and_deletes_a_label(live: Live) -> None:
    vip = await label(live, "  VIP ", "#1F5FBF", description="Pays for the gold plan")
    assert vip["name"] == "VIP" and vip["colour"] == "#1f5fbf" and vip["description"] == "Pays for the gold plan"
    await label(live, "billing", "#a3161a")
    listed = (await live.get("/api/labels"))["items"]  # any signed-in user reads them
    assert [x["name"] for x in listed] == ["billing", "VIP"]  # by name, ignoring case

    renamed = await call(live, "PATCH", f"/api/labels/{vip['id']}", ADMIN, json={"name": "Gold"})
    assert (renamed["name"], renamed["colour"]) == ("Gold", "#1f5fbf")
    recoloured = await call(live, "PATCH", f"/api/labels/{vip['id']}", ADMIN, json={"colour": "#1e7a3c"})
    assert (recoloured["name"], recoloured["colour"]) == ("Gold", "#1e7a3c")

    await call(live, "DELETE", f"/api/labels/{vip['id']}", ADMIN, 204)
    assert [x["name"] for x in (await live.get("/api/labels"))["items"]] == ["billing"]
    await call(live, "PATCH", f"/api/labels/{vip['id']}", ADMIN, 404, json={"name": "Again"})
    await call(live, "DELETE", f"/api/labels/{vip['id']}", ADMIN, 404)


async def test_label_changes_are_refused_with_a_reason(live: Live) -> None:
    billing = await label(live, "Billing")
    cases = [
        ({"name": "billing", "colour": "#000000"}, 409, "label_exists"),  # names are unique ignoring case
        ({"name": "Refunds", "colour": "red"}, 422, "invalid_colour"),
        ({"name": "Refunds", "colour": "#12345"}, 422, "invalid_colour"),
        ({"name": "   ", "colour": "#123456"}, 422, "missing_field"),
        ({"name": "2024", "colour": "#123456"}, 422, "invalid_label_name"),  # would read as an id
        ({"name": 'say "hi"', "colour": "#123456"}, 422, "invalid_label_name"),
        ({"name": "x" * 51, "colour": "#123456"}, 422, "invalid_label_name"),
    ]
    for body, status, code in cases:
        error = await call(live, "POST", "/api/labels", ADMIN, status, json=body)
        assert error["error"]["code"] == code, body
        assert error["error"]["message"]
    other = await label(live, "Refunds")
    error = await call(live, "PATCH", f"/api/labels/{other['id']}", ADMIN, 409, json={"name": "BILLING"})
    assert error["error"]["code"] == "label_exists" and "Billing" in error["error"]["message"]
    error = await call(live, "PATCH", f"/api/labels/{billing['id']}", ADMIN, 422, json={"shade": "dark"})
    assert error["error"]["code"] == "unknown_field"
    # A change of case only is the same label renamed, not a clash with itself.
    assert (await call(live, "PATCH", f"/api/labels/{billing['id']}", ADMIN, json={"name": "BILLING"}))["name"] \
        == "BILLING"


async def test_only_an_admin_manages_labels(live: Live) -> None:
    billing = await label(live, "Billing")
    for who in ("agent", "lead"):
        assert (await call(live, "POST", "/api/labels", who, 403, json={"name": "Mine", "colour": "#123456"})
                )["error"]["code"] == "forbidden"
        await call(live, "PATCH", f"/api/labels/{billing['id']}", who, 403, json={"name": "Mine"})
        await call(live, "DELETE", f"/api/labels/{billing['id']}", who, 403)
    assert [x["name"] for x in (await live.get("/api/labels"))["items"]] == ["Billing"]


async def test_labels_on_a_conversation_by_id_and_by_name(live: Live) -> None:
    refund = await label(live, "refund", "#a3161a")
    vip = await label(live, "VIP", "#1e7a3c")
    await label(live, "angry", "#8a5a00")
    conv = await conversation(live, "+15557654321")
    assert conv["labels"] == [] and conv["priority"] == "none"
    path = f"/api/conversations/{conv['id']}/labels"

    # An agent who sees it (unassigned: everyone does), by id and by name in any case.
    changed = await call(live, "POST", path, json={"add": [vip["id"], "REFUND"]})
    assert changed["labels"] == [{"id": refund["id"], "name": "refund", "colour": "#a3161a"},
                                 {"id": vip["id"], "name": "VIP", "colour": "#1e7a3c"}]
    fresh = await live.get(f"/api/conversations/{conv['id']}")
    assert fresh["labels"] == changed["labels"]
    # The lists carry them too: the conversation list, the lead's queue, the contact's history.
    [listed] = (await live.get("/api/conversations", params={"q": "+15557654321"}))["items"]
    assert listed["labels"] == changed["labels"]
    contact = await live.get(f"/api/contacts/{conv['contact']['id']}")
    assert contact["conversations"][0]["labels"] == changed["labels"]

    again = await call(live, "POST", path, json={"add": ["vip"]})  # it has it: no change, nothing logged
    assert again["updated_at"] == changed["updated_at"]
    removed = await call(live, "POST", path, json={"remove": [str(refund["id"])], "add": ["angry"]})
    assert [x["name"] for x in removed["labels"]] == ["angry", "VIP"]

    for body, code, named in (({"add": ["nope"]}, "unknown_label", "nope"),
                              ({"remove": [999999]}, "unknown_label", "999999"),
                              ({"add": ["vip"], "remove": ["VIP"]}, "label_added_and_removed", ""),
                              ({"add": "vip"}, "invalid_field", "")):
        error = await call(live, "POST", path, status=422, json=body)
        assert error["error"]["code"] == code and named in error["error"]["message"], body
    assert [x["name"] for x in (await live.get(f"/api/conversations/{conv['id']}"))["labels"]] == ["angry", "VIP"]

    # The timeline logs each change with the names the labels had, and who made it.
    events = [i for i in (await live.get(f"/api/conversations/{conv['id']}/timeline"))["items"]
              if i["type"] == "event" and i["kind"] == "labelled"]
    assert [([x["name"] for x in e["data"]["added"]], [x["name"] for x in e["data"]["removed"]])
            for e in events] == [(["refund", "VIP"], []), (["angry"], ["refund"])]
    assert {e["actor_id"] for e in events} == {live.users["agent"]["id"]}

    # Deleting a label takes it off every conversation; renaming shows the new name.
    await call(live, "DELETE", f"/api/labels/{vip['id']}", ADMIN, 204)
    await call(live, "PATCH", f"/api/labels/{refund['id']}", ADMIN, json={"name": "refunded"})
    assert [x["name"] for x in (await live.get(f"/api/conversations/{conv['id']}"))["labels"]] == ["angry"]


async def test_priority_through_patch(live: Live) -> None:
    conv = await conversation(live, "+15557654321")
    path = f"/api/conversations/{conv['id']}"
    assert (await call(live, "PATCH", path, json={"priority": "high"}))["priority"] == "high"
    assert (await live.get(path))["priority"] == "high"
    error = await call(live, "PATCH", path, status=422, json={"priority": "asap"})
    assert error["error"]["code"] == "invalid_priority" and "urgent" in error["error"]["message"]
    error = await call(live, "PATCH", path, status=422, json={"status": "resolved"})
    assert error["error"]["code"] == "unknown_field"
    assert (await call(live, "PATCH", path, json={"priority": "none"}))["priority"] == "none"
    events = [(i["data"], i["actor_id"]) for i in (await live.get(f"{path}/timeline"))["items"]
              if i["type"] == "event" and i["kind"] == "priority_changed"]
    agent = live.users["agent"]["id"]
    assert events == [({"from": "none", "to": "high"}, agent), ({"from": "high", "to": "none"}, agent)]


async def test_an_agent_who_cannot_see_a_conversation_cannot_label_it(live: Live) -> None:
    await label(live, "VIP")
    conv = await conversation(live, "+15557654321")
    await call(live, "POST", f"/api/conversations/{conv['id']}/assignment", "lead",
               json={"user_id": live.users["agent"]["id"]})
    for method, path, body in (("POST", f"/api/conversations/{conv['id']}/labels", {"add": ["VIP"]}),
                               ("PATCH", f"/api/conversations/{conv['id']}", {"priority": "urgent"})):
        error = await call(live, method, path, "agent2", 404, json=body)
        assert error["error"]["code"] == "not_found"
    fresh = await live.get(f"/api/conversations/{conv['id']}", "agent")
    assert fresh["labels"] == [] and fresh["priority"] == "none"
    # The owner may, and so may a lead.
    await call(live, "POST", f"/api/conversations/{conv['id']}/labels", "agent", json={"add": ["VIP"]})
    await call(live, "PATCH", f"/api/conversations/{conv['id']}", "lead", json={"priority": "urgent"})


@BOTH_ENGINES
async def test_filters_by_label_and_priority_and_search_by_label(live: Live) -> None:
    refund, vip = await label(live, "refund"), await label(live, "VIP")
    review = await label(live, "needs review")
    a = await conversation(live, "+15550000001", "my parcel is broken")
    b = await conversation(live, "+15550000002", "my parcel is late")
    c = await conversation(live, "+15550000003", "hello")
    for conv, labels in ((a, [refund["id"], vip["id"]]), (b, [refund["id"], review["id"]])):
        await call(live, "POST", f"/api/conversations/{conv['id']}/labels", json={"add": labels})
    await call(live, "PATCH", f"/api/conversations/{a['id']}", json={"priority": "urgent"})
    await call(live, "PATCH", f"/api/conversations/{c['id']}", json={"priority": "high"})

    assert await ids_for(live, label="refund") == [b["id"], a["id"]]
    assert await ids_for(live, label=[str(refund["id"]), "vip"]) == [a["id"]]  # every one of them
    assert await ids_for(live, label=["VIP", "needs review"]) == []
    assert await ids_for(live, priority="urgent") == [a["id"]]
    assert await ids_for(live, priority=["urgent", "high"]) == [c["id"], a["id"]]  # any of them
    assert await ids_for(live, priority="high", label="refund") == []
    assert await ids_for(live, "agent", label="refund", priority="urgent") == [a["id"]]
    for params, code in (({"label": "nope"}, "unknown_label"), ({"priority": "asap"}, "invalid_priority")):
        error = await call(live, "GET", "/api/conversations", "lead", 422, params=params)
        assert error["error"]["code"] == code

    # label:<name> in q: a filter, the rest of q is searched as before; an unknown name finds nothing.
    assert await ids_for(live, q="label:refund") == [b["id"], a["id"]]
    assert await ids_for(live, q="parcel label:VIP") == [a["id"]]
    assert await ids_for(live, q='label:"needs review" parcel') == [b["id"]]
    assert await ids_for(live, q="LABEL:vip label:refund") == [a["id"]]
    assert await ids_for(live, q="label:nope") == []
    assert await ids_for(live, q="label:refund broken", label="needs review") == []
    assert await ids_for(live, q="late", label="refund") == [b["id"]]


@BOTH_ENGINES
async def test_live_events_carry_labels_and_priority(live: Live) -> None:
    vip = await label(live, "VIP")
    conv = await conversation(live, "+15557654321")
    stream = await live.events("agent2")  # another agent: unassigned conversations go to everyone

    await call(live, "POST", f"/api/conversations/{conv['id']}/labels", json={"add": ["vip"]})
    event = await stream.next(lambda e: e["type"] == "conversation.updated")
    fresh = await live.get(f"/api/conversations/{conv['id']}", "agent2")
    del fresh["reply_channels"], fresh["sla_detail"]
    assert event["data"]["conversation"] == fresh
    assert event["data"]["conversation"]["labels"] == [{"id": vip["id"], "name": "VIP", "colour": "#1f5fbf"}]
    assert event["data"]["labels_added"] == event["data"]["conversation"]["labels"]
    assert event["data"]["labels_removed"] == [] and event["data"]["actor_id"] == live.users["agent"]["id"]

    await call(live, "PATCH", f"/api/conversations/{conv['id']}", json={"priority": "high"})
    event = await stream.next(lambda e: e["type"] == "conversation.updated")
    assert event["data"]["conversation"]["priority"] == "high"
    assert event["data"]["conversation"]["labels"] == [{"id": vip["id"], "name": "VIP", "colour": "#1f5fbf"}]
    assert event["data"]["previous_priority"] == "none"

    # The customer writes again: ingest's events carry the labels and priority as a GET does.
    assert (await live.sms("+15557654321", "Any news?")).status_code == 200
    event = await stream.next(lambda e: e["type"] == "message.created")
    fresh = await live.get(f"/api/conversations/{conv['id']}", "agent2")
    del fresh["reply_channels"], fresh["sla_detail"]
    assert event["data"]["conversation"] == fresh
    assert event["data"]["conversation"]["labels"][0]["name"] == "VIP"

    # An admin's change to a label itself is one event to everyone.
    await call(live, "PATCH", f"/api/labels/{vip['id']}", ADMIN, json={"colour": "#a3161a"})
    event = await stream.next(lambda e: e["type"].startswith("label."))
    assert event["type"] == "label.updated" and event["data"]["label"]["colour"] == "#a3161a"
    await call(live, "DELETE", f"/api/labels/{vip['id']}", ADMIN, 204)
    event = await stream.next(lambda e: e["type"].startswith("label."))
    assert event == {"id": event["id"], "type": "label.deleted", "data": {"label_id": vip["id"]}}
    await stream.close()


@BOTH_ENGINES
async def test_waiting_since_is_the_first_unanswered_customer_message(live: Live, clock: MovableClock) -> None:
    conv = await conversation(live, "+15557654321", "Where is my order?")
    path = f"/api/conversations/{conv['id']}"

    async def inbound() -> list[str]:
        items = (await live.get(f"{path}/timeline"))["items"]
        return [i["created_at"] for i in items if i["type"] == "message" and i["direction"] == "in"]
    [first] = await inbound()
    assert conv["waiting_since"] == first
    clock.advance(timedelta(minutes=5))
    assert (await live.sms("+15557654321", "Hello??")).status_code == 200
    assert len(await inbound()) == 2
    assert (await live.get(path))["waiting_since"] == first  # still the first one unanswered
    await call(live, "POST", f"{path}/notes", status=201, json={"text": "checking the warehouse"})
    assert (await live.get(path))["waiting_since"] == first  # a note answers nobody

    stream = await live.events()
    clock.advance(timedelta(minutes=5))
    await call(live, "POST", f"{path}/messages", status=202, json={"text": "It left today."})
    event = await stream.next(lambda e: e["type"] == "message.created")
    assert event["data"]["conversation"]["waiting_since"] is None
    assert (await live.get(path))["waiting_since"] is None

    clock.advance(timedelta(minutes=5))
    assert (await live.sms("+15557654321", "Thanks, and the invoice?")).status_code == 200
    event = await stream.next(lambda e: e["type"] == "message.created" and e["data"]["message"]["direction"] == "in")
    again = event["data"]["message"]["created_at"]
    assert again > first and event["data"]["conversation"]["waiting_since"] == again
    assert (await live.get(path))["waiting_since"] == again
    await stream.close()


async def test_the_ui_routes_change_labels_and_priority(live: Live) -> None:
    """The header's forms (htmx posts) go through the same actions, and the list page filters."""
    vip, refund = await label(live, "VIP"), await label(live, "refund")
    conv = await conversation(live, "+15557654321")
    other = await conversation(live, "+15551112222")
    r = await live.client.post("/login", json={"email": "agent@example.com", "password": "correct horse battery"})
    assert r.status_code in (200, 303), r.text
    page = await live.client.get("/inbox")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    form = {"csrf_token": match.group(1)}
    hx = {"HX-Request": "true"}

    r = await live.client.post(f"/ui/conversations/{conv['id']}/labels", headers=hx,
                               data={**form, "add": [str(vip["id"]), str(refund["id"])]})
    assert r.status_code == 200 and "label added: refund, VIP by Agent" in text(r)
    r = await live.client.post(f"/ui/conversations/{conv['id']}/labels", headers=hx,
                               data={**form, "remove": str(refund["id"])})
    assert "label removed: refund by Agent" in text(r)
    r = await live.client.post(f"/ui/conversations/{conv['id']}/priority", headers=hx,
                               data={**form, "priority": "urgent"})
    assert "priority set to urgent by Agent" in text(r)
    r = await live.client.post(f"/ui/conversations/{conv['id']}/priority", headers=hx,
                               data={**form, "priority": "soon"})
    assert 'role="alert"' in r.text and "priority must be one of" in text(r)
    fresh = await live.get(f"/api/conversations/{conv['id']}")
    assert [x["name"] for x in fresh["labels"]] == ["VIP"] and fresh["priority"] == "urgent"

    def rows(html: str) -> set[int]:
        return {int(n) for n in re.findall(r'<li class="row[^"]*" data-conversation="(\d+)"', html)}
    assert rows((await live.client.get("/ui/list", params={"tab": "all"})).text) == {conv["id"], other["id"]}
    assert rows((await live.client.get("/ui/list", params={"tab": "all", "label": "VIP"})).text) == {conv["id"]}
    assert rows((await live.client.get("/ui/list", params={"tab": "all", "priority": "low"})).text) == set()
    # A label in the address that was deleted since is left out, not an error.
    assert rows((await live.client.get("/ui/list", params={"tab": "all", "label": "gone"})).text) \
        == {conv["id"], other["id"]}


async def test_the_admin_page_lists_creates_edits_and_deletes_labels(live: Live) -> None:
    r = await live.client.post("/login", json={"email": "admin@example.com", "password": "correct horse battery"})
    assert r.status_code in (200, 303), r.text
    page = await live.client.get("/admin/labels")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None and 'id="labels-title"' in page.text
    csrf = match.group(1)
    r = await live.client.post("/admin/label", data={"csrf_token": csrf, "name": "Refund", "colour": "#a3161a",
                                                     "description": "Money back <b>now</b>"})
    assert r.status_code == 303 and "Label+Refund+created" in r.headers["location"]
    [refund] = (await live.get("/api/labels"))["items"]
    conv = await conversation(live, "+15557654321")
    await call(live, "POST", f"/api/conversations/{conv['id']}/labels", json={"add": ["refund"]})
    page = await live.client.get("/admin/labels")
    assert 'style="background-color: #a3161a"' in page.text
    assert "Money back &lt;b&gt;now&lt;/b&gt;" in page.text  # escaped
    assert "It comes off the 1 conversation that carry it" in page.text
    assert "<details class=\"confirm-delete\">" in page.text  # deleting asks first

    r = await live.client.post("/admin/label-update", data={"csrf_token": csrf, "label_id": str(refund["id"]),
                                                            "name": "Refunds", "colour": "#1e7a3c",
                                                            "description": ""})
    assert r.status_code == 303 and "Label+Refunds+saved" in r.headers["location"]
    r = await live.client.post("/admin/label", data={"csrf_token": csrf, "name": "refunds", "colour": "#000000"})
    assert "error=" in r.headers["location"] and "exists" in r.headers["location"]
    assert [(x["name"], x["colour"]) for x in (await live.get("/api/labels"))["items"]] == [("Refunds", "#1e7a3c")]
    r = await live.client.post("/admin/label-delete", data={"csrf_token": csrf, "label_id": str(refund["id"])})
    assert r.status_code == 303 and "Label+deleted" in r.headers["location"]
    assert (await live.get("/api/labels"))["items"] == []
    assert (await live.get(f"/api/conversations/{conv['id']}"))["labels"] == []


async def test_an_admin_manages_labels_in_the_browser(live: Live, browser: Browser) -> None:
    """Create, rename inline, and delete only after the confirmation the row reveals."""
    page = await login(browser, live, "admin")
    await page.goto(live.url + "/admin/labels")
    section = page.locator("#labels")
    await section.get_by_text("Add a label").click()
    await section.get_by_label("Name", exact=True).fill("Refund")
    await section.get_by_label("Colour", exact=True).fill("#a3161a")
    await section.get_by_role("button", name="Create label").click()
    await expect(page.get_by_role("status")).to_have_text("Label Refund created")

    row = page.locator("#labels tr[data-label]")
    await expect(row).to_have_count(1)
    await row.get_by_label("Name of Refund").fill("Refunds")
    await row.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Label Refunds saved")
    assert [x["name"] for x in (await live.get("/api/labels"))["items"]] == ["Refunds"]

    confirm = row.get_by_role("button", name="Delete Refunds")
    await expect(confirm).to_be_hidden()  # one click is not enough to delete
    await row.get_by_text("Delete", exact=True).click()
    await expect(row.get_by_text("No conversation carries it.")).to_be_visible()
    await confirm.click()
    await expect(page.get_by_role("status")).to_have_text("Label deleted")
    await expect(page.locator("#labels tr[data-label]")).to_have_count(0)
    assert (await live.get("/api/labels"))["items"] == []


# -- the migration ---------------------------------------------------------------------------

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
STAMP = sa.DateTime(timezone=True)
ROWS: dict[str, tuple[tuple[str, Any], ...]] = {
    "user": (("id", None), ("email", None), ("name", None), ("role", None), ("password_hash", None),
             ("active", None), ("created_at", STAMP)),
    "inbox": (("id", None), ("kind", None), ("name", None), ("address", None), ("settings", sa.JSON()),
              ("created_at", STAMP)),
    "contact": (("id", None), ("name", None), ("attributes", sa.JSON()), ("created_at", STAMP),
                ("updated_at", STAMP)),
    "conversation": (("id", None), ("contact_id", None), ("status", None), ("unread_count", None),
                     ("last_message_at", STAMP), ("last_message_preview", None), ("last_message_direction", None),
                     ("created_at", STAMP), ("updated_at", STAMP)),
    "message": (("conversation_id", None), ("inbox_id", None), ("direction", None), ("author_id", None),
                ("text", None), ("attachments", sa.JSON()), ("status", None), ("created_at", STAMP),
                ("updated_at", STAMP)),
}


def _table(name: str) -> sa.TableClause:
    """The table as revision 0003 has it (not the models, which are at head)."""
    return sa.table(name, *(sa.column(c, t) for c, t in ROWS[name]))


def test_the_migration_from_0003_backfills_waiting_since(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0003")
    at = [T0 + timedelta(minutes=n) for n in range(5)]
    with empty_engine.begin() as conn:
        conn.execute(sa.insert(_table("user")), [{"id": 1, "email": "a@example.com", "name": "A", "role": "agent",
                                                  "password_hash": "", "active": True, "created_at": T0}])
        conn.execute(sa.insert(_table("inbox")), [{"id": 1, "kind": "sms", "name": "S", "address": "+15550001111",
                                                   "settings": {}, "created_at": T0}])
        conn.execute(sa.insert(_table("contact")), [{"id": 1, "name": "C", "attributes": {}, "created_at": T0,
                                                     "updated_at": T0}])
        conn.execute(sa.insert(_table("conversation")), [
            {"id": n, "contact_id": 1, "status": "open", "unread_count": 0, "last_message_at": T0,
             "last_message_preview": "", "last_message_direction": "in", "created_at": T0, "updated_at": T0}
            for n in (1, 2, 3, 4)])

        def message(conv: int, direction: str, when: datetime, author: int | None = None) -> dict[str, Any]:
            return {"conversation_id": conv, "inbox_id": 1, "direction": direction, "author_id": author,
                    "text": "x", "attachments": [], "status": "received", "created_at": when, "updated_at": when}
        conn.execute(sa.insert(_table("message")), [
            # 1: answered, then the customer wrote twice: waiting since the first of those
            message(1, "in", at[0]), message(1, "out", at[1], 1), message(1, "in", at[2]), message(1, "in", at[3]),
            # 2: answered last
            message(2, "in", at[0]), message(2, "out", at[1], 1),
            # 3: only an automatic message (no author) after the customer's: still waiting
            message(3, "in", at[0]), message(3, "out", at[1]),
            # 4: no message at all
        ])
    migrate.upgrade(empty_engine)
    assert migrate.differences(empty_engine) == []
    with empty_engine.connect() as conn:
        convs = {n: queries.get_conversation(conn, n) for n in (1, 2, 3, 4)}
    assert {n: c["waiting_since"] for n, c in convs.items() if c is not None} == {
        1: iso(at[2]), 2: None, 3: iso(at[0]), 4: None}
    assert {c["priority"] for c in convs.values() if c is not None} == {"none"}
    assert all(c is not None and c["labels"] == [] for c in convs.values())
