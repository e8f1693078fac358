"""Debian's chromium driven by Playwright, logging in through the real login form, and
waiting in the page for a condition (``until``) or for its live socket (``live_ready``).

A test never waits for a page by sleeping, nor with ``Page.wait_for_function``: that one
compiles its predicate in the page (``new Function``) as soon as the first check is false,
which our Content-Security-Policy (no 'unsafe-eval') refuses, so it fails exactly when the
machine is slow. ``until`` polls in one evaluation sent over the DevTools protocol, which the
CSP does not govern, and fails with the condition after an explicit timeout. Time in the
page moves with Playwright's clock (``page.clock``), the server's with ``MovableClock``.
"""

from __future__ import annotations

import asyncio
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


# What a test waits on, counted in every page of a context made by login(): the "ready"
# frames of the page's live socket (app.js dispatches inbox:ready once the server has
# subscribed it and replayed what it missed: from then on no event is lost to it), and how
# many times an element with each id has been put into the page since it loaded (a pane a
# live event re-rendered, app.js load(); htmx swaps).
PROBE = """(() => {
  window.inboxTestReady = 0; window.inboxTestRenders = {};
  let loaded = false;
  document.addEventListener("DOMContentLoaded", () => { loaded = true; });
  document.addEventListener("inbox:ready", () => { window.inboxTestReady += 1; });
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
    if (loaded && n.nodeType === 1 && n.id) window.inboxTestRenders[n.id] = (window.inboxTestRenders[n.id] || 0) + 1;
  }))).observe(document, {childList: true, subtree: true});
})();"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def login(browser: Browser, live: Any, who: str = "agent", **context: Any) -> Page:
    ctx = await browser.new_context(**context)
    await ctx.add_init_script(PROBE)
    page = await ctx.new_page()
    await page.goto(live.url + "/inbox")
    await expect(page).to_have_url(live.url + "/login?next=%2Finbox")
    await page.get_by_label("Email").fill(f"{who}@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(live.url + "/inbox")
    return page


async def until(page: Page, condition: str, timeout: float = 10_000) -> None:
    """Wait until the JavaScript expression ``condition`` is true in the page; fail after
    ``timeout`` ms with the condition (see the module's docstring for why not
    ``wait_for_function``). The check runs every 20 ms of the page's own timers."""
    poll = """new Promise(done => (function check() {
      if (%s) done(true); else setTimeout(check, 20);
    })())""" % condition
    try:
        await asyncio.wait_for(page.evaluate(poll), timeout / 1000)
    except TimeoutError:
        raise AssertionError(f"not true after {timeout:.0f} ms: {condition}") from None


async def live_ready(page: Page, times: int = 1, timeout: float = 10_000) -> None:
    """Wait until the page's live socket has been subscribed (its ``times``-th "ready", for a
    reconnect): an event committed from then on reaches the page. A socket merely open
    (``readyState === 1``) is not yet subscribed; the server has to authenticate it first."""
    await until(page, f"window.inboxTestReady >= {times}", timeout)


async def renders(page: Page, element_id: str) -> int:
    """How many times an element with this id has been put into the page since it loaded
    (0 for what came with the page itself)."""
    return int(await page.evaluate(f"window.inboxTestRenders[{element_id!r}] || 0"))
