"""Replies as mail: composed so the customer's mail client threads them, sent over SMTP
with aiosmtplib (https://aiosmtplib.readthedocs.io/en/stable/reference.html), SMTP errors
translated into our transient / permanent send errors."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from inbox.domain.channels import Attachment, OutboundMessage, ProviderRejected, ProviderUnavailable, SendError
from inbox.storage.media import MediaStore
from webhooks.email.mime import MAX_REFS, escape_text_as_html, message_ids
from webhooks.http import tls

DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
LIST_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
# Headers folded only past RFC 5322's 998 characters: the default 78 encodes a long header
# with no space in it (List-Unsubscribe's link) as RFC 2047 words, which mail clients do not
# read back as a link.
OUTBOUND_POLICY = email.policy.default.clone(max_line_length=998)


def reply_subject(subject: str | None) -> str:
    # Line breaks would make the header invalid (email refuses it with ValueError) and every
    # reply to this customer fail: subjects are stored without them, and older rows are
    # cleaned here too.
    subject = " ".join((subject or "").split())
    if subject.lower().startswith("re:"):
        return subject
    return f"Re: {subject}" if subject else "Re: your message"


def compose(message: OutboundMessage, files: list[tuple[Attachment, bytes]]) -> EmailMessage:
    """multipart/alternative (the text, and simple HTML made from it), with our own
    Message-ID and In-Reply-To / References pointing at the customer's latest mail."""
    address = message.settings["address"]
    previous = message.reply_to_payload or {}
    own = message.payload or {}
    mail = EmailMessage(policy=OUTBOUND_POLICY)
    mail["From"] = address
    mail["To"] = message.to
    # A campaign's message (docs/campaigns.md) has its own subject and starts a thread.
    first = bool(own.get("subject"))
    mail["Subject"] = " ".join(str(own["subject"]).split()) if first else reply_subject(previous.get("subject"))
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    mail["Message-ID"] = make_msgid(domain=address.rsplit("@", 1)[1])
    if message.automatic:  # RFC 3834 section 5: no responder answers these
        mail["Auto-Submitted"] = "auto-generated" if first else "auto-replied"
    for name in LIST_HEADERS:  # a marketing mail's one-click unsubscribe (RFC 8058)
        if isinstance(value := (own.get("headers") or {}).get(name), str):
            mail[name] = " ".join(value.split())
    if message.reply_to_id and not first:
        chain = [r for r in previous.get("references") or [] if r != message.reply_to_id]
        mail["In-Reply-To"] = f"<{message.reply_to_id}>"
        mail["References"] = " ".join(f"<{r}>" for r in [*chain, message.reply_to_id][-MAX_REFS:])
    mail.set_content(message.text or "")
    mail.add_alternative(escape_text_as_html(message.text or ""), subtype="html")
    for attachment, content in files:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(content, maintype=maintype or "application", subtype=subtype or "octet-stream",
                            filename=attachment.filename or _name_from_url(attachment.url))
    return mail


def our_message_id(mail: EmailMessage) -> str:
    return message_ids(mail["Message-ID"])[0]


async def deliver(mail: EmailMessage, settings: Mapping[str, Any], timeout: float) -> None:
    security = settings.get("smtp_security", "starttls")
    host = settings.get("smtp_host")
    if not host:
        raise ProviderRejected("no_smtp_host", "this email inbox has no smtp_host: set one to send replies")
    # Flattened here, with our policy: aiosmtplib's own (email.policy.SMTP) folds at 78.
    raw = mail.as_bytes(policy=OUTBOUND_POLICY.clone(linesep="\r\n"))
    try:
        await aiosmtplib.send(
            raw, sender=settings["address"], recipients=[str(mail["To"])],
            hostname=host, port=int(settings.get("smtp_port") or DEFAULT_PORTS[security]),
            username=settings.get("smtp_username"), password=settings.get("smtp_password"),
            use_tls=security == "tls", start_tls=True if security == "starttls" else False, timeout=timeout,
            local_hostname=settings["address"].rsplit("@", 1)[1])
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        raise _reply_error(first.code, first.message) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise _reply_error(exc.code, exc.message) from None
    except aiosmtplib.SMTPNotSupported as exc:  # e.g. STARTTLS asked of a server without it
        raise ProviderRejected("smtp_not_supported", f"{host}: {exc}") from None
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise ProviderUnavailable("timeout", f"{host} did not answer within {timeout:g} s") from None
    except (aiosmtplib.SMTPException, OSError) as exc:  # refused, reset, unknown host, TLS handshake
        raise ProviderUnavailable("connection", f"could not reach {host}: {exc or type(exc).__name__}") from None


def _reply_error(code: int, text: str) -> SendError:
    reason = f"the mail server answered {code} {text}".strip()
    if 400 <= code < 500:
        return ProviderUnavailable(str(code), reason)
    return ProviderRejected(str(code), reason)


# -- agents' attachments ------------------------------------------------------------------------

class Files:
    """The bytes of the files an agent attaches: from our own media store when the
    attachment has a ``path`` (set only from an upload handle issued to the reply's author,
    ui/api/media.py ``reply_attachments``: never from a URL, which anyone could point at any
    stored file), else downloaded from a public http(s) address. The server fetches these
    itself, so addresses on loopback or private networks are refused: an agent must not
    make it read internal services and mail the answer out."""

    def __init__(self, public_url: str, media: MediaStore, max_bytes: int, timeout: float) -> None:
        self.media = media
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None  # built on first download

    async def load(self, attachments: tuple[Attachment, ...]) -> list[tuple[Attachment, bytes]]:
        return [(a, await self._bytes(a)) for a in attachments if a.url or a.path]

    async def _bytes(self, attachment: Attachment) -> bytes:
        url = attachment.url or ""
        if attachment.path is not None:
            path = self.media.path(attachment.path)
            if path is None:
                raise ProviderRejected("attachment_missing", f"no stored file at {attachment.path}")
            return await asyncio.to_thread(path.read_bytes)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderRejected("attachment_url", f"cannot attach {url!r}: not an http(s) URL")
        await self._check_public(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        try:
            if self._client is None:
                self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, verify=tls())
            async with self._client.stream("GET", url) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise ProviderUnavailable(str(response.status_code),
                                              f"{url} answered {response.status_code}")
                if response.status_code != 200:
                    raise ProviderRejected(str(response.status_code), f"{url} answered {response.status_code}")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ProviderRejected("attachment_too_big",
                                               f"{url} is over the {self.max_bytes:,}-byte limit")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("attachment_download", f"could not download {url}: {exc}") from None

    async def _check_public(self, host: str, port: int) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ProviderUnavailable("attachment_download", f"cannot resolve {host}: {exc}") from None
        for info in infos:
            if not ipaddress.ip_address(info[4][0]).is_global:
                raise ProviderRejected("attachment_url",
                                       f"cannot attach files from {host}: not a public internet address")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _name_from_url(url: str | None) -> str:
    name = urlsplit(url or "").path.rsplit("/", 1)[-1]
    return name or "attachment"
