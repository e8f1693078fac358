"""/api/sla_policies: promised response and resolution times (docs/api.md, "SLA policies").
Admins write them; every signed-in user may read them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain import sla
from inbox.domain.access import Viewer
from inbox.domain.errors import NotFound
from inbox.domain.models import Role
from ui.api.openapi import ID, STRING, body, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, path_id

JSON_LIMIT = 64 * 1024
_MINUTES = {"type": ["integer", "null"], "minimum": 1, "maximum": sla.MAX_MINUTES}
_IDS = {"type": "array", "items": ID, "maxItems": 100}
POLICY: dict[str, dict[str, Any]] = dict(
    name=STRING, position={"type": "integer", "minimum": 0, "maximum": 10_000}, enabled={"type": "boolean"},
    first_response_minutes=_MINUTES, next_response_minutes=_MINUTES, resolution_minutes=_MINUTES,
    business_hours={"type": "boolean"}, calendar_id={"anyOf": [ID, {"type": "null"}]},
    pause_statuses={"type": "array", "items": {"enum": list(sla.PAUSABLE)}},
    warn_percent={"type": "integer", "minimum": 1, "maximum": 99},
    conditions={"type": "object", "additionalProperties": False, "properties": {
        "inbox_ids": _IDS, "team_ids": _IDS, "label_ids": _IDS,
        "priorities": {"type": "array", "items": {"enum": ["none", "low", "medium", "high", "urgent"]}}}})


@requires()
async def list_policies(request: Request, viewer: Viewer) -> Response:
    """Every policy, in the order they are tried."""
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_policies)})


@requires()
async def get_policy(request: Request, viewer: Viewer) -> Response:
    policy_id = path_id(request, "SLA policy")
    found: Any = await ctx_of(request).db.read(lambda c: queries.get_policy(c, policy_id))
    if found is None:
        raise NotFound("no such SLA policy")
    return JSONResponse(found)


@takes(body(("name",), closed=True, **POLICY))
@requires(Role.admin)
async def create_policy(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.create_sla_policy(ctx_of(request), data), status_code=201)


@takes(body((), closed=True, **POLICY))
@requires(Role.admin)
async def patch_policy(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_sla_policy(ctx_of(request), path_id(request, "SLA policy"), data))


@requires(Role.admin)
async def delete_policy(request: Request, viewer: Viewer) -> Response:
    await actions.delete_sla_policy(ctx_of(request), path_id(request, "SLA policy"))
    return Response(status_code=204)


ROUTES = [
    Route("/api/sla_policies", list_policies),
    Route("/api/sla_policies", create_policy, methods=["POST"]),
    Route("/api/sla_policies/{id}", get_policy),
    Route("/api/sla_policies/{id}", patch_policy, methods=["PATCH"]),
    Route("/api/sla_policies/{id}", delete_policy, methods=["DELETE"]),
]
