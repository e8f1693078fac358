"""Outlook's TNEF attachments (winmail.dat, application/ms-tnef): the body and the files
inside, with tnefparse (https://github.com/koodaamo/tnefparse, 1.4).

Outlook sends a mail as TNEF only when "Rich Text" is chosen; the recipient's client then
sees an empty mail with a winmail.dat attachment. We show the plain text (or HTML) body it
carries and store the files in it. An RTF-only body is not converted: the winmail.dat is
then kept as a download, so nothing is lost.
"""

from __future__ import annotations

import logging
import mimetypes
import struct
from dataclasses import dataclass

from tnefparse import TNEF

from webhooks.email.headers import decode_body

log = logging.getLogger(__name__)

SIGNATURE = b"\x78\x9f\x3e\x22"
# tnefparse copies the rest of the data at each object it reads: bound objects x size first.
MAX_OBJECTS = 10_000
MAX_COPIED_BYTES = 2_000_000_000  # about half a second of copying


@dataclass(frozen=True, slots=True)
class Contents:
    text: str | None
    html: str | None
    files: list[tuple[str, str, bytes]]  # (filename, content type, bytes)


def is_tnef(content_type: str, filename: str | None, content: bytes) -> bool:
    named = (filename or "").lower() == "winmail.dat"
    return (content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or named) \
        and content.startswith(SIGNATURE)


def _objects(data: bytes) -> int:
    """How many attribute objects the stream holds (each: level, id, length, data, checksum)."""
    count, offset = 0, 6
    while offset + 12 < len(data):
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += length + 11
        count += 1
        if count > MAX_OBJECTS:
            break
    return count


def read(data: bytes) -> Contents | None:
    """What the TNEF stream carries, or None when it cannot be read (then keep the file)."""
    objects = _objects(data)
    if objects > MAX_OBJECTS or objects * len(data) > MAX_COPIED_BYTES:
        log.info("winmail.dat of %d bytes with %d objects: kept as a file", len(data), objects)
        return None
    try:
        tnef = TNEF(data, do_checksum=False)
        text = _text(tnef.body, tnef.codepage)
        html = _text(tnef.htmlbody, tnef.codepage)
        files = []
        for attachment in tnef.attachments:
            name = str(attachment.long_filename() or attachment.name or "attachment").strip("\x00") or "attachment"
            content = attachment.data if isinstance(attachment.data, bytes) else b""
            files.append((name, mimetypes.guess_type(name)[0] or "application/octet-stream", content))
    except Exception as exc:  # noqa: BLE001 - a damaged stream may fail anywhere inside tnefparse
        log.info("winmail.dat could not be read: %s: %s", type(exc).__name__, exc)
        return None
    if text is None and html is None and not files:
        return None
    return Contents(text, html, files)


def _text(value: object, codepage: str | None) -> str | None:
    if isinstance(value, bytes):
        value = decode_body(value.rstrip(b"\x00"), codepage)
    return value.strip("\x00") if isinstance(value, str) and value.strip("\x00").strip() else None
