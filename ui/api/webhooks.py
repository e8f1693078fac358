"""/api/webhooks: outbound webhook endpoints, their delivery log, test sends and replays
(docs/api.md, "Outbound webhooks"; docs/webhooks.md). Admins only: an endpoint receives
every conversation's events, whoever may see them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain import webhooks
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.models import Role
from inbox.workers.webhooks import WebhookWorker
from ui.api.openapi import ID, body, limit, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, parse_id, path_id

JSON_LIMIT = 64 * 1024
URL = {"type": "string", "minLength": 1, "maxLength": webhooks.MAX_URL_CHARS}
EVENTS = {"type": "array", "minItems": 1, "maxItems": len(webhooks.SUBSCRIBABLE),
          "items": {"enum": list(webhooks.SUBSCRIBABLE)}}


@requires(Role.admin)
async def list_webhooks(request: Request, viewer: Viewer) -> Response:
    """Every endpoint (secrets masked), with how many deliveries wait for each."""
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_webhooks)})


@takes(body(("url", "events"), closed=True, url=URL, events=EVENTS))
@requires(Role.admin)
async def create_webhook(request: Request, viewer: Viewer) -> Response:
    """A new endpoint; the answer holds its secret, shown this once."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.create_webhook(ctx_of(request), data.get("url"), data.get("events")),
                        status_code=201)


@requires(Role.admin)
async def get_webhook(request: Request, viewer: Viewer) -> Response:
    endpoint_id = path_id(request, "webhook endpoint")
    found = await ctx_of(request).db.read(lambda c: queries.get_webhook(c, endpoint_id))
    if found is None:
        raise NotFound("no such webhook endpoint")
    return JSONResponse(found)


@takes(body((), closed=True, url=URL, events=EVENTS, active={"type": "boolean"}))
@requires(Role.admin)
async def patch_webhook(request: Request, viewer: Viewer) -> Response:
    """Change the URL or the event types; pause (active: false) or resume it."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_webhook(ctx_of(request), path_id(request, "webhook endpoint"), data))


@requires(Role.admin)
async def delete_webhook(request: Request, viewer: Viewer) -> Response:
    await actions.delete_webhook(ctx_of(request), path_id(request, "webhook endpoint"))
    return Response(status_code=204)


@requires(Role.admin)
async def rotate_webhook(request: Request, viewer: Viewer) -> Response:
    """A new secret, shown this once; the previous one still signs for 24 hours."""
    return JSONResponse(await actions.rotate_webhook_secret(ctx_of(request), path_id(request, "webhook endpoint")))


@takes(query={"before": ID, "limit": limit(100)})
@requires(Role.admin)
async def webhook_deliveries(request: Request, viewer: Viewer) -> Response:
    """The endpoint's deliveries, newest first, each with its attempts."""
    endpoint_id, q = path_id(request, "webhook endpoint"), request.query_params
    before = _number(q.get("before"), "before")
    n = min(max(_number(q.get("limit"), "limit") or 25, 1), 100)

    def read(c: Any) -> dict[str, Any]:
        if queries.get_webhook(c, endpoint_id) is None:
            raise NotFound("no such webhook endpoint")
        items = queries.webhook_deliveries(c, endpoint_id, before=before, limit=n)
        return {"items": items, "next_before": items[-1]["id"] if len(items) == n else None}
    return JSONResponse(await ctx_of(request).db.read(read))


def _number(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    number = parse_id(value)
    if number is None:
        raise Invalid(f"{name} must be a positive integer", "invalid_field")
    return number


@requires(Role.admin)
async def test_webhook(request: Request, viewer: Viewer) -> Response:
    """Post a test (type webhook.test) to the endpoint now; the delivery as logged, with its answer."""
    worker: WebhookWorker = request.app.state.webhooks
    return JSONResponse(await worker.send_test(path_id(request, "webhook endpoint")))


@requires(Role.admin)
async def replay_delivery(request: Request, viewer: Viewer) -> Response:
    """Send a delivery again (same webhook-id and body), next in its endpoint's queue."""
    return JSONResponse(await actions.replay_delivery(ctx_of(request), path_id(request, "delivery")), status_code=202)


ROUTES = [
    Route("/api/webhooks", list_webhooks),
    Route("/api/webhooks", create_webhook, methods=["POST"]),
    Route("/api/webhooks/deliveries/{id}/replay", replay_delivery, methods=["POST"]),
    Route("/api/webhooks/{id}", get_webhook),
    Route("/api/webhooks/{id}", patch_webhook, methods=["PATCH"]),
    Route("/api/webhooks/{id}", delete_webhook, methods=["DELETE"]),
    Route("/api/webhooks/{id}/rotate", rotate_webhook, methods=["POST"]),
    Route("/api/webhooks/{id}/deliveries", webhook_deliveries),
    Route("/api/webhooks/{id}/test", test_webhook, methods=["POST"]),
]
