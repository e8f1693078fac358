"""Takes login-light.png and login-dark.png in this folder: the login page in each theme, as
the system preference picks it (prefers-color-scheme). Run from the repository root:
.venv/bin/python docs/screenshots/take_login.py [--out DIR] (DIR: somewhere else, e.g. to
look at a change before committing it)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.conftest import make_settings  # noqa: E402
from tests.helpers.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.helpers.server import free_port, serve  # noqa: E402
from ui.app import create_app  # noqa: E402


async def main(out: Path) -> None:
    port = free_port()
    app = create_app(make_settings(Path(tempfile.mkdtemp()), "http://127.0.0.1:9", port))
    async with serve(app, port) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for scheme in ("light", "dark"):
            page = await browser.new_page(viewport={"width": 900, "height": 640}, color_scheme=scheme)
            await page.goto(url + "/login")
            await page.screenshot(path=str(out / f"login-{scheme}.png"))
            await page.close()
        await browser.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(Path(args[1]) if args[:1] == ["--out"] else Path(__file__).parent))
