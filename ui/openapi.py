"""GET /api/openapi.json: the REST API's OpenAPI 3.1 description, built from the route
table so it can never list a path that does not exist. docs/api.md has the prose and
examples."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ERROR = {"$ref": "#/components/schemas/Error"}


def build_spec() -> dict[str, Any]:
    from ui import api

    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        params = re.findall(r"{(\w+)}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            doc = (route.endpoint.__doc__ or route.name.replace("_", " ")).strip().splitlines()[0]
            paths.setdefault(route.path, {})[method.lower()] = {
                "summary": doc,
                "operationId": f"{method.lower()}_{route.name}",
                "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "integer"}}
                               for p in params],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "default": {"description": "Error", "content": {"application/json": {"schema": ERROR}}},
                },
            }
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
    return JSONResponse(build_spec())
