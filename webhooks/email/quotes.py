"""Cutting the quoted history and the signature from a reply's text, line by line.

Our own logic, in one pass over the lines (email-reply-parser's regular expression was cubic
in the number of lines starting with "On ": 300 of them held the event loop for 24 s). The
quoted history starts at the first of:

- an attribution line, possibly wrapped over three lines: "On ... wrote:" and its forms in
  German, French, Spanish, Dutch, Italian and Portuguese ("Am ... schrieb ...:", "Le ... a
  écrit :", "El ... escribió:", "Op ... schreef ...:", "Il ... ha scritto:", "Em ... escreveu:");
- Outlook's header block: a "From:" line followed within five lines by "Sent:", "Date:",
  "To:" or "Subject:", in the same languages ("Von: ... Gesendet:", "De : ... Envoyé :",
  "De: ... Enviado:", "Van: ... Verzonden:", "Da: ... Inviato:", "De: ... Enviada:"), with the
  separator line above it ("-----Original Message-----", "______") if there is one;
- an "Original Message" separator line on its own;
- a block of ">" lines that runs to the end of the text.

A forward ("---------- Forwarded message ---------", "Begin forwarded message:", or a subject
starting "Fwd:" / "FW:" / "WG:" / "TR:" / "RV:" / "I:") is shown whole: the forwarded mail is
the point of it. So is a text that would be all quote. Only the first MAX_SCAN_CHARS
characters are searched.
"""

from __future__ import annotations

MAX_SCAN_CHARS = 200_000
_HEADER_LOOKAHEAD = 5

_ATTRIBUTION = (("On ", ("wrote",)), ("Am ", ("schrieb",)), ("Le ", ("a écrit",)), ("El ", ("escribió",)),
                ("Op ", ("schreef",)), ("Il ", ("ha scritto", "scrisse")), ("Em ", ("escreveu",)))
_FROM = frozenset({"from", "von", "de", "van", "da"})
_HEADERS = frozenset({"sent", "date", "to", "subject", "cc",  # en
                      "gesendet", "datum", "an", "betreff",  # de
                      "envoyé", "à", "a", "objet",  # fr
                      "enviado", "enviada", "fecha", "para", "asunto", "assunto",  # es, pt
                      "verzonden", "aan", "onderwerp",  # nl
                      "inviato", "data", "oggetto"})  # it, pt
_SEPARATORS = frozenset({"original message", "ursprüngliche nachricht", "originalnachricht", "message d'origine",
                         "mensaje original", "oorspronkelijk bericht", "messaggio originale", "mensagem original"})
_FORWARDS = frozenset({"forwarded message", "begin forwarded message:", "weitergeleitete nachricht",
                       "message transféré", "mensaje reenviado", "doorgestuurd bericht", "messaggio inoltrato",
                       "mensagem encaminhada", "original message follows", "forwarded message follows"})
_FORWARD_SUBJECTS = ("fwd:", "fw:", "wg:", "tr:", "rv:", "i:", "enc:", "doorst:")
_SIGNATURE_LINES = ("Sent from my ", "Get Outlook for ", "Von meinem ", "Envoyé de mon ", "Enviado desde mi ",
                    "Verzonden vanaf mijn ", "Inviato da ", "Enviado do meu ")


def split_reply(text: str, subject: str = "") -> tuple[str, str | None]:
    """(the new text, the quoted history and signature cut from it, or None)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if subject.strip().lower().startswith(_FORWARD_SUBJECTS):
        return text, None
    scanned = text[:MAX_SCAN_CHARS].split("\n")
    start = _quote_start(scanned)
    if start is None:
        reply_lines, quoted = text.split("\n"), ""
    else:
        offset = sum(len(line) + 1 for line in scanned[:start])
        reply_lines, quoted = scanned[:start], text[offset:].strip()
    sig = _signature_start(reply_lines)
    reply = "\n".join(reply_lines[:sig]).strip()
    if not reply:  # all of it looked quoted: show it all
        return text, None
    rest = "\n".join(part for part in ("\n".join(reply_lines[sig:]).strip(), quoted) if part)
    return reply, rest or None


def _quote_start(lines: list[str]) -> int | None:
    # quoted_to_end[i]: every non-blank line from i on starts with ">" (computed backwards, once)
    quoted_to_end = [False] * (len(lines) + 1)
    quoted_to_end[len(lines)] = True
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        quoted_to_end[i] = quoted_to_end[i + 1] and (not line or line.startswith(">"))
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _is_forward(stripped):
            return None
        if _is_separator(stripped) or _is_attribution(lines, i):
            return i
        if _is_header(stripped, _FROM) and any(_is_header(lines[j].strip(), _HEADERS)
                                                for j in range(i + 1, min(len(lines), i + 1 + _HEADER_LOOKAHEAD))):
            above = _previous_nonblank(lines, i)
            return above if above is not None and _is_rule(lines[above].strip()) else i
        if stripped.startswith(">") and quoted_to_end[i]:
            return i
    return None


def _is_attribution(lines: list[str], i: int) -> bool:
    first = lines[i].strip()
    for prefix, verbs in _ATTRIBUTION:
        if not first.startswith(prefix):
            continue
        joined = first
        for extra in range(3):  # Gmail wraps a long attribution over up to three lines
            if extra:
                if i + extra >= len(lines) or not lines[i + extra].strip():
                    break
                joined += " " + lines[i + extra].strip()
            if joined.endswith(":") and any(verb in joined for verb in verbs):
                return True
    return False


def _is_header(line: str, names: frozenset[str]) -> bool:
    """A mail header line as clients quote it: "From: x", "*From:* x" (Gmail's bold in plain
    text), "De : x" (French spacing)."""
    name, colon, value = line.lstrip("*").partition(":")
    return bool(colon) and len(name) <= 20 and name.strip(" *\u00a0").lower() in names and bool(value.strip(" *"))


def _separator_words(line: str) -> str:
    return line.strip("-_= \u00a0").lower()


def _is_separator(line: str) -> bool:
    return line.startswith("--") and _separator_words(line) in _SEPARATORS


def _is_forward(line: str) -> bool:
    return _separator_words(line) in _FORWARDS


def _is_rule(line: str) -> bool:
    return len(line) >= 5 and not _separator_words(line) or _is_separator(line)


def _previous_nonblank(lines: list[str], i: int) -> int | None:
    for j in range(i - 1, max(-1, i - 3), -1):
        if lines[j].strip():
            return j
    return None


def _signature_start(lines: list[str]) -> int:
    """Where the signature starts: the last "-- " delimiter line (RFC 3676 4.3), or a
    trailing "Sent from my ..." line. len(lines) when there is none."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].rstrip() == "--":
            return i
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            return i if lines[i].strip().startswith(_SIGNATURE_LINES) else len(lines)
    return len(lines)
