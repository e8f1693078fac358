"""Email end to end: mail handed to the real SMTP receiver (aiosmtpd on the app's loop) or
posted by SendGrid / Mailgun inbound parsing becomes messages; replies go out over SMTP to
a real aiosmtpd sink, whose received mail is parsed to check the threading headers."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from tests.conftest import Live
from tests.helpers.email import Sink, eml, mailgun_post, sendgrid_post, sink, smtp_port, smtp_send, smtp_sink
from tests.helpers.server import free_port

ADDRESS = "support@example.com"
CUSTOMER = "ana.souza@example.org"
SECRET = "inbound-secret-0123456789"
MAX_EMAIL_BYTES = 64 * 1024
__all__ = ["sink", "smtp_port"]  # fixtures


@pytest.fixture
def live_overrides(smtp_port: int) -> dict[str, Any]:
    # reopen_days=0: a resolved conversation is never reopened by a mail without a thread
    # reference, so threading by In-Reply-To is what puts a reply back into it.
    return {"smtp_listen": f"127.0.0.1:{smtp_port}", "max_email_bytes": MAX_EMAIL_BYTES, "reopen_days": 0,
            "max_attempts": 6}


@dataclass
class Mailbox:
    """The live app with one email inbox whose replies go to the sink."""

    live: Live
    sink: Sink
    inbox: dict[str, Any]
    smtp_port: int

    async def receive(self, raw: bytes, to: str = ADDRESS) -> Any:
        return await smtp_send(self.smtp_port, raw, to=to)

    async def conversations(self) -> list[dict[str, Any]]:
        return (await self.live.get("/api/conversations"))["items"]  # type: ignore[no-any-return]

    async def messages(self, conversation_id: int | None = None) -> list[dict[str, Any]]:
        if conversation_id is None:
            convs = await self.conversations()
            assert len(convs) == 1, convs
            conversation_id = convs[0]["id"]
        items = (await self.live.get(f"/api/conversations/{conversation_id}/timeline"))["items"]
        return [i for i in items if i["type"] == "message"]

    async def reply(self, conversation_id: int, text: str, **extra: Any) -> dict[str, Any]:
        r = await self.live.client.post(f"/api/conversations/{conversation_id}/messages",
                                        headers=self.live.as_("agent"), json={"text": text, **extra})
        assert r.status_code == 202, r.text
        return r.json()  # type: ignore[no-any-return]


async def create_inbox(live: Live, **settings: Any) -> Any:
    return await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "email", "name": "Support mail", "settings": settings})


@pytest.fixture
async def mailbox(live: Live, sink: Sink, smtp_port: int) -> Mailbox:
    r = await create_inbox(live, address="Support@Example.com", smtp_host="127.0.0.1", smtp_port=sink.port,
                           smtp_security="none", inbound_secret=SECRET)
    assert r.status_code == 201, r.text
    return Mailbox(live, sink, r.json(), smtp_port)


def updated(message_id: int, status: str) -> Any:
    return lambda e: (e["type"] == "message.updated" and e["data"]["message"]["id"] == message_id
                      and e["data"]["message"]["status"] == status)


async def sent_reply(box: Mailbox, conversation_id: int, text: str) -> tuple[dict[str, Any], EmailMessage]:
    """An agent's reply, once the sink has it and the message is marked sent."""
    events = await box.live.events()
    try:
        message = await box.reply(conversation_id, text)
        mail = await box.sink.next()
        event = await events.next(updated(message["id"], "sent"))
    finally:
        await events.close()
    return event["data"]["message"], mail


# -- the inbox and the receiver --------------------------------------------------------------

