"""Admin: automation rules (/admin/automation), a section of the admin pages
(ui/pages/admin.py; docs/automation.md).

The rules by trigger in the order they run, each in words (when, if, then), with its last
runs and a switch; a form to make or change one: the trigger, the conditions the form
offers (channels, inboxes, teams, labels, priorities, words, a pattern, business hours,
first message, a contact attribute) and up to eight actions in order; a dry run of the
typed rule over the last 50 conversations. Every change goes through the actions the REST
API uses (/api/automations), with their checks: a refused form comes back as typed with the
reason. A rule made through the API with conditions the form does not offer is shown, run
and switched here, and edited through the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sqlalchemy import select

from inbox import queries
from inbox.actions import automation as rules
from inbox.domain import automation
from inbox.domain.access import Viewer
from inbox.domain.errors import InboxError, Invalid
from inbox.domain.models import Priority
from inbox.domain.tables import WEBHOOK_ENDPOINTS
from ui.http import form_id, parse_id
from ui.pages import steps
from ui.pages.admin import READERS, _admin, _back, _section, admin_action

SECTION = "automation"
ACTION_ROWS = 8
PRIORITIES = [p.value for p in Priority]
# The conditions the form offers: (field, op) -> the form's key.
FORM_CONDITIONS = {("channel", "in"): "channels", ("inbox", "in"): "inboxes", ("team", "in"): "teams",
                   ("label", "has_any"): "labels", ("priority", "in"): "priorities",
                   ("text", "contains_words"): "words", ("text", "matches"): "pattern",
                   ("business_hours", "open"): "hours", ("business_hours", "closed"): "hours",
                   ("first_message", "is"): "first", ("contact_attribute", "equals"): "attribute"}
ACTION_WORDS = {k: steps.WORDS[k] for k in automation.ACTIONS}


def _values(rule: Mapping[str, Any] | None) -> dict[str, Any]:
    """A rule as its form shows it (a new one: empty), or None where the form cannot."""
    r = rule or {"name": "", "trigger": "message_received", "delay_minutes": None, "match": "all",
                 "conditions": [], "actions": [], "active": True}
    v: dict[str, Any] = {"name": r["name"], "trigger": r["trigger"], "delay": str(r["delay_minutes"] or ""),
                         "match": r["match"], "active": r["active"], "channels": [], "inboxes": [], "teams": [],
                         "labels": [], "priorities": [], "words": "", "pattern": "", "hours": "", "first": "",
                         "attribute_key": "", "attribute_value": "", "editable": True}
    for c in r["conditions"]:
        key = FORM_CONDITIONS.get((c["field"], c["op"]))
        if key is None or (key in ("channels", "inboxes", "teams", "labels", "priorities") and v[key]):
            v["editable"] = False
            continue
        if key in ("channels", "inboxes", "teams", "labels", "priorities"):
            v[key] = [str(x) for x in c["value"]]
        elif key == "words":
            v["words"] = ", ".join(c["value"])
        elif key == "pattern":
            v["pattern"] = c["value"]
        elif key == "hours":
            v["hours"] = c["op"]
        elif key == "first":
            v["first"] = "yes" if c["value"] else "no"
        elif key == "attribute":
            v["attribute_key"], v["attribute_value"] = c["key"], c["value"]
    v["actions"] = steps.padded([steps.row(a) for a in r["actions"]], ACTION_ROWS)
    return v


def _posted(form: FormData) -> dict[str, Any]:
    """The form as typed, to show again if it is refused."""
    v: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in (
        "name", "trigger", "delay", "match", "words", "pattern", "hours", "first", "attribute_key", "attribute_value")}
    v["active"] = form.get("active") == "on"
    v["editable"] = True
    for key in ("channels", "inboxes", "teams", "labels", "priorities"):
        v[key] = [str(x) for x in form.getlist(key)]
    v["actions"] = steps.posted(form, "a", ACTION_ROWS)
    return v


def _ids(values: list[str]) -> list[int]:
    return [n for x in values if (n := parse_id(x)) is not None]


def _body(v: Mapping[str, Any]) -> dict[str, Any]:
    """The REST body of a typed form."""
    conditions: list[dict[str, Any]] = []
    if v["channels"]:
        conditions.append({"field": "channel", "op": "in", "value": v["channels"]})
    for key, field_ in (("inboxes", "inbox"), ("teams", "team")):
        if v[key]:
            conditions.append({"field": field_, "op": "in", "value": _ids(v[key])})
    if v["labels"]:
        conditions.append({"field": "label", "op": "has_any", "value": _ids(v["labels"])})
    if v["priorities"]:
        conditions.append({"field": "priority", "op": "in", "value": v["priorities"]})
    words = [w.strip() for w in v["words"].split(",") if w.strip()]
    if words:
        conditions.append({"field": "text", "op": "contains_words", "value": words})
    if v["pattern"]:
        conditions.append({"field": "text", "op": "matches", "value": v["pattern"]})
    if v["hours"] in ("open", "closed"):
        conditions.append({"field": "business_hours", "op": v["hours"]})
    if v["first"] in ("yes", "no"):
        conditions.append({"field": "first_message", "op": "is", "value": v["first"] == "yes"})
    if v["attribute_key"]:
        conditions.append({"field": "contact_attribute", "op": "equals", "key": v["attribute_key"],
                           "value": v["attribute_value"]})
    actions = steps.body(v["actions"], automation.ACTIONS, ACTION_WORDS, "Action")
    delay = v["delay"]
    if v["trigger"] in automation.TIMED and not delay.isdigit():
        raise Invalid("After: a whole number of minutes", "invalid_rule")
    return {"name": v["name"], "trigger": v["trigger"], "match": v["match"] or "all", "active": v["active"],
            "delay_minutes": int(delay) if v["trigger"] in automation.TIMED else None,
            "conditions": conditions, "actions": actions}


def _plain(message: str) -> str:
    return steps.plain(message, {"actions": "Action", "conditions": "Condition"})


def _words(rule: Mapping[str, Any], names: Mapping[str, Mapping[int, str]]) -> dict[str, Any]:
    """When, if and then, in words, for the rule's card."""
    when = automation.TRIGGERS[rule["trigger"]]
    if rule["delay_minutes"]:
        when += f" ({rule['delay_minutes']} min)"
    ifs = []
    for c in rule["conditions"]:
        value = c.get("value")
        if c["field"] in ("inbox", "team", "label"):
            value = [names[c["field"]].get(x, f"#{x}") if x is not None else "none" for x in value]
        text = ", ".join(str(x) for x in value) if isinstance(value, list) else ("" if value is None else str(value))
        field_ = c["field"].replace("_", " ") + (f" {c['key']}" if c.get("key") else "")
        ifs.append(f"{field_} {c['op'].replace('_', ' ')} {text}".strip())
    thens = [steps.said(a, names, ACTION_WORDS) for a in rule["actions"]]
    return {"when": when, "ifs": ifs, "thens": thens}


