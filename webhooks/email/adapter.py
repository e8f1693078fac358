"""The email channel's adapter: checks an inbox's settings, runs the SMTP receiver beside
the server, and sends replies over the inbox's SMTP server. Its attachments come inside
the mail and are stored as it arrives, so there is nothing to fetch later (no MediaFetcher);
there are no templates either."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any
from urllib.parse import urlsplit

from inbox import queries
from inbox.actions.context import Context
from inbox.config import Settings
from inbox.domain.channels import Adapter, Companion, OutboundMessage, Sender, Sent, WebhookRegistrar
from inbox.domain.errors import Invalid
from inbox.queries.directory import InboxDirectory
from inbox.storage.media import MediaStore
from webhooks.email import KIND
from webhooks.email.inbound import close_readers, readers
from webhooks.email.inbound_auth import install_log_redaction, url_secret
from webhooks.email.outbound import DEFAULT_PORTS, Files, compose, deliver, our_message_id
from webhooks.email.receiver import Receiver

SETTINGS = ("address", "smtp_host", "smtp_port", "smtp_username", "smtp_password", "smtp_security",
            "inbound_secret", "trusted_authserv_id")
SECURITY = tuple(DEFAULT_PORTS)
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]+")


def normalize_address(value: str) -> str:
    """A bare addr-spec (local@domain), lower-cased; Invalid otherwise."""
    try:
        address = Address(addr_spec=value.strip())
    except (HeaderParseError, ValueError, IndexError):
        address = None
    if address is None or not address.username or "." not in address.domain:
        raise Invalid(f"{value!r} is not an email address (local@domain)", "invalid_address")
    return address.addr_spec.lower()


class EmailAdapter(Adapter, Sender, WebhookRegistrar, Companion):
    def __init__(self, settings: Settings) -> None:
        self.public_url = settings.public_url.rstrip("/")
        self.timeout = settings.send_timeout_seconds
        self.receiver = Receiver(settings.smtp_listen, settings.max_email_bytes,
                                 urlsplit(self.public_url).hostname or "localhost")
        self.files = Files(self.public_url, MediaStore(settings.media_dir, settings.max_media_bytes),
                           settings.max_email_bytes, settings.send_timeout_seconds)
        self._started: tuple[Context, InboxDirectory] | None = None
        install_log_redaction()  # the URL secret (and the old ?secret=) never reaches the access log

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise Invalid(f"unknown email settings: {', '.join(sorted(unknown))}", "unknown_settings")
        if not settings.get("address"):
            raise Invalid("an email inbox needs address", "missing_settings")
        address = normalize_address(str(settings["address"]))
        clean: dict[str, Any] = {"address": address}
        security = str(settings.get("smtp_security") or "starttls").lower()
        if security not in SECURITY:
            raise Invalid(f"smtp_security must be one of {', '.join(SECURITY)}", "invalid_smtp_security")
        clean["smtp_security"] = security
        if settings.get("smtp_host"):
            host = str(settings["smtp_host"]).strip()
            if not _HOST.fullmatch(host):
                raise Invalid("smtp_host must be a host name or IP address", "invalid_smtp_host")
            clean["smtp_host"] = host
        if settings.get("smtp_port") not in (None, ""):
            try:
                port = int(settings["smtp_port"])
            except (TypeError, ValueError):
                port = 0
            if not 0 < port < 65536:
                raise Invalid("smtp_port must be a port number", "invalid_smtp_port")
            clean["smtp_port"] = port
        if bool(settings.get("smtp_username")) != bool(settings.get("smtp_password")):
            raise Invalid("smtp_username and smtp_password go together", "missing_settings")
        for key in ("smtp_username", "smtp_password"):
            if settings.get(key):
                clean[key] = str(settings[key])
        clean["inbound_secret"] = str(settings.get("inbound_secret") or secrets.token_urlsafe(32))
        if settings.get("trusted_authserv_id"):
            ids = str(settings["trusted_authserv_id"]).replace(",", " ").lower().split()
            if not all(_HOST.fullmatch(i) for i in ids):
                raise Invalid("trusted_authserv_id must be host names (e.g. mx.google.com), separated by commas",
                              "invalid_trusted_authserv_id")
            clean["trusted_authserv_id"] = ", ".join(ids)
        return address, clean

    async def start(self, ctx: Context, directory: InboxDirectory) -> None:
        """Run the SMTP receiver beside the HTTP server, once an email inbox exists."""
        self._started = (ctx, directory)
        inboxes = await ctx.db.read(queries.list_inboxes)
        if any(i["kind"] == KIND for i in inboxes):
            await self.receiver.start(ctx, directory)
            await readers(ctx.settings).warm()

    async def register(self, inbox: Mapping[str, Any]) -> None:
        """The first email inbox starts the receiver, in the server process (the CLI, which
        never started the adapter, leaves that to the next ``inbox serve``)."""
        if self._started is not None and self.receiver.server is None:
            await self.receiver.start(*self._started)
            await readers(self._started[0].settings).warm()

    async def send(self, message: OutboundMessage) -> Sent:
        mail = compose(message, await self.files.load(message.attachments))
        await deliver(mail, message.settings, self.timeout)
        return Sent(our_message_id(mail), "sent")  # no delivery receipts; a bounce fails it later

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        # The hosted inbound-parse URLs carry the inbox's URL secret (see inbound_auth).
        parse_url = f"{self.public_url}/webhooks/email/{inbox['id']}/{url_secret(inbox)}"
        return {"smtp": f"{self.receiver.host}:{self.receiver.port}", "inbound_parse": parse_url,
                "mailgun": parse_url + "/mime"}

    async def aclose(self) -> None:
        await self.receiver.aclose()
        await self.files.aclose()
        await close_readers()


def make_adapter(settings: Settings) -> EmailAdapter:
    return EmailAdapter(settings)
