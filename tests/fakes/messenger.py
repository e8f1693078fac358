"""A fake Graph API for Messenger on 127.0.0.1: the Send API (``POST /{version}/{page-id}/messages``
and ``/{version}/me/messages``), the User Profile API (``GET /{version}/{psid}``), and, as a
second app, a CDN serving attachment files publicly like Meta's fbcdn hosts. As Graph does,
it takes the access token as ``Authorization: Bearer`` or as ``access_token`` in the query,
and records which. Any other path is recorded in ``elsewhere`` and refused. Success and
error bodies are Graph's. Tests script failures and await what it received."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Graph's real error messages for the failures tests script.
PERSON_UNAVAILABLE = (400, 551, 1545041, "(#551) This person isn't available right now.")
OUTSIDE_WINDOW = (400, 10, 2018278, "(#10) This message is sent outside of allowed window. Learn more about the "
                                    "new policy here: https://developers.facebook.com/docs/messenger-platform/"
                                    "policy-overview")
RATE_LIMITED = (400, 613, None, "(#613) Calls to this api have exceeded the rate limit.")
UNEXPECTED = (500, 2, None, "An unexpected error has occurred. Please retry your request later.")
VERSION = re.compile(r"v\d+\.\d+")


@dataclass
class Failure:
    status: int
    code: int
    subcode: int | None
    message: str


class FakeGraph:
    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages  # page id -> page access token
        self.url = self.cdn_url = ""  # set by the fixture that serves the apps
        self.sent: list[dict[str, Any]] = []  # accepted sends: page_id, access_token, body, message_id
        self.attempts = 0
        self.failures: list[Failure | None] = []  # consumed one per send (None: that one succeeds)
        self.profiles: dict[str, dict[str, str]] = {}  # psid -> first_name, last_name, profile_pic
        self.profile_requests: list[dict[str, str]] = []
        self.files: dict[str, tuple[bytes, str]] = {}  # CDN name -> (content, content type)
        self.file_requests: list[dict[str, str]] = []  # the query params of each CDN download
        self.elsewhere: list[dict[str, str]] = []  # method, path and query of requests to any other path
        self._changed = asyncio.Condition()
        self.app = Starlette(routes=[
            Route("/{version}/me/messages", self.send, methods=["POST"]),
            Route("/{version}/{page_id}/messages", self.send, methods=["POST"]),
            Route("/{version}/{psid}", self.profile, methods=["GET"]),
            Route("/{path:path}", self.other, methods=["GET", "POST", "DELETE"]),
        ])
        self.cdn = Starlette(routes=[Route("/v/t1.15752-9/{name}", self.cdn_file)])

    def fail_next(self, failure: tuple[int, int, int | None, str]) -> None:
        self.failures.append(Failure(*failure))

    def succeed_next(self) -> None:
        """Let the next send through, before the failures queued after it."""
        self.failures.append(None)

    def publish(self, name: str, content: bytes, content_type: str) -> str:
        """A file on the CDN, as Meta links an attachment a customer sent; returns its URL."""
        self.files[name] = (content, content_type)
        return f"{self.cdn_url}/v/t1.15752-9/{name}?_nc_cat=104&ccb=1-7&_nc_sid=fc17b8&oh=00_AYB&oe=67A1B2C3"

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

    def _page_for(self, token: str | None, page_id: str | None) -> str | None:
        for page, page_token in self.pages.items():
            if token == page_token and page_id in (None, "me", page):
                return page
        return None

    async def send(self, request: Request) -> Response:
        if not VERSION.fullmatch(request.path_params["version"]):
            return await self.other(request)
        self.attempts += 1
        try:
            token = _token(request)
            if not token:
                return _error(400, 2500, None, "An active access token must be used to query information about "
                                               "the current user.")
            page = self._page_for(token, request.path_params.get("page_id", "me"))
            if page is None:
                return _error(400, 190, None, "Invalid OAuth access token - Cannot parse access token")
            if self.failures and (f := self.failures.pop(0)) is not None:
                return _error(f.status, f.code, f.subcode, f.message)
            try:
                body = json.loads(await request.body())
            except ValueError:
                return _error(400, 100, None, "(#100) Invalid JSON for postback")
            recipient = (body.get("recipient") or {}).get("id")
            message = body.get("message") or {}
            if not recipient:
                return _error(400, 100, None, "(#100) The parameter recipient is required")
            if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                return _error(400, 100, None, "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, "
                                              "MESSAGE_TAG}")
            if body["messaging_type"] == "MESSAGE_TAG" and not body.get("tag"):
                return _error(400, 100, None, "(#100) Tag is required for MESSAGE_TAG messaging type")
            if not message.get("text") and not message.get("attachment"):
                return _error(400, 100, None, "(#100) Message cannot be empty, must provide valid attachment or text")
            quick = message.get("quick_replies") or []
            if len(quick) > 13 or any(len(q.get("title", "")) > 20 or len(q.get("payload", "")) > 1000 for q in quick):
                return _error(400, 100, None, "(#100) Param message[quick_replies] must have at most 13 items, "
                                              "titles of at most 20 characters")
            mid = "m_" + secrets.token_urlsafe(40)
            self.sent.append({"page_id": page, "path": request.url.path, "access_token": token, "body": body,
                              "message_id": mid, "query": dict(request.query_params)})
            return JSONResponse({"recipient_id": recipient, "message_id": mid})
        finally:
            await self._notify()

    async def profile(self, request: Request) -> Response:
        if not VERSION.fullmatch(request.path_params["version"]):
            return await self.other(request)
        psid = request.path_params["psid"]
        token = _token(request)
        self.profile_requests.append({"psid": psid, **request.query_params, "token": token or ""})
        if self._page_for(token, None) is None:
            return _error(400, 190, None, "Invalid OAuth access token - Cannot parse access token")
        found = self.profiles.get(psid)
        if found is None:
            return _error(400, 100, 33, f"Unsupported get request. Object with ID '{psid}' does not exist, cannot "
                                        "be loaded due to missing permissions, or does not support this operation.",
                          "GraphMethodException")
        fields = request.query_params.get("fields", "").split(",")
        return JSONResponse({**{k: v for k, v in found.items() if k in fields}, "id": psid})

    async def other(self, request: Request) -> Response:
        self.elsewhere.append({"method": request.method, "path": request.url.path, "query": request.url.query})
        return _error(400, 100, 33, "Unsupported request: this fake serves only the Send and User Profile APIs",
                      "GraphMethodException")

    async def cdn_file(self, request: Request) -> Response:
        self.file_requests.append(dict(request.query_params))
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("URL signature expired", status_code=403, media_type="text/plain")
        return Response(found[0], media_type=found[1])


def _token(request: Request) -> str | None:
    """The access token, from the Authorization header or the query (Graph takes both)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token:
        return token.strip()
    return request.query_params.get("access_token")


def _error(status: int, code: int, subcode: int | None, message: str, kind: str = "OAuthException") -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return JSONResponse({"error": error}, status_code=status)
