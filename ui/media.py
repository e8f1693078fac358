"""GET /media/{path}: stored attachments, for logged-in agents only. Served so that a
hostile file cannot act on our origin: the stored type (checked on the way in), nosniff,
a sandboxing CSP, and a download rather than inline display for anything but plain
images, audio and video."""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from inbox.errors import NotFound
from inbox.media import INLINE_TYPES
from ui.auth import authenticate

async def media(request: Request) -> Response:
    await authenticate(request)
    store = request.app.state.ctx.media
    rel = request.path_params["path"]
    path = store.path(rel)
    if path is None:
        raise NotFound("no such file")
    content_type = mimetypes.types_map.get(path.suffix, "application/octet-stream")
    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    return FileResponse(path, media_type=content_type, content_disposition_type=disposition, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=86400",
    })


routes = [Route("/media/{path:path}", media)]
