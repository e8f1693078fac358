"""A fake Meta Graph API (WhatsApp Cloud API) on 127.0.0.1: the real paths, bearer auth,
JSON bodies, and Graph's success and error bodies. Tests script its failures and await
what it received.

Served: POST /{ver}/{phone_number_id}/messages, GET /{ver}/{media_id} (the media URL),
GET /whatsapp_business/attachments/?mid=... (the download, as lookaside.fbsbx.com serves
it), GET /{ver}/{waba_id}/message_templates."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Failure:
    status: int
    code: int
    message: str
    details: str | None = None
    transient: bool | None = None
    hang: bool = False  # never answer (a timeout)


@dataclass
class FakeGraph:
    tokens: dict[str, str]  # phone_number_id -> access token
    url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted JSON bodies, in order
    wamids: list[str] = field(default_factory=list)  # the id returned for each accepted message
    attempts: int = 0
    failures: list[Failure] = field(default_factory=list)  # consumed one per send, before success
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media id -> (content, mime type)
    templates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # waba id -> Graph template objects
    templates_down: bool = False

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self.release = asyncio.Event()
        self.app = Starlette(routes=[
            Route("/whatsapp_business/attachments/", self.download),
            Route("/{ver}/{phone_number_id}/messages", self.send, methods=["POST"]),
            Route("/{ver}/{waba_id}/message_templates", self.list_templates),
            Route("/{ver}/{media_id}", self.media_url),
        ])

    def fail_next(self, status: int, code: int, message: str, details: str | None = None, **kw: Any) -> None:
        self.failures.append(Failure(status, code, message, details, **kw))

    async def wait_for_sent(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent) >= n), timeout)
        return self.sent

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _token(self, request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def _authorized(self, request: Request) -> bool:
        return self._token(request) in self.tokens.values()

    async def send(self, request: Request) -> Response:
        self.attempts += 1
        try:
            if self.tokens.get(request.path_params["phone_number_id"]) != self._token(request):
                return graph_error(401, 190, "Error validating access token: Session has expired.")
            if self.failures:
                f = self.failures.pop(0)
                if f.hang:
                    await self.release.wait()
                return graph_error(f.status, f.code, f.message, f.details, f.transient)
            body = json.loads(await request.body())
            if body.get("messaging_product") != "whatsapp" or not (body.get("to") or body.get("recipient")):
                return graph_error(400, 100, "(#100) Invalid parameter", "Parameter 'to' is required.")
            kind = body.get("type", "text")
            if kind not in body:
                return graph_error(400, 100, "(#100) Invalid parameter", f"Parameter '{kind}' is required.")
            wamid = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
            self.sent.append(body)
            self.wamids.append(wamid)
            if body.get("to"):
                contact = {"input": body["to"], "wa_id": body["to"].lstrip("+")}
            else:
                contact = {"input": body["recipient"], "user_id": body["recipient"]}
            message: dict[str, Any] = {"id": wamid}
            if kind == "template":
                message["message_status"] = "accepted"
            return JSONResponse({"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]})
        finally:
            await self._notify()

    def publish(self, media_id: str, content: bytes, mime_type: str) -> None:
        """A customer's file, as WhatsApp holds it for an inbound message."""
        self.media[media_id] = (content, mime_type)

    async def media_url(self, request: Request) -> Response:
        if not self._authorized(request):
            return graph_error(401, 190, "Error validating access token: Session has expired.")
        media_id = request.path_params["media_id"]
        found = self.media.get(media_id)
        if found is None:
            return graph_error(400, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist, "
                                         "cannot be loaded due to missing permissions, or does not support this "
                                         "operation.", subcode=33)
        content, mime_type = found
        return JSONResponse({
            "messaging_product": "whatsapp", "id": media_id, "mime_type": mime_type, "file_size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "url": f"{self.url}/whatsapp_business/attachments/?mid={media_id}&ext=1700000000&hash=ATtest"})

    async def download(self, request: Request) -> Response:
        if not self._authorized(request):  # lookaside answers 404 without the bearer token
            return Response(status_code=404)
        found = self.media.get(request.query_params.get("mid", ""))
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    async def list_templates(self, request: Request) -> Response:
        if not self._authorized(request):
            return graph_error(401, 190, "Error validating access token: Session has expired.")
        if self.templates_down:
            return graph_error(500, 2, "An unexpected error has occurred. Please retry your request later.",
                               transient=True)
        waba = request.path_params["waba_id"]
        if waba not in self.templates:
            return graph_error(400, 100, f"Unsupported get request. Object with ID '{waba}' does not exist.",
                               subcode=33)
        status = request.query_params.get("status")
        data = [t for t in self.templates[waba] if status is None or t["status"] == status]
        return JSONResponse({"data": data, "paging": {"cursors": {"before": "QVFIUk", "after": "QVFIUl"}}})


def graph_error(status: int, code: int, message: str, details: str | None = None, transient: bool | None = None,
                subcode: int | None = None) -> JSONResponse:
    """Graph's error body: {"error": {"message", "type", "code", "error_data": {...}, "fbtrace_id"}}."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = "A" + secrets.token_hex(10)
    return JSONResponse({"error": error}, status_code=status)
