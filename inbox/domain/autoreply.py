"""Out-of-office and acknowledgement replies: an inbox's settings and their check, and the
text a customer reads, its variables filled in. When one is sent is decided by
``inbox/actions/autoreply.py``; docs/time.md explains the rules.

An inbox's ``auto_reply`` is ``{"closed": {"enabled", "text"}, "open": {"enabled", "text"}}``:
"closed" is sent while its calendar is closed (the out-of-office reply), "open" while it is
open (an acknowledgement). Stored whole, as checked here, so the hot path can trust it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from inbox.domain.errors import Invalid
from inbox.domain.localtime import local_time

# The setting's key -> what the message it sends is (message.automatic).
KINDS = {"closed": "out_of_office", "open": "acknowledgement"}
# message.automatic of an inbound message that a machine sent (a vacation reply, a bounce):
# never answered automatically.
AUTO_SUBMITTED = "auto_submitted"
MAX_TEXT_CHARS = 2000
MAX_NAME_CHARS = 200  # of a contact's or an inbox's name put into a reply
VARIABLES = ("next_opening", "contact_name", "inbox_name")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


class Reply(TypedDict):
    enabled: bool
    text: str


class AutoReply(TypedDict):
    closed: Reply
    open: Reply


def reply(stored: Mapping[str, Any] | None, key: str) -> Reply:
    """One of the replies ("closed" or "open"), off and empty where nothing is stored."""
    value = (stored or {}).get(key)
    value = value if isinstance(value, Mapping) else {}
    return {"enabled": bool(value.get("enabled", False)), "text": str(value.get("text", ""))}


def normalised(stored: Mapping[str, Any] | None) -> AutoReply:
    """Both replies (``{}``, the column's default, is both off and empty)."""
    return {"closed": reply(stored, "closed"), "open": reply(stored, "open")}


def enabled(stored: Mapping[str, Any] | None) -> bool:
    """Whether either reply is on: the only question ingest asks when neither is."""
    return bool(stored) and any(isinstance(v, Mapping) and v.get("enabled") is True
                                for v in (stored or {}).values())


def check(patch: Any, current: Mapping[str, Any] | None) -> AutoReply:
    """``patch`` merged into ``current``: either reply, and either of its fields, may be
    left out (kept as it is). Invalid ``invalid_auto_reply`` names the key that is wrong."""
    if not isinstance(patch, Mapping):
        raise Invalid('auto_reply must be an object: {"closed": {"enabled", "text"}, "open": {...}}',
                      "invalid_auto_reply")
    merged = {key: reply(current, key) for key in KINDS}
    for key, value in patch.items():
        if key not in KINDS:
            raise Invalid(f"auto_reply.{key}: unknown; the keys are closed and open", "invalid_auto_reply")
        if not isinstance(value, Mapping):
            raise Invalid(f'auto_reply.{key} must be an object: {{"enabled": true, "text": "..."}}',
                          "invalid_auto_reply")
        changed = merged[key]
        for field, given in value.items():
            where = f"auto_reply.{key}.{field}"
            if field == "enabled":
                if not isinstance(given, bool):
                    raise Invalid(f"{where} must be true or false", "invalid_auto_reply")
                changed["enabled"] = given
            elif field == "text":
                if not isinstance(given, str) or len(given) > MAX_TEXT_CHARS:
                    raise Invalid(f"{where} must be text of at most {MAX_TEXT_CHARS} characters", "invalid_auto_reply")
                unknown = [name for name in variable_names(given) if name not in VARIABLES]
                if unknown:
                    raise Invalid(f"{where}: no variable {{{{{unknown[0]}}}}}; the variables are "
                                  + ", ".join(f"{{{{{v}}}}}" for v in VARIABLES), "invalid_auto_reply")
                changed["text"] = given.strip()
            else:
                raise Invalid(f"{where}: unknown; the fields are enabled and text", "invalid_auto_reply")
        if changed["enabled"] and not changed["text"]:
            raise Invalid(f"auto_reply.{key}.text: a reply that is on needs a text", "invalid_auto_reply")
    return {"closed": merged["closed"], "open": merged["open"]}


# -- the text ------------------------------------------------------------------------------

def _scan(text: str) -> list[tuple[int, int, str]]:
    """Each ``{{ name }}`` as (start, end, name), found with str.find: linear whatever the text."""
    found, at = [], 0
    while (start := text.find("{{", at)) >= 0:
        end = text.find("}}", start + 2)
        if end < 0:
            break
        inner = text[start + 2:end].strip()
        if inner and "{" not in inner:
            found.append((start, end + 2, inner))
            at = end + 2
        else:  # "{{{x}}": the variable starts at the last "{{" before the end, if any
            at = max(start + 1, text.rfind("{{", start + 1, end))
    return found


def variable_names(text: str) -> list[str]:
    """The ``{{ name }}`` variables the text uses."""
    return [name for _, _, name in _scan(text)]


def render(text: str, values: Mapping[str, str], missing: str | None = None) -> str:
    """The text with its variables replaced (once: a value is never read for variables); one
    with no value is left as it is, or with ``missing`` given, replaced by it."""
    out, at = [], 0
    for start, end, name in _scan(text):
        out.append(text[at:start])
        out.append(values.get(name, text[start:end] if missing is None else missing))
        at = end
    out.append(text[at:])
    return "".join(out)


def customer_zone(attributes: Mapping[str, Any], phone: str | None, fallback: str, now: datetime) -> ZoneInfo:
    """Where the customer reads the time: their ``timezone`` attribute when it names an IANA
    zone, else their phone number's zone when phonenumbers gives it exactly one, else the
    calendar's (``fallback``), the same rules as the contact panel's local time."""
    found = local_time(attributes, [phone] if phone else [], now)
    return ZoneInfo(found["zone"] if found is not None and found["zone"] else fallback)


def zone_label(local: datetime, zone: ZoneInfo) -> str:
    """"CET, Berlin time", "UTC+04, Dubai time", "UTC": the abbreviation the zone's rules
    give that instant (an offset where they have no letters), and the zone's place."""
    abbreviation = local.tzname() or ""
    if abbreviation[:1] in ("+", "-"):
        abbreviation = "UTC" + abbreviation
    place = zone.key.rsplit("/", 1)[-1].replace("_", " ") if "/" in zone.key and not zone.key.startswith("Etc/") \
        else ""
    return f"{abbreviation}, {place} time" if place else abbreviation


def format_opening(at: datetime, zone: ZoneInfo, now: datetime) -> str:
    """"Monday 14 December at 09:00 (CET, Berlin time)" in ``zone``; the year only when it is
    not the current one there."""
    local = at.astimezone(zone)
    year = f" {local.year}" if local.year != now.astimezone(zone).year else ""
    return (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}{year} at {local:%H:%M} "
            f"({zone_label(local, zone)})")


def values(next_opening: str, contact_name: str, inbox_name: str) -> dict[str, str]:
    return {"next_opening": next_opening, "contact_name": contact_name[:MAX_NAME_CHARS],
            "inbox_name": inbox_name[:MAX_NAME_CHARS]}
