"""Server-Timing on the agent UI's partial responses (/ui/...): how long the server took
before it began to answer, so the browser's own tools and bench/ui_timings.py read the
server's share of opening a conversation apart from the network and the rendering."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` to responses under /ui/: the time from the
    request reaching the app to its response starting (a page's template is rendered by
    then). Only there: the header tells a visitor nothing about the REST API or webhooks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={ms:.1f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)
