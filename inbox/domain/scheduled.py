"""Scheduled messages (docs/campaigns.md, "Scheduled messages"): a reply an agent writes now
and sends later, and a reminder the API schedules for a contact. Pure: the request's check
and when it falls due. The engine is ``inbox/actions/scheduled.py``; the campaign worker
sends them at their time.

A request is ``{"text" | "template", "at": ISO instant | "local": "YYYY-MM-DDTHH:MM",
"inbox_id"?, "purpose"?}``. ``local`` is a time in the customer's zone (their ``timezone``
attribute, else their phone number's, else the inbox calendar's), fixed when it is
scheduled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from inbox.domain.consent import Purpose
from inbox.domain.errors import Invalid

MAX_TEXT_CHARS = 10_000
MAX_AHEAD = timedelta(days=366)


class State(StrEnum):
    scheduled = "scheduled"
    sent = "sent"  # its message is written (the message's own status says the rest)
    cancelled = "cancelled"
    failed = "failed"  # it could not go at its time (the reason is kept)


def check(raw: Any, now: datetime) -> dict[str, Any]:
    """A scheduled message as the API or the composer gives it, checked; refused with the
    reason (``invalid_schedule``). ``local`` is kept as given, to be put in the customer's
    zone by the caller (``due``)."""
    if not isinstance(raw, Mapping):
        raise Invalid('a scheduled message is {"text" or "template", "at" or "local", "inbox_id", "purpose"}',
                      "invalid_schedule")
    if unknown := set(raw) - {"text", "template", "at", "local", "inbox_id", "purpose"}:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}", "invalid_schedule")
    text = raw.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
        raise Invalid(f"text is at most {MAX_TEXT_CHARS} characters", "invalid_schedule")
    template = raw.get("template")
    if not (text or "").strip() and template is None:
        raise Invalid("a scheduled message needs a text or a template", "invalid_schedule")
    if ("at" in raw) == ("local" in raw):
        raise Invalid('say when: "at" (an ISO 8601 instant) or "local" (YYYY-MM-DDTHH:MM, the customer\'s time)',
                      "invalid_schedule")
    out: dict[str, Any] = {"text": (text or "").strip(), "template": template,
                           "purpose": raw.get("purpose", Purpose.transactional.value)}
    if out["purpose"] not in {p.value for p in Purpose}:
        raise Invalid("purpose must be transactional or marketing", "invalid_schedule")
    inbox_id = raw.get("inbox_id")
    if inbox_id is not None and (not isinstance(inbox_id, int) or isinstance(inbox_id, bool) or inbox_id < 1):
        raise Invalid("inbox_id is an inbox's id", "invalid_schedule")
    out["inbox_id"] = inbox_id
    if "at" in raw:
        if (at := instant(raw["at"])) is None:
            raise Invalid("at is an ISO 8601 instant with its offset, such as 2026-12-05T09:00:00+01:00",
                          "invalid_schedule")
        out["at"] = at
        _ahead(at, now)
    else:
        if (local := wall_time(raw["local"])) is None:
            raise Invalid("local is the customer's date and time, YYYY-MM-DDTHH:MM, with no offset",
                          "invalid_schedule")
        out["local"] = local
    return out


def instant(value: Any) -> datetime | None:
    """An ISO 8601 instant with its offset (``Z`` too), in UTC; None for anything else."""
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.astimezone(timezone.utc) if at.tzinfo is not None else None


def wall_time(value: Any) -> datetime | None:
    """A date and time with no offset (a time on someone's wall clock), to the minute."""
    try:
        local = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return local.replace(second=0, microsecond=0) if local.tzinfo is None else None


def due(given: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> datetime:
    """When it goes: ``at``, or ``local`` in the customer's ``zone``."""
    at: datetime = given["at"] if "at" in given else given["local"].replace(tzinfo=zone).astimezone(timezone.utc)
    _ahead(at, now)
    return at


def _ahead(at: datetime, now: datetime) -> None:
    if at <= now:
        raise Invalid("that time has passed: schedule a time ahead, or send it now", "invalid_schedule")
    if at > now + MAX_AHEAD:
        raise Invalid("a message can be scheduled at most a year ahead", "invalid_schedule")
