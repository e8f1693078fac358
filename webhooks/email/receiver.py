"""The built-in SMTP receiver (aiosmtpd 1.4.6, https://aiosmtpd.aio-libs.org/en/latest/smtp.html),
run on the app's own event loop with ``loop.create_server``: not aiosmtpd's Controller,
whose thread and loop of its own would sit beside our database writer's loop.

It accepts mail only for the address of an email inbox (550 at RCPT otherwise), caps the
message size (552), and answers DATA with 250 only once the message is committed, so a
sending server keeps and retries anything we failed to store (451).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox.directory import InboxDirectory
from inbox.errors import BadRequest
from inbox.models import ChannelKind
from inbox.services import Context
from webhooks.email.inbound import accept

log = logging.getLogger(__name__)


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Handler:
    """aiosmtpd's handler hooks: RCPT (is it one of our inboxes?) and DATA (store it)."""

    def __init__(self, ctx: Context, directory: InboxDirectory) -> None:
        self.ctx = ctx
        self.directory = directory

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if await self.directory.by_address(ChannelKind.email, address.strip().lower()) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            outcomes = []
            for address in dict.fromkeys(a.strip().lower() for a in envelope.rcpt_tos):
                inbox = await self.directory.by_address(ChannelKind.email, address)
                if inbox is not None:  # removed between RCPT and DATA: nothing to keep it in
                    outcomes.append(await accept(self.ctx, inbox, raw))
        except BadRequest as exc:
            return f"550 5.6.0 {exc.message}"
        except Exception:  # noqa: BLE001 - the sender keeps the mail and retries
            log.exception("storing a mail from %s failed", envelope.mail_from)
            return "451 4.3.0 could not store the message now; try again later"
        log.debug("smtp: mail from %s: %s", envelope.mail_from, ", ".join(outcomes))
        return "250 2.0.0 OK: " + (outcomes[0] if outcomes else "accepted")


class Receiver:
    def __init__(self, listen: str, max_bytes: int, hostname: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.max_bytes = max_bytes
        self.hostname = hostname
        self.server: asyncio.Server | None = None

    async def start(self, ctx: Context, directory: InboxDirectory) -> None:
        handler = Handler(ctx, directory)
        loop = asyncio.get_running_loop()

        def protocol() -> Any:
            return SMTP(handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True, hostname=self.hostname,
                        ident="inbox", loop=loop)
        try:
            # reuse_port: each process of a scaled-out install accepts mail on the same port.
            self.server = await loop.create_server(protocol, self.host, self.port,
                                                   reuse_port=hasattr(socket, "SO_REUSEPORT"))
        except OSError as exc:
            log.error("the SMTP receiver cannot listen on %s:%s (%s): email is accepted over HTTP only",
                      self.host, self.port, exc)
            return
        log.info("SMTP receiver listening on %s:%s", self.host, self.port)

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
