"""What an email tells the agent about its sender, and what it gives away about the agent:
remote images stay unloaded until asked for (a fake image server counts the browser's
fetches), and the sender's authentication is recorded and shown."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.browser import browser, login
from tests.helpers.server import serve
from tests.test_email import ADDRESS, Mailbox, live_overrides, mailbox, sink, smtp_port

__all__ = ["browser", "live_overrides", "mailbox", "sink", "smtp_port"]


def png() -> bytes:
    """A real 1x1 PNG, so that the browser can decode it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


class ImageServer:
    """A sender's image host on 127.0.0.1 that counts every fetch (a tracking pixel)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.fetched = asyncio.Event()
        self.url = ""
        self.app = Starlette(routes=[Route("/{name}", self.image)])

    async def image(self, request: Request) -> Response:
        self.hits.append(request.url.path)
        self.fetched.set()
        return Response(png(), media_type="image/png")


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    server = ImageServer()
    async with serve(server.app) as url:
        server.url = url
        yield server


def html_mail(html: str, sender: str = "Dana <dana@example.org>", inline: bytes | None = None,
              **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, ADDRESS, "Your newsletter"
    mail["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("The plain text.")
    mail.add_alternative(html, subtype="html")
    if inline is not None:
        mail.get_payload()[1].add_related(inline, "image", "png", cid="<logo@example.org>")
    return mail


async def open_email(browser: Browser, box: Mailbox) -> Any:
    [conv] = await box.conversations()
    page = await login(browser, box.live)
    await page.goto(box.live.url + f"/inbox?tab=all&c={conv['id']}")
    return page


# -- remote images --------------------------------------------------------------------------

async def test_remote_images_load_only_when_the_agent_asks(mailbox: Mailbox, images: ImageServer,
                                                          browser: Browser) -> None:
    html = (f'<p>Hello</p><img src="{images.url}/pixel.gif" alt="tracker" width="1">'
            f'<img src="{images.url}/banner.png" alt="banner"><img src="cid:logo@example.org" alt="logo">')
    await mailbox.receive(html_mail(html, inline=png()).as_bytes())
    page = await open_email(browser, mailbox)
    message = page.locator(".message.in").first
    await message.get_by_text("Show the formatted email").click()
    frame = page.frame_locator(".email-html iframe")
    # Our own copy of the inline image loads (a signed /media link) ...
    logo = frame.locator('img[alt="logo"]')
    await logo.evaluate("img => img.decode()")  # resolves once loaded; throws if broken
    assert (await logo.get_attribute("src") or "").startswith("/media/public/")
    # ... the sender's do not: the frame has finished loading and nothing was fetched.
    await page.frame_locator(".email-html iframe").locator("p").wait_for()
    await page.wait_for_load_state("load")
    assert await frame.locator('img[alt="tracker"]').get_attribute("src") is None
    assert images.hits == []

    await message.get_by_role("button", name="Load remote images").click()
    await asyncio.wait_for(images.fetched.wait(), 10)
    await page.frame_locator(".email-html iframe").locator('img[alt="banner"]').evaluate("img => img.decode()")
    assert sorted(set(images.hits)) == ["/banner.png", "/pixel.gif"]
    await expect(message.get_by_role("button", name="Load remote images")).to_have_count(0)


async def test_a_mail_without_remote_images_offers_nothing_to_load(mailbox: Mailbox) -> None:
    await mailbox.receive(html_mail('<p>Just <b>text</b></p><img src="cid:logo@example.org" alt="logo">',
                                    inline=png()).as_bytes())
    [conv] = await mailbox.conversations()
    page = await mailbox.live.client.get(f"/inbox?tab=all&c={conv['id']}", headers=mailbox.live.as_("agent"))
    assert page.status_code == 200, page.text
    assert "Show the formatted email" in page.text and "Load remote images" not in page.text
