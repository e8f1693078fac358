"""Reading an email (RFC 5322 / MIME) into what the inbox stores: the customer's message,
or, for a delivery status notification, the failure of a message we sent.

Parsing is the stdlib's (``email.message_from_bytes(raw, policy=email.policy.default)``):
it decodes RFC 2047 encoded words in headers and each part's charset. HTML is sanitised
with nh3 before anything else sees it; the quoted history of a reply is cut from the
shown text with email-reply-parser and kept in the payload.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage, Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

import nh3
from email_reply_parser import EmailReplyParser

from inbox.channels import Attachment, InboundMessage, StatusUpdate
from inbox.errors import BadRequest
from inbox.media import MediaRejected, MediaStore
from inbox.models import ChannelKind

log = logging.getLogger(__name__)

MAX_HTML_CHARS = 1_000_000  # kept in the payload; the text is always kept
MAX_REFS = 20
# RFC 3834 and the de-facto headers of vacation responders and list software.
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})
_MSGID = re.compile(r"<([^<>\s]+)>")
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)


def read(raw: bytes) -> EmailMessage:
    if not raw.strip():
        raise BadRequest("the message is empty", "malformed_email")
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def message_ids(value: object) -> list[str]:
    """Message-IDs in a header (In-Reply-To, References), without their angle brackets."""
    if value is None:
        return []
    text = str(value)
    found = _MSGID.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>")]  # some mailers drop the brackets
    return list(dict.fromkeys(found))


def message_id(mail: Message, raw: bytes) -> str:
    """The Message-ID (the de-duplication key). A mail without one is keyed on its bytes."""
    ids = message_ids(_header(mail, "Message-ID"))
    return ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()


def _header(mail: Message, name: str) -> str | None:
    """A header's decoded value; a malformed one is read as its raw text, never an error."""
    try:
        value = mail.get(name)
    except (ValueError, IndexError, TypeError, AttributeError):  # the header parser's failures
        value = None
        for key, raw_value in mail.raw_items():  # type: ignore[attr-defined]
            if key.lower() == name.lower():
                value = raw_value
    return None if value is None else str(value)


def sender(mail: Message) -> tuple[str, str | None]:
    """(lower-cased address, display name) of the From header."""
    pairs = getaddresses([_header(mail, "From") or ""])
    for name, addr in pairs:
        if "@" in addr:
            return addr.strip().lower(), (name.strip() or None)
    raise BadRequest("no sender address in 'From'", "malformed_email")


def is_auto_reply(mail: Message) -> bool:
    """RFC 3834's Auto-Submitted, and the older X-Autoreply / Precedence conventions."""
    auto = (_header(mail, "Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if _header(mail, "X-Autoreply") is not None or _header(mail, "X-Autorespond") is not None:
        return True
    return (_header(mail, "Precedence") or "").strip().lower() in AUTO_PRECEDENCE


# -- bounces -------------------------------------------------------------------------------

def is_bounce(mail: Message) -> bool:
    return (mail.get_content_type() == "multipart/report"
            and (mail.get_param("report-type") or "").lower() == "delivery-status")


def parse_bounce(inbox_id: int, mail: Message) -> StatusUpdate | None:
    """A delivery status notification (RFC 3464): the message it reports on, as failed with
    the status code and the remote server's diagnostic. None for a delay warning, or when
    the original Message-ID cannot be found."""
    original: str | None = None
    fields: dict[str, str] = {}
    for name in ("Original-Message-ID", "X-Original-Message-ID"):
        original = original or next(iter(message_ids(_header(mail, name))), None)
    for part in mail.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload():
                if isinstance(block, Message) and block.get("Status") and not fields:
                    fields = {k.lower(): str(v) for k, v in block.items()}
                elif isinstance(block, Message) and block.get("Original-Message-ID") and original is None:
                    original = next(iter(message_ids(block.get("Original-Message-ID"))), None)
        elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
            inner = _embedded(part)
            if inner is not None:
                original = next(iter(message_ids(_header(inner, "Message-ID"))), None)
    action = fields.get("action", "failed").strip().lower()
    status = fields.get("status", "").strip()
    if action != "failed" or status.startswith("4"):
        log.info("delivery status notification with action %r, status %r: not a failure", action, status)
        return None
    if original is None:
        log.info("delivery status notification without the original Message-ID: ignored")
        return None
    diagnostic = " ".join(fields.get("diagnostic-code", "").split())
    if ";" in diagnostic:  # "smtp; 550 5.1.1 <x@y>: Recipient address rejected"
        diagnostic = diagnostic.split(";", 1)[1].strip()
    recipient = fields.get("final-recipient", "").split(";")[-1].strip()
    reason = diagnostic or f"the recipient's mail server could not deliver it (status {status or 'unknown'})"
    if recipient:
        reason = f"{recipient}: {reason}"
    return StatusUpdate(inbox_id=inbox_id, provider_message_id=original, status="failed",
                        error_code=status or "bounced", error_message=f"Bounced: {reason}")


def _embedded(part: Message) -> Message | None:
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        return payload[0] if isinstance(payload, list) and payload else None
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):
        return None
    return email.message_from_bytes(content, policy=email.policy.default)


# -- the customer's message ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Parts:
    plain: str | None
    html: str | None
    files: list[Message]


def _text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):  # an unknown or lying charset
        data = part.get_payload(decode=True)
        content = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
    return content if isinstance(content, str) else ""


