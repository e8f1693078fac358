"""Property-based fuzzing of every webhook endpoint with mutated real payloads, signed as the
provider signs them so they reach the parsers: every answer is a 2xx or a clear 4xx, never
a 500, and a refused request writes nothing."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from inbox import actions
from inbox.domain.tables import EVENTS, MESSAGES
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, Live
from tests.helpers import messenger as fb
from tests.helpers.twilio import inbound_params
from tests.helpers.twilio import signed as twilio_signed
from tests.helpers.whatsapp import fixture as wa_fixture
from tests.helpers.whatsapp import signed as wa_signed

WA = {"phone_number_id": "106540352242922", "access_token": "wa-token", "app_secret": "wa-secret",
      "verify_token": "wa-verify"}
FB = {"page_id": "106412345678901", "page_access_token": "fb-token", "app_secret": "fb-secret",
      "verify_token": "fb-verify"}
TG = {"bot_token": "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "secret_token": "tg-secret"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=12)


def mutations(seed: Any) -> st.SearchStrategy[bytes]:
    """Real payloads with a value replaced or removed somewhere, truncated, or garbage."""
    def replace(path_and_value: tuple[list[int], Any]) -> bytes:
        data = json.loads(json.dumps(seed))
        node, steps = data, path_and_value[0]
        for step in steps:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
                if isinstance(node, list) else []
            if not children:
                break
            key, child = children[step % len(children)]
            if not isinstance(child, dict | list) or step == steps[-1]:
                if path_and_value[1] == "<delete>":
                    del node[key]
                else:
                    node[key] = path_and_value[1]
                break
            node = child
        return json.dumps(data).encode()

    real = json.dumps(seed).encode()
    return st.one_of(
        st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=6), JSON | st.just("<delete>")).map(replace),
        st.integers(0, len(real)).map(lambda n: real[:n]),
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
    )


def collect(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """Draw the examples up front: the requests below need the test's event loop."""
    out: list[Any] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(example: Any) -> None:
        out.append(example)
    draw()
    return out


async def _inboxes(live: Live) -> dict[str, int]:
    registry, ctx = live.app.state.registry, live.app.state.ctx
    ids = {"sms": live.inbox["id"]}
    for kind, raw in (("whatsapp", WA), ("messenger", FB), ("telegram", TG)):
        address, clean = registry.get(kind).configure(raw)
        inbox = await ctx.db.write(lambda tx: actions.create_inbox(tx, kind=kind, name=kind, address=address,
                                                                    settings=clean))
        ids[kind] = inbox["id"]
    await live.app.state.directory.reload()
    return ids


async def _counts(live: Live) -> tuple[int, int]:
    def read(c: Any) -> tuple[int, int]:
        return (c.execute(select(func.count()).select_from(MESSAGES)).scalar_one(),
                c.execute(select(func.count()).select_from(EVENTS)).scalar_one())
    return await live.app.state.ctx.db.read(read)  # type: ignore[no-any-return]


async def _check(live: Live, path: str, **request: Any) -> int:
    before = await _counts(live)
    r = await live.client.post(path, **request)
    assert r.status_code < 500, (path, request.get("content", request.get("data")), r.text)
    if r.status_code >= 400:
        assert await _counts(live) == before, (path, r.status_code, "a refused request wrote something")
    return r.status_code


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    return {"run_worker": False}  # fuzzed attachments must not send the worker to the internet


async def test_meta_and_telegram_webhooks_never_500(live: Live) -> None:
    ids = await _inboxes(live)
    statuses: set[int] = set()
    for raw in collect(mutations(wa_fixture("text")) | mutations(wa_fixture("status_failed"))):
        statuses.add(await _check(live, "/webhooks/whatsapp", **wa_signed(raw, WA["app_secret"])))
    text = json.loads(fb.body((FB["page_id"], [fb.event("text", FB["page_id"], "24681357924680135")])))
    for raw in collect(mutations(text)):
        statuses.add(await _check(live, "/webhooks/messenger", **fb.signed(raw, FB["app_secret"])))
    update = json.loads((fb.FIXTURES.parent / "telegram" / "text.json").read_text())
    for raw in collect(mutations(update)):
        statuses.add(await _check(live, f"/webhooks/telegram/{ids['telegram']}", content=raw, headers={
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG["secret_token"]}))
    assert 400 in statuses and statuses & {200, 204}  # the fuzz reached both the parsers and the stores


async def test_twilio_webhooks_never_500(live: Live) -> None:
    base = inbound_params(OUR_NUMBER, "+15557654321", "hello", AccountSid=ACCOUNT_SID)
    keys = st.sampled_from(sorted(base) + ["NumMedia", "MediaUrl0", "MediaContentType0", "OptOutType"])
    for changes in collect(st.dictionaries(keys, st.text(max_size=30), max_size=5)):
        params = {**base, **changes}
        await _check(live, "/webhooks/twilio", **twilio_signed(live.url, "/webhooks/twilio", params, AUTH_TOKEN))
        status = {"MessageSid": params.get("MessageSid", ""), "MessageStatus": changes.get("Body", "delivered"),
                  "AccountSid": ACCOUNT_SID, "ErrorCode": changes.get("To", "")}
        await _check(live, "/webhooks/twilio/status",
                     **twilio_signed(live.url, "/webhooks/twilio/status", status, AUTH_TOKEN))


@pytest.mark.parametrize("path", ["/webhooks/twilio", "/webhooks/twilio/status", "/webhooks/whatsapp",
                                  "/webhooks/messenger", "/webhooks/telegram/1"])
async def test_wrong_content_types_and_huge_bodies_are_4xx(live: Live, path: str) -> None:
    for content_type, body in (("text/plain", b"hello"), ("application/json", b"{"), ("application/xml", b"<a/>"),
                               ("application/x-www-form-urlencoded", b"%%%"), ("application/json", b"x" * 2_000_000)):
        status = await _check(live, path, content=body, headers={"Content-Type": content_type})
        assert 400 <= status < 500


async def test_found_by_fuzzing_a_telegram_message_without_a_chat_is_acknowledged_and_not_stored(live: Live) -> None:
    ids = await _inboxes(live)
    update = json.loads((fb.FIXTURES.parent / "telegram" / "text.json").read_text())
    del update["message"]["chat"]
    before = await _counts(live)
    status = await _check(live, f"/webhooks/telegram/{ids['telegram']}", content=json.dumps(update).encode(),
                          headers={"Content-Type": "application/json",
                                   "X-Telegram-Bot-Api-Secret-Token": TG["secret_token"]})
    assert status == 200 and await _counts(live) == before  # only a body that is no Update at all is a 400


async def test_found_by_fuzzing_a_text_that_is_not_a_string_is_stored_as_unsupported(live: Live) -> None:
    ids = await _inboxes(live)
    update = json.loads((fb.FIXTURES.parent / "telegram" / "text.json").read_text())
    update["message"]["text"] = True
    status = await _check(live, f"/webhooks/telegram/{ids['telegram']}", content=json.dumps(update).encode(),
                          headers={"Content-Type": "application/json",
                                   "X-Telegram-Bot-Api-Secret-Token": TG["secret_token"]})
    assert status == 200
    [text] = await live.app.state.ctx.db.read(lambda c: c.execute(select(MESSAGES.c.text)).scalars().all())
    assert text == "[Unsupported Telegram message: text]"
