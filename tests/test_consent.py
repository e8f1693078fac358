"""The consent ledger (docs/consent.md): opt-outs and opt-ins recorded from the customer's
words, the provider's refusal and agents, shown by the API; migrated from the identities'
opted_out with no loss; a merge keeps the latest line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from alembic import command
from sqlalchemy import Engine, column, insert, select, table

from inbox.domain import consent
from inbox.domain.models import utcnow
from inbox.domain.tables import CONSENT
from inbox.storage import migrate
from tests.conftest import Live
from tests.helpers.browser import browser, login

__all__ = ["browser"]  # a fixture


async def _consent(live: Live, contact_id: int, who: str = "agent") -> dict[str, Any]:
    return await live.get(f"/api/contacts/{contact_id}/consent", who=who)  # type: ignore[no-any-return]


async def _contact_of(live: Live, phone: str) -> dict[str, Any]:
    found = await live.get("/api/conversations", who="lead", params={"status": ""})
    return next(c for c in found["items"] if c["contact"]["name"] == phone)["contact"]  # type: ignore[no-any-return]


def _sms(ledger: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in ledger["channels"] if c["channel"] == "sms")


@pytest.mark.parametrize("database_engine", ["sqlite", "postgres"])
async def test_stop_and_start_are_lines_of_the_ledger_with_the_message_as_proof(live: Live) -> None:
    assert (await live.sms("+15550003030", "hello")).status_code == 200
    contact = await _contact_of(live, "+15550003030")
    ledger = await _consent(live, contact["id"])
    assert ledger["records"] == []
    assert _sms(ledger)["transactional"] == {"state": None, "since": None, "source": None, "may_send": True,
                                             "reason": None}
    assert _sms(ledger)["marketing"]["may_send"] is False
    assert _sms(ledger)["marketing"]["reason"] == "no marketing opt-in on sms"
    assert (await live.sms("+15550003030", "STOP")).status_code == 200
    ledger = await _consent(live, contact["id"])
    [stop] = ledger["records"]
    assert (stop["channel"], stop["purpose"], stop["state"], stop["source"], stop["proof"]) == (
        "sms", "transactional", "opt_out", "keyword", "STOP")
    assert _sms(ledger)["transactional"]["reason"] == "opted out of sms messages"
    assert _sms(ledger)["marketing"]["reason"] == "opted out of sms messages"  # STOP stops everything
    assert (await live.sms("+15550003030", "start")).status_code == 200
    ledger = await _consent(live, contact["id"])
    assert [(r["state"], r["proof"]) for r in ledger["records"]] == [("opt_in", "start"), ("opt_out", "STOP")]
    assert _sms(ledger)["transactional"]["may_send"] is True
    # The identity the reply channels read follows the ledger.
    identity = (await live.get(f"/api/contacts/{contact['id']}", who="agent"))["identities"][0]
    assert identity["opted_out"] is False


async def test_the_api_records_consent_and_bad_records_are_refused(live: Live) -> None:
    assert (await live.sms("+15550003131", "hello")).status_code == 200
    contact = await _contact_of(live, "+15550003131")
    path = f"/api/contacts/{contact['id']}/consent"
    watcher = await live.events("lead")
    r = await live.client.post(path, headers=live.as_("agent"), json={
        "channel": "sms", "purpose": "marketing", "state": "opt_in", "proof": "Said yes to offers on the phone"})
    assert r.status_code == 201, r.text
    # Through the API (a token): source api unless it says; who recorded it is kept.
    assert _sms(r.json())["marketing"]["may_send"] is True and _sms(r.json())["marketing"]["source"] == "api"
    assert r.json()["records"][0]["user_id"] == live.users["agent"]["id"]
    changed = await watcher.next(lambda e: e["type"] == "contact.updated")
    assert changed["data"]["contact"]["id"] == contact["id"]
    r = await live.client.post(path, headers=live.as_("admin"), json={
        "channel": "sms", "purpose": "marketing", "state": "opt_out", "source": "form"})
    assert r.status_code == 201, r.text
    assert _sms(r.json())["marketing"] == {**_sms(r.json())["marketing"], "state": "opt_out", "source": "form",
                                           "may_send": False, "reason": "opted out of sms marketing"}
    assert _sms(r.json())["transactional"]["may_send"] is True  # marketing only
    for body, words in (({"channel": "pigeon", "purpose": "marketing", "state": "opt_in"}, "channel must be one of"),
                        ({"channel": "sms", "purpose": "spam", "state": "opt_in"}, "purpose must be one of"),
                        ({"channel": "sms", "purpose": "marketing", "state": "opt_in", "source": "keyword"},
                         "source must be one of"),
                        ({"channel": "sms", "purpose": "marketing", "state": "maybe"}, "state must be one of"),
                        ({"channel": "sms", "purpose": "marketing", "state": "opt_in", "x": 1}, "unknown consent")):
        r = await live.client.post(path, headers=live.as_("agent"), json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_consent", r.text
        assert words in r.json()["error"]["message"], r.text
    assert len((await _consent(live, contact["id"]))["records"]) == 2
    r = await live.client.get("/api/contacts/999999/consent", headers=live.as_("agent"))
    assert r.status_code == 404
    await watcher.close()


async def test_a_providers_refusal_is_a_ledger_line(live: Live) -> None:
    assert (await live.sms("+15550003232", "hello")).status_code == 200
    contact = await _contact_of(live, "+15550003232")
    conv = (await live.get("/api/conversations", who="lead"))["items"][0]
    live.fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    stream = await live.events("lead")
    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", json={"text": "hi"},
                               headers=live.as_("agent"))
    assert r.status_code == 202
    await stream.next(lambda e: e["type"] == "contact.updated")
    [line] = (await _consent(live, contact["id"]))["records"]
    assert (line["state"], line["source"]) == ("opt_out", "provider")
    await stream.close()


async def test_a_merge_keeps_both_ledgers_and_the_latest_line_stands(live: Live) -> None:
    assert (await live.sms("+15550003333", "hello")).status_code == 200
    assert (await live.sms("+15550003434", "hello from my other phone")).status_code == 200
    assert (await live.sms("+15550003434", "STOP")).status_code == 200
    keep, other = await _contact_of(live, "+15550003333"), await _contact_of(live, "+15550003434")
    r = await live.client.post(f"/api/contacts/{keep['id']}/merge", headers=live.as_("lead"),
                               json={"other_id": other["id"]})
    assert r.status_code == 200, r.text
    ledger = await _consent(live, keep["id"])
    assert [(r["channel"], r["state"]) for r in ledger["records"]] == [("sms", "opt_out")]
    # STOP from one number stops the contact's SMS: both numbers are out now.
    identities = (await live.get(f"/api/contacts/{keep['id']}", who="agent"))["identities"]
    assert [i["opted_out"] for i in identities] == [True, True]


def test_the_migration_turns_each_opted_out_identity_into_a_record(empty_engine: Engine) -> None:
    engine = empty_engine
    migrate.upgrade(engine, "0012")
    now = utcnow()
    contacts = table("contact", column("id"), column("name"), column("attributes"), column("created_at"),
                     column("updated_at"))
    identities = table("contact_identity", *(column(c) for c in (
        "id", "contact_id", "kind", "handle", "opted_out", "last_seen_at")))
    with engine.begin() as conn:
        contact = conn.execute(insert(contacts).values(name="Old", attributes="{}", created_at=now, updated_at=now)
                               .returning(contacts.c.id)).scalar_one()
        conn.execute(insert(identities), [
            {"contact_id": contact, "kind": "sms", "handle": "+15550001", "opted_out": True, "last_seen_at": now},
            {"contact_id": contact, "kind": "whatsapp", "handle": "15550001", "opted_out": False,
             "last_seen_at": now}])
    migrate.upgrade(engine)
    assert migrate.differences(engine) == []
    with engine.connect() as conn:
        rows = conn.execute(select(CONSENT.c.contact_id, CONSENT.c.kind, CONSENT.c.purpose, CONSENT.c.state,
                                   CONSENT.c.source)).all()
    assert [tuple(r) for r in rows] == [(contact, "sms", "transactional", "opt_out", "migration")]
    with engine.begin() as conn:  # and back down: the identities keep their flag
        command.downgrade(migrate.config(conn), "0012")
        assert conn.execute(select(identities.c.opted_out).order_by(identities.c.id)).scalars().all() == [
            True, False]


async def test_an_agent_sees_and_records_consent_in_the_contact_panel(live: Live, browser: Browser,
                                                                      tmp_path: Path) -> None:
    assert (await live.sms("+15550003535", "hello")).status_code == 200
    contact = await _contact_of(live, "+15550003535")
    conv = (await live.get("/api/conversations", who="lead"))["items"][0]
    page = await login(browser, live, "agent")
    await page.goto(live.url + f"/inbox?tab=all&c={conv['id']}")
    row = page.get_by_label("Consent by channel").locator("li").first
    await expect(row.locator(".consent-state")).to_have_text([re.compile(r"Messages\s+Allowed"),
                                                              re.compile(r"Marketing\s+No opt-in")])
    panel = page.locator("#contact details.consent-record")
    await panel.locator("summary").click()
    await panel.get_by_label("Purpose").select_option("marketing")
    await panel.get_by_label("Opted in").check()
    await panel.get_by_label("Proof").fill("Ticked 'offers by SMS' at the till, 3 Dec")
    await panel.get_by_role("button", name="Record").click()
    await expect(page.get_by_label("Consent by channel").locator(".consent-state").nth(1)).to_contain_text(
        re.compile(r"Marketing\s+Opted in"))
    [line] = (await _consent(live, contact["id"]))["records"]
    assert (line["purpose"], line["state"], line["source"], line["proof"], line["user_id"]) == (
        "marketing", "opt_in", "agent", "Ticked 'offers by SMS' at the till, 3 Dec", live.users["agent"]["id"])
    # (Below 1100 px the workspace has no contact pane.)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        await page.locator("#contact .consent").scroll_into_view_if_needed()
        await page.locator("#contact").screenshot(path=str(tmp_path / f"consent-{scheme}.png"))


async def test_one_click_unsubscribe_records_a_marketing_opt_out_once(live: Live) -> None:
    assert (await live.sms("+15550003636", "hello")).status_code == 200
    contact = await _contact_of(live, "+15550003636")
    secret = live.app.state.ctx.settings.secret_key
    headers = consent.list_unsubscribe_headers("https://help.example.com/", secret, contact["id"])
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<https://help\.example\.com(/unsubscribe/[^>]+)>", headers["List-Unsubscribe"])
    assert link is not None
    path = link.group(1)
    # Opening the link (a scanner, a preview) records nothing.
    page = await live.client.get(path)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert (await _consent(live, contact["id"]))["records"] == []
    # The mail provider's POST (RFC 8058): no cookie, no CSRF token; the link is the authority.
    for _ in range(2):
        r = await live.client.post(path, content="List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and "You are unsubscribed" in r.text
    ledger = await _consent(live, contact["id"])
    [line] = ledger["records"]  # once, though posted twice
    assert (line["channel"], line["purpose"], line["state"], line["source"], line["proof"]) == (
        "email", "marketing", "opt_out", "unsubscribe", "one-click unsubscribe (RFC 8058)")
    email = next(c for c in ledger["channels"] if c["channel"] == "email")
    assert email["marketing"]["reason"] == "opted out of email marketing"
    assert email["transactional"]["may_send"] is True  # replies still go
    # A forged or cut link says so and records nothing.
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (forged, "/unsubscribe/1.email", f"/unsubscribe/{contact['id'] + 1}.email.x"):
        assert (await live.client.post(bad, data={})).status_code == 404
        assert (await live.client.get(bad)).status_code == 404
    assert len((await _consent(live, contact["id"]))["records"]) == 1
