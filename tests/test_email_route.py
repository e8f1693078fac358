"""The email inbound-parse route as an attacker meets it: the URL secret refuses a post
before its body is read, Mailgun's signature must be fresh and its token is accepted once,
and no secret of the route reaches the access log."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from sqlalchemy import func, select

from inbox import actions
from inbox.domain.clock import MovableClock
from inbox.domain.tables import WEBHOOK_NONCES
from tests.helpers.email import eml, mailgun_fields, mailgun_post, sendgrid_post
from tests.helpers.server import free_port
from tests.test_email import MAX_EMAIL_BYTES, SECRET, Mailbox, live_overrides, mailbox, sink, smtp_port

__all__ = ["live_overrides", "mailbox", "sink", "smtp_port"]


def urls(box: Mailbox) -> dict[str, str]:
    return box.inbox["webhook_urls"]  # type: ignore[no-any-return]


async def answer_before_the_body(box: Mailbox, path: str) -> bytes:
    """POST ``path`` declaring a body of MAX_EMAIL_BYTES but sending only its first KiB, and
    return the status line the server answers with meanwhile (TimeoutError if it waits)."""
    address = urlsplit(box.live.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {MAX_EMAIL_BYTES}\r\n\r\n".encode() + b"body-mime=" + b"x" * 1024)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_a_wrong_or_missing_url_secret_is_refused_before_the_body_is_read(mailbox: Mailbox) -> None:
    inbox_id = mailbox.inbox["id"]
    mailgun = urlsplit(urls(mailbox)["mailgun"]).path
    assert mailgun.endswith("/mime") and len(mailgun.split("/")[4]) == 32
    wrong = mailgun.replace(mailgun.split("/")[4], "A" * 32)
    for path in (wrong, f"/webhooks/email/{inbox_id}/mime", f"/webhooks/email/{inbox_id}/{'A' * 32}"):
        assert (await answer_before_the_body(mailbox, path)).startswith(b"HTTP/1.1 403"), path
    r = await mailgun_post(mailbox.live.client, f"/webhooks/email/{inbox_id}/mime", eml("plain"), SECRET)
    assert r.status_code == 403 and r.json()["error"]["code"] == "url_secret_required"
    assert await mailbox.conversations() == []


async def test_the_mailgun_signature_is_checked_before_the_mime_is_read(mailbox: Mailbox) -> None:
    client, url = mailbox.live.client, urls(mailbox)["mailgun"]
    bad = await client.post(url, data={**mailgun_fields("not-the-key"), "body-mime": ""})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "invalid_signature"
    good = await client.post(url, data={**mailgun_fields(SECRET), "body-mime": " "})
    assert good.status_code == 400 and good.json()["error"]["code"] == "malformed_email"


async def test_a_captured_mailgun_signature_cannot_be_replayed_with_another_body(mailbox: Mailbox) -> None:
    client, url = mailbox.live.client, urls(mailbox)["mailgun"]
    captured = mailgun_fields(SECRET)
    assert (await mailgun_post(client, url, eml("plain"), fields=captured)).status_code == 200
    replay = await mailgun_post(client, url, eml("html_only"), fields=captured)
    assert replay.status_code == 403 and replay.json()["error"]["code"] == "replayed_signature"
    replay = await mailgun_post(client, url, eml("html_only"), fields=captured, multipart=True)
    assert replay.status_code == 403
    [conv] = await mailbox.conversations()  # the forged body stored nothing
    [message] = await mailbox.messages(conv["id"])
    assert message["payload"]["subject"] != "Invoice question"


async def test_a_stale_or_future_mailgun_timestamp_is_refused_by_the_apps_clock(
        mailbox: Mailbox, clock: MovableClock) -> None:
    client, url = mailbox.live.client, urls(mailbox)["mailgun"]
    now = int(clock.now().timestamp())
    for skew in (-400 * 86400, -320, 320):  # a few seconds past the five minutes, either way
        r = await mailgun_post(client, url, eml("plain"), fields=mailgun_fields(SECRET, timestamp=str(now + skew)))
        assert r.status_code == 403 and r.json()["error"]["code"] == "stale_signature", skew
    for hostile in ("9" * 40, "-5", "1e9"):  # signed, but no time at all: refused, not a server error
        r = await mailgun_post(client, url, eml("plain"), fields=mailgun_fields(SECRET, timestamp=hostile))
        assert r.status_code == 403, (hostile, r.text)
    assert await mailbox.conversations() == []
    clock.advance(timedelta(minutes=4))  # the post arrives four minutes after Mailgun signed it
    assert (await mailgun_post(client, url, eml("plain"), fields=mailgun_fields(SECRET, timestamp=str(now)))
            ).status_code == 200
    assert len(await mailbox.messages()) == 1
    clock.advance(timedelta(minutes=2))  # another, signed at the same time, six minutes late
    late = await mailgun_post(client, url, eml("html_only"), fields=mailgun_fields(SECRET, timestamp=str(now)))
    assert late.status_code == 403 and late.json()["error"]["code"] == "stale_signature"
    assert len(await mailbox.messages()) == 1


async def test_used_tokens_are_kept_until_their_timestamp_is_stale_then_pruned(
        mailbox: Mailbox, clock: MovableClock) -> None:
    ctx, client, url = mailbox.live.app.state.ctx, mailbox.live.client, urls(mailbox)["mailgun"]

    def count() -> Any:
        return ctx.db.read(lambda c: c.execute(select(func.count()).select_from(WEBHOOK_NONCES)).scalar())
    assert (await mailgun_post(client, url, eml("plain"), SECRET)).status_code == 200
    assert (await mailgun_post(client, url, eml("html_only"), SECRET)).status_code == 200
    assert await count() == 2
    assert await actions.prune_webhook_nonces(ctx) == 0  # still within their five minutes
    clock.advance(timedelta(minutes=5, seconds=2))
    assert await actions.prune_webhook_nonces(ctx) == 2
    assert await count() == 0


async def test_sendgrid_posts_with_the_url_secret_and_no_secret_in_the_access_log(
        mailbox: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    client, parse_url = mailbox.live.client, urls(mailbox)["inbound_parse"]
    url_secret = parse_url.rsplit("/", 1)[1]
    # A second front door onto the running app, logging every request as `--access-log` does.
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(mailbox.live.app, host="127.0.0.1", port=port, lifespan="off",
                                           access_log=True, log_config=None, log_level="info"))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, "uvicorn.access")
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.005)  # yield to the server task until it has bound its socket
        logged = f"http://127.0.0.1:{port}"
        ok = await sendgrid_post(client, 0, eml("plain"), url=parse_url.replace(mailbox.live.url, logged))
        assert ok.status_code == 200, ok.text
        old = await sendgrid_post(client, mailbox.inbox["id"], eml("html_only"), secret=SECRET,
                                  url=f"{logged}/webhooks/email/{mailbox.inbox['id']}")  # the old URL still works
        assert old.status_code == 200, old.text
        wrong = await sendgrid_post(client, 0, eml("plain"), url=f"{logged}/webhooks/email/{mailbox.inbox['id']}/x")
        assert wrong.status_code == 403
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        access.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert len(lines) == 3, lines
    assert all("[redacted]" in line for line in lines), lines
    assert not any(SECRET in line or url_secret in line for line in lines), lines
    assert len(await mailbox.conversations()) == 2