def split_parts(mail: EmailMessage) -> Parts:
    """The body (plain and HTML, as get_body chooses them through multipart/alternative and
    multipart/related) and every other leaf part: attachments and inline images."""
    plain_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    plain_part = plain_part if plain_part is not None and plain_part.get_content_type() == "text/plain" else None
    html_part = html_part if html_part is not None and html_part.get_content_type() == "text/html" else None
    files: list[Message] = []

    def collect(part: Message) -> None:
        if part is plain_part or part is html_part:
            return
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            for child in part.get_payload():
                collect(child)
        else:
            files.append(part)
    collect(mail)
    return Parts(_text(plain_part) if plain_part is not None else None,
                 _text(html_part) if html_part is not None else None, files)


def sanitise_html(markup: str, inline: dict[str, str]) -> str:
    """Inline images (cid:) point at our stored copies; then nh3 keeps only harmless markup:
    no scripts, styles, event handlers or javascript: URLs."""
    markup = _CID.sub(lambda m: inline.get(m.group(1).strip("<>"), "about:blank"), markup)
    return nh3.clean(markup).strip()


class _TextOf(HTMLParser):
    """Readable text of sanitised HTML: blocks on their own lines, blockquotes quoted with
    '>' so the quoted-history stripping treats them as plain-text quotes."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                        "pre", "hr", "blockquote", "dt", "dd"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.lines.append("")
        if tag == "blockquote":
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self.depth = max(0, self.depth - 1)
        if tag in self.BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1]:
            text = "> " * self.depth + text.lstrip()
        self.lines[-1] += text

    def text(self) -> str:
        out: list[str] = []
        for line in (line.rstrip() for line in self.lines):
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip()


def html_to_text(markup: str) -> str:
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    return parser.text()


def strip_quoted(text: str) -> tuple[str, str | None]:
    """(the new text, the quoted history and signature cut from it, or None)."""
    text = text.replace("\r\n", "\n").strip()
    parsed = EmailReplyParser.read(text)
    reply = "\n".join(f.content for f in parsed.fragments if not (f.hidden or f.quoted)).strip()
    rest = "\n".join(f.content for f in parsed.fragments if f.hidden or f.quoted).strip()
    if not reply:  # all of it looked quoted (a forward, say): show it all
        return text, None
    return reply, rest or None


def _kind(content_type: str) -> str:
    major = content_type.split("/")[0]
    return major if major in ("image", "video", "audio") else "document"


def _filename(part: Message) -> str | None:
    name = part.get_filename()
    if name is None and part.get_content_type() == "message/rfc822":
        inner = _embedded(part)
        subject = _header(inner, "Subject") if inner is not None else None
        name = f"{subject or 'message'}.eml"
    return name


async def store_files(media: MediaStore, files: list[Message]) -> tuple[list[Attachment], dict[str, str]]:
    """Keep each attachment and inline image in the media store (off the event loop); a file
    the store refuses stays listed with the reason. Returns the attachments and, by
    Content-ID, the stored URL of inline images."""
    attachments: list[Attachment] = []
    inline: dict[str, str] = {}
    for part in files:
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            content = payload[0].as_bytes() if isinstance(payload, list) and payload else b""
            stored_type = "application/octet-stream"  # a forwarded mail: a download, never rendered
        else:
            decoded = part.get_payload(decode=True)
            content = decoded if isinstance(decoded, bytes) else b""
            stored_type = content_type
        name = _filename(part)
        try:
            path, checked = await asyncio.to_thread(media.save, content, stored_type)
        except MediaRejected as exc:
            attachments.append(Attachment(content_type=content_type, size=len(content), filename=name,
                                          kind=_kind(content_type), error=str(exc)))
            continue
        attachments.append(Attachment(content_type=checked, path=path, size=len(content), filename=name,
                                      kind=_kind(checked)))
        cid = message_ids(part.get("Content-ID"))
        if cid:
            inline[cid[0]] = f"/media/{path}"
    return attachments, inline


def _timestamp(mail: Message) -> datetime:
    try:
        header = mail.get("Date")
        stamp = getattr(header, "datetime", None)
    except (ValueError, IndexError, TypeError, AttributeError):
        stamp = None
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        return stamp.astimezone(timezone.utc)
    return datetime.now(timezone.utc)


async def parse_inbound(inbox_id: int, mail: EmailMessage, raw: bytes, media: MediaStore) -> InboundMessage:
    address, name = sender(mail)
    parts = split_parts(mail)
    attachments, inline = await store_files(media, parts.files)
    clean_html = sanitise_html(parts.html, inline) if parts.html else None
    text = parts.plain if parts.plain is not None and parts.plain.strip() else html_to_text(clean_html or "")
    text, quoted = strip_quoted(text)

    refs = message_ids(_header(mail, "References"))
    in_reply_to = message_ids(_header(mail, "In-Reply-To"))
    chain = refs or in_reply_to  # RFC 5322 3.6.4: the parent's References, else its In-Reply-To
    subject = _header(mail, "Subject")
    payload: dict[str, Any] = {"subject": subject.strip() if subject else "", "message_id": message_id(mail, raw),
                               "references": chain[-MAX_REFS:]}
    if clean_html and len(clean_html) <= MAX_HTML_CHARS:
        payload["html"] = clean_html
    if quoted:
        payload["quoted"] = quoted
    if is_auto_reply(mail):
        payload["auto_submitted"] = True
    return InboundMessage(
        inbox_id=inbox_id, kind=ChannelKind.email, handle=address, email=address, profile_name=name,
        provider_message_id=payload["message_id"], text=text, timestamp=_timestamp(mail),
        attachments=tuple(attachments), payload=payload,
        # the direct parent last: ingest tries the references from the end
        thread_refs=tuple(dict.fromkeys([*refs, *in_reply_to]))[-MAX_REFS:])


def escape_text_as_html(text: str) -> str:
    paragraphs = (html.escape(p).replace("\n", "<br>\n") for p in re.split(r"\n\s*\n", text.strip()))
    return "".join(f"<p>{p}</p>\n" for p in paragraphs)
