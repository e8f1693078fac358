"""Stored files over HTTP.

- GET /media/{path}?m={message id}: attachments, for logged-in users who may see the
  message's conversation. Leads and admins see every conversation and may leave out ``m``;
  an agent names the message, so that a file never reaches someone whose role or team
  keeps them from the conversation it came in.
- POST /api/uploads: an agent's file for a reply. It is stored like an inbound attachment
  (type-checked, size-capped) and given a signed, expiring public URL, because the
  provider (Twilio, Meta, Telegram) fetches a reply's media from a URL it can reach
  without our credentials, and a ``handle``: a signed token naming the file and the
  user it was issued to. A reply attaches a stored file only through its handle
  (``reply_attachments``), so an agent cannot put another conversation's file on a
  reply of theirs (and then read it through /media, or have it mailed out) by naming
  its path.
- GET /media/public/{path}?expires=&sig=: that URL.

Files are served so that a hostile one cannot act on our origin: the stored type (checked
on the way in), nosniff, a sandboxing CSP, and a download rather than inline display for
anything but plain images, audio and video.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from inbox import queries
from inbox.actions.context import Context
from inbox.domain import access
from inbox.domain.access import Viewer
from inbox.domain.errors import BadRequest, Forbidden, Invalid, NotFound, PayloadTooLarge
from inbox.storage.media import INLINE_TYPES, MediaRejected
from ui.api.openapi import body, takes
from ui.auth import authenticate

PUBLIC_URL_LIFETIME = 7 * 24 * 3600  # a queued reply may wait for its retries; providers fetch at send
UPLOAD_HANDLE_LIFETIME = 24 * 3600  # from upload to the reply that carries the file
MAX_REPLY_ATTACHMENTS = 10  # Twilio's limit of media per message; more is no reply anyone sends
# One of a reply's attachments, for /api/openapi.json (``reply_attachments`` reads it).
REPLY_ATTACHMENT = {"oneOf": [
    {"type": "object", "required": ["handle"], "properties": {"handle": {"type": "string", "maxLength": 2000}}},
    {"type": "object", "required": ["url"], "not": {"required": ["handle"]}, "properties": {
        "url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
        "content_type": {"type": "string", "maxLength": 200}, "filename": {"type": "string", "maxLength": 200}}},
]}


def _serve(path: Path) -> Response:
    content_type = mimetypes.types_map.get(path.suffix, "application/octet-stream")
    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
               "Cache-Control": "private, max-age=86400"}
    return FileResponse(path, media_type=content_type, filename=path.name, content_disposition_type=disposition,
                        headers=headers)


def _signature(secret: str, rel: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{rel}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_path(ctx: Context, rel: str, lifetime: int) -> str:
    """/media/public/... for ``rel``: fetched without credentials until ``lifetime`` runs out."""
    expires = int(ctx.clock.now().timestamp()) + lifetime
    query = urlencode({"expires": expires, "sig": _signature(ctx.settings.secret_key, rel, expires)})
    return f"/media/public/{rel}?{query}"


def public_url(ctx: Context, rel: str, lifetime: int = PUBLIC_URL_LIFETIME) -> str:
    return ctx.settings.public_url + signed_path(ctx, rel, lifetime)


def _public_url_until(ctx: Context, rel: str, expires: int) -> str:
    query = urlencode({"expires": expires, "sig": _signature(ctx.settings.secret_key, rel, expires)})
    return f"{ctx.settings.public_url}/media/public/{rel}?{query}"


STORED_IN_HTML = re.compile(r'"/media/([0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]+)"')
SHOWN_LINK_LIFETIME = 3600


REMOTE_SOURCES = ("src", "srcset", "background", "poster", "style")


def _hold_back(tag: str) -> tuple[str, int]:
    """``tag`` (its text after "<") with each remote image source renamed to data-remote-<name>."""
    blocked = 0
    for name in REMOTE_SOURCES:
        marker, pos = f' {name}="', 0
        while (found := tag.find(marker, pos)) >= 0:
            value_at = found + len(marker)
            value = unescape(tag[value_at:tag.find('"', value_at)])
            remote = "url(" in value.lower() if name == "style" else not _ours(value)
            if remote:
                tag = f"{tag[:found]} data-remote-{name}=\"{tag[value_at:]}"
                blocked += 1
            pos = value_at + (len("data-remote-") if remote else 0)
    return tag, blocked


def hold_back_remote_images(markup: str) -> tuple[str, int]:
    """The email HTML with every remote image source (``src``, ``srcset``, ``background``,
    ``poster``, a ``style`` with ``url(``) renamed to ``data-remote-<name>``, which the
    browser never fetches; our own stored images (/media/...) stay. And how many.

    Plain string logic over nh3's serialisation, which is all ``payload.html`` ever holds
    (webhooks/email/mime.py): "<" and ">" are escaped in text and in attribute values, so
    they only ever delimit tags, and values are double-quoted with '"' escaped, so
    ``<name>="`` inside a tag is always an attribute. Linear: it runs on every render."""
    pieces = markup.split("<")
    blocked = 0
    for i in range(1, len(pieces)):
        piece = pieces[i]
        if " src" in piece or ' style="' in piece or ' background="' in piece or ' poster="' in piece:
            tag, gt, text = piece.partition(">")
            tag, count = _hold_back(tag)
            if count:
                pieces[i] = tag + gt + text
                blocked += count
    return "<".join(pieces), blocked


def _ours(url: str) -> bool:
    return url.startswith("/media/") and "," not in url  # a srcset naming several sources is never ours alone


def viewable_html(ctx: Context, html: str) -> tuple[str, int]:
    """An email's HTML for its sandboxed frame, and how many remote images it holds back.

    Remote images are not loaded until the agent asks ("Load remote images", ui/static/app.js
    puts them back): a tracking pixel would tell the sender when, and from where, the mail
    was read. The frame has no origin, so the browser sends no session cookie for the
    images in it: each stored image is linked by a signed path for an hour instead (given
    only to someone the page was shown to)."""
    held, blocked = hold_back_remote_images(html)
    return STORED_IN_HTML.sub(lambda m: f'"{signed_path(ctx, m.group(1), SHOWN_LINK_LIFETIME)}"', held), blocked


def _message_shows(conn: Connection, viewer: Viewer, message_id: int, rel: str) -> bool:
    """Whether ``viewer`` may see message ``message_id`` and it carries the file ``rel``
    (an attachment, or an image inside an email's HTML). A message's files are ones we
    stored from the provider or that its author uploaded (a reply names a stored file only
    by an upload handle issued to its author), so carrying a file is proof of access."""
    message = queries.get_message(conn, message_id)
    if message is None:
        return False
    conv = queries.get_conversation(conn, message["conversation_id"])
    if conv is None or not access.visible_to(viewer, conv):
        return False
    return any(a.get("path") == rel for a in message["attachments"]) or \
        f"/media/{rel}" in str((message["payload"] or {}).get("html", ""))


async def media(request: Request) -> Response:
    viewer = await authenticate(request)
    rel = request.path_params["path"]
    if not viewer.sees_all:
        m = request.query_params.get("m", "")
        if not m.isdigit() or not await request.app.state.ctx.db.read(
                lambda c: _message_shows(c, viewer, int(m), rel)):
            raise Forbidden("name a message you may see that carries this file (?m=<message id>)", "not_visible")
    path = request.app.state.ctx.media.path(rel)
    if path is None:
        raise NotFound("no such file")
    return _serve(path)


async def public_media(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    rel = request.path_params["path"]
    try:
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        raise Forbidden("a signed link is needed", "invalid_link") from None
    given = request.query_params.get("sig", "")
    expired = expires < ctx.clock.now().timestamp()
    if expired or not hmac.compare_digest(given, _signature(ctx.settings.secret_key, rel, expires)):
        raise Forbidden("this link is invalid or has expired", "invalid_link")
    path = ctx.media.path(rel) if ctx.media else None
    if path is None:
        raise NotFound("no such file")
    return _serve(path)


async def store_upload(ctx: Context, upload: UploadFile, user_id: int) -> dict[str, object]:
    """Keep an agent's file; the attachment to put on a reply, with the ``handle`` that
    lets ``user_id`` (and no one else) attach it."""
    assert ctx.media is not None
    content = await upload.read(ctx.media.max_bytes + 1)
    if len(content) > ctx.media.max_bytes:
        raise PayloadTooLarge(f"files are limited to {ctx.media.max_bytes:,} bytes")
    declared = upload.content_type or mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
    try:
        rel, content_type = await asyncio.to_thread(ctx.media.save, content, declared)
    except MediaRejected as exc:
        raise Invalid(str(exc), "file_rejected") from None
    claims = {"path": rel, "content_type": content_type, "size": len(content),
              "filename": Path(upload.filename or "file").name[:200], "user_id": user_id}
    handle = _handles(ctx).dumps(claims)
    _, issued = _handles(ctx).loads(handle, return_timestamp=True)
    return {**_issued_attachment(ctx, claims, int(issued.timestamp())), "handle": handle}


def _handles(ctx: Context) -> URLSafeTimedSerializer:
    # Its own salt: a handle is never valid as a session cookie or a media link, nor they as one.
    return URLSafeTimedSerializer(ctx.settings.secret_key, salt="inbox.upload-handle")


def _issued_attachment(ctx: Context, claims: dict[str, Any], issued: int) -> dict[str, object]:
    """What a reply stores for an uploaded file. The public link expires a fixed time after
    the upload, so the reply carries the very link the upload answered with."""
    return {"url": _public_url_until(ctx, claims["path"], issued + PUBLIC_URL_LIFETIME), "path": claims["path"],
            "content_type": claims["content_type"], "size": claims["size"], "filename": claims["filename"]}


def reply_attachments(ctx: Context, viewer: Viewer, given: Any) -> list[dict[str, object]]:
    """A reply's ``attachments`` from an API client, checked. Each is a file of ours,
    named by the ``handle`` POST /api/uploads gave this user (the rest of the upload's
    answer may come along and is ignored, but a ``path`` other than the handle's is
    refused), or ``{"url": "https://...", "content_type"}`` of a file elsewhere. A
    stored file named any other way (a ``path``, a link to our /media/) is refused with
    403 ``attachment_not_issued``: it could be another conversation's."""
    if given is None:
        return []
    if not isinstance(given, list) or len(given) > MAX_REPLY_ATTACHMENTS or not all(isinstance(a, dict) for a in given):
        raise Invalid(f"attachments must be a list of at most {MAX_REPLY_ATTACHMENTS} objects: "
                      '{"handle": "..."} from POST /api/uploads, or {"url": "https://...", "content_type": "..."}',
                      "invalid_attachments")
    return [_reply_attachment(ctx, viewer, a) for a in given]


def _reply_attachment(ctx: Context, viewer: Viewer, given: dict[str, Any]) -> dict[str, object]:
    if given.get("handle") is not None:
        attachment = _redeem(ctx, viewer, given["handle"])
        if given.get("path") not in (None, attachment["path"]):
            raise Forbidden("the attachment's path is not the file of its handle", "attachment_not_issued")
        return attachment
    if given.get("path") is not None:
        raise Forbidden("attach a stored file by the handle POST /api/uploads gave you, not by its path",
                        "attachment_not_issued")
    url = given.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise Invalid('an attachment is {"handle": "..."} or {"url": "https://...", "content_type": "..."}',
                      "invalid_attachments")
    ours = urlsplit(ctx.settings.public_url)
    parts = urlsplit(url)
    if parts.hostname == ours.hostname and parts.path.startswith(ours.path.rstrip("/") + "/media/"):
        raise Forbidden("attach a stored file by the handle POST /api/uploads gave you, not by its link",
                        "attachment_not_issued")
    content_type = given.get("content_type") or "application/octet-stream"
    filename = given.get("filename")
    return {"url": url, "content_type": str(content_type)[:200],
            **({"filename": str(filename)[:200]} if filename else {})}


def _redeem(ctx: Context, viewer: Viewer, handle: Any) -> dict[str, object]:
    if not isinstance(handle, str) or len(handle) > 2000:
        raise Invalid("an attachment's handle is the string POST /api/uploads answered with", "invalid_attachments")
    try:
        claims, issued = _handles(ctx).loads(handle, max_age=UPLOAD_HANDLE_LIFETIME, return_timestamp=True)
    except SignatureExpired:
        raise Forbidden("this upload's handle has expired: upload the file again", "attachment_expired") from None
    except BadSignature:
        raise Forbidden("this is not an upload handle issued by this server", "attachment_not_issued") from None
    if claims.get("user_id") != viewer.user_id:
        raise Forbidden("this file was uploaded by someone else: upload it yourself", "attachment_not_issued")
    return _issued_attachment(ctx, claims, int(issued.timestamp()))


@takes(body(("file",), file={"type": "string", "format": "binary"}), form=True)
async def upload(request: Request) -> Response:
    """POST /api/uploads, multipart with a ``file`` field: for a reply's ``attachments``."""
    viewer = await authenticate(request)
    ctx: Context = request.app.state.ctx
    assert ctx.media is not None
    async with request.form(max_files=1, max_part_size=ctx.media.max_bytes) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("send the file as multipart/form-data in a field named 'file'", "missing_file")
        return JSONResponse(await store_upload(ctx, file, viewer.user_id), status_code=201)


routes = [
    Route("/media/public/{path:path}", public_media),
    Route("/media/{path:path}", media),
    Route("/api/uploads", upload, methods=["POST"]),
]
