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
ACTION_WORDS = {"assign_team": "Assign to the team", "assign_agent": "Assign to the agent",
                "route": "Hand to routing", "add_label": "Add the label", "remove_label": "Remove the label",
                "set_priority": "Set the priority", "send_message": "Send the message",
                "send_template": "Send the template", "add_note": "Add the private note", "resolve": "Resolve",
                "snooze": "Snooze for (minutes)", "reopen": "Reopen", "send_csat": "Send the satisfaction survey",
                "webhook": "Post to the webhook"}


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
    v["actions"] = [_action_values(a) for a in r["actions"]]
    # Two empty rows to add to (three for a new rule), up to ACTION_ROWS in all.
    v["actions"] += [{"type": ""}] * max(0, min(ACTION_ROWS, max(3, len(v["actions"]) + 2)) - len(v["actions"]))
    return v


def _action_values(a: Mapping[str, Any]) -> dict[str, Any]:
    out = {"type": a["type"], "team_id": "", "user_id": "", "label_id": "", "priority": "", "text": "",
           "name": "", "language": "en_US", "params": "", "minutes": "", "endpoint_id": ""}
    for key in ("team_id", "user_id", "label_id", "minutes", "endpoint_id"):
        if key in a:
            out[key] = str(a[key])
    for key in ("priority", "text", "name", "language"):
        if key in a:
            out[key] = a[key]
    if a.get("params"):
        out["params"] = ", ".join(a["params"])
    return out


def _posted(form: FormData) -> dict[str, Any]:
    """The form as typed, to show again if it is refused."""
    v: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in (
        "name", "trigger", "delay", "match", "words", "pattern", "hours", "first", "attribute_key", "attribute_value")}
    v["active"] = form.get("active") == "on"
    v["editable"] = True
    for key in ("channels", "inboxes", "teams", "labels", "priorities"):
        v[key] = [str(x) for x in form.getlist(key)]
    v["actions"] = []
    for i in range(ACTION_ROWS):
        row = {k: str(form.get(f"a{i}_{k}", "")).strip() for k in (
            "type", "team_id", "user_id", "label_id", "priority", "text", "name", "language", "params", "minutes",
            "endpoint_id")}
        v["actions"].append(row)
    while len(v["actions"]) > 3 and not v["actions"][-1]["type"] and not v["actions"][-2]["type"]:
        v["actions"].pop()  # shown again as typed, with its empty rows to add to
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
    actions: list[dict[str, Any]] = []
    for i, row in enumerate(v["actions"]):
        kind = row["type"]
        if not kind:
            continue
        if kind not in automation.ACTIONS:
            raise Invalid(f"Action {i + 1}: choose what it does", "invalid_rule")
        action: dict[str, Any] = {"type": kind}
        for name, what in automation.ACTIONS[kind].items():
            raw = row.get(name, "")
            if what in ("id", "minutes"):
                if not raw.isdigit():
                    raise Invalid(f"Action {i + 1} ({ACTION_WORDS[kind].lower()}): choose one", "invalid_rule")
                action[name] = int(raw)
            elif what == "params":
                action[name] = [p.strip() for p in raw.split(",") if p.strip()]
            else:
                action[name] = raw
        actions.append(action)
    delay = v["delay"]
    if v["trigger"] in automation.TIMED and not delay.isdigit():
        raise Invalid("After: a whole number of minutes", "invalid_rule")
    return {"name": v["name"], "trigger": v["trigger"], "match": v["match"] or "all", "active": v["active"],
            "delay_minutes": int(delay) if v["trigger"] in automation.TIMED else None,
            "conditions": conditions, "actions": actions}


def _plain(message: str) -> str:
    """The check's message in the form's words (``actions[1].team_id must...`` -> ``Action 2:
    team_id must...``)."""
    for prefix, word in (("actions[", "Action"), ("conditions[", "Condition")):
        index, sep, rest = message.removeprefix(prefix).partition("]")
        if message.startswith(prefix) and sep and index.isdigit():
            rest = rest.lstrip(".")
            head, colon, tail = rest.partition(": ")
            message = f"{word} {int(index) + 1}: {tail if colon and head.isidentifier() else rest}"
    return message[:1].upper() + message[1:]


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
    thens = []
    for a in rule["actions"]:
        said = rules.describe(a)
        for key, kind in (("team_id", "team"), ("user_id", "agent"), ("label_id", "label")):
            if key in a:
                said = f"{ACTION_WORDS[a['type']].lower()} {names[kind].get(a[key], '#' + str(a[key]))}"
        thens.append(said)
    return {"when": when, "ifs": ifs, "thens": thens}


def read(c: Any, registry: Any) -> dict[str, Any]:
    teams = [{"id": t["id"], "name": t["name"]} for t in queries.list_teams(c)]
    agents = [{"id": u["id"], "name": u["name"]} for u in queries.list_users(c) if u["active"]]
    labels = [{"id": x["id"], "name": x["name"]} for x in queries.list_labels(c)]
    inboxes = [{"id": i["id"], "name": i["name"]} for i in queries.list_inboxes(c)]
    endpoints = [{"id": e.id, "name": e.url} for e in c.execute(
        select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.url).order_by(WEBHOOK_ENDPOINTS.c.id))]
    names = {"team": {t["id"]: t["name"] for t in teams}, "agent": {a["id"]: a["name"] for a in agents},
             "label": {x["id"]: x["name"] for x in labels}, "inbox": {i["id"]: i["name"] for i in inboxes}}
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
