"""Reading an email (RFC 5322 / MIME) into what the inbox stores: the customer's message,
or, for a delivery status notification, the failure of a message we sent.

``digest`` is the whole reading, bytes in, plain data out: it runs in a worker process with
a time budget (webhooks/email/pool.py), never on the event loop. It is bounded: at most
MAX_PARTS MIME parts are read (then the original is kept as an .eml download), MAX_DEPTH
levels of nesting, header values of MAX_HEADER_CHARS, and the first MAX_ADDRESS_CHARS of
From (webhooks/email/headers.py); the quoted history is found by linear line logic
(webhooks/email/quotes.py).

The structure is parsed by the stdlib with the compat32 policy, which keeps header values
as written and is about fifteen times faster per part than policy.default (whose header
parser also mis-reads an unquoted boundary containing "=", as Outlook Express and
JavaMail write it). The few headers we use are decoded by headers.py. HTML is sanitised
with nh3 before anything else sees it.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesFeedParser, BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

import nh3

from inbox.domain.errors import BadRequest  # the worker imports nothing heavier of ours (see pool.py)
from webhooks.email import winmail
from webhooks.email.headers import (
    MAX_ADDRESS_CHARS,
    MAX_HEADER_CHARS,
    cap,
    decode,
    decode_body,
    message_ids,
    one_line,
    raw_bytes,
)
from webhooks.email.quotes import split_reply

log = logging.getLogger(__name__)

__all__ = ["MAX_REFS", "message_ids", "digest", "escape_text_as_html"]

MAX_HTML_CHARS = 1_000_000  # kept in the payload; the text is always kept
# HTML read at most (sanitising and reading text out of HTML cost about 10 µs a tag).
MAX_HTML_INPUT = MAX_HTML_CHARS
MAX_REFS = 20
MAX_AUTH_RESULTS = 50  # Authentication-Results headers read; a trusted server's is on top
MAX_PARTS = 500  # MIME parts read from one mail; real mail has a few dozen at most
MAX_DEPTH = 30  # nesting of multiparts and attached mails
MAX_HEADER_BYTES = 256 * 1024  # the header section read when the body cannot be
_CHUNK = 8192  # fed to the parser at a time, so the part count is checked as it grows
# RFC 3834 and the de-facto headers of vacation responders and list software.
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})
# X-Auto-Response-Suppress ([MS-OXCMAIL] 2.1.3.2.20, Exchange and Outlook): the kinds of
# automatic answer the sender asks not to get. "OOF" (out-of-office), "AutoReply" (any other
# automatic reply) and "All" cover ours; "DR", "NDR", "RN", "NRN" are delivery and read
# reports, which we never send; "None" asks nothing.
SUPPRESSING = frozenset({"all", "oof", "autoreply"})
# The local parts of From that only mail systems write from (RFC 3834 section 2: never
# answer what a mail system sent; a bounce that is no RFC 3464 report still comes from one).
SYSTEM_SENDERS = frozenset({"mailer-daemon"})
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
# Types some mailers use for the standard ones the media store keeps.
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
# Headers that identify a mail without a Message-ID, whichever way it came: the trace headers
# each transport adds (Received, Return-Path, DKIM, X-...) are left out.
_KEY_HEADERS = ("from", "to", "cc", "date", "subject", "in-reply-to", "references", "content-type")


# -- parsing, bounded --------------------------------------------------------------------------

class _Counter:
    """The parser's message factory: counts the parts it creates."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, policy: Any = compat32) -> Message:
        self.count += 1
        return Message(policy)


def parse(raw: bytes, max_parts: int = MAX_PARTS) -> tuple[Message, bool]:
    """(the mail, whether parts beyond ``max_parts`` were left unread)."""
    if not raw.strip():
        raise BadRequest("the message is empty", "malformed_email")
    counter = _Counter()
    parser = BytesFeedParser(_factory=counter, policy=compat32)
    counter.count = 0  # the parser calls the factory once to try it
    truncated = False
    for offset in range(0, len(raw), _CHUNK):
        parser.feed(raw[offset:offset + _CHUNK])
        if counter.count > max_parts:
            truncated = True
            break
    return parser.close(), truncated


def read(raw: bytes) -> Message:
    return parse(raw)[0]


def header(mail: Message, name: str, keep_end: bool = False) -> str | None:
    """A header's value as written (the first of its name; 8-bit bytes as surrogate escapes,
    which compat32's get() would turn into U+FFFD), bounded in length; None when absent."""
    values = all_headers(mail, name)
    return cap(values[0], keep_end) if values else None


