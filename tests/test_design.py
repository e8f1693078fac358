"""The design system's parts (ui/templates/ui.html, channel.html, ui/static/theme.js, ui.js):
the macros' markup and accessible names, the avatar's letters and colour, the favicon, and in
a real browser the theme toggle (kept across a reload, before first paint) and the menus."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from tests.channels import pigeon
from tests.conftest import Live
from tests.helpers.browser import browser
from ui.pages.agent import TEMPLATES
from ui.pages.avatar import avatar_colour, initials
from webhooks import registry

__all__ = ["browser"]
SPRITE = (Path(__file__).resolve().parent.parent / "ui/static/icons.svg").read_text()


def macro(template: str, name: str):  # type: ignore[no-untyped-def]
    return getattr(TEMPLATES.get_template(template).module, name)


def test_initials_take_the_first_and_last_word_and_skip_what_is_not_a_name() -> None:
    assert initials("Ada Lovelace") == "AL"
    assert initials("jonas maria schmidt") == "JS"
    assert initials("Zoë") == "Z"
    assert initials("+15551112222") == "" and initials("") == "" and initials(None) == ""


def test_the_avatar_colour_is_stable_and_spread_over_the_palette() -> None:
    assert avatar_colour("Dana Scully") == avatar_colour(" dana scully ")
    assert avatar_colour("Dana Scully") == 4  # crc32, not the salted hash(): the same in every process
    assert len({avatar_colour(f"Customer {n}") for n in range(40)}) == 8


def test_avatar_macro_draws_the_picture_without_referer_or_the_initials() -> None:
    avatar = macro("ui.html", "avatar")
    picture = str(avatar("Ada", "https://cdn.example/a.jpg?x=1&y=2", "lg"))
    assert 'src="https://cdn.example/a.jpg?x=1&amp;y=2"' in picture and 'referrerpolicy="no-referrer"' in picture
    assert 'alt=""' in picture and "avatar-lg" in picture
    letters = str(avatar("Ada Lovelace"))
    assert ">AL</span>" in letters and f"avatar-{avatar_colour('Ada Lovelace')}" in letters
    assert "<script>" not in str(avatar("<script>x</script> Evil"))  # a customer's name is escaped
    assert "#user" in str(avatar("+15551112222"))  # no letters: a person icon


def test_icon_macro_is_decorative_unless_labelled_and_names_a_symbol_of_the_sprite() -> None:
    icon = macro("ui.html", "icon")
    plain = str(icon("inbox"))
    assert 'aria-hidden="true"' in plain and 'href="/static/icons.svg#inbox"' in plain and "role" not in plain
    labelled = str(icon("bell", "Notifications", "i-lg"))
    assert 'role="img"' in labelled and "<title>Notifications</title>" in labelled and 'class="i i-lg"' in labelled
    used = set(re.findall(r'icon\("([\w-]+)"', (TEMPLATES.loader.get_source(TEMPLATES, "ui.html")[0])))  # type: ignore[union-attr]
    assert used and all(f'<symbol id="{name}"' in SPRITE for name in used)


def test_channel_badges_draw_the_logo_with_the_label_as_name_or_the_text_without_a_logo() -> None:
    badge = macro("channel.html", "badge")
    channels = {c.kind: c for c in [*registry.channels(), pigeon.CHANNEL]}
    for channel in registry.channels():
        html = str(badge(channels, channel.kind))
        assert channel.logo and f'<symbol id="{channel.logo}"' in SPRITE, channel.kind
        assert f'aria-label="{channel.label}"' in html and f"--channel-colour: {channel.colour}" in html
        assert f"#{channel.logo}" in html and f">{channel.icon}<" not in html
    text = str(badge(channels, "pigeon"))
    assert f">{pigeon.ICON}</span>" in text and 'aria-label="Pigeon post"' in text
    assert ">•</span>" in str(badge(channels, "gone", "•"))  # a kind no longer served


async def test_favicon_ico_is_not_a_404(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as c:
        r = await c.get("/favicon.ico")
        assert r.status_code == 301 and r.headers["location"] == "/static/favicon.svg"
        assert (await c.get("/static/favicon.svg")).headers["content-type"].startswith("image/svg")


async def test_the_theme_toggle_is_kept_across_a_reload_and_menus_close_outside(live: Live, browser: Browser) -> None:
    page = await (await browser.new_context(color_scheme="light")).new_page()
    await page.goto(live.url + "/login")
    html = page.locator("html")
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = await page.evaluate(background)
    await page.get_by_label("Theme").click()
    await expect(page.get_by_role("button", name="System")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name="Dark").click()
    await expect(html).to_have_attribute("data-theme", "dark")
    await expect(page.get_by_role("button", name="Dark")).to_be_hidden()  # a choice closes the menu
    assert await page.evaluate(background) != light
    await page.reload()
    await expect(html).to_have_attribute("data-theme", "dark")  # from localStorage, by theme.js in <head>
    await page.get_by_label("Theme").click()
    await expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("heading", name="inbox").click()  # outside the menu
    await expect(page.get_by_role("button", name="Light")).to_be_hidden()
    await page.get_by_label("Theme").click()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("button", name="Light")).to_be_hidden()
    await page.get_by_label("Theme").click()
    await page.get_by_role("button", name="System").click()
    await expect(html).not_to_have_attribute("data-theme", re.compile("."))
    assert await page.evaluate(background) == light
