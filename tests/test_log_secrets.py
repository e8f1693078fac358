"""No credential in the server's log (issue 11, item 8): the real ``inbox serve`` at the
default log level, with the access log on, through a run that exercises every channel
(a webhook in, an attachment fetched where the channel has one, a reply out), the
WebSocket with its token in the URL and in a subprotocol, and a login by password. Then
the whole log is read for every secret the run used, in every spelling a URL gives it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from starlette.types import Receive, Scope, Send

from tests.fakes.messenger import FakeGraph as FakeMessengerGraph
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.fakes.whatsapp import FakeGraph as FakeWhatsAppGraph
from tests.helpers import messenger, whatsapp
from tests.helpers.email import eml, sendgrid_post, smtp_send, smtp_sink
from tests.helpers.live import EventStream
from tests.helpers.server import free_port, serve
from tests.helpers.telegram import SECRET_HEADER
from tests.helpers.twilio import inbound_params, signed

INBOX = [sys.executable, "-m", "inbox.cli"]
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "twilio-auth-token-c0ffee0123456789"
PHONE_NUMBER_ID, WA_TOKEN, WA_APP_SECRET = "106540352242922", "EAAGwhatsappToken0123456789", "wa-app-secret-0123456789"
PAGE_ID, PAGE_TOKEN, FB_APP_SECRET = "106412345678901", "EAAGpageTokenSecret0123456789", "fb-app-secret-0123456789"
PSID = "6254103957841236"
BOT_TOKEN = "7000000009:AAHsecretBotTokenPart0123456789abcde"
TG_SECRET = "telegram-webhook-secret_0123456789"
INBOUND_SECRET = "sendgrid-inbound-secret-0123456789"
PASSWORD = "admin password 0123456789"
SECRET_KEY = "session-signing-key-0123456789abcdef"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


class Graph:
    """WhatsApp's and Messenger's fakes behind the one Graph base URL the app is given,
    each request sent to the fake that owns the id in its path."""

    def __init__(self) -> None:
        self.wa = FakeWhatsAppGraph({PHONE_NUMBER_ID: WA_TOKEN})
        self.fb = FakeMessengerGraph({PAGE_ID: PAGE_TOKEN})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope.get("path", "").strip("/").split("/")
        ours = parts[0] == "whatsapp_business" or (len(parts) > 1 and (
            parts[1] == PHONE_NUMBER_ID or parts[1] in self.wa.media))
        await (self.wa.app if ours else self.fb.app)(scope, receive, send)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, Any]]:
    twilio, graph, telegram = FakeTwilio({ACCOUNT_SID: AUTH_TOKEN}), Graph(), FakeTelegram([BOT_TOKEN])
    async with serve(twilio.app) as t_url, serve(graph) as g_url, serve(graph.fb.cdn) as cdn_url, \
            serve(telegram.app) as tg_url, smtp_sink() as sink:
        twilio.url = t_url  # type: ignore[attr-defined]
        graph.wa.url = graph.fb.url = g_url
        graph.fb.cdn_url = cdn_url
        telegram.url = tg_url
        yield {"twilio": twilio, "graph": graph, "telegram": telegram, "sink": sink}
        twilio.release.set()
        graph.wa.release.set()


def _secrets(api_token: str, session_cookie: str) -> dict[str, str]:
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    found = {"twilio auth token": AUTH_TOKEN, "twilio basic credentials": basic,
             "whatsapp token": WA_TOKEN, "whatsapp app secret": WA_APP_SECRET, "page token": PAGE_TOKEN,
             "messenger app secret": FB_APP_SECRET, "bot token": BOT_TOKEN,
             "bot token, quoted": quote(BOT_TOKEN, safe=""), "bot token's secret": BOT_TOKEN.split(":")[1],
             "telegram webhook secret": TG_SECRET, "inbound secret": INBOUND_SECRET, "password": PASSWORD,
             "password, form-encoded": quote(PASSWORD, safe="").replace("%20", "+"), "secret key": SECRET_KEY,
             "api token": api_token, "api token's secret": api_token.removeprefix("inbx_"),
             "session cookie": session_cookie}
    return found


async def test_a_run_of_every_channel_logs_no_credential(tmp_path: Path, fakes: dict[str, Any]) -> None:
    twilio, graph, telegram, sink = fakes["twilio"], fakes["graph"], fakes["telegram"], fakes["sink"]
    port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp_path}/inbox.db", "INBOX_PUBLIC_URL": url,
           "INBOX_SECRET_KEY": SECRET_KEY, "INBOX_TWILIO_API_BASE": twilio.url, "INBOX_GRAPH_API_BASE": graph.wa.url,
           "INBOX_TELEGRAM_API_BASE": telegram.url, "INBOX_SMTP_LISTEN": f"127.0.0.1:{smtp_port}",
           "INBOX_MEDIA_DIR": str(tmp_path / "media"), "INBOX_PRIVATE_MEDIA_ORIGINS": graph.fb.cdn_url,
           "INBOX_RETRY_BASE_SECONDS": "0.05"}
    env.pop("INBOX_LOG_LEVEL", None)  # the default level

    def cli(*args: str, stdin: str | None = None) -> str:
        out = subprocess.run([*INBOX, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             input=stdin)
        assert out.returncode == 0, out.stderr
        return out.stdout

    cli("user", "create", "--email", "admin@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    api_token = cli("token", "create", "--email", "admin@example.com").strip()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([*INBOX, "serve", "--port", str(port), "--access-log"], env=env, cwd=tmp_path,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            for _ in range(600):  # the process imports, migrates and binds
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    assert server.poll() is None, log_path.read_text()
                    await asyncio.sleep(0.05)
            cookie = await _run(client, url, api_token, smtp_port, twilio, graph, telegram, sink)
    finally:
        server.terminate()
        server.wait(20)

    text = log_path.read_text()
    assert "HTTP Request: POST" in text and "/webhooks/twilio" in text, text  # the log was written, at info
    leaked = {name: value for name, value in _secrets(api_token, cookie).items() if value and value in text}
    assert leaked == {}, "\n".join(line for line in text.splitlines() if any(v in line for v in leaked.values()))


async def _run(client: httpx.AsyncClient, url: str, api_token: str, smtp_port: int, twilio: FakeTwilio,
               graph: Graph, telegram: FakeTelegram, sink: Any) -> str:
    """Every channel in and out; returns the session cookie of a password login."""
    auth = {"Authorization": f"Bearer {api_token}"}

    async def inbox(kind: str, **settings: Any) -> dict[str, Any]:
        r = await client.post("/api/inboxes", headers=auth, json={"kind": kind, "name": kind, "settings": settings})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    await inbox("sms", phone_number="+15550001111", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    await inbox("whatsapp", phone_number_id=PHONE_NUMBER_ID, access_token=WA_TOKEN, app_secret=WA_APP_SECRET,
                verify_token="wa-verify-token")
    await inbox("messenger", page_id=PAGE_ID, page_access_token=PAGE_TOKEN, app_secret=FB_APP_SECRET,
                verify_token="fb-verify-token")
    tg = await inbox("telegram", bot_token=BOT_TOKEN, secret_token=TG_SECRET)
    mail = await inbox("email", address="support@example.com", smtp_host="127.0.0.1", smtp_port=sink.port,
                       smtp_security="none", inbound_secret=INBOUND_SECRET)
    stream = await EventStream.connect(url, api_token)  # the token in ?token=
    ws_url = url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, subprotocols=["inbox", f"token.{api_token}"]) as ws:  # type: ignore[list-item]
        assert '"ready"' in await ws.recv()

    # In: one of each, with an attachment to fetch where the channel has them.
    media = twilio.media_url("ME" + "1" * 32, JPEG, "image/jpeg")
    sms = inbound_params("+15550001111", "+15557650000", "a photo", AccountSid=ACCOUNT_SID, NumMedia="1",
                         MediaUrl0=media, MediaContentType0="image/jpeg")
    assert (await client.post("/webhooks/twilio", **signed(url, "/webhooks/twilio", sms, AUTH_TOKEN))).status_code \
        == 200
    wa_body = whatsapp.fixture("image")
    graph.wa.media[whatsapp.message(wa_body)["image"]["id"]] = (JPEG, "image/jpeg")
    assert (await client.post("/webhooks/whatsapp", **whatsapp.signed(wa_body, WA_APP_SECRET))).status_code == 200
    fb_body = messenger.body((PAGE_ID, [messenger.event("text", PAGE_ID, PSID, text="hello page")]))
    assert (await client.post("/webhooks/messenger", **whatsapp.signed(fb_body, FB_APP_SECRET))).status_code == 200
    photo = json.loads((Path(__file__).parent / "fixtures" / "telegram" / "photo.json").read_text())
    telegram.add_file(photo["message"]["photo"][-1]["file_id"], JPEG, "photos/file_1.jpg")
    r = await client.post(f"/webhooks/telegram/{tg['id']}", json=photo, headers={SECRET_HEADER: TG_SECRET})
    assert r.status_code == 200, r.text
    await smtp_send(smtp_port, eml("plain"), to="support@example.com")
    r = await sendgrid_post(client, mail["id"], eml("reply"), basic=INBOUND_SECRET)
    assert r.status_code == 200, r.text

    # Out: a reply in every conversation, each through its channel.
    conversations = (await client.get("/api/conversations", headers=auth)).json()["items"]
    assert len(conversations) == 5, conversations
    for conv in conversations:
        r = await client.post(f"/api/conversations/{conv['id']}/messages", headers=auth, json={"text": "on it"})
        assert r.status_code == 202, r.text
    await twilio.wait_for_sent(1)
    await graph.wa.wait_for_sent(1)
    await graph.fb.wait_for_sent(1)
    await telegram.wait_for("sendMessage")
    await sink.next(15)
    fetched: set[int] = set()  # the SMS, WhatsApp and Telegram messages whose photo was downloaded

    def stored(e: dict[str, Any]) -> bool:
        attachments = e["data"].get("message", {}).get("attachments") if e["type"] == "message.updated" else None
        return bool(attachments) and all(a.get("path") for a in attachments)  # type: ignore[union-attr]
    while len(fetched) < 3:
        fetched.add((await stream.next(stored, timeout=20))["data"]["message"]["id"])
    await stream.close()

    # A login by password: the session cookie back.
    r = await client.post("/login", json={"email": "admin@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client.cookies.get("inbox_session") or ""
