"""Admin: SLA policies (/admin/sla), a section of the admin pages (ui/pages/admin.py).

The policies in the order they are tried, each with its promises in readable units, the
conversations it applies to, the clock it counts in, what pauses it and when it warns;
created, edited, moved and deleted with plain form posts. A target is typed as a number
and a unit (30 min, 4 h, 2 days), not in minutes. Every change goes through the actions
the REST API uses (/api/sla_policies), with their checks: a refused form comes back as
typed, its error beside it, in the form's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain import sla
from inbox.domain.access import Viewer
from inbox.domain.errors import InboxError, Invalid
from inbox.domain.models import Priority
from ui.http import form_id, parse_id
from ui.pages.admin import READERS, _admin, _back, _section, admin_action
from ui.pages.sla import KIND_LABELS, duration, names, promises

SECTION = "sla"
UNITS = {"min": 1, "h": 60, "day": 24 * 60}
PRIORITIES = [p.value for p in Priority if p != Priority.none]
STATUS_LABELS = {"pending": "Pending", "snoozed": "Snoozed"}
# The check's keys in the form's words (sla.check names the key in its messages).
LABELS = {**{sla.MINUTES[sla.Kind(k)]: v for k, v in KIND_LABELS.items()}, "warn_percent": "Warn at",
          "pause_statuses": "Pause while", "calendar_id": "Clock", "conditions.priorities": "Priority",
          "conditions.inbox_ids": "Inboxes", "conditions.team_ids": "Teams", "conditions.label_ids": "Labels",
          "name": "Name"}


def _values(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """A policy as its form shows it (a new one: the defaults); a target in the largest
    unit it is a whole number of."""
    p = policy or {"name": "", "enabled": True, "conditions": {}, "business_hours": False, "calendar_id": None,
                   "pause_statuses": list(sla.PAUSABLE), "warn_percent": 75}
    values: dict[str, Any] = {"name": p["name"], "enabled": p["enabled"], "warn_percent": str(p["warn_percent"]),
                              "pause_statuses": list(p["pause_statuses"]),
                              "clock": ("calendar" if not p["business_hours"] else
                                        f"business:{p['calendar_id']}" if p["calendar_id"] else "business")}
    for key in ("inbox_ids", "team_ids", "label_ids", "priorities"):
        values[key] = [str(v) for v in p["conditions"].get(key, [])]
    for kind in KIND_LABELS:
        minutes = p.get(sla.MINUTES[sla.Kind(kind)])
        unit = next((u for u, size in reversed(UNITS.items()) if minutes and minutes % size == 0), "min")
        values[f"{kind}_amount"] = str(minutes // UNITS[unit]) if minutes else ""
        values[f"{kind}_unit"] = unit if minutes else ("h" if kind != "resolution" else "day")
    return values


def _posted(form: FormData) -> dict[str, Any]:
    """The form as typed, to show again if it is refused."""
    values: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in ("name", "warn_percent", "clock")}
    values["enabled"] = form.get("enabled") == "on"
    for key in ("inbox_ids", "team_ids", "label_ids", "priorities", "pause_statuses"):
        values[key] = [str(v) for v in form.getlist(key)]
    for kind in KIND_LABELS:
        values[f"{kind}_amount"] = str(form.get(f"{kind}_amount", "")).strip()
        values[f"{kind}_unit"] = str(form.get(f"{kind}_unit", "min"))
    return values


def _whole(raw: str, what: str) -> int:
    if not raw.isdigit():
        raise Invalid(f"{what}: a whole number", "invalid_sla_policy")
    return int(raw)


def _body(values: Mapping[str, Any]) -> dict[str, Any]:
    """The REST body of a typed form: every key, so an edit says the whole policy."""
    body: dict[str, Any] = {"name": values["name"], "enabled": values["enabled"],
                            "pause_statuses": values["pause_statuses"]}
    for kind, label in KIND_LABELS.items():
        amount, unit = values[f"{kind}_amount"], values[f"{kind}_unit"]
        if unit not in UNITS:
            raise Invalid(f"{label}: minutes, hours or days", "invalid_sla_policy")
        minutes = _whole(amount, label) * UNITS[unit] if amount else None
        if minutes is not None and not 1 <= minutes <= sla.MAX_MINUTES:
            raise Invalid(f"{label}: from 1 minute to {duration(sla.MAX_MINUTES * 60, exact=True)}, or empty for "
                          "no target", "invalid_sla_policy")
        body[sla.MINUTES[sla.Kind(kind)]] = minutes
    body["warn_percent"] = _whole(values["warn_percent"], "Warn at")
    clock = values["clock"]
    body["business_hours"] = clock.startswith("business")
    body["calendar_id"] = form_id(clock[9:], "the calendar") if clock.startswith("business:") else None
    body["conditions"] = {key: [n for v in values[key] if (n := parse_id(v)) is not None]
                          for key in ("inbox_ids", "team_ids", "label_ids")}
    body["conditions"]["priorities"] = values["priorities"]
    return body


def _plain(message: str) -> str:
    """The check's message in the form's words ("warn_percent: ..." -> "Warn at: ...")."""
    key, sep, rest = message.partition(": ")
    if sep and key in LABELS:
        message = f"{LABELS[key]}: {rest}"
    for kind, label in KIND_LABELS.items():  # "a policy needs at least one target: first_response_minutes, ..."
        message = message.replace(sla.MINUTES[sla.Kind(kind)], label)
    message = message.replace("null for no target", "empty for no target")
    return message[:1].upper() + message[1:]


def _described(policy: dict[str, Any], known: Mapping[str, Mapping[int, str]],
               calendars: Mapping[int, str]) -> dict[str, Any]:
    """A policy with what its card says: its promises, whom it applies to, its clock."""
    conditions = policy["conditions"]
    applies = []
    for key, word in (("inbox_ids", "Inbox"), ("team_ids", "Team"), ("label_ids", "Label")):
        if conditions.get(key):
            applies.append(f"{word} {' or '.join(names(conditions[key], known[key]))}")
    if conditions.get("priorities"):
        applies.append(f"Priority {' or '.join(p.capitalize() for p in conditions['priorities'])}")
    if not policy["business_hours"]:
        clock = "24/7 (calendar time)"
    elif policy["calendar_id"] is not None:
        clock = f"Business hours of {calendars.get(policy['calendar_id'], '#' + str(policy['calendar_id']))}"
    else:
        clock = "Business hours of the conversation's team's calendar, else its inbox's"
    pauses = [STATUS_LABELS.get(s, s) for s in policy["pause_statuses"]]
    return {**policy, "promises": promises(policy), "applies": applies, "fallback": not conditions,
            "clock_text": clock, "pauses_text": ", ".join(pauses) if pauses else "Never: the clock always runs",
            "form_values": _values(policy)}


def read(c: Any, registry: Any) -> dict[str, Any]:
    inboxes = [{"id": i["id"], "name": i["name"]} for i in queries.list_inboxes(c)]
    teams = [{"id": t["id"], "name": t["name"]} for t in queries.list_teams(c)]
    labels = [{"id": label["id"], "name": label["name"]} for label in queries.list_labels(c)]
    calendars = queries.calendar_choices(c)
    known = {"inbox_ids": {i["id"]: i["name"] for i in inboxes}, "team_ids": {t["id"]: t["name"] for t in teams},
             "label_ids": {label["id"]: label["name"] for label in labels}}
    by_id = {cal["id"]: cal["name"] for cal in calendars}
    return {"sla_policies": [_described(p, known, by_id) for p in queries.list_policies(c)],
            "sla_inboxes": inboxes, "sla_teams": teams, "sla_labels": labels, "sla_calendars": calendars,
            "sla_priorities": PRIORITIES, "sla_statuses": STATUS_LABELS, "sla_units": UNITS,
            "sla_kinds": KIND_LABELS, "sla_new": _values(None)}


READERS[SECTION] = read


async def _save(request: Request, creating: bool) -> Response:
    """Create or change a policy from its form; refused, the section again (422) with the
    form as typed and open, the reason beside it."""
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    ctx = request.app.state.ctx
    form = await request.form()
    values = _posted(form)
    key: str | int = "new"
    try:
        if creating:
            body = _body(values)
            policies = await ctx.db.read(queries.list_policies)
            body["position"] = max((p["position"] for p in policies), default=-1) + 1  # tried last
            saved = await actions.create_sla_policy(ctx, body)
        else:
            key = form_id(form.get("policy_id"), "policy_id")
            saved = await actions.update_sla_policy(ctx, key, _body(values))
    except InboxError as exc:
        if exc.status != 422:  # not the form's fault (the policy was deleted meanwhile)
            return _back(SECTION, error=exc.message)
        return await _section(request, viewer, SECTION, status_code=exc.status,
                              sla_error={"form": key, "message": _plain(exc.message)}, sla_values={key: values})
    return _back(SECTION, done=f"SLA policy {saved['name']} {'created' if creating else 'saved'}")


async def create_policy(request: Request) -> Response:
    return await _save(request, creating=True)


async def update_policy(request: Request) -> Response:
    return await _save(request, creating=False)


@admin_action(SECTION)
async def move_policy(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    policy_id = form_id(form.get("policy_id"), "policy_id")
    step = -1 if form.get("direction") == "up" else 1
    order = await actions.move_sla_policy(request.app.state.ctx, policy_id, step)
    moved = next(p for p in order if p["id"] == policy_id)
    return f"SLA policy {moved['name']} is now number {order.index(moved) + 1} of {len(order)}"


@admin_action(SECTION)
async def delete_policy(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, policy_id = request.app.state.ctx, form_id(form.get("policy_id"), "policy_id")
    policy = await ctx.db.read(lambda c: queries.get_policy(c, policy_id))
    moved = await actions.delete_sla_policy(ctx, policy_id)
    name = policy["name"] if policy else f"#{policy_id}"
    if not moved:
        return f"SLA policy {name} deleted"
    return (f"SLA policy {name} deleted; {moved} open conversation{'s' if moved != 1 else ''} "
            "now follow the policy that applies to them")


routes = [
    Route("/admin/sla-policy", create_policy, methods=["POST"]),
    Route("/admin/sla-policy-update", update_policy, methods=["POST"]),
    Route("/admin/sla-policy-move", move_policy, methods=["POST"]),
    Route("/admin/sla-policy-delete", delete_policy, methods=["POST"]),
]