async def test_inbox_settings_are_checked_and_the_receiver_refuses_unknown_recipients(
        live: Live, smtp_port: int) -> None:
    bad = await create_inbox(live, address="not an address")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_address"
    bad = await create_inbox(live, address=ADDRESS, smtp_security="ssl")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_smtp_security"
    # Nothing listens until an email inbox exists.
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await smtp_send(smtp_port, eml("plain"))

    r = await create_inbox(live, address="Support@Example.com", smtp_host="smtp.example.com",
                           smtp_username="mailer", smtp_password="pw")
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert inbox["address"] == ADDRESS
    assert inbox["settings"] == {"address": ADDRESS, "smtp_host": "smtp.example.com", "smtp_security": "starttls",
                                 "smtp_username": "mailer", "smtp_password": "********",
                                 "inbound_secret": "********"}
    parse_url = inbox["webhook_urls"]["inbound_parse"]  # with the URL secret: see test_email_route.py
    assert inbox["webhook_urls"] == {"smtp": f"127.0.0.1:{smtp_port}", "inbound_parse": parse_url,
                                     "mailgun": parse_url + "/mime"}
    assert parse_url.startswith(f"{live.url}/webhooks/email/{inbox['id']}/")
    again = await create_inbox(live, address="support@example.com")
    assert again.status_code == 409

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await smtp_send(smtp_port, eml("plain"), to="sales@example.com")
    assert refused.value.recipients[0].code == 550
    assert (await live.get("/api/conversations"))["items"] == []


async def test_an_oversize_mail_is_refused_with_552(mailbox: Mailbox) -> None:
    huge = eml("plain").replace(b"Ana\n", b"Ana\n" + b"x" * 76 + b"\n") + (b"y" * 76 + b"\n") * 1000
    assert len(huge) > MAX_EMAIL_BYTES
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await mailbox.receive(huge)
    assert refused.value.code == 552
    assert await mailbox.conversations() == []


# -- reading mail -----------------------------------------------------------------------------

async def test_a_plain_mail_becomes_a_conversation_and_the_reply_threads(mailbox: Mailbox) -> None:
    response = await mailbox.receive(eml("plain"))
    assert response[1].startswith("2.0.0 OK")  # answered once committed: the message is there now
    [conv] = await mailbox.conversations()
    [message] = await mailbox.messages(conv["id"])
    assert message["text"].startswith("Hello,\n\nI ordered a kettle two weeks ago (order #1042)")
    assert message["provider_message_id"] == "CAF=plain-1042@mail.example.org"
    assert {k: v for k, v in message["payload"].items() if k != "sender_auth"} == {
        "subject": "Order 1042 has not arrived", "message_id": "CAF=plain-1042@mail.example.org", "references": []}
    assert message["payload"]["sender_auth"]["verified"] is False  # see test_email_auth.py
    contact = await mailbox.live.get(f"/api/contacts/{conv['contact']['id']}")
    assert contact["name"] == "Ana Souza" and contact["email"] == CUSTOMER

    sent, mail = await sent_reply(mailbox, conv["id"], "Sorry about that, Ana.\n\nLet me check <order #1042>.")
    assert mail["From"] == ADDRESS and mail["To"] == CUSTOMER
    assert mail["Subject"] == "Re: Order 1042 has not arrived"
    assert mail["In-Reply-To"] == "<CAF=plain-1042@mail.example.org>"
    assert mail["References"] == "<CAF=plain-1042@mail.example.org>"
    assert mail["Message-ID"] == f"<{sent['provider_message_id']}>"
    assert sent["provider_message_id"].endswith("@example.com")
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n").rstrip() == "Sorry about that, Ana.\n\nLet me check <order #1042>."
    assert html is not None and "Let me check &lt;order #1042&gt;." in html.get_content()
    assert mailbox.sink.envelopes[-1].mail_from == ADDRESS

    # The customer answers with a new subject, after the conversation was resolved and a
    # newer one started: In-Reply-To puts the answer back into the first, reopened.
    r = await mailbox.live.client.post(f"/api/conversations/{conv['id']}/status", headers=mailbox.live.as_("agent"),
                                       json={"status": "resolved"})
    assert r.status_code == 200, r.text
    await mailbox.receive(eml("plain").replace(b"CAF=plain-1042", b"CAF=other-1").replace(b"Order 1042", b"Hi"))
    newer = [c for c in await mailbox.conversations() if c["id"] != conv["id"]]
    assert len(newer) == 1

    await mailbox.receive(eml("reply", in_reply_to=mail["Message-ID"]))
    messages = await mailbox.messages(conv["id"])
    assert [m["direction"] for m in messages] == ["in", "out", "in"]
    answer = messages[-1]
    assert answer["text"] == "Thanks, but it is still not here."  # the quoted history is cut...
    assert answer["payload"]["quoted"].startswith("On Mon, Nov 23, 2026 at 8:00 PM")  # ...and kept
    assert "> Sorry about that, Ana." in answer["payload"]["quoted"]
    assert answer["payload"]["subject"] == "Kettle still missing"
    assert (await mailbox.live.get(f"/api/conversations/{conv['id']}"))["status"] == "open"

    # The next reply continues the chain.
    _, second = await sent_reply(mailbox, conv["id"], "It left our warehouse today.")
    assert second["In-Reply-To"] == "<CAF=reply-2@mail.example.org>"
    assert second["References"] == f"<CAF=plain-1042@mail.example.org> {mail['Message-ID']} " \
                                   "<CAF=reply-2@mail.example.org>"
    assert second["Subject"] == "Re: Kettle still missing"


