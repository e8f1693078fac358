"""Run an ASGI app under a real uvicorn on a free 127.0.0.1 port, in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(uvicorn.Server):
    """uvicorn's server, told to exit at once: its loop looks at ``should_exit`` every 0.1 s,
    a tenth of a second of every test's teardown for each server it started."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_now = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_now.wait(), 0.1)


@contextlib.asynccontextmanager
async def serve(app: Any, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on", ws="websockets-sansio", ws_per_message_deflate=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raise why it did not start
        await asyncio.sleep(0.005)  # yield to the server task until it has bound its socket
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.exit_now.set()
        await asyncio.wait_for(task, 10)
