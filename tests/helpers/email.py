"""Mail as it arrives: the .eml fixtures, an SMTP client for our receiver, the two hosted
inbound-parse posts (SendGrid raw, Mailgun MIME), and a real SMTP sink for our replies."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import re
import secrets
import smtplib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.helpers.server import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
_SENDERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-smtp-client")


def eml(name: str, **placeholders: str) -> bytes:
    """A fixture, with its @@NAME@@ placeholders filled in."""
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    for key, value in placeholders.items():
        raw = raw.replace(f"@@{key.upper()}@@".encode(), value.encode())
    return raw


async def smtp_send(port: int, raw: bytes, to: str = "support@example.com",
                    sender: str = "ana.souza@example.org", timeout: float = 5, in_thread: bool = False) -> Any:
    """Hand a mail to our receiver as a sending mail server would. A bounce has the null
    sender (MAIL FROM:<>), which aiosmtplib will not send: smtplib, in a thread, does. So
    does ``in_thread``: the client's own work (it rewrites the line endings of the whole
    message) then stays off the event loop the server under test shares with the test."""
    if in_thread or not sender:
        def send() -> tuple[int, str]:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.example.com", timeout=timeout) as client:
                client.ehlo()
                client.mail(sender)
                code, reply = client.rcpt(to)
                if code != 250:
                    return code, reply.decode()
                code, reply = client.data(re.sub(rb"\r?\n", b"\r\n", raw))
                return code, reply.decode()
        # (code, reply), as aiosmtplib's response reads; on threads of its own, so that a slow
        # delivery does not hold the default executor the server's database reads use.
        return await asyncio.get_running_loop().run_in_executor(_SENDERS, send)
    return await aiosmtplib.send(raw, sender=sender, recipients=[to], hostname="127.0.0.1", port=port,
                                 start_tls=False, timeout=timeout, local_hostname="mail.example.org")


async def sendgrid_post(client: httpx.AsyncClient, inbox_id: int, raw: bytes, secret: str | None = None,
                        basic: str | None = None, url: str | None = None) -> httpx.Response:
    """SendGrid Inbound Parse with "send raw": multipart fields, the MIME in ``email``, posted
    to ``url`` (the inbox's webhook_urls["inbound_parse"]) or to the old URL without a secret."""
    params = {"secret": secret} if secret is not None else {}
    auth = ("sendgrid", basic) if basic is not None else None
    files = {"to": (None, b"support@example.com"), "from": (None, b"ana.souza@example.org"),
             "envelope": (None, b'{"to":["support@example.com"],"from":"ana.souza@example.org"}'),
             "charsets": (None, b'{"to":"UTF-8","from":"UTF-8"}'), "email": (None, raw)}
    return await client.post(url or f"/webhooks/email/{inbox_id}", params=params, auth=auth, files=files)


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def mailgun_fields(signing_key: str, timestamp: str | None = None, token: str | None = None) -> dict[str, str]:
    """What Mailgun posts beside the message: a fresh timestamp and one-time token, signed."""
    timestamp = timestamp or str(int(time.time()))
    token = token or secrets.token_hex(25)  # 50 characters, as Mailgun's
    return {"recipient": "support@example.com", "sender": "ana.souza@example.org", "timestamp": timestamp,
            "token": token, "signature": mailgun_signature(signing_key, timestamp, token)}


async def mailgun_post(client: httpx.AsyncClient, url: str, raw: bytes, signing_key: str = "",
                       multipart: bool = False, fields: dict[str, str] | None = None) -> httpx.Response:
    """A Mailgun route's forward() to ``url`` (the inbox's webhook_urls["mailgun"], ending in
    "mime"): ``body-mime`` and the signature ``fields`` (fresh ones by default),
    form-urlencoded (or multipart/form-data, which Mailgun uses when the mail has attachments)."""
    fields = fields or mailgun_fields(signing_key)
    if not multipart:
        return await client.post(url, data={**fields, "body-mime": raw.decode("ascii")})
    files = {k: (None, v.encode()) for k, v in fields.items()}
    files["body-mime"] = (None, raw)
    return await client.post(url, files=files)


class Sink:
    """aiosmtpd handler of a real SMTP server: keeps every mail it accepts, and answers
    RCPT with the replies queued in ``rcpt_replies`` first (e.g. a 451, then a 550)."""

    def __init__(self) -> None:
        self.port = 0
        self.rcpt_replies: list[str] = []
        self.mails: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        mail = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.put_nowait(mail)
        return "250 2.0.0 Ok: queued"

    async def next(self, timeout: float = 10) -> EmailMessage:
        return await asyncio.wait_for(self.mails.get(), timeout)


@contextlib.asynccontextmanager
async def smtp_sink(port: int = 0) -> AsyncIterator[Sink]:
    """The sink on 127.0.0.1, on the test's own event loop."""
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test", loop=loop), "127.0.0.1", port)
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def smtp_port() -> int:
    """The port our SMTP receiver listens on (a test's live_overrides gives it as smtp_listen)."""
    return free_port()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with smtp_sink() as s:
        yield s


# -- hostile mail: small or plain messages that cost a naive reader seconds to minutes -------

def _mail(headers: str, body: str, subject: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (f"{headers}To: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{subject}@hostile.example>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n{body}").encode()


def many_on_lines(lines: int = 300) -> bytes:
    """About 4 KB: lines starting "On " and no "wrote:" (email-reply-parser's regex is cubic in them)."""
    body = "Hello,\r\n" + "".join(f"On {i:03d} and on\r\n" for i in range(lines))
    return _mail("From: Ana Souza <ana.souza@example.org>\r\n", body, "many-on-lines")


def many_parts(parts: int = 20_000) -> bytes:
    """About 1.9 MB of tiny text parts."""
    body = "".join(f"--b\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n"
                   f"Content-Disposition: inline\r\n\r\npart {i}\r\n" for i in range(parts)) + "--b--\r\n"
    return _mail("From: Ana Souza <ana.souza@example.org>\r\n", body, "many-parts",
                 'multipart/mixed; boundary="b"')


def many_senders(addresses: int = 8_000) -> bytes:
    froms = ",\r\n ".join(f"Person {i} <person{i}@example.net>" for i in range(addresses))
    return _mail(f"From: {froms}\r\n", "Who wrote this?\r\n", "many-senders")


def many_references(ids: int = 50_000) -> bytes:
    refs = "\r\n ".join(f"<ref{i}@example.net>" for i in range(ids))
    return _mail(f"From: Ana Souza <ana.souza@example.org>\r\nReferences: {refs}\r\nIn-Reply-To: <ref{ids - 1}@"
                 "example.net>\r\n", "The thread is long.\r\n", "many-references")
