"""A contact's time zone, so an agent sees whether it is 3 pm or 3 am where the customer is.

From the contact's own ``timezone`` (or ``time_zone``) attribute when it holds an IANA name;
otherwise from the phone number's region, but only when phonenumbers' data gives that number
exactly one zone. A number spanning several zones (a US toll-free number, most Russian mobile
numbers) gets no local time at all: showing one of them, or a range from Hawaii to New York,
would be a guess the agent might act on. The panel says so and suggests the attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

ZONE_ATTRIBUTES = ("timezone", "time_zone")
UNKNOWN = "Etc/Unknown"  # phonenumbers' answer for a number it cannot place


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path-like name such as "../x"
        return None


def phone_zones(number: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers gives an E.164 number; empty when it cannot place it."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_timezone.time_zones_for_number(parsed) if z != UNKNOWN)


def local_time(attributes: Mapping[str, Any], numbers: Iterable[str], now: datetime) -> dict[str, Any] | None:
    """Where the contact is and what time it is there at ``now`` (the app's clock), or
    ``None`` when nothing tells: ``zone`` and ``time`` (HH:MM) when known, ``source``
    ("attribute" or "phone"), ``zones`` when the only clue is a number with several, and
    ``invalid``: an attribute that is not a zone name (the phone is asked instead), so the
    agent sees the typo."""
    out: dict[str, Any] = {"zone": None, "time": None, "source": None, "zones": [], "invalid": None}
    for key in ZONE_ATTRIBUTES:
        if key in attributes:
            zone = _zone(attributes[key])
            if zone is not None:
                return {**out, "zone": zone.key, "time": now.astimezone(zone).strftime("%H:%M"), "source": "attribute"}
            out["invalid"] = str(attributes[key])
    for number in numbers:
        zones = phone_zones(number)
        if len(zones) == 1 and (zone := _zone(zones[0])) is not None:
            return {**out, "zone": zone.key, "time": now.astimezone(zone).strftime("%H:%M"), "source": "phone"}
        if zones and not out["zones"]:
            out.update(zones=list(zones), source="phone")
    return out if out["zones"] or out["invalid"] else None
