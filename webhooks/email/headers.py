"""Header values and text as the inbox reads them: bounded in length, unfolded, RFC 2047
encoded words decoded, and 8-bit bytes turned into text by the best charset we can find.

Everything here is plain string logic, linear in its input, because the input is a
stranger's: no regular expression, no stdlib header registry (policy.default's header
parser took 7.5 s for a 60 KB From header). Values arrive as the stdlib's compat32 parser
keeps them, 8-bit bytes as surrogate escapes.

Charsets (a careful reading of what mailers actually send):
- gb2312 and gbk labels are read as gb18030, their superset (mailers label GB18030 bytes
  gb2312); ISO-8859-1 and US-ASCII labels as windows-1252, as browsers do (WHATWG Encoding).
- Body text: the declared charset; if the bytes are not valid in it, UTF-8; else windows-1252.
- 8-bit header bytes (not allowed by RFC 5322, common anyway): UTF-8 first (RFC 6532 makes
  raw UTF-8 the one standard form), then the charset the mail declares, then windows-1252.
"""

from __future__ import annotations

import base64
import binascii
import codecs

MAX_HEADER_CHARS = 16_000  # a longer header is cut (References and In-Reply-To keep their end)
MAX_ADDRESS_CHARS = 2_000  # From: only the first address is used; 8,000 addresses cost seconds to split
_MAX_WORD_CHARS = 1_000  # one encoded word (RFC 2047 says 75; real mailers write longer ones)
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
            "csgb2312": "gb18030", "euc-cn": "gb18030", "cp936": "gb18030", "ks_c_5601-1987": "cp949",
            "iso-8859-8-i": "iso-8859-8", "x-sjis": "shift_jis", "latin-1": "cp1252", "iso-8859-1": "cp1252",
            "iso8859-1": "cp1252", "us-ascii": "ascii", "ansi_x3.4-1968": "ascii"}


def codec(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, None when unknown or not a text encoding."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()[:40]
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib, rot13...: not a charset
        return None
    found = _ALIASES.get(info.name, info.name)
    return {"gb2312": "gb18030", "gbk": "gb18030", "latin-1": "cp1252", "iso8859-1": "cp1252"}.get(found, found)


def _first_fit(data: bytes, charsets: list[str | None]) -> str:
    """The text in the first charset the bytes are valid in; windows-1252 (with U+FFFD only
    for the five bytes it leaves undefined) when none fits."""
    for charset in dict.fromkeys(c for c in charsets if c is not None):
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", "replace")


def decode_body(data: bytes, declared: str | None) -> str:
    """Body text: the declared charset, else UTF-8, else windows-1252."""
    charset = codec(declared)
    if charset == "utf-8":  # a UTF-8 text with a stray byte: keep the rest readable
        return data.decode("utf-8", "replace")
    return _first_fit(data, [None if charset == "ascii" else charset, "utf-8"])


def decode_8bit(data: bytes, declared: str | None) -> str:
    """8-bit bytes in a header: UTF-8, then the declared charset, then windows-1252."""
    charset = codec(declared)
    return _first_fit(data, ["utf-8", None if charset == "ascii" else charset])


def raw_bytes(value: str) -> bytes:
    """The bytes behind a compat32 string (8-bit bytes are surrogate escapes)."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # real non-ASCII characters (text that did not come from bytes)
        return value.encode("utf-8", "surrogateescape")


def one_line(value: str) -> str:
    """Unfolded (RFC 5322 2.2.3) and without any line break left: a subject with an encoded
    CR/LF must not break the headers of our reply."""
    lines = value.splitlines()
    joined = "".join(line if i == 0 or line[:1] in (" ", "\t") else " " + line for i, line in enumerate(lines))
    return joined.replace("\r", " ").replace("\n", " ")


def cap(value: str, keep_end: bool = False, limit: int = MAX_HEADER_CHARS) -> str:
    if len(value) <= limit:
        return value
    return value[-limit:] if keep_end else value[:limit]


def decode(value: str, declared: str | None = None) -> str:
    """A header's text: unfolded, encoded words decoded (adjacent words joined, as RFC 2047
    6.2 says), 8-bit bytes decoded. Malformed words stay as they were written."""
    text = one_line(value)
    out: list[str] = []
    run: list[bytes] = []  # bytes of adjacent encoded words in one charset, decoded together
    run_charset = ""
    pos = 0
    after_word = False

    def flush() -> None:
        if run:
            out.append(decode_body(b"".join(run), run_charset))
            run.clear()

    while (start := text.find("=?", pos)) >= 0:
        word = _encoded_word(text, start)
        if word is None:
            flush()
            out.append(_plain(text[pos:start + 2], declared))
            pos, after_word = start + 2, False
            continue
        end, charset, data = word
        between = text[pos:start]
        if not (after_word and between.strip(" \t") == ""):
            flush()
            out.append(_plain(between, declared))
        if run and charset != run_charset:
            flush()
        run_charset = charset
        run.append(data)
        pos, after_word = end, True
    flush()
    out.append(_plain(text[pos:], declared))
    return "".join(out)


def _plain(segment: str, declared: str | None) -> str:
    return segment if segment.isascii() else decode_8bit(raw_bytes(segment), declared)


def _encoded_word(text: str, start: int) -> tuple[int, str, bytes] | None:
    """(end, charset, bytes) of the encoded word =?charset?B|Q?data?= at ``start``, or None."""
    limit = min(len(text), start + _MAX_WORD_CHARS)
    mark = text.find("?", start + 2, limit)
    if mark < 0 or mark + 3 > limit or text[mark + 2] != "?":
        return None
    charset = text[start + 2:mark].split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*en?...
    encoding = text[mark + 1].lower()
    end = text.find("?=", mark + 3, limit)
    if end < 0 or encoding not in ("b", "q") or not charset:
        return None
    data = text[mark + 3:end]
    if not data.isascii():
        return None
    try:
        if encoding == "b":
            raw = base64.b64decode(data + "=" * (-len(data) % 4))
        else:
            raw = binascii.a2b_qp(data.encode("ascii"), header=True)
    except (binascii.Error, ValueError):
        return None
    return end + 2, charset, raw


def message_ids(value: str | None) -> list[str]:
    """Message-IDs in a header (In-Reply-To, References), without their angle brackets, in
    order, once each."""
    if value is None:
        return []
    found: list[str] = []
    for piece in value.split("<")[1:]:
        ident, closed, _ = piece.partition(">")
        if closed and ident and not any(c.isspace() for c in ident):
            found.append(ident)
    stripped = value.strip()
    if not found and stripped and not any(c.isspace() for c in stripped):
        found = [stripped.strip("<>")]  # some mailers drop the brackets
    return list(dict.fromkeys(found))
