"""Stored files over HTTP.

- GET /media/{path}?m={message id}: attachments, for logged-in users who may see the
  message's conversation. Leads and admins see every conversation and may leave out ``m``;
  an agent names the message, so that a file never reaches someone whose role or team
  keeps them from the conversation it came in.
- POST /api/uploads: an agent's file for a reply. It is stored like an inbound attachment
  (type-checked, size-capped) and given a signed, expiring public URL, because the
  provider (Twilio, Meta, Telegram) fetches a reply's media from a URL it can reach
  without our credentials.
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
import time
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from inbox import store
from inbox.errors import BadRequest, Forbidden, Invalid, NotFound, PayloadTooLarge
from inbox.media import INLINE_TYPES, MediaRejected
from inbox.events import Viewer
from inbox.services import Context
from ui.auth import authenticate

PUBLIC_URL_LIFETIME = 7 * 24 * 3600  # a queued reply may wait for its retries; providers fetch at send


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
    expires = int(time.time()) + lifetime
    query = urlencode({"expires": expires, "sig": _signature(ctx.settings.secret_key, rel, expires)})
    return f"/media/public/{rel}?{query}"


def public_url(ctx: Context, rel: str, lifetime: int = PUBLIC_URL_LIFETIME) -> str:
    return ctx.settings.public_url + signed_path(ctx, rel, lifetime)


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
    (an attachment, or an image inside an email's HTML)."""
    message = store.get_message(conn, message_id)
    if message is None:
        return False
    conv = store.get_conversation(conn, message["conversation_id"])
    if conv is None or not store.visible_to(viewer, conv):
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
    if expires < time.time() or not hmac.compare_digest(given, _signature(ctx.settings.secret_key, rel, expires)):
        raise Forbidden("this link is invalid or has expired", "invalid_link")
    path = ctx.media.path(rel) if ctx.media else None
    if path is None:
        raise NotFound("no such file")
    return _serve(path)


async def store_upload(ctx: Context, upload: UploadFile) -> dict[str, object]:
    """Keep an agent's file; the attachment to put on a reply."""
    assert ctx.media is not None
    content = await upload.read(ctx.media.max_bytes + 1)
    if len(content) > ctx.media.max_bytes:
        raise PayloadTooLarge(f"files are limited to {ctx.media.max_bytes:,} bytes")
    declared = upload.content_type or mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
    try:
        rel, content_type = await asyncio.to_thread(ctx.media.save, content, declared)
    except MediaRejected as exc:
        raise Invalid(str(exc), "file_rejected") from None
    return {"url": public_url(ctx, rel), "path": rel, "content_type": content_type, "size": len(content),
            "filename": Path(upload.filename or "file").name[:200]}


async def upload(request: Request) -> Response:
    """POST /api/uploads, multipart with a ``file`` field: for a reply's ``attachments``."""
    await authenticate(request)
    ctx: Context = request.app.state.ctx
    assert ctx.media is not None
    async with request.form(max_files=1, max_part_size=ctx.media.max_bytes) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("send the file as multipart/form-data in a field named 'file'", "missing_file")
        return JSONResponse(await store_upload(ctx, file), status_code=201)


routes = [
    Route("/media/public/{path:path}", public_media),
    Route("/media/{path:path}", media),
    Route("/api/uploads", upload, methods=["POST"]),
]
