"""Taking in one raw mail for an inbox, whichever way it came (our SMTP receiver, or a
hosted inbound-parse service posting to /webhooks/email/{inbox_id}/{url_secret}[/mime]).

SendGrid Inbound Parse, "POST the raw, full MIME message" on:
    https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook
    (multipart/form-data; the message is the ``email`` field). SendGrid does not sign its
    posts: the URL secret is what authenticates them.
Mailgun routes, ``forward()`` to a URL ending in "mime" (/webhooks/email/{id}/{url_secret}/mime):
    https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http
    (form-urlencoded, or multipart/form-data when the mail has attachments;
    the message is the ``body-mime`` field; ``signature`` = hex HMAC-SHA256 of
    ``timestamp`` + ``token`` keyed with the HTTP webhook signing key: the inbound_secret).
What is checked, and when: see inbound_auth.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions
from inbox.actions.context import Context
from inbox.config import Settings
from inbox.domain.channels import StatusUpdate
from inbox.domain.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from inbox.http import error_response, read_body
from webhooks.email import KIND, inbound_auth, mime, sender_auth
from webhooks.email.pool import Overrun, Pool
from webhooks.email.record import to_inbound
from webhooks.http import webhook_context

log = logging.getLogger(__name__)
FORM_OVERHEAD = 1024 * 1024  # the other form fields (SendGrid repeats the headers, for one)
_WARNED: set[int] = set()  # inboxes whose old URL was used: said once per process


async def accept(ctx: Context, inbox: Mapping[str, Any], raw: bytes, mail_from: str | None = None) -> str:
    """Store one mail for ``inbox`` (committed when this returns), or apply the bounce it
    is. Returns what happened, for logs and SMTP replies. BadRequest when unreadable.
    ``mail_from``: the SMTP envelope's sender, when it came by SMTP ("<>": a mail system's)."""
    reading = await read_mail(ctx.settings, inbox["id"], raw)
    if isinstance(reading, mime.Refused):
        raise BadRequest(reading.message, reading.code)
    if isinstance(reading, mime.Bounce):
        if reading.message_id is None:
            return "delivery report ignored"
        known = await actions.record_status(ctx, StatusUpdate(
            inbox_id=inbox["id"], provider_message_id=reading.message_id, status="failed",
            error_code=reading.code, error_message=reading.reason))
        return "bounce recorded" if known else "bounce for an unknown message"
    if reading.address == inbox["address"]:
        # Our own address as the sender: a forwarding loop, never a customer.
        log.warning("email inbox %s: dropped a mail from its own address", inbox["id"])
        return "dropped: sent from the inbox's own address"
    assert ctx.media is not None
    null_sender = mail_from is not None and not mail_from.strip().strip("<>").strip()
    message = await to_inbound(inbox["id"], reading, raw, ctx.media, null_sender)
    verdict = await sender_auth.authenticate(ctx.settings, inbox, reading.auth_results, raw, reading.address)
    message = replace(message, payload={**(message.payload or {}), "sender_auth": verdict})
    result = await actions.record_inbound(ctx, message)
    return "duplicate" if result.duplicate else "stored"


_readers: dict[tuple[int, float], Pool] = {}


def readers(settings: Settings) -> Pool:
    """This process's mail-reading workers (started on first use, closed with the adapter)."""
    key = (settings.email_parse_workers, settings.email_parse_seconds)
    if key not in _readers:
        _readers[key] = Pool(*key, preload=("webhooks.email.mime",), bare_packages=("webhooks", "webhooks.email"))
    return _readers[key]


async def close_readers() -> None:
    pools = list(_readers.values())
    _readers.clear()
    for pool in pools:
        await pool.aclose()


async def read_mail(settings: Settings, inbox_id: int, raw: bytes) -> mime.Digest | mime.Bounce | mime.Refused:
    """The mail read in a worker process within the time budget. A mail that overruns it
    (or kills its worker) is still taken: its headers, read here, and the whole mail as an
    .eml for the agent, so a customer's message is never lost to a reading failure."""
    try:
        return await readers(settings).run(mime.digest, raw)
    except Overrun:
        reason = f"This mail could not be read within {settings.email_parse_seconds:g} s: only its headers are shown."
    # The stdlib parser turns most damage into "defects", but a hostile message can still
    # make header or body decoding raise almost anything.
    except Exception as exc:  # noqa: BLE001
        reason = f"This mail could not be read ({type(exc).__name__}): only its headers are shown."
    log.warning("email inbox %s: %s", inbox_id, reason)
    return await asyncio.to_thread(mime.headers_only, raw, reason)


# -- the HTTP route --------------------------------------------------------------------------

