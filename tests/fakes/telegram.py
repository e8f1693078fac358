"""A fake Telegram Bot API on 127.0.0.1: the real paths (/bot<token>/<method> and
/file/bot<token>/<file_path>), parameters as form or JSON, and Telegram's own bodies:
{"ok": true, "result": ...} and {"ok": false, "error_code", "description", "parameters"}.
Tests script failures per method and await what it received."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SEND_METHODS = {"sendMessage": "text", "sendPhoto": "photo", "sendDocument": "document", "sendAudio": "audio",
                "sendVideo": "video"}
MAX_DOWNLOAD = 20 * 1024 * 1024


@dataclass
class Failure:
    status: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredFile:
    content: bytes
    file_path: str
    file_size: int


def blocked() -> Failure:
    return Failure(403, "Forbidden: bot was blocked by the user")


def flood(retry_after: int = 1) -> Failure:
    return Failure(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


def chat_not_found() -> Failure:
    return Failure(400, "Bad Request: chat not found")


def server_error() -> Failure:
    return Failure(500, "Internal Server Error")


class FakeTelegram:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = set(tokens)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (method, token, params), every request in order
        self.times: list[tuple[str, float]] = []  # (method, time.monotonic()) of each request
        self.failures: dict[str, list[Failure]] = {}  # method -> consumed one per call, before success
        self.files: dict[str, StoredFile] = {}  # file_id -> file
        self.downloads: list[str] = []  # file paths fetched
        self.require_https = False  # refuse webhook URLs as Telegram does (https, ports 443/80/88/8443)
        self.url = ""
        self._message_id = 1000
        self._changed = asyncio.Condition()
        self.app = Starlette(routes=[
            Route("/bot{token}/{method}", self.method, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self.download)])

    def fail_next(self, method: str, failure: Failure) -> None:
        self.failures.setdefault(method, []).append(failure)

    def add_file(self, file_id: str, content: bytes, file_path: str, file_size: int | None = None) -> None:
        """A file Telegram keeps for an update it sent (``file_size`` may claim more than it holds)."""
        self.files[file_id] = StoredFile(content, file_path, len(content) if file_size is None else file_size)

    def received(self, method: str) -> list[dict[str, Any]]:
        return [params for m, _, params in self.calls if m == method]

    async def wait_for(self, method: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.received(method)) >= n), timeout)
        return self.received(method)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def method(self, request: Request) -> Response:
        token, name = request.path_params["token"], request.path_params["method"]
        params = await _params(request)
        self.calls.append((name, token, params))
        self.times.append((name, time.monotonic()))
        try:
            if token not in self.tokens:
                return _error(401, "Unauthorized")
            queued = self.failures.get(name)
            if queued:
                f = queued.pop(0)
                return _error(f.status, f.description, f.parameters)
            handler = getattr(self, f"_{name}", None)
            if handler is not None:
                return handler(token, params)  # type: ignore[no-any-return]
            if name in SEND_METHODS:
                return self._send(name, token, params)
            return _error(404, "Not Found")
        finally:
            await self._notify()

    def _getMe(self, token: str, params: dict[str, Any]) -> Response:
        return _ok({"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Support", "username": "support_bot",
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
                    "can_connect_to_business": False, "has_main_web_app": False})

    def _setWebhook(self, token: str, params: dict[str, Any]) -> Response:
        url = str(params.get("url", ""))
        if self.require_https and not url.startswith("https://"):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        return _ok(True, description="Webhook was set")

    def _answerCallbackQuery(self, token: str, params: dict[str, Any]) -> Response:
        if not params.get("callback_query_id"):
            return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return _ok(True)

    def _getFile(self, token: str, params: dict[str, Any]) -> Response:
        file_id = str(params.get("file_id", ""))
        stored = self.files.get(file_id)
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD:
            return _error(400, "Bad Request: file is too big")
        return _ok({"file_id": file_id, "file_unique_id": "U" + file_id[-8:], "file_size": stored.file_size,
                    "file_path": stored.file_path})

    def _send(self, name: str, token: str, params: dict[str, Any]) -> Response:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        self._message_id += 1
        bot_id = int(token.split(":")[0])
        message: dict[str, Any] = {
            "message_id": self._message_id, "date": int(time.time()),
            "from": {"id": bot_id, "is_bot": True, "first_name": "Support", "username": "support_bot"},
            "chat": {"id": chat_id, "type": "private", "first_name": "Customer"}}
        field_name = SEND_METHODS[name]
        if name == "sendMessage":
            if not params.get("text"):
                return _error(400, "Bad Request: message text is empty")
            message["text"] = params["text"]
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
        else:
            file = {"file_id": "AgAC" + secrets.token_hex(8), "file_unique_id": secrets.token_hex(4)}
            message[field_name] = [{**file, "width": 800, "height": 600}] if name == "sendPhoto" else file
            if params.get("caption"):
                message["caption"] = params["caption"]
        return _ok(message)

    async def download(self, request: Request) -> Response:
        token, path = request.path_params["token"], request.path_params["path"]
        if token not in self.tokens:
            return _error(401, "Unauthorized")
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return _error(404, "Not Found")
        self.downloads.append(path)
        return Response(stored.content, media_type="application/octet-stream")


async def _params(request: Request) -> dict[str, Any]:
    """The Bot API takes parameters in the query string, as a form (urlencoded or
    multipart, with JSON-serialised arrays and objects), or as a JSON body."""
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(await request.json())
        else:
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in ("allowed_updates", "reply_parameters", "reply_markup"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def _ok(result: Any, **extra: Any) -> Response:
    return JSONResponse({"ok": True, "result": result, **extra})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=status)
