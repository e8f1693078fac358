"""A sixth channel from tests/ alone: tests/channels/pigeon is a folder like
webhooks/<kind>/ and one ``register()`` call serves it, with no edit to inbox/ or ui/.
Its inbox is created through the API with its secrets masked, a signed webhook lands in a
conversation (a badly signed one is refused), a reply goes out through its adapter, and
its badge shows in the conversation list."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.channels import pigeon
from tests.channels.pigeon.inbound import SIGNATURE_HEADER, sign
from tests.conftest import Live
from tests.fakes.pigeon import FakeLoft
from tests.helpers.server import serve
from webhooks import registry

API_KEY = "loft-api-key-0123456789"
SIGNING_SECRET = "loft-signing-secret-9876543210"


@pytest.fixture
def pigeon_channel() -> Iterator[None]:
    registry.register(pigeon.CHANNEL)  # the one call that adds the channel
    yield
    registry.unregister(pigeon.KIND)


@pytest.fixture
async def loft() -> AsyncIterator[FakeLoft]:
    fake = FakeLoft(API_KEY)
    async with serve(fake.app) as url:
        fake.url = url
        yield fake


@pytest.fixture
def live_overrides(pigeon_channel: None) -> dict[str, Any]:
    """The channel is registered before the live app is built (it reads the registry then)."""
    return {}


async def _post(live: Live, inbox_id: int, body: dict[str, Any], secret: str) -> Any:
    raw = json.dumps(body).encode()
    return await live.client.post(f"/webhooks/pigeon/{inbox_id}", content=raw,
                                  headers={"content-type": "application/json", SIGNATURE_HEADER: sign(raw, secret)})


async def test_a_channel_registered_from_tests_works_end_to_end(live: Live, loft: FakeLoft) -> None:
    r = await live.client.post("/api/inboxes", headers=live.as_("admin"), json={
        "kind": "pigeon", "name": "Rooftop loft",
        "settings": {"loft": "rooftop", "api_url": loft.url, "api_key": API_KEY, "signing_secret": SIGNING_SECRET}})
    assert r.status_code == 201, r.text
    inbox = r.json()
    assert inbox["kind"] == "pigeon" and inbox["address"] == "rooftop"
    listed = next(i for i in (await live.get("/api/inboxes", "admin"))["items"] if i["id"] == inbox["id"])
    assert listed["settings"] == {"loft": "rooftop", "api_url": loft.url, "api_key": "********",
                                  "signing_secret": "********"}
    assert listed["webhook_urls"] == {"webhook_url": f"{live.url}/webhooks/pigeon/{inbox['id']}"}

    message = {"id": "coo-1", "from": "bird-42", "name": "Dana Scully", "text": "Is my parcel on its way?"}
    forged = await _post(live, inbox["id"], message, "not-the-secret")
    assert forged.status_code == 403, forged.text
    assert (await live.get("/api/conversations?channel=pigeon", "admin"))["items"] == []

    stream = await live.events("admin")
    signed = await _post(live, inbox["id"], message, SIGNING_SECRET)
    assert signed.status_code == 200, signed.text
    [conv] = (await live.get("/api/conversations?channel=pigeon", "admin"))["items"]
    assert conv["contact"]["name"] == "Dana Scully" and conv["last_message_preview"] == "Is my parcel on its way?"

    r = await live.client.post(f"/api/conversations/{conv['id']}/messages", headers=live.as_("admin"),
                               json={"text": "It left the loft this morning."})
    assert r.status_code == 202, r.text
    sent = await loft.next_message()
    assert sent == {"to": "bird-42", "text": "It left the loft this morning.", "loft": "rooftop"}
    acked = await stream.next(lambda e: e["type"] == "message.updated"
                              and e["data"]["message"]["provider_message_id"] == "pg-1")
    assert acked["data"]["message"]["status"] == "sent"
    await stream.close()

    page = await live.client.get(f"/inbox?tab=all&status=open&c={conv['id']}", headers=live.as_("admin"))
    assert page.status_code == 200, page.text
    row = re.search(rf'<li class="row[^"]*" data-conversation="{conv["id"]}"[^>]*>.*?</li>', page.text, re.S)
    assert row, page.text
    badge = re.search(r'<span class="icon pigeon"[^>]*>([^<]*)</span>', row.group(0))
    assert badge and badge.group(1) == pigeon.ICON, row.group(0)
    assert f"--channel-colour: {pigeon.COLOUR}" in badge.group(0) and 'title="Pigeon post"' in badge.group(0)
    # And everywhere else the page names the channel: the list row, the conversation header,
    # both messages (the customer's and the reply), the contact's identity, its consent and
    # its history.
    assert page.text.count(badge.group(0)) == 7


def test_the_channel_is_gone_once_unregistered() -> None:
    """The fixture's undo: later tests see the five channels only."""
    assert pigeon.KIND not in [c.kind for c in registry.channels()]