def all_headers(mail: Message, name: str) -> list[str]:
    name = name.lower()
    return [str(value) for key, value in mail.raw_items() if key.lower() == name]


def text_header(mail: Message, name: str, charset: str | None = None) -> str:
    value = header(mail, name)
    return " ".join(decode(value, charset).split()) if value else ""


def _declared_charset(mail: Message) -> str | None:
    """The charset the mail declares (for 8-bit header bytes): the top level's, else the
    first text part's."""
    for part in _walk(mail):
        charset = part.get_content_charset()
        if charset:
            return charset
    return None


def sender(mail: Message) -> tuple[str, str | None]:
    """(lower-cased address, display name) of the first address of From."""
    value = cap(one_line(header(mail, "From") or ""), limit=MAX_ADDRESS_CHARS)
    for name, addr in getaddresses([value]):
        if "@" in addr:
            address = decode(addr.strip()).lower()
            shown = " ".join(decode(name, _declared_charset(mail)).split())
            return address, shown or None
    raise BadRequest("no sender address in 'From'", "malformed_email")


def message_id(mail: Message, raw: bytes) -> str:
    """The Message-ID (the de-duplication key). A mail without one is keyed on a hash of
    its identifying headers and its body, with line endings and trailing blanks normalised:
    the same mail by SMTP (CRLF) and by an HTTP post (LF) gets the same key."""
    ids = message_ids(header(mail, "Message-ID"))
    if ids:
        return ids[0]
    digest = hashlib.sha256()
    for name in _KEY_HEADERS:
        for value in all_headers(mail, name):
            digest.update(f"{name}:{' '.join(one_line(str(value)).split())}\n".encode("utf-8", "surrogateescape"))
    body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")[2]
    lines = [line.rstrip() for line in body.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    digest.update(b"\n" + b"\n".join(lines))
    return "sha256:" + digest.hexdigest()


def is_auto_reply(mail: Message, address: str | None = None) -> bool:
    """Sent by a machine, so never to be answered by one (RFC 3834 section 2):
    - Auto-Submitted with any value but "no" (RFC 3834 section 5: auto-replied,
      auto-generated, auto-notified);
    - X-Autoreply or X-Autorespond, which vacation responders older than RFC 3834 put on
      their answers, whatever the value;
    - Precedence bulk, junk or list (mass mail and mailing lists, RFC 2076), or auto_reply
      (some responders' own mark);
    - a null reverse path (Return-Path: <>, as the delivering server records MAIL FROM:<>):
      bounces and reports, whose answer would have nowhere to go;
    - From MAILER-DAEMON (``address``, already read), and any multipart/report (a delivery
      or read report that the bounce reader did not take)."""
    auto = (header(mail, "Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if header(mail, "X-Autoreply") is not None or header(mail, "X-Autorespond") is not None:
        return True
    if (header(mail, "Precedence") or "").strip().lower() in AUTO_PRECEDENCE:
        return True
    if (header(mail, "Return-Path") or "x").strip().strip("<>").strip() == "":
        return True
    if address is not None and address.rpartition("@")[0] in SYSTEM_SENDERS:
        return True
    return mail.get_content_type() == "multipart/report"


def suppresses_auto_reply(mail: Message) -> bool:
    """The sender asked for no automatic answer (X-Auto-Response-Suppress, see SUPPRESSING)."""
    value = (header(mail, "X-Auto-Response-Suppress") or "").lower()
    return any(part.strip() in SUPPRESSING for part in value.split(",")[:20])


def _timestamp(mail: Message) -> datetime | None:
    try:
        stamp = parsedate_to_datetime(one_line(header(mail, "Date") or "")[:200])
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    return stamp.astimezone(timezone.utc) if stamp.tzinfo is not None else None


def _walk(mail: Message, into_attached: bool = True) -> list[Message]:
    """Every part, in document order, at most MAX_DEPTH levels deep (iteratively); with
    ``into_attached`` False, not the parts inside an attached mail (message/rfc822)."""
    found: list[Message] = []
    stack: list[tuple[Message, int]] = [(mail, 0)]
    while stack:
        part, depth = stack.pop()
        found.append(part)
        children = part.get_payload()
        if not into_attached and depth and part.get_content_type() == "message/rfc822":
            continue
        if part.is_multipart() and isinstance(children, list) and depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))
    return found


# -- bounces -------------------------------------------------------------------------------

def is_bounce(mail: Message) -> bool:
    return (mail.get_content_type() == "multipart/report"
            and str(mail.get_param("report-type") or "").lower() == "delivery-status")


def parse_bounce(mail: Message) -> Bounce:
    """A delivery status notification (RFC 3464): the message it reports on, as failed with
    the status code and the remote server's diagnostic. None for a delay warning, or when
    the original Message-ID cannot be found."""
    original: str | None = None
    fields: dict[str, str] = {}
    for name in ("Original-Message-ID", "X-Original-Message-ID"):
        original = original or next(iter(message_ids(header(mail, name))), None)
    for part in _walk(mail):
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload():
                if isinstance(block, Message) and block.get("Status") and not fields:
                    fields = {k.lower(): one_line(cap(str(v))) for k, v in block.items()}
                elif isinstance(block, Message) and block.get("Original-Message-ID") and original is None:
                    original = next(iter(message_ids(header(block, "Original-Message-ID"))), None)
        elif ctype in ("message/rfc822", "text/rfc822-headers") and original is None:
            inner = _embedded(part)
            if inner is not None:
                original = next(iter(message_ids(header(inner, "Message-ID"))), None)
    action = fields.get("action", "failed").strip().lower()
    status = fields.get("status", "").strip()
    if action != "failed" or status.startswith("4"):
        log.info("delivery status notification with action %r, status %r: not a failure", action, status)
        return Bounce()
    if original is None:
        log.info("delivery status notification without the original Message-ID: ignored")
        return Bounce()
    diagnostic = " ".join(fields.get("diagnostic-code", "").split())
    if ";" in diagnostic:  # "smtp; 550 5.1.1 <x@y>: Recipient address rejected"
        diagnostic = diagnostic.split(";", 1)[1].strip()
    recipient = fields.get("final-recipient", "").split(";")[-1].strip()
    reason = diagnostic or f"the recipient's mail server could not deliver it (status {status or 'unknown'})"
    if recipient:
        reason = f"{recipient}: {reason}"
    return Bounce(original, status or "bounced", f"Bounced: {reason}")


def _embedded(part: Message) -> Message | None:
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        first = payload[0] if isinstance(payload, list) and payload else None
        return first if isinstance(first, Message) else None
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):
        return None
    return BytesHeaderParser(policy=compat32).parsebytes(content[:MAX_HEADER_BYTES])


