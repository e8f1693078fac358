"""An inbox's keywords (docs/automation.md, "Keywords and opt-out"): the opt-out, opt-in
and help words that work on every channel, with the confirmation each sends, and keyword
replies ("HOURS", "MENU") that answer and label. Pure: ingest applies them
(inbox/actions/keywords.py).

An inbox's ``keywords`` is ``{"stop": [...], "start": [...], "help": [...], "stop_reply",
"start_reply", "help_reply", "rules": [{"word", "reply", "label_ids"}]}``; a key left out
takes its default. Opt-out words match a message that is the word and nothing else (any
case, punctuation around it ignored), as carriers match STOP: "Cancel my order" opts
nobody out. A keyword rule matches the message's first word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

from inbox.domain.errors import Invalid

# As carriers and Twilio read them on SMS; "YES", "CANCEL", "END" and "QUIT" only there
# (elsewhere they are ordinary words).
SMS_STOP = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")
SMS_START = ("START", "UNSTOP", "YES")
STOP = ("STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT")
START = ("START", "UNSTOP")
HELP = ("HELP", "INFO")
STOP_REPLY = "You will get no more messages from us here. Send START to hear from us again."
START_REPLY = "Welcome back: you will get our messages here again. Send STOP to stop them."
MAX_WORDS = 20
MAX_WORD_CHARS = 30
MAX_REPLY_CHARS = 1000
MAX_RULES = 50
_PUNCTUATION = " \t\r\n.,;:!?¡¿'\"()[]{}*_~-"


class Rule(TypedDict):
    word: str
    reply: str
    label_ids: list[int]


class Keywords(TypedDict):
    stop: list[str]
    start: list[str]
    help: list[str]
    stop_reply: str
    start_reply: str
    help_reply: str
    rules: list[Rule]


def defaults(kind: str) -> Keywords:
    """An inbox's keywords when it stores none. On SMS, Twilio answers STOP, START and HELP
    itself (carriers require it), so the inbox sends no confirmation of its own there."""
    sms = kind == "sms"
    return {"stop": list(SMS_STOP if sms else STOP), "start": list(SMS_START if sms else START), "help": list(HELP),
            "stop_reply": "" if sms else STOP_REPLY, "start_reply": "" if sms else START_REPLY, "help_reply": "",
            "rules": []}


def normalised(stored: Mapping[str, Any] | None, kind: str) -> Keywords:
    out = defaults(kind)
    for key, value in (stored or {}).items():
        if key in out:
            out[key] = value  # type: ignore[literal-required]
    return out


def stored(raw: Any) -> Mapping[str, Any] | None:
    """An inbox's ``keywords`` as the driver hands it over (text from SQLite)."""
    if raw is None or raw == "{}" or raw == {}:
        return None
    value = json.loads(raw) if isinstance(raw, str) else raw
    return value if isinstance(value, Mapping) else None


def word(text: str) -> str:
    """A word as keywords compare: upper case, punctuation around it dropped."""
    return text.strip(_PUNCTUATION).upper()


def whole(text: str) -> str | None:
    """The message as one keyword, when it is one word (else None): STOP, "stop.", " Stop! "."""
    if len(text) > 64:
        return None
    bare = word(text)
    return bare if bare and not any(c.isspace() for c in bare) else None


def first(text: str) -> str:
    parts = text.lstrip(_PUNCTUATION).split(None, 1)
    return word(parts[0]) if parts else ""


def _words(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_WORDS or not all(isinstance(v, str) for v in value):
        raise Invalid(f"keywords.{where} must be a list of at most {MAX_WORDS} words", "invalid_keywords")
    out = []
    for v in value:
        w = word(v)
        if not w or len(w) > MAX_WORD_CHARS or any(c.isspace() for c in w):
            raise Invalid(f"keywords.{where}: {v!r} is not one word of at most {MAX_WORD_CHARS} characters",
                          "invalid_keywords")
        if w not in out:
            out.append(w)
    return out


def _reply(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_REPLY_CHARS:
        raise Invalid(f"keywords.{where} must be text of at most {MAX_REPLY_CHARS} characters", "invalid_keywords")
    return value.strip()


def check(patch: Any, current: Mapping[str, Any] | None, kind: str) -> Keywords:
    """``patch`` merged into ``current``; Invalid ``invalid_keywords`` names the key. A word
    may not be two things at once (both STOP and a keyword rule's word, say)."""
    if not isinstance(patch, Mapping):
        raise Invalid('keywords must be an object: {"stop": [...], "rules": [...]}', "invalid_keywords")
    merged = normalised(current, kind)
    for key, value in patch.items():
        if key in ("stop", "start", "help"):
            merged[key] = _words(value, key)  # type: ignore[literal-required]
        elif key in ("stop_reply", "start_reply", "help_reply"):
            merged[key] = _reply(value, key)  # type: ignore[literal-required]
        elif key == "rules":
            if not isinstance(value, list) or len(value) > MAX_RULES:
                raise Invalid(f"keywords.rules must be a list of at most {MAX_RULES}", "invalid_keywords")
            rules: list[Rule] = []
            for i, raw in enumerate(value):
                where = f"rules[{i}]"
                if not isinstance(raw, Mapping):
                    raise Invalid(f'keywords.{where} must be {{"word", "reply", "label_ids"}}', "invalid_keywords")
                w = _words([raw.get("word") if isinstance(raw.get("word"), str) else ""], f"{where}.word")[0]
                labels = raw.get("label_ids") or []
                if not isinstance(labels, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                          for x in labels) or len(labels) > 10:
                    raise Invalid(f"keywords.{where}.label_ids must be a list of at most 10 label ids",
                                  "invalid_keywords")
                reply = _reply(raw.get("reply", ""), f"{where}.reply")
                if not reply and not labels:
                    raise Invalid(f"keywords.{where}: a keyword replies, labels, or both", "invalid_keywords")
                rules.append({"word": w, "reply": reply, "label_ids": list(labels)})
            merged["rules"] = rules
        else:
            raise Invalid(f"keywords.{key}: unknown; the keys are stop, start, help, stop_reply, start_reply, "
                          "help_reply and rules", "invalid_keywords")
    seen: dict[str, str] = {}
    for key in ("stop", "start", "help"):
        for w in merged[key]:  # type: ignore[literal-required]
            if w in seen:
                raise Invalid(f"keywords: {w} is both a {seen[w]} and a {key} word", "invalid_keywords")
            seen[w] = key
    for rule in merged["rules"]:
        if rule["word"] in seen:
            raise Invalid(f"keywords: {rule['word']} is both a {seen[rule['word']]} word and a keyword rule's",
                          "invalid_keywords")
        seen[rule["word"]] = "rule"
    return merged


def opt_out(keywords: Keywords, text: str) -> tuple[bool | None, str]:
    """What the message asks of the opt-out: (True: stop, False: start again, None:
    neither) and the word's kind ("stop", "start", "help" or "")."""
    bare = whole(text)
    if bare is None:
        return None, ""
    if bare in keywords["stop"]:
        return True, "stop"
    if bare in keywords["start"]:
        return False, "start"
    if bare in keywords["help"]:
        return None, "help"
    return None, ""


def rule_for(keywords: Keywords, text: str) -> Rule | None:
    if not keywords["rules"]:
        return None
    got = first(text)
    return next((r for r in keywords["rules"] if r["word"] == got), None)
