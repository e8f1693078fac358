"""Normalising customer handles so format variants never split one customer in two."""

from __future__ import annotations

import phonenumbers

# Numbers written without a country code are read as this region's (INBOX_DEFAULT_REGION).
DEFAULT_REGION = "US"


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (``+15551234567``) for anything phonenumbers can read as a possible number."""
    raw = raw.strip()
    if raw.startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    if raw and raw[0].isdigit() and len(raw) > 10:
        raw = "+" + raw  # WhatsApp ids and some providers omit the plus
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()
