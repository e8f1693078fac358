"""What an email tells the agent about its sender, and what it gives away about the agent:
remote images stay unloaded until asked for (a fake image server counts the browser's
fetches), and the sender's authentication is recorded and shown."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import dkim  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.dns import FakeDns, fake_dns
from tests.helpers.browser import browser, login
from tests.helpers.email import sendgrid_post
from tests.helpers.server import serve
from tests.test_email import ADDRESS, Mailbox, mailbox, sink, smtp_port

__all__ = ["browser", "mailbox", "sink", "smtp_port"]


@pytest.fixture
async def dns_server() -> AsyncIterator[FakeDns]:
    async with fake_dns() as server:
        yield server


@pytest.fixture
def live_overrides(smtp_port: int, dns_server: FakeDns) -> dict[str, Any]:
    return {"smtp_listen": f"127.0.0.1:{smtp_port}", "max_email_bytes": 8 * 1024 * 1024,
            "email_dkim_resolver": f"127.0.0.1:{dns_server.port}"}


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
        body = mail.get_body(preferencelist=("html",))
        assert isinstance(body, EmailMessage)
        body.add_related(inline, "image", "png", cid="<logo@example.org>")
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
    # Unsigned: the sender is marked, the reason on hover.
    marker = message.locator(".unverified-sender")
    await expect(marker).to_have_text("unverified sender")
    assert "no DKIM signature" in (await marker.get_attribute("title") or "")
    await message.get_by_text("Show the formatted email").click()
    frame = page.frame_locator(".email-html iframe")
    # Our own copy of the inline image loads (a signed /media link) ...
    logo = frame.locator('img[alt="logo"]')
    await logo.evaluate("img => img.decode()")  # resolves once loaded; throws if broken
    assert (await logo.get_attribute("src") or "").startswith("/media/public/")
    # ... the sender's do not: the frame has finished loading and nothing was fetched.
    await page.frame_locator(".email-html iframe").locator("p").wait_for(state="attached")
    await page.wait_for_load_state("load")
    assert await frame.locator('img[alt="tracker"]').get_attribute("src") is None
    assert images.hits == []
    # The customer writes again while the agent reads: the timeline is re-rendered live, and
    # what the agent opened stays open.
    message = page.locator(f'.message[data-message="{await message.get_attribute("data-message")}"]')
    await mailbox.receive(html_mail("<p>One more thing</p>").as_bytes())
    await expect(page.locator(".message.in")).to_have_count(2)
    await expect(message.locator("details.email-html")).to_have_attribute("open", "")

    await message.get_by_role("button", name="Load remote images").click()
    await asyncio.wait_for(images.fetched.wait(), 10)
    await message.frame_locator(".email-html iframe").locator('img[alt="banner"]').evaluate("img => img.decode()")
    assert sorted(set(images.hits)) == ["/banner.png", "/pixel.gif"]
    await expect(message.get_by_role("button", name="Load remote images")).to_have_count(0)
    # Another live re-render keeps them loaded: the agent's choice holds while they read.
    await mailbox.receive(html_mail("<p>And another thing</p>").as_bytes())
    await expect(page.locator(".message.in")).to_have_count(3)
    await message.frame_locator(".email-html iframe").locator('img[alt="banner"]').evaluate("img => img.decode()")
    await expect(message.get_by_role("button", name="Load remote images")).to_have_count(0)


async def test_a_mail_without_remote_images_offers_nothing_to_load(mailbox: Mailbox) -> None:
    await mailbox.receive(html_mail('<p>Just <b>text</b></p><img src="cid:logo@example.org" alt="logo">',
                                    inline=png()).as_bytes())
    [conv] = await mailbox.conversations()
    page = await mailbox.live.client.get(f"/inbox?tab=all&c={conv['id']}", headers=mailbox.live.as_("agent"))
    assert page.status_code == 200, page.text
    assert "Show the formatted email" in page.text and "Load remote images" not in page.text


# -- sender authentication ---------------------------------------------------------------------

class Signer:
    """A domain's DKIM key: signs mail as the domain's mail server would, and publishes
    the public key in the fake DNS."""

    def __init__(self, dns_server: FakeDns, domain: str, selector: str = "mail") -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
        public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        dns_server.txt[f"{selector}._domainkey.{domain}"] = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
        self.domain, self.selector = domain, selector

    def sign(self, raw: bytes) -> bytes:
        header: bytes = dkim.sign(raw, self.selector.encode(), self.domain.encode(), self.private,
                           canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=[b"from", b"to", b"subject", b"message-id"])
        return header + raw


def plain_mail(sender: str, text: str = "Please send the invoice again.", results: tuple[str, ...] = ()) -> bytes:
    mail = EmailMessage()
    for value in results:  # on top, as the last servers to handle the mail add them
        mail["Authentication-Results"] = value
    mail["From"], mail["To"], mail["Subject"] = sender, ADDRESS, "Invoice"
    mail["Message-ID"] = make_msgid(domain="example.org")
    mail.set_content(text)
    return mail.as_bytes()


async def auth_of(box: Mailbox, name: str) -> dict[str, Any]:
    conv = next(c for c in await box.conversations() if c["contact"]["name"] == name)
    return (await box.messages(conv["id"]))[-1]["payload"]["sender_auth"]  # type: ignore[no-any-return]


async def page_of(box: Mailbox, name: str) -> str:
    conv = next(c for c in await box.conversations() if c["contact"]["name"] == name)
    r = await box.live.client.get(f"/inbox?tab=all&c={conv['id']}", headers=box.live.as_("agent"))
    assert r.status_code == 200, r.text
    return r.text


async def test_dkim_signed_mail_is_verified_and_a_forged_from_is_not(mailbox: Mailbox, dns_server: FakeDns) -> None:
    good, other = Signer(dns_server, "example.org"), Signer(dns_server, "evil.example.net")
    await mailbox.receive(good.sign(plain_mail("Ana <ana@example.org>")))
    assert await auth_of(mailbox, "Ana") == {
        "verified": True, "method": "dkim", "domain": "example.org", "detail": "DKIM signature of example.org verified"}
    assert "mail._domainkey.example.org" in dns_server.queries  # looked up off the loop (see tests/fakes/dns.py)
    assert "unverified sender" not in await page_of(mailbox, "Ana")

    # Someone else's valid signature does not vouch for the From they wrote.
    await mailbox.receive(other.sign(plain_mail("The CEO <ceo@example.org>")))
    forged = await auth_of(mailbox, "The CEO")
    assert forged["verified"] is False
    assert forged["detail"] == "signed by evil.example.net, not by the From domain example.org"
    page = await page_of(mailbox, "The CEO")
    assert 'class="unverified-sender" title="Nothing vouches that this mail comes from example.org: ' \
           'signed by evil.example.net, not by the From domain example.org"' in page

    # A signed mail changed on the way, and a mail with no signature at all.
    signed = good.sign(plain_mail("Bea <bea@example.org>"))
    await mailbox.receive(signed.replace(b"Please send the invoice again.", b"Please pay to account 666."))
    assert "does not verify" in (await auth_of(mailbox, "Bea"))["detail"]
    await mailbox.receive(plain_mail("Cid <cid@example.org>"))
    assert await auth_of(mailbox, "Cid") == {
        "verified": False, "method": "dkim", "domain": "example.org", "detail": "no DKIM signature"}
    assert "unverified sender" in await page_of(mailbox, "Cid")


async def test_only_the_trusted_servers_authentication_results_count(mailbox: Mailbox) -> None:
    forged = "mx.trusted.test; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=x@example.org; " \
             "dmarc=pass (p=reject) header.from=example.org"
    # No server is trusted yet: the header is the sender's own word.
    await mailbox.receive(plain_mail("Dan <dan@example.org>", results=(forged,)))
    before = await auth_of(mailbox, "Dan")
    assert before["verified"] is False and before["detail"] == "no DKIM signature"

    r = await mailbox.live.client.patch(f"/api/inboxes/{mailbox.inbox['id']}", headers=mailbox.live.as_("admin"),
                                        json={"settings": {"trusted_authserv_id": "MX.Trusted.test"}})
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["trusted_authserv_id"] == "mx.trusted.test"
    bad = await mailbox.live.client.patch(f"/api/inboxes/{mailbox.inbox['id']}", headers=mailbox.live.as_("admin"),
                                          json={"settings": {"trusted_authserv_id": "mx;evil"}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_trusted_authserv_id"

    trusted = "mx.trusted.test 1; spf=softfail smtp.mailfrom=eve@example.net; dkim=pass header.d=example.net; " \
              "dmarc=pass header.from=example.org"
    await mailbox.receive(plain_mail("Eve <eve@example.org>", results=(trusted,)))
    assert await auth_of(mailbox, "Eve") == {
        "verified": True, "method": "authentication-results", "domain": "example.org",
        "detail": "mx.trusted.test: dmarc=pass"}
    # An untrusted server's header on top is skipped; the trusted one below it says fail.
    failing = "mx.trusted.test; dkim=pass (good signature) header.d=example.net; spf=fail smtp.mailfrom=example.org;" \
              " dmarc=fail header.from=example.org"
    await mailbox.receive(plain_mail("Fay <fay@example.org>", results=("mx.evil.test; dmarc=pass", failing)))
    result = await auth_of(mailbox, "Fay")
    assert result["verified"] is False
    assert result["detail"] == ("mx.trusted.test found nothing vouching for example.org: dkim=pass for example.net, "
                                "spf=fail, dmarc=fail; no DKIM signature")
    # The trusted server's forged twin further down changes nothing either: the topmost counts.
    await mailbox.receive(plain_mail("Gus <gus@example.org>", results=(failing, forged)))
    assert (await auth_of(mailbox, "Gus"))["verified"] is False


async def test_a_hostile_run_of_blanks_is_hashed_in_linear_time(mailbox: Mailbox, dns_server: FakeDns) -> None:
    """dkimpy's own relaxed body canonicalization backtracks over each run of blanks not
    ending a line: quadratic, hours for this 3 MB run. Ours is linear: checked in seconds."""
    signer = Signer(dns_server, "example.org")
    raw = (b"From: Hal <hal@example.org>\nTo: support@example.com\nSubject: spaces\n"
           b"Message-ID: <blanks@example.org>\n\nx" + b" " * 3_000_000 + b"x\n")
    signed = await asyncio.wait_for(asyncio.to_thread(signer.sign, raw), 10)
    r = await asyncio.wait_for(sendgrid_post(mailbox.live.client, 0, signed,
                                             url=mailbox.inbox["webhook_urls"]["inbound_parse"]), 15)
    assert r.status_code == 200, r.text
    assert (await auth_of(mailbox, "Hal"))["verified"] is True
