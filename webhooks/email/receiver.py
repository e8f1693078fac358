"""The built-in SMTP receiver (aiosmtpd 1.4.6, https://aiosmtpd.aio-libs.org/en/latest/smtp.html).

It accepts mail only for the address of an email inbox (550 at RCPT otherwise), caps the
message size (552), and answers DATA with 250 only once the message is committed, so a
sending server keeps and retries anything we failed to store (451).

The SMTP conversation runs on a thread with an event loop of its own: aiosmtpd reads DATA
line by line in Python (about a second of CPU for a 2 MB mail), and on the app's loop that
work, for a few large mails at once, held HTTP for seconds. On its own thread it only
shares the interpreter, which switches threads every few milliseconds. The handler's hooks
(which inbox is this? store it) run on the app's loop, beside the database writer, like
every webhook; the mail itself is read in a worker process (webhooks/email/pool.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox.actions.context import Context
from inbox.domain.errors import BadRequest
from inbox.queries.directory import InboxDirectory
from webhooks.email import KIND
from webhooks.email.inbound import accept

log = logging.getLogger(__name__)
LINE_LENGTH_LIMIT = 64 * 1024
T = TypeVar("T")


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Handler:
    """aiosmtpd's handler hooks: RCPT (is it one of our inboxes?) and DATA (store it), each
    run on the app's event loop."""

    def __init__(self, ctx: Context, directory: InboxDirectory, app_loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.directory = directory
        self.app_loop = app_loop

    async def _on_app_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.app_loop))

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        inbox = await self._on_app_loop(self.directory.by_address(KIND, address.strip().lower()))
        if inbox is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self._on_app_loop(self._store(list(envelope.rcpt_tos), envelope.original_content or b"",
                                                   envelope.mail_from))

    async def _store(self, rcpt_tos: list[str], raw: bytes, mail_from: str | None) -> str:
        try:
            outcomes = []
            for address in dict.fromkeys(a.strip().lower() for a in rcpt_tos):
                inbox = await self.directory.by_address(KIND, address)
                if inbox is not None:  # removed between RCPT and DATA: nothing to keep it in
                    outcomes.append(await accept(self.ctx, inbox, raw, mail_from))
        except BadRequest as exc:
            return f"550 5.6.0 {exc.message}"
        except Exception:  # noqa: BLE001 - the sender keeps the mail and retries
            log.exception("storing a mail from %s failed", mail_from)
            return "451 4.3.0 could not store the message now; try again later"
        log.debug("smtp: mail from %s: %s", mail_from, ", ".join(outcomes))
        return "250 2.0.0 OK: " + (outcomes[0] if outcomes else "accepted")


class _SMTP(SMTP):
    # RFC 5321 4.5.3.1.6 caps a line at 1,000 octets, but Outlook and others send longer
    # ones (unwrapped HTML), and Postfix, Exim and Exchange accept them; aiosmtpd would
    # answer "500 Line too long" and the sender bounces the customer's mail. This is also
    # the reader's buffer limit, so a connection still holds at most about twice this.
    line_length_limit = LINE_LENGTH_LIMIT


class Receiver:
    def __init__(self, listen: str, max_bytes: int, hostname: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.max_bytes = max_bytes
        self.hostname = hostname
        self.server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def start(self, ctx: Context, directory: InboxDirectory) -> None:
        handler = Handler(ctx, directory, asyncio.get_running_loop())
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="inbox-smtp", daemon=True)
        thread.start()

        def protocol() -> Any:
            return _SMTP(handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True, hostname=self.hostname,
                         ident="inbox", loop=loop)
        try:
            # reuse_port: each process of a scaled-out install accepts mail on the same port.
            listening = loop.create_server(protocol, self.host, self.port, reuse_port=hasattr(socket, "SO_REUSEPORT"))
            self.server = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(listening, loop))
        except OSError as exc:
            await self._stop(loop, thread)
            log.error("the SMTP receiver cannot listen on %s:%s (%s): email is accepted over HTTP only",
                      self.host, self.port, exc)
            return
        self._loop, self._thread = loop, thread
        log.info("SMTP receiver listening on %s:%s", self.host, self.port)

    async def aclose(self) -> None:
        if self.server is None or self._loop is None or self._thread is None:
            return
        server, self.server = self.server, None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_shut(server), self._loop))
        await self._stop(self._loop, self._thread)

    @staticmethod
    async def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


async def _shut(server: asyncio.Server) -> None:
    """On the receiver's loop: stop listening and end the sessions still open."""
    server.close()
    sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in sessions:
        task.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)
    await server.wait_closed()
