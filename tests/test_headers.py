"""The headers every response carries (CSP, no framing by other sites, no Referer to other
sites, no sniffing), and the UI still whole under them in a real browser: htmx and app.js
from /static, the live socket, and a customer's inline-styled email in its sandboxed frame."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
from playwright.async_api import Browser, expect

from inbox import actions
from inbox.domain.channels import InboundMessage
from inbox.domain.tables import INBOXES
from tests.conftest import Live
from tests.helpers.browser import browser, live_ready, login
from tests.helpers.forms import form_login
from tests.test_ui_browser import _png

__all__ = ["browser"]


def _assert_protected(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp and "object-src 'none'" in csp, \
        (r.url, csp)
    assert r.headers.get("x-frame-options") == "DENY", r.url
    assert r.headers.get("referrer-policy") == "same-origin", r.url
    assert r.headers.get("x-content-type-options") == "nosniff", r.url


async def test_every_kind_of_response_carries_the_security_headers(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as browser_like:
        _assert_protected(await browser_like.get("/login"))
        assert (await form_login(browser_like, "agent")).status_code == 303
        for path in ("/inbox", "/static/app.js", "/static/app.css", "/api/me", "/no/such/page"):
            _assert_protected(await browser_like.get(path))
    _assert_protected(await live.client.get("/api/conversations", headers=live.as_("agent")))
    _assert_protected(await live.client.get("/healthz"))


async def test_a_response_with_its_own_policy_keeps_it(live: Live) -> None:
    rel, _ = live.app.state.ctx.media.save(_png(), "image/png")
    r = await live.client.get(f"/media/{rel}", headers=live.as_("admin"))
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"  # /media's stricter one
    assert len(r.headers.get_list("content-security-policy")) == 1
    assert r.headers["x-frame-options"] == "DENY"


async def test_the_ui_works_whole_under_the_policy(live: Live, browser: Browser) -> None:
    inbox_id = await live.app.state.ctx.db.write(lambda tx: tx.conn.execute(INBOXES.insert().values(
        kind="email", name="Support mail", address="support@example.com", settings={},
        created_at=datetime.now(timezone.utc))).inserted_primary_key[0])
    rel, _ = live.app.state.ctx.media.save(_png(), "image/png")
    html = f'<p style="color: rgb(200, 0, 0)">Styled by the sender</p><img src="/media/{rel}" alt="box">'
    result = await actions.record_inbound(live.app.state.ctx, InboundMessage(
        inbox_id=inbox_id, kind="email", handle="dana@example.org", email="dana@example.org",
        provider_message_id="<h1@example.org>", text="Styled", timestamp=datetime.now(timezone.utc),
        payload={"subject": "Styled", "html": html}))

    page = await login(browser, live)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.add_init_script("""document.addEventListener('securitypolicyviolation',
        e => (window.cspViolations = window.cspViolations || []).push(e.violatedDirective + ' ' + e.blockedURI))""")
    await page.goto(live.url + "/inbox?tab=unassigned&channel=sms")  # a page load with both listeners on
    assert await page.evaluate("typeof window.htmx") == "object"  # htmx loaded from /static
    await live_ready(page)  # app.js, /ws

    assert (await live.sms("+15557654321", "arrives live under the policy")).status_code == 200
    await expect(page.locator("#list")).to_contain_text("arrives live under the policy")  # htmx swap on an event

    await page.goto(live.url + f"/inbox?tab=all&c={result.conversation_id}")
    await page.get_by_text("Show the formatted email").click()
    frame = page.frame_locator(".email-html iframe")
    styled = frame.locator("p")
    await expect(styled).to_have_text("Styled by the sender")
    assert await styled.evaluate("p => getComputedStyle(p).color") == "rgb(200, 0, 0)"  # inline style applied
    image = frame.locator('img[alt="box"]')
    await image.evaluate("img => img.decode()")  # throws if the policy blocked it
    await page.get_by_label("Message").fill("typed under the policy")  # the composer's own script runs
    assert await page.evaluate("window.cspViolations || []") == [] and violations == []