def read(c: Any, registry: Any) -> dict[str, Any]:
    named = steps.choices(c)
    teams, agents, labels = named["teams"], named["agents"], named["labels"]
    inboxes = [{"id": i["id"], "name": i["name"]} for i in queries.list_inboxes(c)]
    endpoints = [{"id": e.id, "name": e.url} for e in c.execute(
        select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.url).order_by(WEBHOOK_ENDPOINTS.c.id))]
    names = {**named["names"], "inbox": {i["id"]: i["name"] for i in inboxes}}
    listed = []
    for rule in rules.list_rules(c):
        recent = rules.runs(c, rule["id"], limit=10)
        listed.append({**rule, **_words(rule, names), "runs": recent, "form_values": _values(rule),
                       "failed": sum(1 for r in recent if r["outcome"] != "done")})
    return {"automation_rules": listed, "automation_new": _values(None), "automation_triggers": automation.TRIGGERS,
            "automation_timed": automation.TIMED, "automation_actions": ACTION_WORDS,
            "automation_channels": [{"id": ch.kind, "name": ch.label} for ch in registry.channels()],
            "automation_teams": teams, "automation_agents": agents,
            "automation_labels": labels, "automation_endpoints": endpoints, "automation_inboxes": inboxes,
            "automation_priorities": PRIORITIES}


READERS[SECTION] = read


async def _submit(request: Request, mode: str) -> Response:
    """A rule's form posted to ``mode``: "create", "update", or "dry" (the typed rule, saved
    or not, over the last 50 conversations: the section again with what it would have
    matched and done). Refused: the section again (422), the form as typed with the reason."""
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    ctx = request.app.state.ctx
    form = await request.form()
    values = _posted(form)
    key: str | int = form_id(form.get("rule_id"), "rule_id") if form.get("rule_id") else "new"
    kinds = request.app.state.registry.kinds()
    try:
        body = _body(values)
        if mode == "dry":
            result = await ctx.db.read(lambda c: rules.dry_run(c, body, kinds, ctx.clock.now(), 50))
            return await _section(request, viewer, SECTION, automation_values={key: values},
                                  automation_dry={"form": key, **result})
        rule_id = key if isinstance(key, int) and mode == "update" else None
        saved = await ctx.db.write(lambda tx: rules.save_rule(tx, body, kinds, ctx.clock.now(), rule_id=rule_id,
                                                              user_id=viewer.user_id))
    except InboxError as exc:
        if exc.status != 422:
            return _back(SECTION, error=exc.message)
        return await _section(request, viewer, SECTION, status_code=exc.status,
                              automation_error={"form": key, "message": _plain(exc.message)},
                              automation_values={key: values})
    ctx.rules_changed()
    return _back(SECTION, done=f"Rule {saved['name']} {'created' if rule_id is None else 'saved'}")


async def create_rule(request: Request) -> Response:
    return await _submit(request, "create")


async def update_rule(request: Request) -> Response:
    return await _submit(request, "update")


async def dry_run(request: Request) -> Response:
    return await _submit(request, "dry")


@admin_action(SECTION)
async def switch_rule(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, rule_id = request.app.state.ctx, form_id(form.get("rule_id"), "rule_id")
    on = form.get("active") == "true"
    kinds = request.app.state.registry.kinds()
    saved = await ctx.db.write(lambda tx: rules.save_rule(tx, {"active": on}, kinds, ctx.clock.now(),
                                                          rule_id=rule_id))
    ctx.rules_changed()
    return f"Rule {saved['name']} switched {'on' if on else 'off'}"


@admin_action(SECTION)
async def delete_rule(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, rule_id = request.app.state.ctx, form_id(form.get("rule_id"), "rule_id")
    rule = await ctx.db.read(lambda c: rules.get_rule(c, rule_id))
    await ctx.db.write(lambda tx: rules.delete_rule(tx, rule_id))
    return f"Rule {rule['name'] if rule else rule_id} deleted"


routes = [
    Route("/admin/automation-rule", create_rule, methods=["POST"]),
    Route("/admin/automation-rule-update", update_rule, methods=["POST"]),
    Route("/admin/automation-dry-run", dry_run, methods=["POST"]),
    Route("/admin/automation-switch", switch_rule, methods=["POST"]),
    Route("/admin/automation-delete", delete_rule, methods=["POST"]),
]
