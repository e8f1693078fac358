"""A fake loft API on 127.0.0.1 for the test-only pigeon channel (tests/channels/pigeon):
it checks the bearer key and queues every message it accepts, for tests to await."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class FakeLoft:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.url = ""
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[Route("/lofts/{loft}/messages", self._message, methods=["POST"])])

    async def _message(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": "bad key"}, status_code=401)
        body = await request.json()
        body["loft"] = request.path_params["loft"]
        await self.received.put(body)
        return JSONResponse({"id": f"pg-{next(self._ids)}"})

    async def next_message(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)