def form_fields(content_type: str, raw: bytes) -> dict[str, bytes]:
    """A posted form's fields as bytes: the raw MIME must reach the mail parser byte for
    byte (an 8-bit ISO-8859-1 body is not valid UTF-8)."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            return {k.decode("latin-1"): v for k, v in parse_qsl(raw, keep_blank_values=True, max_num_fields=1000)}
        except ValueError as exc:
            raise BadRequest(f"body is not a form: {exc}", "malformed_body") from None
    fields: dict[str, bytes] = {}

    def on_field(field: Any) -> None:
        fields[(field.field_name or b"").decode("latin-1")] = field.value or b""

    def on_file(file: Any) -> None:
        file.file_object.seek(0)
        fields[(file.field_name or b"").decode("latin-1")] = file.file_object.read()
        file.close()

    try:
        parser = create_form_parser({"Content-Type": content_type.encode("latin-1")}, on_field, on_file,
                                    config={"MAX_MEMORY_FILE_SIZE": len(raw) + 1})
        parser.write(raw)
        parser.finalize()
    except (FormParserError, ValueError, UnicodeEncodeError) as exc:
        raise BadRequest(f"body is not a form: {exc}", "malformed_body") from None
    return fields


def _basic_password(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return None


async def _authorised_inbox(request: Request) -> tuple[Mapping[str, Any], bool]:
    """The inbox posted to, once the URL secret (or, on the old URL, the legacy ``?secret=`` /
    Basic password) is right: checked before a byte of the body is read. Also whether the
    post must carry Mailgun's signature (the URL ends in "mime" and has no shared secret)."""
    ctx, directory = webhook_context(request)
    inbox = await directory.by_id(request.path_params["inbox_id"])
    if inbox is None or inbox["kind"] != KIND:
        raise NotFound("no email inbox with this id", "unknown_inbox")
    mailgun = request.url.path.endswith("/mime")
    if "url_secret" in request.path_params:
        if not inbound_auth.equal(request.path_params["url_secret"], inbound_auth.url_secret(inbox)):
            raise Forbidden("wrong URL secret: use the URL in the inbox's webhook_urls", "invalid_secret")
        return inbox, mailgun
    # The URLs without a secret, as configured before it existed. SendGrid's kept working with
    # its shared secret (never logged: see inbound_auth.redact); Mailgun's had none that could
    # be checked before the body, so it is refused (Mailgun retries refused posts for 8 hours).
    given = request.query_params.get("secret") or _basic_password(request)
    if given is None:
        raise Forbidden("this URL needs the inbox's URL secret: use the URL in the inbox's webhook_urls "
                        "(/webhooks/email/<inbox id>/<url secret>[/mime])", "url_secret_required")
    if not inbound_auth.equal(given, str(inbox["settings"].get("inbound_secret", ""))):
        raise Forbidden("wrong inbound secret", "invalid_secret")
    if inbox["id"] not in _WARNED:
        _WARNED.add(inbox["id"])
        log.warning("email inbox %s: mail posted to the old URL without the URL secret; give the provider the "
                    "inbox's webhook_urls.inbound_parse instead", inbox["id"])
    return inbox, False


async def inbound(request: Request) -> Response:
    ctx, _ = webhook_context(request)
    inbox, mailgun = await _authorised_inbox(request)
    limit = ctx.settings.max_email_bytes
    fields = form_fields(request.headers.get("content-type", ""), await read_body(request, limit + FORM_OVERHEAD))
    nonce = None
    if mailgun:
        nonce = inbound_auth.check_mailgun(inbox["id"], fields, str(inbox["settings"].get("inbound_secret", "")),
                                           ctx.clock.now())
        await inbound_auth.use_once(ctx, *nonce)
    raw = fields.get("body-mime") or fields.get("email")
    if raw is None:
        raise BadRequest("no raw message: expected the 'email' (SendGrid, send raw) or 'body-mime' (Mailgun) "
                         "field", "malformed_body")
    if len(raw) > limit:
        raise PayloadTooLarge(f"message over the {limit}-byte limit")
    try:
        outcome = await accept(ctx, inbox, raw)
    except BadRequest:
        raise
    except Exception:  # noqa: BLE001 - logged here, without the path and its secret (ui.http would log it)
        log.exception("email inbox %s: storing a posted mail failed", inbox["id"])
        if nonce is not None:  # nothing was stored: Mailgun's retry of this post must get through
            await actions.forget_webhook_nonce(ctx, nonce[0])
        return error_response(500, "internal_error", "the mail could not be stored now; it has been logged")
    log.debug("email inbox %s: %s", inbox["id"], outcome)
    return Response(status_code=200)


# Mailgun posts the raw MIME only to a URL ending in "mime": the same route under that name.
# The old URLs first, so that ".../mime" is never taken for a URL secret.
routes = [Route("/webhooks/email/{inbox_id:int}", inbound, methods=["POST"]),
          Route("/webhooks/email/{inbox_id:int}/mime", inbound, methods=["POST"]),
          Route("/webhooks/email/{inbox_id:int}/{url_secret}", inbound, methods=["POST"]),
          Route("/webhooks/email/{inbox_id:int}/{url_secret}/mime", inbound, methods=["POST"])]
