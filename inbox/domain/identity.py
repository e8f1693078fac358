"""Normalising customer handles so format variants never split one customer in two."""

from __future__ import annotations

import functools
import os

import phonenumbers

# Numbers written without a country code are read as this region's.
DEFAULT_REGION = os.environ.get("INBOX_DEFAULT_REGION", "US").strip().upper()


@functools.lru_cache(maxsize=65536)  # on every webhook, and customers write again and again
def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (``+15551234567``) for anything phonenumbers can read as a possible number."""
    raw = raw.strip()
    if raw.startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    if raw.isdigit() and len(raw) > 10 and raw[0] != "0":
        # WhatsApp ids and some providers give bare digits with the country code and no plus.
        # Not "555 765 4321" or "020 7946 0018": spaced or with a trunk 0, a number is national.
        raw = "+" + raw
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()