async def test_html_only_mail_is_sanitised(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("html_only"), to="SUPPORT@example.com")
    [message] = await mailbox.messages()
    assert message["text"] == "Hi team,\n\nCould you resend invoice 77?\n\nclick me or help"
    html = message["payload"]["html"]
    assert "<p>Could you <b>resend</b> invoice 77?</p>" in html
    assert 'href="https://example.net/help"' in html
    for bad in ("<script", "steal", "onload", "onclick", "onerror", "javascript:", "<style"):
        assert bad not in html


async def test_attachments_and_inline_images_are_stored_and_served(mailbox: Mailbox) -> None:
    raw = eml("attachment")
    await mailbox.receive(raw)
    [message] = await mailbox.messages()
    assert message["text"] == "The box arrived crushed, see the photo. The receipt is attached."
    photo, receipt, page = message["attachments"]
    assert photo["content_type"] == "image/png" and photo["filename"] == "box.png" and photo["kind"] == "image"
    assert receipt["content_type"] == "application/pdf" and receipt["filename"] == "receipt-1042.pdf"
    assert page["error"] == "files of type text/html are not kept" and "path" not in page
    assert "url" not in receipt and "media_id" not in receipt  # nothing left to download
    r = await mailbox.live.client.get(f"/media/{receipt['path']}?m={message['id']}", headers=mailbox.live.as_("agent"))
    assert r.status_code == 200 and r.content.startswith(b"%PDF-1.4") and len(r.content) == receipt["size"]
    assert f'<img src="/media/{photo["path"]}" alt="box">' in message["payload"]["html"]

    # A stored file is attached only by the handle of an upload of one's own: naming it
    # by its link is refused (it could be another conversation's) and nothing is mailed.
    conv = (await mailbox.conversations())[0]
    forged = await mailbox.live.client.post(
        f"/api/conversations/{conv['id']}/messages", headers=mailbox.live.as_("agent"),
        json={"text": "Here it is back.", "attachments": [{"url": f"{mailbox.live.url}/media/{receipt['path']}",
                                                           "content_type": "application/pdf"}]})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "attachment_not_issued"
    up = await mailbox.live.client.post("/api/uploads", headers=mailbox.live.as_("agent"),
                                        files={"file": ("receipt-1042.pdf", r.content, "application/pdf")})
    assert up.status_code == 201 and up.json()["path"] == receipt["path"]  # the same bytes, stored once
    _, mail = await sent_reply_with(mailbox, conv["id"], "Here it is back.", [{"handle": up.json()["handle"]}])
    assert mail["Subject"] == "Re: Photo of the damaged box"  # the first mail in the sink is this reply
    assert mail.get_content_type() == "multipart/mixed"
    [attached] = list(mail.iter_attachments())
    assert attached.get_content_type() == "application/pdf" and attached.get_content() == r.content
    assert attached.get_filename() == "receipt-1042.pdf"


async def sent_reply_with(box: Mailbox, conversation_id: int, text: str,
                          attachments: list[dict[str, str]]) -> tuple[dict[str, Any], EmailMessage]:
    events = await box.live.events()
    try:
        message = await box.reply(conversation_id, text, attachments=attachments)
        mail = await box.sink.next()
        event = await events.next(updated(message["id"], "sent"))
    finally:
        await events.close()
    return event["data"]["message"], mail


