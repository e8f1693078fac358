"""A WebSocket client of GET /ws that tests await events on (never sleep)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets


class EventStream:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []  # every frame received, in order
        self._unread: list[dict[str, Any]] = []  # received while waiting for "ready" (a replay)

    @classmethod
    async def connect(cls, base_url: str, token: str, after: int | None = None) -> EventStream:
        url = base_url.replace("http://", "ws://") + f"/ws?token={token}"
        if after is not None:
            url += f"&after={after}"
        ws = await websockets.connect(url)
        stream = cls(ws)
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            stream.seen.append(event)
            if event["type"] == "ready":
                return stream
            stream._unread.append(event)

    async def next(self, match: Callable[[dict[str, Any]], bool] = lambda e: True,
                   timeout: float = 10.0) -> dict[str, Any]:
        while self._unread:
            event = self._unread.pop(0)
            if match(event):
                return event

        async def find() -> dict[str, Any]:
            while True:
                event = json.loads(await self.ws.recv())
                self.seen.append(event)
                if match(event):
                    return event
        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        await self.ws.close()
