"""WCAG AA contrast of the design tokens in ui/static/app.css, in the light and the dark theme:
4.5:1 for text, 3:1 for the edges of controls and the focus ring; and of every served
channel's badge (white text or logo on the channel's colour) and the avatars' initials.

The tokens are read from the file itself, so a colour changed there is checked here; the
dark theme is written twice (data-theme=dark, and the system preference), and both copies
must say the same.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webhooks import registry

CSS = (Path(__file__).resolve().parent.parent / "ui/static/app.css").read_text()

TEXT_PAIRS = [  # (foreground, background): text of the first on the second
    ("text", "bg"), ("text", "surface"), ("text", "surface-2"), ("text", "accent-soft"),
    ("muted", "surface"), ("muted", "bg"), ("muted", "surface-2"),
    ("accent", "surface"), ("accent", "bg"), ("accent", "accent-soft"),
    ("accent-text", "accent"), ("accent-text", "accent-hover"),
    ("note-text", "note"), ("note-strong", "note"),
    ("danger", "danger-soft"), ("danger", "surface"), ("surface", "danger"),
    ("success", "success-soft"), ("success", "surface"),
    ("warning", "warning-soft"), ("warning", "surface"),
]
UI_PAIRS = [("line-strong", "surface"), ("line-strong", "bg"), ("accent", "surface"), ("note-line", "note")]


def block(selector: str) -> str:
    """The declarations of the first rule whose selector is exactly ``selector``."""
    match = re.search(re.escape(selector) + r"\s*\{([^{}]*)\}", CSS)
    assert match, f"no rule {selector} in app.css"
    return match.group(1)


def tokens(declarations: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", declarations))


LIGHT = tokens(block(":root"))
DARK = {**LIGHT, **tokens(block(":root[data-theme=dark]"))}
THEMES = {"light": LIGHT, "dark": DARK}


def luminance(colour: str) -> float:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_ratio_is_computed_as_wcag_defines_it() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-fails grey
    assert contrast("#1e9e58", "#ffffff") == pytest.approx(3.45, abs=0.01)  # today's WhatsApp badge, as the issue says


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS)
def test_text_pairs_meet_aa(theme: str, fg: str, bg: str) -> None:
    t = THEMES[theme]
    assert contrast(t[fg], t[bg]) >= 4.5, f"{theme}: --{fg} {t[fg]} on --{bg} {t[bg]}: {contrast(t[fg], t[bg]):.2f}"


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(("fg", "bg"), UI_PAIRS)
def test_control_edges_and_focus_ring_meet_3_to_1(theme: str, fg: str, bg: str) -> None:
    t = THEMES[theme]
    assert contrast(t[fg], t[bg]) >= 3, f"{theme}: --{fg} {t[fg]} against --{bg} {t[bg]}: {contrast(t[fg], t[bg]):.2f}"


def test_the_two_copies_of_the_dark_theme_are_the_same() -> None:
    media = re.search(r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root:not\(\[data-theme=light\]\)\s*\{([^{}]*)\}",
                      CSS)
    assert media, "no dark theme for the system preference"
    normalise = lambda s: " ".join(s.split())  # noqa: E731
    assert normalise(media.group(1)) == normalise(block(":root[data-theme=dark]"))


@pytest.mark.parametrize("channel", registry.channels(), ids=lambda c: c.kind)
def test_each_channel_badge_meets_aa(channel: registry.Channel) -> None:
    on = LIGHT["on-colour"]  # the same in both themes: the badge is its own background
    assert contrast(on, channel.colour) >= 4.5, f"{channel.kind}: {on} on {channel.colour}"


@pytest.mark.parametrize("n", range(8))
def test_each_avatar_colour_meets_aa(n: int) -> None:
    assert contrast(LIGHT["on-colour"], LIGHT[f"avatar-{n}"]) >= 4.5
