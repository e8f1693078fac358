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
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, base_url: str, token: str, after: int | None = None) -> EventStream:
        url = base_url.replace("http://", "ws://") + f"/ws?token={token}"
        if after is not None:
            url += f"&after={after}"
        ws = await websockets.connect(url)
        stream = cls(ws)
        await stream.next(lambda e: e["type"] == "ready")
        return stream

    async def next(self, match: Callable[[dict[str, Any]], bool] = lambda e: True,
                   timeout: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                event = json.loads(await self.ws.recv())
                self.seen.append(event)
                if match(event):
                    return event
        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        await self.ws.close()
