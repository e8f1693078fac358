"""/api/campaigns: leads' and admins' campaigns, their preflight, their start, pause, resume
and cancel, and their recipients' results (docs/campaigns.md; the API in docs/api.md,
"Campaigns")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import campaigns as engine
from inbox.actions.context import Context
from inbox.domain import campaigns
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.models import Role
from inbox.queries import campaigns as found
from ui.api.openapi import STRING, body, limit, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, kinds_of, path_id

JSON_LIMIT = 128 * 1024
_OBJECT: dict[str, Any] = {"type": "object"}
CAMPAIGN: dict[str, dict[str, Any]] = dict(
    name=STRING, purpose={"enum": ["marketing", "transactional"]}, audience=_OBJECT,
    messages={"type": "array", "maxItems": 16, "items": _OBJECT}, schedule={"type": ["object", "null"]},
    quiet_hours={"type": ["object", "boolean", "null"]})
RESULT = {"enum": list(found.RESULTS)}


async def _answer(ctx: Context, campaign_id: int, status: int = 200) -> Response:
    def read(conn: Connection) -> dict[str, Any] | None:
        campaign = found.get_campaign(conn, campaign_id)
        return None if campaign is None else engine.serialize_campaign(conn, campaign)
    shown = await ctx.db.read(read)
    if shown is None:
        raise NotFound("no such campaign")
    return JSONResponse(shown, status_code=status)


@takes(query={"status": {"enum": [s.value for s in campaigns.Status]}})
@requires(Role.lead)
async def list_campaigns(request: Request, viewer: Viewer) -> Response:
    """Every campaign, newest first, with its totals."""
    status = request.query_params.get("status")
    if status is not None and status not in {s.value for s in campaigns.Status}:
        raise Invalid(f"status must be one of {', '.join(s.value for s in campaigns.Status)}", "invalid_status")
    items = await ctx_of(request).db.read(lambda c: found.campaigns(c, [status] if status else None))
    return JSONResponse({"items": items})


@takes(body(("name", "messages"), closed=True, **CAMPAIGN))
@requires(Role.lead)
async def create_campaign(request: Request, viewer: Viewer) -> Response:
    """A new campaign, as a draft."""
    data, ctx = await json_body(request, JSON_LIMIT), ctx_of(request)
    saved = await engine.create(ctx, viewer, data, kinds_of(request))
    return await _answer(ctx, saved["id"], 201)


@requires(Role.lead)
async def get_campaign(request: Request, viewer: Viewer) -> Response:
    """The campaign with its totals: recipients by result, skips by reason, replies, opt-outs."""
    return await _answer(ctx_of(request), path_id(request, "campaign"))


@takes(body((), closed=True, **CAMPAIGN))
@requires(Role.lead)
async def patch_campaign(request: Request, viewer: Viewer) -> Response:
    """Change a draft."""
    data, ctx, campaign_id = await json_body(request, JSON_LIMIT), ctx_of(request), path_id(request, "campaign")
    await engine.change(ctx, campaign_id, data, kinds_of(request))
    return await _answer(ctx, campaign_id)


@requires(Role.lead)
async def delete_campaign(request: Request, viewer: Viewer) -> Response:
    """Delete a draft (a started campaign is cancelled instead, and kept)."""
    ctx, campaign_id = ctx_of(request), path_id(request, "campaign")
    await ctx.db.write(lambda tx: engine.delete_draft(tx, campaign_id))
    return Response(status_code=204)


@requires(Role.lead)
async def preflight_campaign(request: Request, viewer: Viewer) -> Response:
    """What starting it now would do: recipients, skips by reason, quiet hours, the first messages."""
    return JSONResponse(await engine.check_before(ctx_of(request), path_id(request, "campaign")))


def _mover(action: str, doc: str) -> Callable[[Request], Awaitable[Response]]:
    @requires(Role.lead)
    async def endpoint(request: Request, viewer: Viewer) -> Response:
        ctx, campaign_id = ctx_of(request), path_id(request, "campaign")
        await engine.act(ctx, campaign_id, action)
        return await _answer(ctx, campaign_id)
    endpoint.__name__ = f"{action}_campaign"
    endpoint.__doc__ = doc
    return endpoint


@takes(query={"result": RESULT, "after": {"type": "integer", "minimum": 0}, "limit": limit(500)})
@requires(Role.lead)
async def campaign_recipients(request: Request, viewer: Viewer) -> Response:
    """The recipients in order, each with its result (``?result=`` for one), by cursor ``after``."""
    ctx, campaign_id, q = ctx_of(request), path_id(request, "campaign"), request.query_params
    result = q.get("result")
    if result is not None and result not in found.RESULTS:
        raise Invalid(f"result must be one of {', '.join(found.RESULTS)}", "invalid_result")
    try:
        after, count = int(q.get("after", "0")), int(q.get("limit", "100"))
    except ValueError:
        raise Invalid("after and limit are whole numbers", "invalid_cursor") from None
    if after < 0 or not 1 <= count <= 500 or after > 2**63 - 1:
        raise Invalid("after is 0 or more, limit 1 to 500", "invalid_cursor")
    if await ctx.db.read(lambda c: found.get_campaign(c, campaign_id)) is None:
        raise NotFound("no such campaign")
    items = await ctx.db.read(lambda c: found.recipient_page(c, campaign_id, result=result, after=after, limit=count))
    return JSONResponse({"items": items, "next": str(items[-1]["id"]) if len(items) == count else None})


ROUTES = [
    Route("/api/campaigns", list_campaigns),
    Route("/api/campaigns", create_campaign, methods=["POST"]),
    Route("/api/campaigns/{id}", get_campaign),
    Route("/api/campaigns/{id}", patch_campaign, methods=["PATCH"]),
    Route("/api/campaigns/{id}", delete_campaign, methods=["DELETE"]),
    Route("/api/campaigns/{id}/preflight", preflight_campaign, methods=["POST"]),
    *(Route(f"/api/campaigns/{{id}}/{action}", _mover(action, doc), methods=["POST"])
      for action, doc in (("start", "Start it: recipients are planned and sent at their time."),
                          ("pause", "Pause it: nothing more goes until it is resumed."),
                          ("resume", "Resume a paused campaign."),
                          ("cancel", "Cancel it: every recipient still pending is skipped."))),
    Route("/api/campaigns/{id}/recipients", campaign_recipients),
]
