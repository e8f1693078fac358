"""Attachment downloads go only where they should (webhooks/download.py): no internal
address, directly or after a redirect; provider credentials only to the provider's API; a
body never read past the media cap. Through signed webhooks and the real delivery worker,
against the fake Twilio and Graph and two recording servers on other loopback ports: one
allowed as a stand-in for a provider's storage (INBOX_PRIVATE_MEDIA_ORIGINS), one not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import ACCOUNT_SID, Live
from tests.fakes.messenger import FakeGraph
from tests.helpers.live import EventStream
from tests.helpers.messenger import body, event, signed
from tests.helpers.server import serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CAP = 1 << 20  # INBOX_MAX_MEDIA_BYTES in these tests


class Recorder:
    """A web server that answers every GET with a PNG and records each request's headers."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.serve_file)])

    async def serve_file(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        return Response(PNG, media_type="image/png")


@pytest.fixture
async def internal() -> AsyncIterator[Recorder]:
    """An internal service: another port on 127.0.0.1, in no allow-list."""
    async for recorder in _recording():
        yield recorder


@pytest.fixture
async def bucket() -> AsyncIterator[Recorder]:
    """A stand-in for the storage Twilio redirects to, allowed on loopback by the admin."""
    async for recorder in _recording():
        yield recorder


async def _recording() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with serve(recorder.app) as url:
        recorder.url = url
        yield recorder


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph({"106412345678901": "EAAGm0PX4ZCpsBAKfakePageAccessToken"})
    async with serve(fake.app) as url, serve(fake.cdn) as cdn_url:
        fake.url, fake.cdn_url = url, cdn_url
        yield fake


@pytest.fixture
def live_overrides(bucket: Recorder, graph: FakeGraph) -> dict[str, Any]:
    return {"private_media_origins": f"{bucket.url}, {graph.cdn_url}", "max_media_bytes": CAP,
            "graph_api_base": graph.url}


async def settled(stream: EventStream, count: int) -> list[dict[str, Any]]:
    """The attachments of the next message once each is stored or has failed for good."""
    def done(e: dict[str, Any]) -> bool:
        attachments = e["data"]["message"]["attachments"] if e["type"] == "message.updated" else []
        return len(attachments) == count and all(
            "path" in a or "could not download" in a.get("error", "") for a in attachments)
    return (await stream.next(done, timeout=20))["data"]["message"]["attachments"]  # type: ignore[no-any-return]


async def mms(live: Live, *urls: str) -> list[dict[str, Any]]:
    stream = await live.events()
    media = {k: v for i, url in enumerate(urls)
             for k, v in ((f"MediaUrl{i}", url), (f"MediaContentType{i}", "image/png"))}
    assert (await live.sms("+15557654321", "", NumMedia=str(len(urls)), **media)).status_code == 200
    attachments = await settled(stream, len(urls))
    await stream.close()
    return attachments


async def test_media_urls_on_internal_addresses_are_refused_and_never_requested(live: Live,
                                                                                internal: Recorder) -> None:
    port = live.fake.url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    urls = [f"{internal.url}/admin/export.png",  # another port of 127.0.0.1: not an API base
            # the fake Twilio itself, by a name that resolves to loopback rather than its configured origin
            f"http://localhost:{port}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # cloud metadata
            "http://10.0.0.7/internal.png", "http://100.64.0.1/carrier-nat.png",
            "http://[::ffff:127.0.0.1]:80/mapped.png", "http://[fe80::1]/link-local.png", "http://0.0.0.0/"]
    attachments = await mms(live, *urls)
    for a in attachments:
        assert "private or local address" in a["error"] and "path" not in a, a
    assert internal.requests == [] and live.fake.media_requests == []


async def test_a_redirect_to_an_internal_address_is_refused(live: Live, internal: Recorder) -> None:
    to_service = live.fake.redirect_media("ME1", f"{internal.url}/secret.png")
    to_metadata = live.fake.redirect_media("ME2", "http://169.254.169.254/latest/meta-data/")
    first, second = await mms(live, to_service, to_metadata)
    assert "private or local address" in first["error"] and "127.0.0.1" in first["error"]
    assert "private or local address" in second["error"] and "169.254.169.254" in second["error"]
    assert internal.requests == []
    assert len(live.fake.media_requests) == 2  # Twilio itself was asked, and answered with the redirect


async def test_credentials_reach_the_api_only_never_the_storage_it_redirects_to(live: Live,
                                                                                bucket: Recorder) -> None:
    redirected = live.fake.redirect_media("ME1", f"{bucket.url}/media/ME1.png?Expires=1700000000&Signature=abc")
    elsewhere = f"{bucket.url}/direct.png"  # a MediaUrl on a host that is not Twilio's API
    other_account = live.fake.url + "/2010-04-01/Accounts/AC" + "9" * 32 + "/Messages/MM2/Media/ME2"  # type: ignore[attr-defined]
    first, second, third = await mms(live, redirected, elsewhere, other_account)
    assert first["size"] == len(PNG) and second["size"] == len(PNG)
    assert "Twilio refused the media download (401)" in third["error"]
    assert len(bucket.requests) == 2
    assert not any("authorization" in headers for headers in bucket.requests)
    # The downloads run side by side, so the requests are told apart by path, not by order.
    by_account = {headers[":path"].split("/")[3]: headers for headers in live.fake.media_requests}
    to_api, to_other_account = by_account[ACCOUNT_SID], by_account["AC" + "9" * 32]
    assert to_api["authorization"].startswith("Basic ")  # the account's own media on the API host
    assert "authorization" not in to_other_account  # not even the API host, for another account's path


async def test_a_huge_body_is_cut_at_the_cap_without_reading_it_all(live: Live) -> None:
    url = live.fake.huge_media("MEbig", 200 << 20)  # 200 MiB of zeros, made as they are sent
    [attachment] = await mms(live, url)
    assert f"over the {CAP:,}-byte limit: download stopped" in attachment["error"]
    assert "path" not in attachment
    # The server got to hand over the cap plus what the socket buffers held, not 200 MiB.
    assert live.fake.streamed < 16 << 20, live.fake.streamed


async def test_a_messenger_attachment_on_an_internal_address_is_refused(live: Live, graph: FakeGraph,
                                                                        internal: Recorder) -> None:
    page_id, token = next(iter(graph.pages.items()))
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "messenger", "name": "Shop page", "settings": {
            "page_id": page_id, "page_access_token": token, "app_secret": "s3cret", "verify_token": "v"}})
    assert r.status_code == 201, r.text
    stream = await live.events()
    image = event("image", page_id, "24681357924680135")
    image["message"]["attachments"][0]["payload"]["url"] = f"{internal.url}/v/t1.15752-9/photo.png"
    shared = event("image", page_id, "24681357924680135")
    shared["message"]["attachments"][0]["payload"]["url"] = graph.publish("ok.png", PNG, "image/png")
    assert (await live.client.post("/webhooks/messenger", **signed(body((page_id, [image, shared])), "s3cret"))
            ).status_code == 200
    first, second = [(await settled(stream, 1))[0] for _ in range(2)]  # fetched concurrently: either order
    refused, stored = (first, second) if "error" in first else (second, first)
    assert "private or local address" in refused["error"] and internal.requests == []
    assert stored["size"] == len(PNG)
    assert graph.file_requests and all("access_token" not in q for q in graph.file_requests)
    await stream.close()
