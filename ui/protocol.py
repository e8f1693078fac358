"""The HTTP/1.1 protocol ``inbox serve`` runs: uvicorn's httptools protocol (the fastest it
has), with the two bounds on a request's head that uvicorn lacks.

- Size: the request line and headers together at most ``MAX_HEAD_BYTES``, else
  ``431 Request Header Fields Too Large`` and the connection closed. httptools itself takes a
  header line of any length and keeps it in memory until it ends.
- Time: the head must arrive whole within ``head_timeout`` seconds of its first byte (or of
  the connection opening), else ``408 Request Timeout`` and the connection closed, so a client
  cannot hold a connection, and its memory, by trickling a header a byte at a time. uvicorn's
  keep-alive timeout only covers the silence between requests, and any byte resets it.

Request bodies are bounded by size in ui/app.py; a body trickled slowly is for a reverse proxy
in front (docs/deploy.md). The checks cost a length comparison per chunk read while a head is
arriving, and nothing while a body or a response is under way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # h11's default is 16 KiB, nginx's 4 x 8 KiB; cookies and tokens fit
_END = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self._head_open = True  # reading a request line and headers (not a body, not idle after a response)
        self._head_bytes = 0  # read so far of the head being read (and of what followed it in its chunks)
        self._head_tail = b""  # the last bytes read, in case the blank line ending the head spans two reads
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            self._arm_head_timer()
            room = MAX_HEAD_BYTES - self._head_bytes
            # Past the limit only if the head does not end within it: the rest may be a body.
            if len(data) > room and _END not in self._head_tail + data[:room + len(_END)]:
                self._refuse(431, b"request line and headers over 64 KiB")
                return
            self._head_bytes += len(data)
            self._head_tail = data[-(len(_END) - 1):]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request's head may follow on this connection: its clock starts at its first byte.
        self._head_open, self._head_bytes, self._head_tail = True, 0, b""

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_open:
            self._refuse(408, b"request line and headers not received in time")

    def _refuse(self, status: int, reason: bytes) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(reason), b"connection: close\r\n\r\n", reason]))
        self.transport.close()
