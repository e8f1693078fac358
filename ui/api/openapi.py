"""GET /api/openapi.json: the REST API's OpenAPI 3.1 description, built from the route
table so it can never list a path that does not exist, with each route's request body and
query parameters as the route declares them (``takes``, written above the route).
docs/api.md has the prose and examples; tests/test_schemathesis.py fuzzes the server
against this description."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ERROR = {"$ref": "#/components/schemas/Error"}
# The answer when all goes well, by endpoint name, where it is not 200.
SUCCESS = {"create_inbox": 201, "create_user": 201, "create_team": 201, "create_token": 201, "post_note": 201,
           "post_message": 202, "retry_message": 202, "delete_token": 204, "logout": 204, "create_canned": 201,
           "delete_canned": 204, "upload": 201, "post_consent": 201, "delete_inbox": 204, "delete_team": 204,
           "create_label": 201, "delete_label": 204, "create_calendar": 201, "delete_calendar": 204,
           "create_webhook": 201, "delete_webhook": 204, "replay_delivery": 202,
           "create_campaign": 201, "delete_campaign": 204, "schedule_reply": 201, "schedule_reminder": 201}
# Another success some endpoints answer: a replayed Idempotency-Key (the message as it is now).
ALSO_SUCCESS = {"post_message": 200, "schedule_reply": 200, "schedule_reminder": 200}
# Outside /api, the routes an API client uses (by endpoint name: GET /login is the UI's page);
# these and the spec itself need no credentials.
SERVICE_PATHS = ("/healthz", "/login", "/logout")
SERVICE_ENDPOINTS = ("healthz", "login", "logout")
PUBLIC_PATHS = (*SERVICE_PATHS, "/api/openapi.json")

# Schema pieces the declarations share.
ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}  # a row id: 64-bit, as the database stores
NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": 2**63 - 1}
TEXT = {"type": "string", "minLength": 1, "maxLength": 10_000}
STRING = {"type": "string", "maxLength": 1000}
IDS = {"type": "array", "items": ID, "maxItems": 1000}


def limit(cap: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": cap}


def body(required: tuple[str, ...] = (), *, closed: bool = False, **properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object body. ``closed``: other keys are refused (422), not ignored."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


@dataclass(frozen=True)
class Takes:
    """What a route reads from a request, as JSON Schemas: the body (JSON, or multipart
    form fields when ``form``), query parameters and headers."""

    body: dict[str, Any] | None = None
    form: bool = False
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


E = TypeVar("E", bound=Callable[..., Any])


def takes(body: dict[str, Any] | None = None, *, form: bool = False, query: dict[str, dict[str, Any]] | None = None,
          headers: dict[str, dict[str, Any]] | None = None) -> Callable[[E], E]:
    """Declare what a route reads, for the spec. Put it above the route (over ``requires``),
    next to the code that reads it, so the two change together."""
    def mark(endpoint: E) -> E:
        endpoint.openapi_takes = Takes(body, form, query or {}, headers or {})  # type: ignore[attr-defined]
        return endpoint
    return mark


# Routes whose answer is not JSON, by route name.
PRODUCES = {"cycles_csv": "text/csv", "campaigns_csv": "text/csv"}

# Routes defined outside the API (ui/auth.py), whose requests are described here.
SERVICE_TAKES = {
    "login": Takes(body(("email", "password"), email=STRING, password=STRING, next=STRING)),
}


def build_spec(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not (route.path.startswith("/api/") or route.name in SERVICE_ENDPOINTS):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        statuses = [SUCCESS.get(route.name, 200), *([ALSO_SUCCESS[route.name]] if route.name in ALSO_SUCCESS else [])]
        successes = {str(status): _success(status, PRODUCES.get(route.name, "application/json"))
                     for status in statuses}
        request = getattr(route.endpoint, "openapi_takes", None) or SERVICE_TAKES.get(route.name, Takes())
        for method in sorted((route.methods or set()) - {"HEAD"}):
            doc = (route.endpoint.__doc__ or route.name.replace("_", " ")).strip().splitlines()[0]
            operation: dict[str, Any] = {
                "summary": doc,
                "operationId": f"{method.lower()}_{route.name}",
                "parameters": [{"name": p, "in": "path", "required": True, "schema": ID} for p in params]
                + [{"name": n, "in": "query", "required": False, "schema": q} for n, q in request.query.items()]
                + [{"name": n, "in": "header", "required": False, "schema": h} for n, h in request.headers.items()],
                "responses": {
                    **successes,
                    "default": {"description": "Error", "content": {"application/json": {"schema": ERROR}}},
                },
            }
            if request.body is not None:
                media = "multipart/form-data" if request.form else "application/json"
                operation["requestBody"] = {"required": bool(request.body.get("required")),
                                            "content": {media: {"schema": request.body}}}
            if route.path in PUBLIC_PATHS:
                operation["security"] = []
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "inbox REST API", "version": "1", "description": "See docs/api.md for examples."},
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "inbox_session"},
            },
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }


def _success(status: int, media: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if status != 204:
        schema = {"type": "object"} if media == "application/json" else {"type": "string"}
        success["content"] = {media: {"schema": schema}}
    return success


async def openapi(request: Request) -> Response:
    return JSONResponse(build_spec(request.app.routes))
