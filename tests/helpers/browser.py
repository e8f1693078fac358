"""Debian's chromium driven by Playwright, and logging in through the real login form."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What an assertion waits for at most (Playwright's default is 5 s): the suite runs a browser
# on each core beside the servers (pytest -n auto), and a pane re-rendered under that load can
# take longer; a passing check returns as soon as it holds, so only a failure waits this long.
expect.set_options(timeout=10_000)
# As the machine's own check starts it: no sandbox as root, and nothing reaching the network.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def login(browser: Browser, live: Any, who: str = "agent", **context: Any) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    await page.goto(live.url + "/inbox")
    await expect(page).to_have_url(live.url + "/login?next=%2Finbox")
    await page.get_by_label("Email").fill(f"{who}@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(live.url + "/inbox")
    return page
