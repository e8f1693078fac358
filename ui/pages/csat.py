"""The customer's rating page (docs/csat.md): where a satisfaction survey's signed link
leads, on every channel. No login: the token in the address is the survey's. A score and an
optional comment, answered once; an expired, used or forged link says so in words.

Opening the page records nothing (mail scanners and link previews open links too); the
customer's press on "Send" does. An email's per-score links open it with that score chosen.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions
from inbox.domain import csat
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.storage.prepared import as_utc
from ui.auth import check_csrf
from ui.pages.agent import _render

MAX_FORM_BYTES = 16 * 1024


def _page(request: Request, state: str, status: int = 200, **context: Any) -> Response:
    response = _render(request, "rate.html", state=state, labels=csat.LABELS, scores=csat.SCORES, **context)
    response.status_code = status
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"  # the token never leaves in a Referer
    return response


async def _survey(request: Request) -> dict[str, Any] | None:
    ctx = request.app.state.ctx
    try:
        survey: dict[str, Any] = await ctx.db.read(lambda c: actions.survey_by_token(
            c, ctx.settings.secret_key, request.path_params["token"]))
    except NotFound:
        return None
    return survey


async def rate_page(request: Request) -> Response:
    survey = await _survey(request)
    if survey is None:
        return _page(request, "invalid", 404)
    if survey["answered_at"] is not None:
        return _page(request, "answered", survey=survey)
    if as_utc(survey["expires_at"]) <= request.app.state.ctx.clock.now():
        return _page(request, "expired", 410)
    chosen = request.query_params.get("score", "")
    return _page(request, "form", survey=survey, chosen=int(chosen) if chosen in ("1", "2", "3", "4", "5") else None)


async def rate_submit(request: Request) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return _page(request, "invalid", 413)
    await check_csrf(request)
    form = await request.form()
    given, comment = str(form.get("score", "")), str(form.get("comment", ""))[:csat.MAX_COMMENT_CHARS]
    survey = await _survey(request)
    if survey is None:
        return _page(request, "invalid", 404)
    if given not in ("1", "2", "3", "4", "5"):
        return _page(request, "form", 422, survey=survey, chosen=None, comment=comment,
                     error="Choose a score from 1 to 5.")
    try:
        answered = await actions.rate_by_link(request.app.state.ctx, request.path_params["token"], int(given),
                                              comment)
    except Conflict as exc:
        if exc.code == "link_expired":
            return _page(request, "expired", 410)
        return _page(request, "answered", survey=survey)
    except (NotFound, Invalid):
        return _page(request, "invalid", 404)
    return _page(request, "thanks", survey=answered)


routes = [Route("/rate/{token}", rate_page, methods=["GET"]), Route("/rate/{token}", rate_submit, methods=["POST"])]
