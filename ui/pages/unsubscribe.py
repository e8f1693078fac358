"""The unsubscribe link of a marketing email (docs/consent.md): no login, the token in the
address names the contact and channel. RFC 8058's one-click: the mail provider POSTs
``List-Unsubscribe=One-Click`` to the link and the contact is unsubscribed, no cookie, no
further step. A person who opens the link sees a page with one button; opening it records
nothing (mail scanners and link previews open links too).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions
from inbox.domain import consent
from inbox.domain.errors import NotFound
from ui.pages.agent import _render

MAX_FORM_BYTES = 4 * 1024


def _page(request: Request, state: str, status: int = 200, **context: Any) -> Response:
    response = _render(request, "unsubscribe.html", state=state, **context)
    response.status_code = status
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"  # the token never leaves in a Referer
    return response


async def unsubscribe_page(request: Request) -> Response:
    if consent.verify_unsubscribe(request.app.state.ctx.settings.secret_key, request.path_params["token"]) is None:
        return _page(request, "invalid", 404)
    return _page(request, "ask")


async def unsubscribe_post(request: Request) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return _page(request, "invalid", 413)
    form = await request.form()
    how = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
    try:
        await actions.unsubscribe(request.app.state.ctx, request.path_params["token"], how)
    except NotFound:
        return _page(request, "invalid", 404)
    return _page(request, "done")


routes = [Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
          Route("/unsubscribe/{token}", unsubscribe_post, methods=["POST"])]
