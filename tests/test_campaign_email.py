"""A marketing campaign by email through a real SMTP server: its own subject, Auto-Submitted
auto-generated, and one-click unsubscribe (RFC 8058) whose POST the campaign counts as an
opt-out it caused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Live
from tests.helpers.email import Sink, sink, smtp_port, smtp_send

__all__ = ["sink", "smtp_port"]  # fixtures


@pytest.fixture
def live_overrides(smtp_port: int) -> dict[str, Any]:
    return {"smtp_listen": f"127.0.0.1:{smtp_port}"}


async def test_a_marketing_email_has_its_subject_and_a_one_click_unsubscribe_that_is_counted(
        live: Live, sink: Sink, smtp_port: int) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "email", "name": "Newsletter", "settings": {
            "address": "news@example.com", "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"}})
    assert r.status_code == 201, r.text
    inbox = r.json()
    first = (b"From: Ana Souza <ana@example.org>\r\nTo: news@example.com\r\nSubject: Hello\r\n"
             b"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <hello-1@mail.example.org>\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSign me up, please.\r\n")
    assert (await smtp_send(smtp_port, first, to="news@example.com", sender="ana@example.org",
                            in_thread=True))[0] == 250
    [conv] = [c for c in (await live.get("/api/conversations", who="lead"))["items"] if c["channel"] == "email"]
    contact = conv["contact"]["id"]
    r = await live.client.post(f"/api/contacts/{contact}/consent", headers=live.as_("lead"), json={
        "channel": "email", "purpose": "marketing", "state": "opt_in", "proof": "Sign me up, please."})
    assert r.status_code == 201, r.text
    r = await live.client.post("/api/campaigns", headers=live.as_("lead"), json={
        "name": "December letter", "purpose": "marketing", "quiet_hours": False, "audience": {"channels": ["email"]},
        "messages": [{"channel": "email", "inbox_id": inbox["id"], "subject": "Our December news, {{contact_name}}",
                      "text": "Dear {{contact_name}},\n\nthe shop opens on Sundays in December."}]})
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert (await live.client.post(f"/api/campaigns/{campaign['id']}/start", headers=live.as_("lead"))
            ).status_code == 200
    mail = await sink.next()
    assert mail["Subject"] == "Our December news, Ana Souza" and mail["In-Reply-To"] is None
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith(live.url + "/unsubscribe/")
    assert "the shop opens on Sundays" in mail.get_body(("plain",)).get_content()
    # The mailbox provider's one-click POST: a marketing opt-out, counted by the campaign.
    done = await live.client.post(link.removeprefix(live.url), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    ledger = await live.get(f"/api/contacts/{contact}/consent", who="lead")
    assert next(c for c in ledger["channels"] if c["channel"] == "email")["marketing"]["state"] == "opt_out"
    totals = (await live.get(f"/api/campaigns/{campaign['id']}", who="lead"))["totals"]
    assert totals["opted_out"] == 1