async def test_an_attachment_from_a_private_address_is_refused(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("plain"))
    conv = (await mailbox.conversations())[0]
    events = await mailbox.live.events()
    try:
        message = await mailbox.reply(conv["id"], "See this", attachments=[
            {"url": f"{mailbox.live.url}/api/me", "content_type": "application/json"}])
        failed = (await events.next(updated(message["id"], "failed")))["data"]["message"]
    finally:
        await events.close()
    assert failed["error"]["code"] == "attachment_url"
    assert "not a public internet address" in failed["error"]["message"]
    assert mailbox.sink.mails.empty()


async def test_iso_8859_1_body_and_encoded_word_headers(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("latin1"), to=ADDRESS)
    [conv] = await mailbox.conversations()
    [message] = await mailbox.messages()
    assert message["text"] == "Bonjour,\nLe café est arrivé froid. Où est ma commande ?\nClémence"
    assert message["payload"]["subject"] == "Réclamation : café froid"
    assert conv["contact"]["name"] == "Clémence Dôrr"


async def test_a_duplicate_message_id_is_stored_once(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("plain"))
    again = await mailbox.receive(eml("plain"))
    assert again[1].startswith("2.0.0 OK: duplicate")  # acknowledged, so the sender stops retrying
    r = await sendgrid_post(mailbox.live.client, mailbox.inbox["id"], eml("plain"), secret=SECRET)
    assert r.status_code == 200
    assert len(await mailbox.messages()) == 1


async def test_an_auto_reply_is_flagged_and_answered_by_nothing(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("plain"))
    [conv] = await mailbox.conversations()
    _, ours = await sent_reply(mailbox, conv["id"], "We are looking into it.")
    await mailbox.receive(eml("autoreply", in_reply_to=ours["Message-ID"]))
    messages = await mailbox.messages(conv["id"])
    assert messages[-1]["payload"]["auto_submitted"] is True
    assert messages[-1]["text"].startswith("I am out of the office")
    # Nothing in the product answers automatically: no job was queued, nothing was sent.
    assert [m["direction"] for m in messages] == ["in", "out", "in"]
    assert mailbox.sink.mails.empty() and len(mailbox.sink.envelopes) == 1


async def test_a_bounce_fails_the_message_it_reports_on(mailbox: Mailbox) -> None:
    await mailbox.receive(eml("plain"))
    [conv] = await mailbox.conversations()
    first, _ = await sent_reply(mailbox, conv["id"], "First answer.")
    second, ours = await sent_reply(mailbox, conv["id"], "Second answer.")

    events = await mailbox.live.events()
    try:
        await smtp_send(mailbox.smtp_port, eml("bounce", original_id=ours["Message-ID"]), sender="")
        failed = (await events.next(updated(second["id"], "failed")))["data"]["message"]
    finally:
        await events.close()
    assert failed["error"]["code"] == "5.1.1"
    assert failed["error"]["message"] == ("Bounced: ana.souza@example.org: 550 5.1.1 <ana.souza@example.org>: "
                                          "Recipient address rejected: User unknown")
    messages = await mailbox.messages(conv["id"])
    assert [(m["id"], m["status"]) for m in messages[1:]] == [(first["id"], "sent"), (second["id"], "failed")]
    assert len(messages) == 3 and len(await mailbox.conversations()) == 1  # the bounce is no message


# -- the HTTP route ---------------------------------------------------------------------------

