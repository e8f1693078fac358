"""/api/automations: admins' automation rules, their dry run and their execution log
(docs/automation.md; the API in docs/api.md, "Automation rules")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import automation as rules
from inbox.actions import macros
from inbox.domain import automation
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.models import Role
from ui.api.openapi import STRING, body, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, kinds_of, parse_id, path_id

JSON_LIMIT = 64 * 1024
_LIST = {"type": "array", "maxItems": automation.MAX_CONDITIONS, "items": {"type": "object"}}
RULE: dict[str, dict[str, Any]] = dict(
    name=STRING, trigger={"enum": list(automation.TRIGGERS)},
    delay_minutes={"type": ["integer", "null"], "minimum": 1, "maximum": automation.MAX_DELAY_MINUTES},
    match={"enum": ["all", "any"]}, conditions=_LIST,
    actions={"type": "array", "maxItems": automation.MAX_ACTIONS, "items": {"type": "object"}},
    active={"type": "boolean"}, position={"type": "integer", "minimum": -10_000, "maximum": 10_000})


@requires(Role.admin)
async def list_rules(request: Request, viewer: Viewer) -> Response:
    """Every rule, by trigger, in the order each trigger's run."""
    return JSONResponse({"items": await ctx_of(request).db.read(rules.list_rules)})


@requires(Role.admin)
async def get_rule(request: Request, viewer: Viewer) -> Response:
    rule_id = path_id(request, "rule")
    found = await ctx_of(request).db.read(lambda c: rules.get_rule(c, rule_id))
    if found is None:
        raise NotFound("no such rule")
    return JSONResponse(found)


@takes(body(("name", "trigger", "actions"), closed=True, **RULE))
@requires(Role.admin)
async def create_rule(request: Request, viewer: Viewer) -> Response:
    data, ctx, kinds = await json_body(request, JSON_LIMIT), ctx_of(request), kinds_of(request)
    saved = await ctx.db.write(lambda tx: rules.save_rule(tx, data, kinds, ctx.clock.now(), user_id=viewer.user_id))
    ctx.rules_changed()
    return JSONResponse(saved, status_code=201)


@takes(body((), closed=True, **RULE))
@requires(Role.admin)
async def patch_rule(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    ctx, kinds, rule_id = ctx_of(request), kinds_of(request), path_id(request, "rule")
    saved = await ctx.db.write(lambda tx: rules.save_rule(tx, data, kinds, ctx.clock.now(), rule_id=rule_id))
    ctx.rules_changed()
    return JSONResponse(saved)


@requires(Role.admin)
async def delete_rule(request: Request, viewer: Viewer) -> Response:
    rule_id = path_id(request, "rule")
    await ctx_of(request).db.write(lambda tx: rules.delete_rule(tx, rule_id))
    return Response(status_code=204)


@takes(body(("rule",), closed=True, rule={"type": "object"}, last={"type": "integer", "minimum": 1, "maximum": 500}))
@requires(Role.admin)
async def dry_run(request: Request, viewer: Viewer) -> Response:
    """Which of the last conversations the rule (saved or not) would match, and what it
    would do: nothing is changed."""
    data, ctx, kinds = await json_body(request, JSON_LIMIT), ctx_of(request), kinds_of(request)
    last = data.get("last", 50)
    if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= 500:
        raise Invalid("last must be a whole number from 1 to 500", "invalid_rule")
    return JSONResponse(await ctx.db.read(lambda c: rules.dry_run(c, data.get("rule"), kinds, ctx.clock.now(), last)))


@requires(Role.admin)
async def list_runs(request: Request, viewer: Viewer) -> Response:
    """A rule's execution log, newest first, 50 a page (``before=<id>`` for the next)."""
    rule_id = path_id(request, "rule")
    before = request.query_params.get("before")
    cursor = parse_id(before) if before else None
    if before and cursor is None:
        raise Invalid("before: a run's id", "invalid_cursor")

    def read(c: Any) -> Any:
        if rules.get_rule(c, rule_id) is None:
            raise NotFound("no such rule")
        return rules.runs(c, rule_id, before=cursor)
    items = await ctx_of(request).db.read(read)
    return JSONResponse({"items": items, "next_before": items[-1]["id"] if len(items) == 50 else None})


ROUTES = [
    Route("/api/automations", list_rules),
    Route("/api/automations", create_rule, methods=["POST"]),
    Route("/api/automations/dry_run", dry_run, methods=["POST"]),
    Route("/api/automations/{id}", get_rule),
    Route("/api/automations/{id}", patch_rule, methods=["PATCH"]),
    Route("/api/automations/{id}", delete_rule, methods=["DELETE"]),
    Route("/api/automations/{id}/runs", list_runs),
]


# -- macros --------------------------------------------------------------------------------

MACRO: dict[str, dict[str, Any]] = dict(
    name=STRING, shared={"type": "boolean"},
    steps={"type": "array", "maxItems": automation.MAX_ACTIONS, "items": {"type": "object"}})


@requires()
async def list_macros(request: Request, viewer: Viewer) -> Response:
    """The viewer's own macros and the shared ones."""
    return JSONResponse({"items": await ctx_of(request).db.read(lambda c: macros.list_macros(c, viewer))})


@takes(body(("name", "steps"), closed=True, **MACRO))
@requires()
async def create_macro(request: Request, viewer: Viewer) -> Response:
    data, ctx = await json_body(request, JSON_LIMIT), ctx_of(request)
    return JSONResponse(await ctx.db.write(lambda tx: macros.save_macro(tx, viewer, data, ctx.clock.now())),
                        status_code=201)


@takes(body((), closed=True, **MACRO))
@requires()
async def patch_macro(request: Request, viewer: Viewer) -> Response:
    data, ctx, macro_id = await json_body(request, JSON_LIMIT), ctx_of(request), path_id(request, "macro", "macro_id")
    return JSONResponse(await ctx.db.write(lambda tx: macros.save_macro(tx, viewer, data, ctx.clock.now(), macro_id)))


@requires()
async def delete_macro(request: Request, viewer: Viewer) -> Response:
    macro_id = path_id(request, "macro", "macro_id")
    await ctx_of(request).db.write(lambda tx: macros.delete_macro(tx, viewer, macro_id))
    return Response(status_code=204)


@requires()
async def run_macro(request: Request, viewer: Viewer) -> Response:
    """Run a macro on the conversation: ``{"conversation", "macro_id", "done"}``."""
    conversation_id = parse_id(request.path_params["id"])
    if conversation_id is None:
        raise NotFound("no such conversation")
    conv, ran = await macros.run_macro(ctx_of(request), viewer, conversation_id, path_id(request, "macro", "macro_id"))
    return JSONResponse({"conversation": conv, **ran})


ROUTES += [
    Route("/api/macros", list_macros),
    Route("/api/macros", create_macro, methods=["POST"]),
    Route("/api/macros/{macro_id}", patch_macro, methods=["PATCH"]),
    Route("/api/macros/{macro_id}", delete_macro, methods=["DELETE"]),
    Route("/api/conversations/{id}/macros/{macro_id}", run_macro, methods=["POST"]),
]
