"""A fake Twilio REST API on 127.0.0.1: the real path, Basic auth, form fields, and
Twilio's JSON bodies for success (201) and errors. Tests script its failures and await
what it received."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from email.utils import formatdate
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Failure:
    status: int
    code: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (a timeout)
    accept: bool = False  # with hang: take the message (it is sent) and never answer


class FakeTwilio:
    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts  # account sid -> auth token
        self.sent: list[dict[str, Any]] = []  # accepted messages, in order
        self.attempts = 0
        self.failures: list[Failure] = []  # consumed one per request, before success
        self.down = False  # answer 503 to everything while set
        self._changed = asyncio.Condition()
        self.release = asyncio.Event()  # set at teardown: ends any hanging request
        self.media: dict[str, tuple[bytes, str]] = {}  # media sid -> (content, content type)
        self.redirects: dict[str, str] = {}  # media sid -> where its URL redirects (as to Twilio's storage)
        self.endless: dict[str, int] = {}  # media sid -> bytes of zeros to stream, made lazily
        self.streamed = 0  # bytes of those zeros actually handed to the connection
        self.media_requests: list[dict[str, str]] = []  # the headers of each media request
        # Awaited with each accepted message before the 201 goes back: lets a test make the
        # status callback overtake the API response, as it can in production.
        self.before_reply: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.app = Starlette(routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message, methods=["POST"]),
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages, methods=["GET"]),
            Route("/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", self.get_media)])

    def fail_next(self, status: int, code: int, message: str, **kw: Any) -> None:
        self.failures.append(Failure(status, code, message, **kw))

    async def wait_for_sent(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent) >= n), timeout)
        return self.sent

    async def wait_for_attempts(self, n: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.attempts >= n), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def media_url(self, media_sid: str, content: bytes, content_type: str) -> str:
        """Publish a file as Twilio does for an inbound MMS; returns its MediaUrl."""
        self.media[media_sid] = (content, content_type)
        sid = next(iter(self.accounts))
        return f"{self.url}/2010-04-01/Accounts/{sid}/Messages/MM{media_sid}/Media/{media_sid}"  # type: ignore[attr-defined]

    def redirect_media(self, media_sid: str, location: str) -> str:
        """A MediaUrl that answers 307 to ``location``, as Twilio's does to its storage."""
        self.redirects[media_sid] = location
        return self.media_url(media_sid, b"", "image/png")

    def huge_media(self, media_sid: str, size: int) -> str:
        """A MediaUrl streaming ``size`` zero bytes, chunked (no Content-Length), made as sent."""
        self.endless[media_sid] = size
        return self.media_url(media_sid, b"", "image/png")

    async def get_media(self, request: Request) -> Response:
        self.media_requests.append(dict(request.headers) | {":path": request.url.path})
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        media = request.path_params["media"]
        if media in self.redirects:
            return Response(status_code=307, headers={"location": self.redirects[media]})
        if media in self.endless:
            return StreamingResponse(self._zeros(request, self.endless[media]), media_type="image/png")
        found = self.media.get(media)
        if found is None:
            return _error(404, 20404, "The requested resource was not found")
        return Response(found[0], media_type=found[1])

    async def _zeros(self, request: Request, size: int) -> AsyncIterator[bytes]:
        # uvicorn drops what is sent after the client hung up without telling the app:
        # stop then, so ``streamed`` counts what the connection took.
        chunk = b"\0" * 65536
        while self.streamed < size and not await request.is_disconnected():
            self.streamed += len(chunk)
            yield chunk

    def _authorized(self, request: Request) -> bool:
        sid = request.path_params["sid"]
        auth = request.headers.get("authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            return False
        return user == sid and self.accounts.get(sid) == password

    async def create_message(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        self.attempts += 1
        try:
            if not self._authorized(request):
                return _error(401, 20003, "Authenticate")
            if self.down:
                return _error(503, 20500, "Service Unavailable")
            if self.failures and not self.failures[0].accept:
                f = self.failures.pop(0)
                if f.hang:
                    await self.release.wait()
                return _error(f.status, f.code, f.message, f.headers)
            form = await request.form()
            to, body = form.get("To"), form.get("Body")
            if not to:
                return _error(400, 21604, "A 'To' phone number is required.")
            if not body and not form.get("ContentSid") and not form.getlist("MediaUrl"):
                return _error(400, 21619, "A text message body, media URL or content SID is required.")
            msg = {"sid": "SM" + secrets.token_hex(16), "account_sid": sid, "to": to, "body": body,
                   "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
                   "status_callback": form.get("StatusCallback"), "media_url": form.getlist("MediaUrl"),
                   "content_sid": form.get("ContentSid"), "content_variables": form.get("ContentVariables"),
                   "validity_period": form.get("ValidityPeriod"),
                   "at": time.monotonic()}
            msg["date_created"] = formatdate(time.time(), usegmt=False).replace("-0000", "+0000")
            self.sent.append(msg)
            if self.failures and self.failures[0].accept:  # sent, but the answer never comes
                self.failures.pop(0)
                await self._notify()
                await self.release.wait()
            if self.before_reply is not None:
                await self.before_reply(msg)
            return JSONResponse({
                "sid": msg["sid"], "account_sid": sid, "to": to, "from": msg["from"], "body": body,
                "status": "queued", "num_segments": "1", "num_media": str(len(msg["media_url"])),
                "direction": "outbound-api", "api_version": "2010-04-01", "price": None, "error_code": None,
                "error_message": None, "uri": f"/2010-04-01/Accounts/{sid}/Messages/{msg['sid']}.json",
                "date_created": msg["date_created"], "date_updated": msg["date_created"],
                "date_sent": None, "messaging_service_sid": msg["messaging_service_sid"], "subresource_uris": {},
            }, status_code=201)
        finally:
            await self._notify()


    async def list_messages(self, request: Request) -> Response:
        """GET Messages.json: the account's messages, newest first, filtered by ``To`` and
        ``From``, a page of ``PageSize`` (Twilio's list shape; no further pages here)."""
        sid = request.path_params["sid"]
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        q = request.query_params
        found = [m for m in reversed(self.sent) if m["account_sid"] == sid
                 and q.get("To") in (None, m["to"]) and q.get("From") in (None, m["from"])]
        size = min(int(q.get("PageSize", "50")), 1000)
        uri = f"/2010-04-01/Accounts/{sid}/Messages.json"
        return JSONResponse({
            "messages": [{"sid": m["sid"], "account_sid": sid, "to": m["to"], "from": m["from"], "body": m["body"],
                          "status": "sent", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                          "date_created": m["date_created"], "date_updated": m["date_created"],
                          "date_sent": m["date_created"], "error_code": None, "error_message": None,
                          "messaging_service_sid": m["messaging_service_sid"], "api_version": "2010-04-01",
                          "price": None, "uri": f"/2010-04-01/Accounts/{sid}/Messages/{m['sid']}.json",
                          "subresource_uris": {}} for m in found[:size]],
            "end": min(size, len(found)) - 1, "first_page_uri": f"{uri}?PageSize={size}&Page=0",
            "next_page_uri": None,
            "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
            "uri": f"{uri}?PageSize={size}&Page=0"})


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status, headers=headers)
