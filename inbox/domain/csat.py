"""Satisfaction surveys (docs/csat.md): an inbox's setting and its check, the survey a
customer reads on each channel, the choices they press and how an answer is recognised,
and the signed link to our rating page.

An inbox's ``csat`` is ``{"mode": "off" | "on_resolve", "question", "interval_days",
"expiry_days", "whatsapp_template": {"name", "language"} | None, "version"}``: stored whole,
as checked here. ``version`` counts the changes of the wording; each survey keeps the
question and version it was sent with, so a changed question never rewrites old answers.

A press carries its survey in its data, ``csat:<survey id>:<score>``: Telegram's
callback_data, a Messenger quick reply's payload, a WhatsApp list row's id or a template
button's payload. A typed answer ("4") counts only while the conversation is resolved with
its survey waiting, so "2" answering an agent's question in a reopened conversation is never
a rating.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, TypedDict

from inbox.domain.errors import Invalid

MODES = ("off", "on_resolve")
SCORES = (5, 4, 3, 2, 1)  # best first, as every list of choices shows them
LABELS = {5: "Excellent", 4: "Good", 3: "Okay", 2: "Poor", 1: "Very poor"}
SATISFIED = 4  # a score of at least this is a satisfied customer (reports' "satisfied")
DEFAULT_QUESTION = "How would you rate the help you got from us?"
MAX_QUESTION_CHARS = 300
MAX_COMMENT_CHARS = 2000
PREFIX = "csat:"


class Template(TypedDict):
    name: str
    language: str


class Setting(TypedDict):
    mode: str
    question: str
    interval_days: int
    expiry_days: int
    whatsapp_template: Template | None
    version: int


DEFAULTS: Setting = {"mode": "off", "question": DEFAULT_QUESTION, "interval_days": 7, "expiry_days": 7,
                     "whatsapp_template": None, "version": 1}


def normalised(stored: Mapping[str, Any] | None) -> Setting:
    """The setting as stored, defaults where nothing is (``{}``, the column's default: off)."""
    got = dict(stored or {})
    out: Setting = {**DEFAULTS}
    for key in DEFAULTS:
        if key in got:
            out[key] = got[key]  # type: ignore[literal-required]
    return out


def enabled(stored: Mapping[str, Any] | None) -> bool:
    return bool(stored) and (stored or {}).get("mode") == "on_resolve"


def check(patch: Any, current: Mapping[str, Any] | None) -> Setting:
    """``patch`` merged into ``current``; a changed question bumps the version. Invalid
    ``invalid_csat`` names the field that is wrong."""
    if not isinstance(patch, Mapping):
        raise Invalid('csat must be an object: {"mode": "on_resolve", "question": "..."}', "invalid_csat")
    merged = normalised(current)
    before = merged["question"]
    for key, value in patch.items():
        where = f"csat.{key}"
        if key == "mode":
            if value not in MODES:
                raise Invalid(f"{where} must be one of {', '.join(MODES)}", "invalid_csat")
            merged["mode"] = value
        elif key == "question":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_QUESTION_CHARS:
                raise Invalid(f"{where} must be text of 1 to {MAX_QUESTION_CHARS} characters", "invalid_csat")
            merged["question"] = value.strip()
        elif key in ("interval_days", "expiry_days"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365 \
                    or (key == "expiry_days" and value < 1):
                low = 1 if key == "expiry_days" else 0
                raise Invalid(f"{where} must be a whole number of days from {low} to 365", "invalid_csat")
            merged[key] = value  # type: ignore[literal-required]
        elif key == "whatsapp_template":
            merged["whatsapp_template"] = _template(value, where)
        else:
            raise Invalid(f"{where}: unknown; the fields are mode, question, interval_days, expiry_days and "
                          "whatsapp_template", "invalid_csat")
    if merged["question"] != before:
        merged["version"] = int(merged["version"]) + 1
    return merged


def _template(value: Any, where: str) -> Template | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise Invalid(f'{where} must be null or {{"name": "...", "language": "en_US"}}', "invalid_csat")
    language = value.get("language") or "en_US"
    if not isinstance(language, str):
        raise Invalid(f"{where}.language must be text", "invalid_csat")
    return {"name": value["name"].strip()[:512], "language": language[:16]}


# -- choices and answers -------------------------------------------------------------------

def data(survey_id: int, score: int) -> str:
    """What a press carries: ``csat:<survey id>:<score>`` (well under Telegram's 64 bytes)."""
    return f"{PREFIX}{survey_id}:{score}"


def choices(survey_id: int) -> list[dict[str, Any]]:
    return [{"score": s, "label": f"{s} - {LABELS[s]}", "data": data(survey_id, s)} for s in SCORES]


def pressed(payload: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(survey id, score) of a press on one of our choices, from a stored message payload:
    Telegram's callback_data, a Messenger quick reply, a WhatsApp list reply or template
    button (Cloud API or Twilio); None for anything else. Survey id 0: a button that names
    no survey (``csat:<score>``, a template's fixed id), the conversation's waiting one."""
    if not payload:
        return None
    interactive = payload.get("interactive")
    candidates = [payload.get("callback_data"), _field(payload.get("quick_reply"), "payload"),
                  _field(payload.get("button"), "payload")]
    if isinstance(interactive, Mapping):
        for kind in ("list_reply", "button_reply"):
            candidates.append(_field(interactive.get(kind), "id"))
    for value in candidates:
        if isinstance(value, str) and value.startswith(PREFIX):
            parts = value[len(PREFIX):].split(":")
            if len(parts) == 1:  # a template's fixed button id (Twilio's Content API): the waiting survey
                parts = ["0", *parts]
            if len(parts) == 2 and all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
                score = int(parts[1])
                if 1 <= score <= 5:
                    return int(parts[0]), score
    return None


def _field(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def typed(text: str) -> int | None:
    """A score typed as the whole message ("4", " 5 ", "4/5", "3 stars"), or None."""
    words = text.strip().lower().replace("/5", " ").split()
    if not words or len(words) > 2 or len(text) > 20:
        return None
    if len(words) == 2 and words[1] not in ("star", "stars"):
        return None
    word = words[0]
    return int(word) if word in ("1", "2", "3", "4", "5") else None


# -- what the customer reads ---------------------------------------------------------------

def text(kind: str, question: str, link: str, buttons: bool) -> str:
    """The survey as stored and shown in the timeline, and as sent where the channel has no
    buttons: SMS asks for a digit, email gives one link per score; every channel ends with
    the link to our rating page."""
    if kind == "email":
        lines = [question, "", "Choose a score (5 is best):"]
        lines += [f"{s} - {LABELS[s]}: {link}?score={s}" for s in SCORES]
        return "\n".join(lines)
    if buttons:
        return f"{question}\nChoose a score below, or rate us here: {link}"
    return f"{question}\nReply with a number from 1 (very poor) to 5 (excellent), or rate us here: {link}"


# -- the signed link -----------------------------------------------------------------------

def token(secret: str, survey_id: int, expires: int) -> str:
    """``<survey id>.<expiry, Unix seconds>.<signature>``: the rating page's address names
    one survey and cannot be made for another without INBOX_SECRET_KEY."""
    return f"{survey_id}.{expires}.{_signature(secret, survey_id, expires)}"


def verify(secret: str, value: str) -> tuple[int, int] | None:
    """(survey id, expiry) of a genuine token; None for a forged or malformed one. Whether it
    has expired is the caller's question (it shows its own page for that)."""
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts[:2]):
        return None
    survey_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2].encode(), _signature(secret, survey_id, expires).encode()):
        return None
    return survey_id, expires


def _signature(secret: str, survey_id: int, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"csat.{survey_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()
