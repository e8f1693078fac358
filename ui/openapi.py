"""GET /api/openapi.json: the REST API's OpenAPI 3.1 description, built from the route
table so it can never list a path that does not exist. docs/api.md has the prose and
examples."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ERROR = {"$ref": "#/components/schemas/Error"}
# The answer when all goes well, by endpoint name, where it is not 200.
SUCCESS = {"create_inbox": 201, "create_user": 201, "create_team": 201, "create_token": 201, "post_note": 201,
           "post_message": 202, "retry_message": 202, "delete_token": 204, "logout": 204, "create_canned": 201,
           "delete_canned": 204}
# Outside /api, the routes an API client uses; these and the spec itself need no credentials.
SERVICE_PATHS = ("/healthz", "/login", "/logout")
PUBLIC_PATHS = (*SERVICE_PATHS, "/api/openapi.json")


def build_spec(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not (route.path.startswith("/api/") or route.path in SERVICE_PATHS):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        status = SUCCESS.get(route.name, 200)
        success: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if status != 204:
            success["content"] = {"application/json": {"schema": {"type": "object"}}}
        for method in sorted((route.methods or set()) - {"HEAD"}):
            doc = (route.endpoint.__doc__ or route.name.replace("_", " ")).strip().splitlines()[0]
            operation: dict[str, Any] = {
                "summary": doc,
                "operationId": f"{method.lower()}_{route.name}",
                "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "integer"}}
                               for p in params],
                "responses": {
                    str(status): success,
                    "default": {"description": "Error", "content": {"application/json": {"schema": ERROR}}},
                },
            }
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


async def openapi(request: Request) -> Response:
    return JSONResponse(build_spec(request.app.routes))
