"""The initials avatar of ui/templates/ui.html's avatar(): which letters, on which colour.

Registered as Jinja filters in ui/pages/agent.py. The colour is one of the eight
``--avatar-N`` tokens of ui/static/app.css (white initials at AA contrast, tests/test_contrast.py),
picked from the name by a stable hash, so a person keeps their colour across pages,
processes and restarts (Python's hash() is salted per process).
"""

from __future__ import annotations

import zlib

COLOURS = 8  # --avatar-0 .. --avatar-7


def initials(name: str | None) -> str:
    """Up to two letters: the first of the first and of the last word that start with a
    letter ("Ada Lovelace" -> "AL", "jonas" -> "J"). A name without letters (a phone number)
    has none, and the avatar shows a person icon instead."""
    words = [w for w in (name or "").split() if w[0].isalpha()]
    if not words:
        return ""
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def avatar_colour(name: str | None) -> int:
    """The palette index for this name: the same name, the same colour."""
    return zlib.crc32((name or "").strip().casefold().encode()) % COLOURS
