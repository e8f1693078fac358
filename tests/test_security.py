"""What a hostile site, a password guesser or an agent outside their lane can do: nothing.

CSRF tokens on every state change made with the session cookie, the login throttle, the
session cookie's flags, WebSockets from other origins, and roles and teams held at every
door (REST, WebSocket, HTML routes, media URLs)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from argon2 import PasswordHasher

from inbox import redact
from tests.conftest import Live
from tests.fakes.twilio import FakeTwilio
from tests.helpers.forms import TOKEN, form_login, page_token
from tests.helpers.live import EventStream
from tests.test_process import Proc
from tests.test_sessions import team_conversation
from ui.pages.agent import Presence

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64
POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*>')


@pytest.fixture
async def browser_like(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    """A second client with its own cookie jar, as a browser would have."""
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


async def _conversation(live: Live) -> dict[str, Any]:
    assert (await live.sms("+15557654321", "hello")).status_code == 200
    [conv] = (await live.get("/api/conversations"))["items"]
    return conv  # type: ignore[no-any-return]


async def test_every_post_form_carries_the_sessions_csrf_token(live: Live) -> None:
    conv = await _conversation(live)
    for who, path in [("agent", f"/inbox?c={conv['id']}"), ("lead", "/queue"), ("admin", "/admin")]:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            assert (await form_login(client, who)).status_code == 303
            page = (await client.get(path)).text
            forms = POST_FORM.findall(page)
            assert len(forms) >= 2, (path, forms)
            tokens = set(TOKEN.findall(page))
            assert len(tokens) == 1, (path, tokens)  # one token, the session's
            [token] = tokens
            for form in forms:
                after = page[page.index(form) + len(form):][:200]
                assert f'name="csrf_token" value="{token}"' in after, (path, form)
            assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page  # for htmx requests without a form


async def test_a_session_cookie_without_the_token_changes_nothing(live: Live,
                                                                 browser_like: httpx.AsyncClient) -> None:
    conv = await _conversation(live)
    assert (await form_login(browser_like, "agent")).status_code == 303
    token = await page_token(browser_like, "/inbox")

    forged = await browser_like.post(f"/ui/conversations/{conv['id']}/status", data={"status": "resolved"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    wrong = await browser_like.post(f"/ui/conversations/{conv['id']}/status",
                                    data={"status": "resolved", "csrf_token": token[::-1]})
    assert wrong.status_code == 403
    note = f"/api/conversations/{conv['id']}/notes"
    assert (await browser_like.post(note, json={"text": "forged"})).status_code == 403
    assert (await live.get(f"/api/conversations/{conv['id']}"))["status"] == "open"
    timeline = await live.get(f"/api/conversations/{conv['id']}/timeline")
    assert not [i for i in timeline["items"] if i["type"] == "note"]

    # From our own page (a form field, or htmx's header) the same requests work.
    ok = await browser_like.post(f"/ui/conversations/{conv['id']}/status",
                                 data={"status": "resolved", "csrf_token": token})
    assert ok.status_code in (200, 303)
    assert (await live.get(f"/api/conversations/{conv['id']}"))["status"] == "resolved"
    assert (await browser_like.post(note, json={"text": "real"}, headers={"X-CSRF-Token": token})).status_code == 201
    # An API token is not sent by a browser on its own: it needs no CSRF token.
    assert (await live.client.post(note, json={"text": "by token"}, headers=live.as_("agent"))).status_code == 201

    # The login form too, so no site can log a browser in as someone else.
    async with httpx.AsyncClient(base_url=live.url) as fresh:
        r = await fresh.post("/login", data={"email": "agent@example.com", "password": "correct horse battery",
                                             "next": "/inbox"})
        assert r.status_code == 403 and "uid" not in str(fresh.cookies)


@pytest.mark.parametrize("live_overrides", [{"login_attempts": 3}])
async def test_failed_logins_are_throttled_per_address_and_email(live: Live) -> None:
    def login(email: str, password: str) -> Any:
        return live.client.post("/login", json={"email": email, "password": password})
    for _ in range(3):
        assert (await login("agent@example.com", "guess")).status_code == 401
    refused = await login("agent@example.com", "correct horse battery")  # even the right one, for now
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    assert (await login("agent2@example.com", "correct horse battery")).status_code == 200  # others may

    async with httpx.AsyncClient(base_url=live.url) as browser:  # the login page says why
        r = await form_login(browser, "agent")
        assert r.status_code == 303 and "throttled=" in r.headers["location"]
        page = await browser.get(r.headers["location"])
        assert "Too many failed attempts" in page.text


async def test_session_cookie_is_httponly_and_samesite(live: Live, browser_like: httpx.AsyncClient) -> None:
    r = await form_login(browser_like, "agent")
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("inbox_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here: a Secure cookie would never come back


@pytest.mark.parametrize("live_overrides", [{"public_url": "https://inbox.example.com"}])
async def test_session_cookie_is_secure_behind_https(live: Live, browser_like: httpx.AsyncClient) -> None:
    r = await browser_like.get("/login")  # the session (holding the CSRF token) starts here
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("inbox_session=") and "; secure" in cookie and "httponly" in cookie


async def test_a_websocket_opened_by_another_site_is_refused(live: Live, browser_like: httpx.AsyncClient) -> None:
    await form_login(browser_like, "agent")
    cookie = "; ".join(f"{k}={v}" for k, v in browser_like.cookies.items())
    ws_url = live.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie},
                                  origin="http://evil.example") as ws:  # type: ignore[arg-type]
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie},
                                  origin=live.url) as ws:  # type: ignore[arg-type]
        assert '"ready"' in await ws.recv()


async def test_a_team_conversation_is_closed_to_other_agents_by_every_door(live: Live) -> None:
    photo, receipt = live.fake.media_url("ME1", PNG, "image/png"), live.fake.media_url("ME2", PDF, "application/pdf")
    lead_stream = await live.events("lead")
    r = await live.sms("+15557654321", "", NumMedia="2", MediaUrl0=photo, MediaContentType0="image/png",
                       MediaUrl1=receipt, MediaContentType1="application/pdf")
    assert r.status_code == 200
    message = (await lead_stream.next(lambda e: e["type"] == "message.updated" and all(
        "path" in a for a in e["data"]["message"]["attachments"])))["data"]["message"]
    conv_id = message["conversation_id"]
    png, pdf = (f"/media/{a['path']}" for a in message["attachments"])

    # While the conversation is unassigned the agent sees it, and its files (naming the message).
    image = await live.client.get(f"{png}?m={message['id']}", headers=live.as_("agent"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    document = await live.client.get(f"{pdf}?m={message['id']}", headers=live.as_("agent"))
    assert document.status_code == 200 and document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith("attachment")  # downloaded, never shown on our origin
    for served in (image, document):
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
    assert (await live.client.get(png, headers=live.as_("agent"))).status_code == 403  # no message named
    assert (await live.client.get(f"{png}?m={message['id']}")).status_code == 401  # nobody logged in

    # A lead gives it to a team the agent is not in.
    team = await live.client.post("/api/teams", headers=live.as_("admin"), json={"name": "Billing"})
    r = await live.client.post(f"/api/conversations/{conv_id}/assignment", headers=live.as_("lead"),
                               json={"team_id": team.json()["id"]})
    assert r.status_code == 200
    agent_stream = await live.events("agent")
    try:
        assert (await live.client.get(f"/api/conversations/{conv_id}", headers=live.as_("agent"))).status_code in (
            403, 404)
        timeline = await live.client.get(f"/api/conversations/{conv_id}/timeline", headers=live.as_("agent"))
        assert timeline.status_code in (403, 404)
        html = await live.client.get(f"/ui/conversations/{conv_id}", headers=live.as_("agent"))
        assert html.status_code == 404 and "hello" not in html.text
        page = await live.client.get(f"/inbox?c={conv_id}", headers=live.as_("agent"))
        assert page.status_code == 200 and f'data-conversation="{conv_id}"' not in page.text
        assert (await live.client.get(f"{png}?m={message['id']}", headers=live.as_("agent"))).status_code == 403
        assert (await live.client.get(f"{pdf}?m={message['id']}", headers=live.as_("agent"))).status_code == 403
        assert (await live.client.get(png, headers=live.as_("lead"))).status_code == 200  # leads see every team
        acted = await live.client.post(f"/api/conversations/{conv_id}/status", headers=live.as_("agent"),
                                       json={"status": "resolved"})
        assert acted.status_code in (403, 404)

        # Live: the customer writes again; the lead is told, the agent is not. A message
        # from someone else, which the agent may see, arrives after it, so its arrival
        # proves the first was not sent.
        await live.sms("+15557654321", "still waiting on the refund")
        await lead_stream.next(lambda e: e["type"] == "message.created"
                               and e["data"]["message"]["text"] == "still waiting on the refund")
        await live.sms("+15550001234", "a new question")
        await agent_stream.next(lambda e: e["type"] == "message.created"
                                and e["data"]["message"]["text"] == "a new question")
        assert not [e for e in agent_stream.seen if "refund" in str(e)]
    finally:
        await agent_stream.close()
        await lead_stream.close()


async def test_admin_and_lead_pages_refuse_an_agent_even_with_a_valid_form(live: Live,
                                                                        browser_like: httpx.AsyncClient) -> None:
    await live.sms("+15557654321", "hello")
    [conv] = (await live.get("/api/conversations", who="lead"))["items"]
    r = await live.client.post(f"/api/conversations/{conv['id']}/assignment", headers=live.as_("lead"),
                               json={"user_id": live.users["agent2"]["id"]})
    assert r.status_code == 200
    users_before = (await live.get("/api/users", who="admin"))["items"]

    assert (await form_login(browser_like, "agent")).status_code == 303
    token = await page_token(browser_like, "/inbox")
    assert (await browser_like.get("/admin")).status_code == 403
    made = await browser_like.post("/admin/user", data={"csrf_token": token, "email": "mole@example.com",
                                                        "name": "Mole", "role": "admin", "password": "x" * 12})
    assert made.status_code == 403
    assert (await live.get("/api/users", who="admin"))["items"] == users_before
    assert (await browser_like.get("/queue")).status_code == 403
    moved = await browser_like.post("/queue/assign", data={"csrf_token": token, "conversation": str(conv["id"]),
                                                           "assignee": f"user:{live.users['agent']['id']}"})
    assert moved.status_code == 303 and moved.headers["location"].endswith("done=0")
    assert (await live.get(f"/api/conversations/{conv['id']}", who="lead"))["assignee_id"] == \
        live.users["agent2"]["id"]


@pytest.mark.parametrize("live_overrides", [{"max_body_bytes": 1000, "max_media_bytes": 1000,
                                             "max_email_bytes": 1000}])
async def test_no_request_body_is_taken_past_the_largest_limit(live: Live) -> None:
    """An upload or a form is read (a file spooled to disk) before its route can judge its
    size: every body is cut off at the largest configured limit plus 1 MiB, declared or not,
    whichever route it is sent to."""
    big = b"x" * (3 * 1024 * 1024)
    declared = await live.client.post("/logout", content=big, headers={"Content-Type": "text/plain"})  # reads none
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
               b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n")
        for _ in range(48):
            yield b"\x00" * 65536
    streamed = await live.client.post("/api/uploads", content=chunks(), headers={
        **live.as_("agent"), "Content-Type": "multipart/form-data; boundary=xyz"})
    # Cut off on the way in, not spooled whole and then refused by the upload's own limit.
    assert streamed.status_code == 413 and "body over the" in streamed.json()["error"]["message"], streamed.text
    small = await live.client.post("/api/uploads", headers=live.as_("agent"),
                                   files={"file": ("small.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "image/png")})
    assert small.status_code == 201  # under every limit, it is taken as before


async def test_an_unknown_email_costs_the_same_argon2_verification(live: Live,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing must not tell which emails have accounts: each failed login, known email or
    not, runs exactly one argon2 verification, with the parameters real hashes have."""
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> bool:
        verified.append(hash)
        return real_verify(self, hash, password)
    monkeypatch.setattr(PasswordHasher, "verify", counting)
    params = []
    for email in ("agent@example.com", "nobody@example.com", "NOBODY2@example.com"):
        verified.clear()
        r = await live.client.post("/login", json={"email": email, "password": "not the password"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
        assert len(verified) == 1 and verified[0].startswith("$argon2id$"), (email, verified)
        params.append(verified[0].split("$")[2:4])  # version, m/t/p
    assert params[0] == params[1] == params[2]


@pytest.fixture
async def served(tmp_path: Path, fake_twilio: FakeTwilio) -> AsyncIterator[Proc]:
    """The real ``inbox serve`` (uvicorn started as the CLI starts it), with one agent."""
    p = Proc(tmp_path, fake_twilio.url)  # type: ignore[attr-defined]
    p.env.update(INBOX_LOGIN_ATTEMPTS="3", INBOX_LOGIN_ACCOUNT_ATTEMPTS="5")
    p.cli("user", "create", "--email", "agent@example.com", "--password", "correct horse battery")
    p.cli("user", "create", "--email", "other@example.com", "--password", "correct horse battery")
    yield p
    p.stop()


async def _login_from(client: httpx.AsyncClient, forwarded_for: str, email: str = "agent@example.com",
                      password: str = "guess") -> int:
    r = await client.post("/login", json={"email": email, "password": password},
                          headers={"X-Forwarded-For": forwarded_for})
    return r.status_code


async def test_a_made_up_x_forwarded_for_does_not_escape_the_throttle(served: Proc) -> None:
    await served.start()  # INBOX_TRUSTED_PROXIES unset: no X-Forwarded-For is believed
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        assert [await _login_from(client, f"203.0.113.{i}") for i in range(3)] == [401] * 3
        assert await _login_from(client, "203.0.113.99", password="correct horse battery") == 429


async def test_an_account_is_throttled_whatever_addresses_the_guesses_come_from(served: Proc) -> None:
    await served.start(INBOX_TRUSTED_PROXIES="127.0.0.1")  # as behind a proxy on this host
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        # The proxy's word is taken: three failures from one reported address stop that address.
        assert [await _login_from(client, "198.51.100.7", "other@example.com") for _ in range(3)] == [401] * 3
        assert await _login_from(client, "198.51.100.7", "other@example.com", "correct horse battery") == 429
        assert await _login_from(client, "198.51.100.8", "other@example.com", "correct horse battery") == 200
        # Rotating addresses: per address never three, but five for the account stop it.
        assert [await _login_from(client, f"203.0.113.{i}") for i in range(5)] == [401] * 5
        assert await _login_from(client, "203.0.113.200", password="correct horse battery") == 429
        assert await _login_from(client, "203.0.113.201", "other@example.com", "correct horse battery") == 200


async def _beat(live: Live, who: str, conversation_id: int) -> httpx.Response:
    return await live.client.post(f"/ui/conversations/{conversation_id}/viewing", headers=live.as_(who))


async def test_the_viewing_heartbeat_tells_nothing_of_a_hidden_conversation(live: Live) -> None:
    _, cid = await team_conversation(live, "agent")  # agent's team only; agent2 is outside
    assert (await _beat(live, "agent", cid)).status_code == 200
    outsider = await _beat(live, "agent2", cid)
    assert outsider.status_code == 404 and "Agent" not in outsider.text
    assert "Agent2" not in (await _beat(live, "agent", cid)).text  # and the outsider was not recorded
    assert "Also viewing: Agent" in (await _beat(live, "lead", cid)).text  # a lead sees every conversation
    assert (await _beat(live, "agent", 10**9)).status_code == 404  # nor made-up ids
    assert set(live.app.state.viewing.seen) == {cid}


async def test_the_viewing_heartbeats_are_bounded_in_time_and_number(live: Live) -> None:
    now = [1000.0]
    live.app.state.viewing = Presence(ttl=45.0, max_conversations=3, clock=lambda: now[0])
    for i in range(5):
        assert (await live.sms(f"+1555765430{i}", "hello")).status_code == 200
    ids = [c["id"] for c in (await live.get("/api/conversations"))["items"]]
    for cid in ids:
        assert (await _beat(live, "agent", cid)).status_code == 200
    seen = live.app.state.viewing.seen
    assert len(seen) == 3 and set(seen) == set(ids[2:])  # the longest-tracked went first
    assert "Also viewing: Agent" in (await _beat(live, "agent2", ids[4])).text
    now[0] += 46  # nobody has beaten for longer than the TTL
    assert "Also viewing" not in (await _beat(live, "agent2", ids[3])).text
    assert set(seen) == {ids[3]} and set(seen[ids[3]]) == {live.users["agent2"]["id"]}


async def test_no_api_token_of_a_websocket_reaches_the_server_log(served: Proc, tmp_path: Path) -> None:
    """uvicorn logs every WebSocket's path and query at the info level, --access-log or not."""
    token = served.cli("token", "create", "--email", "agent@example.com").strip()
    log_path = tmp_path / "server.log"
    await served.start(log=log_path, INBOX_LOG_LEVEL="info")
    stream = await EventStream.connect(served.url, token)  # the token in ?token=
    await stream.close()
    ws_url = served.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, subprotocols=[  # type: ignore[list-item]
            "inbox", f"token.{token}"]) as ws:  # or in a subprotocol, out of the URL
        assert ws.subprotocol == "inbox"
        assert '"ready"' in await ws.recv()
    async with websockets.connect(ws_url, subprotocols=["inbox", "token.inbx_wrong"]) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    served.stop()
    text = log_path.read_text()
    assert '"WebSocket /ws?token=[redacted]" [accepted]' in text, text  # the line is there, without the token
    assert token not in text and token.removeprefix("inbx_") not in text


def test_credentials_are_redacted_from_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    redact.install()
    secret_url = httpx.URL("https://graph.example/v23.0/me/messages?access_token=EAAGsecret123&fields=id")
    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST", secret_url, "HTTP/1.1 200 OK")
        logging.getLogger("x").warning("fetch /file/bot123456:AAE0123456789abcdefghijklmnopqrstuv/a.jpg failed")
        logging.getLogger("x").info("sent with %(auth)s", {"auth": "Bearer inbx_0123456789abcdef"})
        try:
            raise ValueError("https://hooks.example/in?secret=hunter2hunter2")
        except ValueError:
            logging.getLogger("x").exception("webhook failed")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in ("EAAGsecret123", "AAE0123456789abcdefghijklmnopqrstuv", "inbx_0123456789abcdef", "hunter2"):
        assert secret not in text, secret
    assert "access_token=[redacted]&fields=id" in text and "?after=5" in redact.redact("/ws?after=5")