async def test_sendgrid_raw_posts_need_the_inbound_secret(mailbox: Mailbox) -> None:
    client, inbox_id = mailbox.live.client, mailbox.inbox["id"]
    wrong = await sendgrid_post(client, inbox_id, eml("plain"), secret="guess")
    assert wrong.status_code == 403
    missing = await sendgrid_post(client, inbox_id, eml("plain"))
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "url_secret_required"
    assert await mailbox.conversations() == []

    ok = await sendgrid_post(client, inbox_id, eml("latin1"), basic=SECRET)  # 8-bit body, byte for byte
    assert ok.status_code == 200, ok.text
    [message] = await mailbox.messages()
    assert message["text"].startswith("Bonjour,\nLe café est arrivé froid.")

    assert (await sendgrid_post(client, inbox_id, b"", secret=SECRET)).status_code == 400
    r = await client.post(f"/webhooks/email/{inbox_id}?secret={SECRET}", files={"other": (None, b"x")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_body"
    huge = b"Subject: big\n\n" + b"z" * MAX_EMAIL_BYTES
    assert (await sendgrid_post(client, inbox_id, huge, secret=SECRET)).status_code == 413
    assert (await sendgrid_post(client, 9999, eml("plain"), secret=SECRET)).status_code == 404


async def test_mailgun_mime_posts_are_signed_with_the_signing_key(mailbox: Mailbox) -> None:
    client, url = mailbox.live.client, mailbox.inbox["webhook_urls"]["mailgun"]
    bad = await mailgun_post(client, url, eml("html_only"), signing_key="someone-elses-key")
    assert bad.status_code == 403
    assert await mailbox.conversations() == []
    ok = await mailgun_post(client, url, eml("html_only"), signing_key=SECRET)
    assert ok.status_code == 200, ok.text
    [message] = await mailbox.messages()
    assert message["payload"]["subject"] == "Invoice question"
    multipart = await mailgun_post(client, url, eml("attachment"), signing_key=SECRET, multipart=True)
    assert multipart.status_code == 200, multipart.text
    newest = (await mailbox.conversations())[0]  # another customer: a conversation of its own
    [photo] = await mailbox.messages(newest["id"])
    assert photo["payload"]["subject"] == "Photo of the damaged box" and len(photo["attachments"]) == 3


# -- sending failures -------------------------------------------------------------------------

async def test_transient_smtp_failures_are_retried_until_delivered(mailbox: Mailbox, live: Live) -> None:
    await mailbox.receive(eml("plain"))
    [conv] = await mailbox.conversations()
    mailbox.sink.rcpt_replies = ["451 4.7.1 Greylisted, try again later"]
    events = await live.events()
    try:
        message = await mailbox.reply(conv["id"], "Checking now.")
        retrying = await events.next(lambda e: e["type"] == "message.updated"
                                     and e["data"]["message"]["id"] == message["id"]
                                     and e["data"]["message"]["error"] is not None)
        assert retrying["data"]["message"]["status"] == "queued"
        assert retrying["data"]["message"]["error"]["code"] == "451"
        assert "Greylisted" in retrying["data"]["message"]["error"]["message"]
        await events.next(updated(message["id"], "sent"))
    finally:
        await events.close()
    mail = await mailbox.sink.next()
    assert mail["Subject"] == "Re: Order 1042 has not arrived"


async def test_a_refused_connection_is_retried(live: Live, smtp_port: int) -> None:
    port = free_port()  # nothing listens there yet
    r = await create_inbox(live, address=ADDRESS, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none")
    assert r.status_code == 201, r.text
    await smtp_send(smtp_port, eml("plain"))
    conv = (await live.get("/api/conversations"))["items"][0]
    events = await live.events()
    try:
        r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("agent"),
                                   json={"text": "Checking now."})
        message = r.json()
        retrying = await events.next(lambda e: e["type"] == "message.updated"
                                     and e["data"]["message"]["id"] == message["id"]
                                     and e["data"]["message"]["error"] is not None)
        assert retrying["data"]["message"]["error"]["code"] == "connection"
        async with smtp_sink(port) as late:  # the server comes back
            await events.next(updated(message["id"], "sent"))
            assert (await late.next())["To"] == CUSTOMER
    finally:
        await events.close()


async def test_a_permanent_smtp_failure_shows_the_server_reply(mailbox: Mailbox, live: Live) -> None:
    await mailbox.receive(eml("plain"))
    [conv] = await mailbox.conversations()
    mailbox.sink.rcpt_replies = ["550 5.1.1 <ana.souza@example.org>: Recipient address rejected"]
    events = await live.events()
    try:
        message = await mailbox.reply(conv["id"], "Checking now.")
        failed = (await events.next(updated(message["id"], "failed")))["data"]["message"]
    finally:
        await events.close()
    assert failed["error"]["code"] == "550"
    assert failed["error"]["message"] == ("the mail server answered 550 5.1.1 <ana.souza@example.org>: "
                                          "Recipient address rejected")
    assert mailbox.sink.mails.empty()

