"""Real-world mail shapes the first reader got wrong (issue 11, items 15 and 25), each from a
fixture in tests/fixtures/email/, delivered to the live server's SMTP receiver or posted as
SendGrid does."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from inbox import actions
from inbox.domain.channels import InboundMessage
from tests.helpers.email import FIXTURES, eml, sendgrid_post
from tests.test_email import SECRET, Mailbox, live_overrides, mailbox, sent_reply, sink, smtp_port  # noqa: F401 - fixtures


async def stored(box: Mailbox) -> dict[str, dict[str, Any]]:
    """Every stored message, by provider message id."""
    found = {}
    for conv in await box.conversations():
        for message in await box.messages(conv["id"]):
            found[message["provider_message_id"]] = message
    return found


async def test_a_mail_without_message_id_by_two_transports_is_stored_once(mailbox: Mailbox) -> None:  # noqa: F811
    raw = eml("no_message_id")
    assert b"\r\n" not in raw  # posted with LF line endings; SMTP carries it with CRLF
    assert (await mailbox.receive(raw))[1].startswith("2.0.0 OK: stored")
    r = await sendgrid_post(mailbox.live.client, mailbox.inbox["id"], raw, secret=SECRET)
    assert r.status_code == 200
    [message] = (await stored(mailbox)).values()
    assert message["provider_message_id"].startswith("sha256:")
    assert message["text"] == "My phone's mail app sends no Message-ID.\nIs the kettle on its way?"


async def test_unquoted_boundaries_with_equals_keep_text_and_image_and_list_no_containers(
        mailbox: Mailbox) -> None:  # noqa: F811
    await mailbox.receive(eml("outlook_express"))
    [message] = (await stored(mailbox)).values()
    assert message["text"] == "The lid of the kettle broke off, photo inside."
    [image] = message["attachments"]  # the containers (mixed, related, alternative) are no files
    assert image["content_type"] == "image/png" and image["filename"] == "lid.png" and image["path"]
    assert f'<img src="/media/{image["path"]}">' in message["payload"]["html"]
    r = await mailbox.live.client.get(f"/media/{image['path']}?m={message['id']}", headers=mailbox.live.as_("agent"))
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


async def test_8bit_headers_gb2312_labels_and_bodies_without_charset_decode(mailbox: Mailbox) -> None:  # noqa: F811
    for name in ("header_8bit", "gb18030", "no_charset_utf8", "no_charset_cp1252"):
        await mailbox.receive(eml(name))
    messages = await stored(mailbox)
    latin = messages["8bit-1@example.de"]  # raw windows-1252 bytes in From and Subject, declared ISO-8859-1
    assert latin["payload"]["subject"] == "Réclamation – café" and latin["text"] == "Le café était froid."
    chinese = messages["gb-1@example.cn"]  # labelled gb2312, written in GB18030 (喆, 镕, € are not in GB2312)
    assert chinese["payload"]["subject"] == "订单 镕" and chinese["text"] == "喆先生：订单还没到，价格 €20。"
    for key in ("no_charset_utf8@example.fr", "no_charset_cp1252@example.fr"):
        assert messages[key]["text"] == "Le thé est arrivé – enfin, merci."
    names = {c["contact"]["name"] for c in await mailbox.conversations()}
    assert names == {"Zoë Müller", "王喆", "Chloé Martin"}
    assert not any("\ufffd" in m["text"] + m["payload"]["subject"] for m in messages.values())


async def test_a_forward_is_shown_whole(mailbox: Mailbox) -> None:  # noqa: F811
    await mailbox.receive(eml("forward"))
    [message] = (await stored(mailbox)).values()
    assert message["text"].startswith("FYI, the carrier wrote this.\n\n---------- Forwarded message ---------")
    assert message["text"].endswith("We could not deliver parcel 7781. It is at the depot until Friday.")
    assert "quoted" not in message["payload"]


async def test_a_tnef_only_mail_shows_its_body_and_files(mailbox: Mailbox) -> None:  # noqa: F811
    await mailbox.receive(eml("tnef"))
    [message] = (await stored(mailbox)).values()
    assert message["text"] == "Hello, the invoice is attached. Grüße, Lena"
    [scan] = message["attachments"]  # the file inside winmail.dat, not winmail.dat itself
    assert scan["filename"] == "scan.png" and scan["content_type"] == "image/png" and scan["path"]


async def test_lines_over_1000_octets_are_accepted(mailbox: Mailbox) -> None:  # noqa: F811
    raw = eml("long_line")
    assert max(len(line) for line in raw.split(b"\n")) > 5000
    assert (await mailbox.receive(raw))[1].startswith("2.0.0 OK: stored")
    [message] = (await stored(mailbox)).values()
    assert message["text"] == ("The kettle is still missing. " * 180).strip()


async def test_outlook_replies_in_six_languages_have_their_thread_cut(mailbox: Mailbox) -> None:  # noqa: F811
    # Outlook's plain text: the reply, a blank line, then the header block of the quoted mail.
    replies = {"de": ("Danke, aber es ist immer noch nicht da.", "Von:"),
               "fr": ("Merci, mais il n'est toujours pas arrivé.", "De :"),
               "es": ("Gracias, pero todavía no ha llegado.", "De:"),
               "nl": ("Bedankt, maar het is er nog steeds niet.", "Van:"),
               "it": ("Grazie, ma non è ancora arrivato.", "Da:"), "pt": ("Obrigada, mas ainda não chegou.", "De:")}
    assert {p.stem.rsplit("_", 1)[1] for p in FIXTURES.glob("outlook_reply_*.eml")} == set(replies)
    for lang in replies:
        await mailbox.receive(eml(f"outlook_reply_{lang}"))
    messages = await stored(mailbox)
    for lang, (text, sender) in replies.items():
        message = messages[f"outlook-outlook_reply_{lang}@mail.example.org"]
        assert message["text"] == text, lang
        assert message["payload"]["quoted"].startswith(f"{sender} Example Support <support@example.com>\n"), lang
        assert message["payload"]["quoted"].endswith("Let me check order #1042."), lang


async def test_a_subject_with_a_line_break_is_stored_on_one_line_and_answered(mailbox: Mailbox) -> None:  # noqa: F811
    await mailbox.receive(eml("crlf_subject"))  # =?utf-8?Q?Order_42=0D=0ABcc:_evil@example.net?=
    [conv] = await mailbox.conversations()
    [message] = await mailbox.messages(conv["id"])
    assert message["payload"]["subject"] == "Order 42 Bcc: evil@example.net"
    _, mail = await sent_reply(mailbox, conv["id"], "It is on its way.")
    assert mail["Subject"] == "Re: Order 42 Bcc: evil@example.net" and mail["Bcc"] is None

    # A subject stored before this fix, with its line break, is answered as well.
    ctx = mailbox.live.app.state.ctx
    older = await actions.record_inbound(ctx, InboundMessage(
        inbox_id=mailbox.inbox["id"], kind="email", handle="old@example.org", email="old@example.org",
        provider_message_id="old-1@example.org", text="Refund?", timestamp=datetime.now(timezone.utc),
        payload={"subject": "Refund 7\r\nBcc: evil@example.net", "message_id": "old-1@example.org",
                 "references": []}))
    _, mail = await sent_reply(mailbox, older.conversation_id, "Refunded.")
    assert mail["Subject"] == "Re: Refund 7 Bcc: evil@example.net" and mail["To"] == "old@example.org"
