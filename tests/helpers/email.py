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
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"


def eml(name: str, **placeholders: str) -> bytes:
    """A fixture, with its @@NAME@@ placeholders filled in."""
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    for key, value in placeholders.items():
        raw = raw.replace(f"@@{key.upper()}@@".encode(), value.encode())
    return raw


async def smtp_send(port: int, raw: bytes, to: str = "support@example.com",
                    sender: str = "ana.souza@example.org") -> Any:
    """Hand a mail to our receiver as a sending mail server would. A bounce has the null
    sender (MAIL FROM:<>), which aiosmtplib will not send: smtplib, in a thread, does."""
    if not sender:
        def bounce() -> Any:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.example.com", timeout=5) as client:
                return client.sendmail("", [to], re.sub(rb"\r?\n", b"\r\n", raw))
        return await asyncio.to_thread(bounce)
    return await aiosmtplib.send(raw, sender=sender, recipients=[to], hostname="127.0.0.1", port=port,
                                 start_tls=False, timeout=5, local_hostname="mail.example.org")


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
