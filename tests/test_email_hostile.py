"""Hostile mail against the live server: small mails that cost a naive reader seconds to
minutes must not stall the event loop (every /healthz answers within a second while they
are delivered by SMTP and HTTP at once), and each is still stored, once; a mail that runs
over the reading budget is stored with its headers and the whole original."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.helpers.email import eml, many_on_lines, many_parts, many_references, many_senders, sendgrid_post, smtp_send
from tests.test_email import SECRET, Mailbox, mailbox, sink, smtp_port  # noqa: F401 - fixtures

MAX_EMAIL_BYTES = 4 * 1024 * 1024


@pytest.fixture
def parse_seconds() -> float:
    return 20.0


@pytest.fixture
def live_overrides(smtp_port: int, parse_seconds: float) -> dict[str, Any]:  # noqa: F811
    return {"smtp_listen": f"127.0.0.1:{smtp_port}", "max_email_bytes": MAX_EMAIL_BYTES,
            "email_parse_seconds": parse_seconds}


async def all_messages(box: Mailbox) -> dict[str, dict[str, Any]]:
    """Every stored message, by subject."""
    found = {}
    for conv in await box.conversations():
        for message in await box.messages(conv["id"]):
            found[message["payload"]["subject"]] = message
    return found


async def poll_health(client: httpx.AsyncClient, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        start = time.monotonic()
        r = await client.get("/healthz")
        latencies.append(time.monotonic() - start)
        assert r.status_code == 200


async def test_hostile_mail_never_stalls_the_server_and_is_stored_once(mailbox: Mailbox) -> None:  # noqa: F811
    mails = {"many-on-lines": many_on_lines(), "many-parts": many_parts(), "many-senders": many_senders(),
             "many-references": many_references()}
    assert len(mails["many-on-lines"]) < 5000 and len(mails["many-parts"]) > 1_800_000, [len(m) for m in mails.values()]
    stop, latencies = asyncio.Event(), []
    # Clients made first: building one loads the CA bundle, on the loop the server shares.
    async with httpx.AsyncClient(base_url=mailbox.live.url, timeout=60) as health, \
            httpx.AsyncClient(base_url=mailbox.live.url, timeout=120) as client:
        assert (await health.get("/healthz")).status_code == 200  # connected, the client's imports done
        poller = asyncio.create_task(poll_health(health, stop, latencies))
        try:
            # The SMTP client in a thread: its own work must not count against the server.
            by_smtp = [smtp_send(mailbox.smtp_port, raw, timeout=120, in_thread=True) for raw in mails.values()]
            by_http = [sendgrid_post(client, mailbox.inbox["id"], raw, secret=SECRET) for raw in mails.values()]
            answers = await asyncio.wait_for(asyncio.gather(*by_smtp, *by_http), 180)
        finally:
            stop.set()
            await poller
    assert len(latencies) > 20
    assert max(latencies) < 1.0, f"/healthz took {max(latencies):.2f} s"
    smtp_answers, http_answers = answers[:4], answers[4:]
    assert all(a[1].startswith("2.0.0 OK") for a in smtp_answers), smtp_answers
    assert [r.status_code for r in http_answers] == [200] * 4

    stored = await all_messages(mailbox)
    assert sorted(stored) == sorted(mails)  # each once, though delivered twice
    on_lines = stored["many-on-lines"]
    assert on_lines["text"].startswith("Hello,\nOn 000 and on") and on_lines["text"].endswith("On 299 and on")

    parts = stored["many-parts"]
    assert parts["payload"]["note"] == ("This mail has more than 500 parts: the first ones are shown. "
                                        "The whole mail is attached as original.eml.")
    *pieces, original = parts["attachments"]
    assert 500 <= len(pieces) <= 1000 and pieces[0]["content_type"] == "text/plain"
    assert original["filename"] == "original.eml" and original["size"] == len(mails["many-parts"])
    r = await mailbox.live.client.get(f"/media/{original['path']}?m={parts['id']}", headers=mailbox.live.as_("agent"))
    assert r.status_code == 200 and r.content == mails["many-parts"]

    conv = next(c for c in await mailbox.conversations() if c["contact"]["name"] == "Person 0")  # the first address
    contact = await mailbox.live.get(f"/api/contacts/{conv['contact']['id']}")
    assert contact["email"] == "person0@example.net"
    assert [m["id"] for m in await mailbox.messages(conv["id"])] == [stored["many-senders"]["id"]]

    refs = stored["many-references"]
    assert refs["payload"]["references"] == [f"ref{i}@example.net" for i in range(49_980, 50_000)]


def dense_html(tags: int = 120_000) -> bytes:
    """About 1 MB of HTML that costs over a second to sanitise and read."""
    body = "<p>x</p>\r\n" * tags
    return (f"From: Ana Souza <ana.souza@example.org>\r\nTo: support@example.com\r\nSubject: A newsletter\r\n"
            f"Message-ID: <dense@example.org>\r\nIn-Reply-To: <CAF=plain-1042@mail.example.org>\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.mark.parametrize("parse_seconds", [0.3])
async def test_a_mail_over_the_time_budget_is_stored_with_its_headers_and_the_original(
        mailbox: Mailbox) -> None:  # noqa: F811
    await mailbox.receive(eml("plain"))
    raw = dense_html()
    answer = await smtp_send(mailbox.smtp_port, raw, timeout=60)
    assert answer[1].startswith("2.0.0 OK: stored")
    [conv] = await mailbox.conversations()  # threaded by In-Reply-To, read from the headers
    first, late = await mailbox.messages(conv["id"])
    assert late["payload"]["subject"] == "A newsletter" and late["provider_message_id"] == "dense@example.org"
    assert late["payload"]["note"] == "This mail could not be read within 0.3 s: only its headers are shown."
    assert late["text"] == ("[This mail could not be read within 0.3 s: only its headers are shown. "
                            "The whole mail is attached as original.eml.]")
    [original] = late["attachments"]
    r = await mailbox.live.client.get(f"/media/{original['path']}?m={late['id']}", headers=mailbox.live.as_("agent"))
    assert r.status_code == 200 and r.content == raw

    # The stuck worker was replaced: the next mail is read in full.
    await mailbox.receive(eml("reply", in_reply_to="<CAF=plain-1042@mail.example.org>"))
    newest = (await mailbox.messages(conv["id"]))[-1]
    assert newest["text"] == "Thanks, but it is still not here."