# -- the customer's message ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class File:
    """An attachment or inline image, as read from the mail (stored later, by the server)."""

    content: bytes
    content_type: str
    filename: str | None = None
    cid: str | None = None


@dataclass(frozen=True, slots=True)
class Parts:
    plain: str | None
    html: str | None
    files: list[File]


@dataclass(frozen=True, slots=True)
class Digest:
    """What ``digest`` reads from a customer's mail: plain data, sent back from the worker."""

    address: str
    name: str | None
    subject: str
    message_id: str
    references: list[str]
    thread_refs: list[str]
    timestamp: datetime | None
    text: str
    quoted: str | None = None
    html: str | None = None  # sanitised; inline images point at placeholders until stored
    files: list[File] = field(default_factory=list)
    inline: dict[str, int] = field(default_factory=dict)  # placeholder -> index in files
    auto_submitted: bool = False  # sent by a machine (is_auto_reply)
    no_auto_reply: bool = False  # the sender asked for no automatic answer (suppresses_auto_reply)
    note: str | None = None  # shown to agents: what could not be read, and why
    keep_original: bool = False  # not all of it could be read: keep the whole mail as an .eml download
    auth_results: list[str] = field(default_factory=list)  # Authentication-Results, top first (sender_auth.py)


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery status notification: the message of ours that failed (None: a delay
    warning, or the original Message-ID was not found), with the code and the reason."""

    message_id: str | None = None
    code: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Refused:
    """The mail cannot be taken at all (empty, no sender): the reason, for the sender."""

    message: str
    code: str


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment"


def _body(part: Message, subtype: str, depth: int = 0) -> Message | None:
    """The body part of one text subtype, chosen as the stdlib's get_body chooses it: the
    first one through multipart/alternative and mixed, only the root of multipart/related,
    never an attachment."""
    if depth > MAX_DEPTH or _is_attachment(part):
        return None
    if part.get_content_maintype() == "text":
        return part if part.get_content_subtype() == subtype else None
    payload = part.get_payload()
    if part.get_content_maintype() != "multipart" or not part.is_multipart() or not isinstance(payload, list):
        return None
    children = parts = [child for child in payload if isinstance(child, Message)]  # a multipart's payload: its parts
    if part.get_content_subtype() == "related":
        children = parts[:1]
        start = message_ids(str(part.get_param("start") or "")) or None
        for child in parts:
            if start and message_ids(header(child, "Content-ID")) == start:
                children = [child]
    for child in children:
        found = _body(child, subtype, depth + 1)
        if found is not None:
            return found
    return None


def _repair(mail: Message) -> None:
    """A multipart whose boundary is missing or wrong parses as one text blob. Find the
    boundary its lines use and parse again; failing that, read it as plain text, so it is
    shown rather than listed as an attachment nobody can open."""
    for part in _walk(mail):
        if part.get_content_maintype() != "multipart" or part.is_multipart():
            continue
        body = str(part.get_payload() or "")
        recovered = _reparse(part.get_content_type(), body)
        if recovered is not None:
            part.set_payload(recovered.get_payload())
        else:
            part.set_type("text/plain")


def _reparse(content_type: str, body: str) -> Message | None:
    for line in body.split("\n", 200)[:200]:
        line = line.rstrip("\r")
        boundary = line[2:].rstrip()
        if line.startswith("--") and boundary and '"' not in boundary and "\\" not in boundary:
            if body.count("--" + boundary) < 2:
                return None
            head = f'Content-Type: {content_type}; boundary="{boundary}"\n\n'
            mail, _ = parse(raw_bytes(head + body), MAX_PARTS)
            return mail if mail.is_multipart() else None
    return None


def _filename(part: Message) -> str | None:
    # compat32's get_filename would read 8-bit bytes (a raw UTF-8 or Latin-1 name, as many
    # mailers write it) as U+FFFD: decode the two headers first, then let it parse them.
    decoded = Message()
    for name in ("Content-Disposition", "Content-Type"):
        value = header(part, name)
        if value is not None:
            decoded[name] = value if value.isascii() else decode(value, part.get_content_charset())
    try:
        filename = decoded.get_filename()
    except (ValueError, LookupError, TypeError):  # a broken RFC 2231 parameter
        filename = None
    if filename is not None:
        return decode(cap(str(filename), limit=1000)).strip() or None
    if part.get_content_type() == "message/rfc822":
        inner = _embedded(part)
        subject = text_header(inner, "Subject") if inner is not None else ""
        return f"{subject or 'message'}.eml"
    return None


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    return decode_body(data, part.get_content_charset()) if isinstance(data, bytes) else ""


def _file(part: Message) -> File:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        content = inner[0].as_bytes() if isinstance(inner, list) and inner and isinstance(inner[0], Message) else b""
        content_type = "application/octet-stream"  # a forwarded mail: a download, never rendered
    else:
        decoded = part.get_payload(decode=True)
        content = decoded if isinstance(decoded, bytes) else b""
    cid = message_ids(header(part, "Content-ID"))
    return File(content, _TYPE_ALIASES.get(content_type, content_type), _filename(part), cid[0] if cid else None)


def split_parts(mail: Message) -> Parts:
    """The body (plain and HTML, as get_body would choose them) and every other leaf part:
    attachments and inline images. Containers (multipart/*) are never files; a winmail.dat
    gives its body (when the mail has none) and its files."""
    _repair(mail)
    plain_part, html_part = _body(mail, "plain"), _body(mail, "html")
    plain = _text(plain_part) if plain_part is not None else None
    markup = _text(html_part) if html_part is not None else None
    files: list[File] = []
    # Not into attached mails (message/rfc822): each is kept whole as an .eml download.
    for part in _walk(mail, into_attached=False):
        if part is plain_part or part is html_part or part.get_content_maintype() == "multipart":
            continue
        item = _file(part)
        contents = winmail.read(item.content) if winmail.is_tnef(item.content_type, item.filename,
                                                                 item.content) else None
        if contents is None:
            files.append(item)
            continue
        if not (plain or "").strip() and not (markup or "").strip():
            plain, markup = contents.text, contents.html
        files.extend(File(content, ctype, name) for name, ctype, content in contents.files)
    return Parts(plain, markup, files)


def sanitise_html(markup: str, inline: dict[str, str]) -> str:
    """Inline images (cid:) point at ``inline``'s URLs (unknown ones at nothing); then nh3
    keeps only harmless markup: no scripts, styles, event handlers or javascript: URLs."""
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
        words = " ".join(data.split())  # runs of white space as one space, as a browser shows them
        text = (" " if data[:1].isspace() else "") + words + (" " if data[-1:].isspace() and words else "")
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


def digest(raw: bytes) -> Digest | Bounce | Refused:
    """The whole reading of one mail (run in a worker process: see pool.py)."""
    try:
        mail, truncated = parse(raw)
        if is_bounce(mail):
            return parse_bounce(mail)
        address, name = sender(mail)
    except BadRequest as exc:
        return Refused(exc.message, exc.code)
    parts = split_parts(mail)
    token = "inline-" + secrets.token_hex(8) + "-"
    placeholders = {f.cid: f"{token}{i:05d}" for i, f in enumerate(parts.files) if f.cid}
    notes = [f"This mail has more than {MAX_PARTS} parts: the first ones are shown."] if truncated else []
    if parts.html and len(parts.html) > MAX_HTML_INPUT:
        notes.append(f"Its HTML is over {MAX_HTML_INPUT:,} characters: only the beginning is shown.")
    clean_html = sanitise_html(parts.html[:MAX_HTML_INPUT], placeholders) if parts.html else None
    text = parts.plain if parts.plain is not None and parts.plain.strip() else html_to_text(clean_html or "")
    subject = text_header(mail, "Subject", _declared_charset(mail))
    text, quoted = split_reply(text, subject)
    refs = message_ids(header(mail, "References", keep_end=True))
    in_reply_to = message_ids(header(mail, "In-Reply-To", keep_end=True))
    chain = refs or in_reply_to  # RFC 5322 3.6.4: the parent's References, else its In-Reply-To
    note = " ".join([*notes, "The whole mail is attached as original.eml."]) if notes else None
    return Digest(
        address=address, name=name, subject=subject, message_id=message_id(mail, raw),
        references=chain[-MAX_REFS:],
        # the direct parent last: ingest tries the references from the end
        thread_refs=list(dict.fromkeys([*refs, *in_reply_to]))[-MAX_REFS:],
        timestamp=_timestamp(mail), text=text, quoted=quoted,
        html=clean_html if clean_html and len(clean_html) <= MAX_HTML_CHARS else None,
        files=parts.files, inline={p: int(p[len(token):]) for p in placeholders.values()},
        auto_submitted=is_auto_reply(mail, address), no_auto_reply=suppresses_auto_reply(mail), note=note,
        keep_original=bool(notes), auth_results=authentication_results(mail))


def authentication_results(mail: Message) -> list[str]:
    """The first Authentication-Results headers, top first, for sender_auth to judge; one too
    long to read whole is left out rather than cut (a cut domain could read as another)."""
    values = (str(v) for v in (mail.get_all("Authentication-Results") or [])[:MAX_AUTH_RESULTS])
    return [v for v in values if len(v) <= MAX_HEADER_CHARS]


def headers_only(raw: bytes, reason: str) -> Digest | Refused:
    """What can be read cheaply when the full reading failed or ran out of time: the header
    section only (bounded), for the sender, subject and thread. The agent sees ``reason``
    and the whole mail as an .eml download."""
    end = raw.find(b"\n\n", 0, MAX_HEADER_BYTES)
    end_crlf = raw.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES)
    ends = [e for e in (end, end_crlf) if e >= 0]
    mail = BytesHeaderParser(policy=compat32).parsebytes(raw[:min(ends) if ends else MAX_HEADER_BYTES])
    try:
        address, name = sender(mail)
    except BadRequest as exc:
        return Refused(exc.message, exc.code)
    refs = message_ids(header(mail, "References", keep_end=True))
    in_reply_to = message_ids(header(mail, "In-Reply-To", keep_end=True))
    return Digest(
        address=address, name=name, subject=text_header(mail, "Subject"), message_id=message_id(mail, raw),
        references=(refs or in_reply_to)[-MAX_REFS:],
        thread_refs=list(dict.fromkeys([*refs, *in_reply_to]))[-MAX_REFS:],
        timestamp=_timestamp(mail), text=f"[{reason} The whole mail is attached as original.eml.]",
        auto_submitted=is_auto_reply(mail, address), no_auto_reply=suppresses_auto_reply(mail), note=reason,
        keep_original=True, auth_results=authentication_results(mail))


def escape_text_as_html(text: str) -> str:
    paragraphs = (html.escape(p).replace("\n", "<br>\n") for p in re.split(r"\n\s*\n", text.strip()))
    return "".join(f"<p>{p}</p>\n" for p in paragraphs)

