"""The requests of outbound webhooks (docs/webhooks.md): the ``Poster`` the worker
(inbox/workers/webhooks.py) sends through.

Through the same guarded client as attachment downloads (webhooks/download.py): every
address a name resolves to is checked where the connection is made, so an endpoint whose
name resolves to a private, loopback or link-local address (DNS rebinding included) is
never reached, unless INBOX_WEBHOOKS_ALLOW_PRIVATE=1. No redirect is followed (a 3xx is a
failed attempt), no proxy from the environment is used, a whole request (connecting,
sending, the answer's head and the start of its body) takes at most the timeout, and at
most MAX_RESPONSE_BYTES of an answer's body are read. Nothing of a request (its URL, which
may hold credentials, or its headers) is logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from inbox.config import Settings
from inbox.domain import webhooks
from webhooks.download import AddressRefused, guarded_transport
from webhooks.http import unreachable


class OutboundPoster:
    """Posts on httpx's transport itself: without the client's layers (cookies, auth,
    redirects, event hooks), which cost a third of a request's CPU (bench/webhooks.py), and
    which webhooks need none of. So nothing follows a redirect either."""

    def __init__(self, timeout: float, *, allow_private: bool) -> None:
        self.timeout = timeout
        self.transport = guarded_transport(set(), guard=not allow_private)
        self._timeouts = {"timeout": httpx.Timeout(timeout).as_dict()}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> webhooks.Answer:
        start = time.perf_counter()

        def took() -> float:
            return (time.perf_counter() - start) * 1000

        try:
            async with asyncio.timeout(self.timeout):
                request = httpx.Request("POST", url, headers=headers, content=body, extensions=self._timeouts)
                response = await self.transport.handle_async_request(request)
                try:
                    head = bytearray()
                    assert isinstance(response.stream, httpx.AsyncByteStream)
                    async for chunk in response.stream:  # as sent: a compressed answer is not inflated
                        head += chunk
                        if len(head) >= webhooks.MAX_RESPONSE_BYTES:
                            break  # the rest is never read: the connection is closed
                finally:
                    await response.aclose()
                return webhooks.Answer(response.status_code, took(), _excerpt(bytes(head)),
                                       retry_after=_seconds(response.headers.get("retry-after")))
        except AddressRefused as exc:
            return webhooks.Answer(None, took(), error=f"not sent: {exc}")
        except TimeoutError:
            return webhooks.Answer(None, took(), error=f"no answer within {self.timeout:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return webhooks.Answer(None, took(), error=unreachable(exc, "the endpoint", self.timeout).message)

    async def aclose(self) -> None:
        await self.transport.aclose()


def _excerpt(head: bytes) -> str:
    return head.decode("utf-8", "replace")[:webhooks.EXCERPT_CHARS]


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form is not honoured: the backoff applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def make_poster(settings: Settings) -> OutboundPoster:
    return OutboundPoster(settings.send_timeout_seconds, allow_private=settings.webhooks_allow_private)
