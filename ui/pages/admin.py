"""Admin pages: one view per section (inboxes with the exact webhook URLs to give each
provider and their routing, users with their presence and capacity, teams with their
routing overrides, business-hours calendars, labels, canned responses, API tokens) under
/admin/<section>,
reached from the section nav. Plain forms that post and redirect back to their section;
every change goes through the same actions and checks as the REST API. Deletions post
from a confirmation dialog that says what will happen (ui/static/admin.js opens it)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import TemplateNotFound
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.actions import inboxes
from inbox.domain.access import Viewer
from inbox.domain import autoreply, campaigns, csat, keywords, routing
from inbox.domain.credentials import hash_password
from inbox.domain.errors import InboxError, Invalid
from ui.http import form_id, parse_id
from ui.pages import admin_calendars
from ui.pages.agent import TEMPLATES, _render, _to_login, _viewer

# The sections in nav order: path segment -> heading. /admin shows the first.
SECTIONS = {"inboxes": "Inboxes", "users": "Users", "teams": "Teams", "calendars": "Calendars",
            "sla": "SLA policies", "automation": "Automation", "macros": "Macros", "labels": "Labels",
            "canned": "Canned responses", "tokens": "API tokens"}


def _read_inboxes(c: Any, registry: Any) -> dict[str, Any]:
    described = [inboxes.describe(registry, i) for i in queries.list_inboxes(c)]
    return {"inboxes": described, "teams": queries.list_teams(c), "defaults": routing.DEFAULTS,
            "policies": {i["id"]: routing.effective(i["routing"], None) for i in described},
            "calendars": queries.calendar_choices(c), "auto_reply_max": autoreply.MAX_TEXT_CHARS,
            "csat_setting": csat.normalised, "csat_question_max": csat.MAX_QUESTION_CHARS,
            "labels": queries.list_labels(c), "keyword_defaults": keywords.defaults}


def _read_users(c: Any, registry: Any) -> dict[str, Any]:
    agents = {a["id"]: {**a, "load_text": routing.load_text(a["load"], a["capacity"])}
              for a in queries.list_agents(c)}
    return {"users": queries.list_users(c), "agents": agents}


def _read_teams(c: Any, registry: Any) -> dict[str, Any]:
    return {"teams": queries.list_teams(c), "users": queries.list_users(c), "calendars": queries.list_calendars(c)}


def _read_canned(c: Any, registry: Any) -> dict[str, Any]:
    return {"canned": queries.list_canned(c)}


def _read_tokens(c: Any, registry: Any) -> dict[str, Any]:
    users = queries.list_users(c)
    return {"users": users, "tokens": [{**t, "user": u} for u in users for t in queries.list_tokens(c, u["id"])]}


def _read_labels(c: Any, registry: Any) -> dict[str, Any]:
    return {"labels": queries.list_labels(c), "label_uses": queries.label_uses(c)}


READERS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
    "inboxes": _read_inboxes, "users": _read_users, "teams": _read_teams, "calendars": admin_calendars.read_calendars,
    "labels": _read_labels, "canned": _read_canned, "tokens": _read_tokens}


# Sections whose content depends on who looks (the admin's own macros beside the shared ones).
VIEWER_READERS: dict[str, Callable[[Any, Any, Viewer], dict[str, Any]]] = {}


def _labels_ready() -> bool:
    try:
        TEMPLATES.get_template("admin_labels.html")
    except TemplateNotFound:
        return False
    return True


async def _admin(request: Request) -> Viewer | Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    if viewer.role != "admin":
        return HTMLResponse("<p>Only admins manage inboxes, users, teams and canned responses.</p>", status_code=403)
    return viewer


async def _section(request: Request, viewer: Viewer, section: str, status_code: int = 200,
                   **extra: Any) -> Response:
    registry = request.app.state.registry
    def read(c: Any) -> dict[str, Any]:
        by_viewer = VIEWER_READERS.get(section)
        data = by_viewer(c, registry, viewer) if by_viewer else READERS[section](c, registry)
        return {**data, "paused_webhooks": queries.paused_webhooks(c)}
    data = await request.app.state.ctx.db.read(read)
    sections = {k: v for k, v in SECTIONS.items() if k != "labels" or _labels_ready()}
    response = _render(request, "admin.html", viewer=viewer, section=section, sections=sections,
                       channels={c.kind: c for c in registry.channels()},
                       done=request.query_params.get("done"), error=request.query_params.get("error"),
                       now=request.app.state.ctx.clock.now(),
                       interval_hours=request.app.state.ctx.settings.auto_reply_interval_hours, **data, **extra)
    response.status_code = status_code
    return response


async def admin_page(request: Request) -> Response:
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    section = request.path_params.get("section", "inboxes")
    if section not in SECTIONS:
        return HTMLResponse("<p>No such admin section.</p>", status_code=404)
    return await _section(request, viewer, section)


def _back(section: str, done: str | None = None, error: str | None = None) -> Response:
    query = {k: v for k, v in (("done", done), ("error", error)) if v}
    return RedirectResponse(f"/admin/{section}" + ("?" + urlencode(query) if query else ""), status_code=303)


def _channel_settings(registry: Any, form: dict[str, str], kind: str) -> dict[str, str]:
    """The channel's settings filled in on the inbox form (fields named ``<kind>:<key>``).
    A blank field is left out: on an edit it keeps the setting as it is (secrets are never
    shown to edit)."""
    settings = registry.channel(kind).settings if registry.supports(kind) else ()
    return {s.key: form[f"{kind}:{s.key}"] for s in settings if form.get(f"{kind}:{s.key}")}


AdminAction = Callable[[Request, Viewer, dict[str, str]], Awaitable[str | Response]]


def admin_action(section: str, redraw: Callable[[dict[str, str]], dict[str, Any]] | None = None
                 ) -> Callable[[AdminAction], Callable[[Request], Awaitable[Response]]]:
    """The route handler of one admin form of ``section``: admins only; ``act(request,
    viewer, form)`` makes the change and says what it did, shown on the section it
    redirects back to (or the reason it refused). An act that must show something once
    (a generated password, a new token) answers the page itself instead. With ``redraw``,
    a refusal shows the section at once (422) with ``redraw(form)`` in its context, so a
    long form comes back as it was typed, with the reason as ``form_error``."""
    def wrap(act: AdminAction) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(act)
        async def endpoint(request: Request) -> Response:
            viewer = await _admin(request)
            if isinstance(viewer, Response):
                return viewer
            form = {k: str(v) for k, v in (await request.form()).multi_items()}
            try:
                done = await act(request, viewer, form)
            except InboxError as exc:
                if redraw is not None:
                    return await _section(request, viewer, section, 422, form_error=exc.message, **redraw(form))
                return _back(section, error=exc.message)
            except ValueError:
                return _back(section, error="a number was expected")
            return done if isinstance(done, Response) else _back(section, done=done)
        return endpoint
    return wrap


async def _members(request: Request) -> list[int]:
    """The team form's checked members (the form is read already: this is its cache)."""
    return [n for v in (await request.form()).getlist("member_ids") if (n := parse_id(v)) is not None]


# -- inboxes ------------------------------------------------------------------------------

@admin_action("inboxes")
async def create_inbox(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, registry = request.app.state.ctx, request.app.state.registry
    kind = form.get("kind", "")
    inbox = await inboxes.setup_inbox(ctx, registry, kind, form.get("name", "").strip() or kind,
                                      _channel_settings(registry, form, kind))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name']} created"


@admin_action("inboxes")
async def update_inbox(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, registry = request.app.state.ctx, request.app.state.registry
    iid, kind = form_id(form.get("inbox_id"), "inbox_id"), form.get("kind", "")
    inbox = await inboxes.reconfigure_inbox(ctx, registry, iid, form.get("name", "").strip() or None,
                                            _channel_settings(registry, form, kind))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name']} saved"


@admin_action("inboxes")
async def set_inbox_fallback(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    """The inbox's channel fallback (docs/campaigns.md, "Channel fallback"): none, or another
    inbox and the minutes to wait for delivery."""
    ctx, registry = request.app.state.ctx, request.app.state.registry
    iid, target = form_id(form.get("inbox_id"), "inbox_id"), form.get("fallback_inbox_id", "").strip()
    patch = {campaigns.FALLBACK_INBOX: target or None,
             campaigns.FALLBACK_MINUTES: (form.get("fallback_minutes", "").strip() or None) if target else None}
    try:
        inbox = await inboxes.reconfigure_inbox(ctx, registry, iid, None, patch)
    except Invalid as exc:  # in the form's words
        exc.message = exc.message.replace(campaigns.FALLBACK_INBOX, "Fall back to").replace(
            campaigns.FALLBACK_MINUTES, "Wait for delivery")
        raise
    return (f"Fallback of {inbox['name']} saved" if target else f"{inbox['name']} has no fallback now")


@admin_action("inboxes")
async def set_inbox_active(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    iid, active = form_id(form.get("inbox_id"), "inbox_id"), form.get("active") == "true"
    inbox = await request.app.state.ctx.db.write(lambda tx: actions.set_inbox_active(tx, iid, active))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name']} {'enabled' if active else 'disabled: it still receives, but sends nothing'}"


@admin_action("inboxes")
async def delete_inbox(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, iid = request.app.state.ctx, form_id(form.get("inbox_id"), "inbox_id")
    inbox = await ctx.db.read(lambda c: queries.get_inbox(c, iid))
    await ctx.db.write(lambda tx: actions.delete_inbox(tx, iid, ctx.clock.now()))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name'] if inbox else iid} deleted"


@admin_action("inboxes")
async def set_inbox_auto_reply(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    """The inbox's calendar and both automatic replies, as the form shows them."""
    iid = form_id(form.get("inbox_id"), "inbox_id")
    calendar = form.get("calendar_id", "").strip()
    patch = {"calendar_id": form_id(calendar, "calendar_id") if calendar else None,
             "auto_reply": {key: {"enabled": form.get(f"{key}_enabled") == "true", "text": form.get(f"{key}_text", "")}
                            for key in autoreply.KINDS}}
    try:
        inbox = await request.app.state.ctx.db.write(lambda tx: actions.set_auto_reply(tx, iid, patch,
                                                                                     request.app.state.ctx.clock.now()))
    except Invalid as exc:  # in the form's words: "Out of office text: ..."
        message = exc.message.replace("auto_reply.closed.", "Out of office ")
        message = message.replace("auto_reply.open.", "Acknowledgement ")
        raise Invalid(message, exc.code) from None
    return f"Automatic replies of {inbox['name']} saved"


@admin_action("inboxes")
async def set_inbox_csat(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    """The inbox's satisfaction survey, as the form shows it (docs/csat.md)."""
    iid = form_id(form.get("inbox_id"), "inbox_id")
    patch: dict[str, Any] = {"mode": "on_resolve" if form.get("on_resolve") == "true" else "off",
                             "question": form.get("question", ""),
                             "interval_days": int(form.get("interval_days", "")),
                             "expiry_days": int(form.get("expiry_days", ""))}
    if "template_name" in form:  # a WhatsApp inbox's form
        name = form["template_name"].strip()
        patch["whatsapp_template"] = {"name": name, "language": form.get("template_language", "").strip()} \
            if name else None
    ctx = request.app.state.ctx
    try:
        inbox = await ctx.db.write(lambda tx: actions.set_auto_reply(tx, iid, {"csat": patch}, ctx.clock.now()))
    except Invalid as exc:  # in the form's words
        for key, words in CSAT_LABELS.items():
            exc.message = exc.message.replace(f"csat.{key}", words)
        raise
    return f"Satisfaction survey of {inbox['name']} saved"


CSAT_LABELS = {"question": "The question", "interval_days": "Not again within", "expiry_days": "The link's days",
               "whatsapp_template": "The template"}


# -- routing ------------------------------------------------------------------------------

# The form's words for the policy's keys, in the messages of routing.check.
ROUTING_LABELS = {"mode": "Mode", "capacity": "Capacity per agent", "weight": "Weight of one conversation",
                  "team_ids": "Teams", "reassign_when_offline": "Return to the queue",
                  "keep_replied_minutes": "Keep those replied to within",
                  "no_reply_minutes": "No-reply timeout", "no_reply_action": "What to do on no reply",
                  "queue_order": "Queue order"}
NUMBERS = ("capacity", "weight", "keep_replied_minutes", "no_reply_minutes")


def _number(raw: str) -> int | float | str:
    """A typed number as the check expects it; anything else as typed, for the check to refuse."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _routing_patch(form: dict[str, str], *, team_ids: list[int] | None) -> dict[str, Any]:
    """The routing form as a patch of every key it shows. A blank field (a team's "inherit")
    is None: the key is removed. An inbox's value equal to the default is removed too, so an
    inbox stores only what it changes (``team_ids`` given: the inbox's form)."""
    for_inbox = team_ids is not None
    keys = routing.DEFAULTS.keys() if for_inbox else routing.TEAM_KEYS
    patch: dict[str, Any] = {}
    for key in keys:
        raw = form.get(key, "").strip()
        value: Any
        if key == "team_ids":
            value = team_ids
        elif key == "reassign_when_offline" and for_inbox:
            value = raw == "true"  # a checkbox: absent when unticked
        elif raw == "":
            value = None
        elif key == "reassign_when_offline":
            value = {"true": True, "false": False}.get(raw, raw)
        elif key in NUMBERS:
            value = _number(raw)
        else:
            value = raw
        if for_inbox and value == routing.DEFAULTS[key]:  # type: ignore[literal-required]
            value = None
        patch[key] = value
    return patch


def _plain(exc: Invalid) -> Invalid:
    """The check's message in the form's words ("routing.capacity" -> "Capacity per agent")."""
    message = exc.message
    for key, label in ROUTING_LABELS.items():
        message = message.replace(f"routing.{key}", label)
    return Invalid(message, exc.code)


async def _save_routing(request: Request, target: str, target_id: int, patch: dict[str, Any]) -> str:
    try:
        changed = await actions.change_routing(request.app.state.ctx, target, target_id, patch)
    except Invalid as exc:
        raise _plain(exc) from None
    return f"Routing of {changed['name']} saved"


@admin_action("inboxes")
async def set_inbox_routing(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    team_ids = [n for v in (await request.form()).getlist("team_ids") if (n := parse_id(v)) is not None]
    return await _save_routing(request, "inbox", form_id(form.get("inbox_id"), "inbox_id"),
                               _routing_patch(form, team_ids=team_ids))


@admin_action("teams")
async def set_team_routing(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    return await _save_routing(request, "team", form_id(form.get("team_id"), "team_id"),
                               _routing_patch(form, team_ids=None))


@admin_action("users")
async def set_user_capacity(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    """An agent's own capacity, above every policy's; blank: the policy's again."""
    ctx, uid, raw = request.app.state.ctx, form_id(form.get("user_id"), "user_id"), form.get("capacity", "").strip()
    capacity = _number(raw) if raw else None
    try:
        agent = await ctx.db.write(lambda tx: actions.set_capacity(tx, viewer, uid, capacity,  # type: ignore[arg-type]
                                                                   ctx.clock.now()))
    except Invalid:
        raise Invalid("Capacity must be a whole number from 0 to 1000, or blank for the policy's",
                      "invalid_field") from None
    ctx.wake_routing()
    if not agent:  # a deactivated user: stored for when they are back
        return "Capacity saved"
    own = agent["own_capacity"]
    return f"Capacity of {agent['name']}: {own}" if own is not None else \
        f"Capacity of {agent['name']}: the routing policy's ({agent['capacity']})"


# -- users --------------------------------------------------------------------------------

@admin_action("users")
async def create_user(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    password = form.get("password", "")
    if len(password) < 8:
        raise Invalid("password must be at least 8 characters")
    pw_hash = await asyncio.to_thread(hash_password, password)
    user = await request.app.state.ctx.db.write(lambda tx: actions.create_user(
        tx, email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "agent"),
        password_hash=pw_hash))
    return f"User {user['email']} created"


@admin_action("users")
async def update_user(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    """Change a user's role (activation has its own form, with a confirmation)."""
    uid, role = form_id(form.get("user_id"), "user_id"), form.get("role", "agent")
    if uid == viewer.user_id and role != "admin":
        raise Invalid("you cannot demote or deactivate yourself")
    user = await request.app.state.ctx.db.write(lambda tx: actions.update_user(tx, uid, {"role": role}))
    return f"{user['name']} is now {user['role']}"


@admin_action("users")
async def set_user_active(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    uid, active = form_id(form.get("user_id"), "user_id"), form.get("active") == "true"
    if uid == viewer.user_id and not active:
        raise Invalid("you cannot demote or deactivate yourself")
    user = await request.app.state.ctx.db.write(lambda tx: actions.update_user(tx, uid, {"active": active}))
    return f"{user['name']} {'reactivated' if active else 'deactivated and logged out everywhere'}"


@admin_action("users")
async def reset_password(request: Request, viewer: Viewer, form: dict[str, str]) -> str | Response:
    """Set the typed password, or generate one and show it on this answer only (never in a
    redirect's URL, which history and logs keep)."""
    uid = form_id(form.get("user_id"), "user_id")
    typed = None if form.get("generate") else form.get("password", "")
    user, generated = await actions.reset_password(request.app.state.ctx, uid, typed)
    if generated is None:
        return f"Password of {user['name']} changed; they are logged out everywhere"
    return await _section(request, viewer, "users", new_password={"user": user, "password": generated})


# -- teams --------------------------------------------------------------------------------

@admin_action("teams")
async def create_team(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    members = await _members(request)
    team = await request.app.state.ctx.db.write(lambda tx: actions.create_team(tx, form.get("name", ""), members))
    return f"Team {team['name']} created"


@admin_action("teams")
async def update_team(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    tid, members = form_id(form.get("team_id"), "team_id"), await _members(request)
    name = form.get("name", "").strip() or None
    team = await request.app.state.ctx.db.write(lambda tx: actions.update_team(tx, tid, name=name,
                                                                               member_ids=members))
    return f"Team {team['name']} saved"


@admin_action("teams")
async def delete_team(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    tid = form_id(form.get("team_id"), "team_id")
    await request.app.state.ctx.db.write(lambda tx: actions.delete_team(tx, tid))
    return "Team deleted"


# -- calendars (ui/pages/admin_calendars.py) ------------------------------------------------

create_calendar = admin_action("calendars", admin_calendars.redraw)(admin_calendars.create_calendar)
update_calendar = admin_action("calendars", admin_calendars.redraw)(admin_calendars.update_calendar)
delete_calendar = admin_action("calendars")(admin_calendars.delete_calendar)
set_team_calendar = admin_action("teams")(admin_calendars.set_team_calendar)


# -- canned responses ---------------------------------------------------------------------

@admin_action("canned")
async def create_canned(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    saved = await request.app.state.ctx.db.write(lambda tx: actions.save_canned(
        tx, canned_id=None, short_code=form.get("short_code", ""), text=form.get("text", ""),
        author_id=viewer.user_id))
    return f"/{saved['short_code']} saved"


@admin_action("canned")
async def update_canned(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    cid = form_id(form.get("canned_id"), "canned_id")
    saved = await request.app.state.ctx.db.write(lambda tx: actions.save_canned(
        tx, canned_id=cid, short_code=form.get("short_code", ""), text=form.get("text", ""),
        author_id=viewer.user_id))
    return f"/{saved['short_code']} saved"


@admin_action("canned")
async def delete_canned(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    canned_id = form_id(form.get("canned_id"), "canned_id")
    await request.app.state.ctx.db.write(lambda tx: actions.delete_canned(tx, canned_id))
    return "Canned response deleted"


# -- API tokens ---------------------------------------------------------------------------

@admin_action("tokens")
async def create_token(request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
    """A token for a user, shown on this answer only (only its hash is stored)."""
    uid, name = form_id(form.get("user_id"), "user_id"), form.get("name", "").strip()
    if await request.app.state.ctx.db.read(lambda c: queries.get_user(c, uid)) is None:
        raise Invalid("no such user")
    token = await request.app.state.ctx.db.write(lambda tx: actions.create_token(tx, uid, name))
    return await _section(request, viewer, "tokens", new_token={"name": name or "token", "token": token})


@admin_action("tokens")
async def delete_token(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    tid = form_id(form.get("token_id"), "token_id")
    await request.app.state.ctx.db.write(lambda tx: actions.revoke_token(tx, viewer, tid))
    return "Token revoked: requests with it now fail"


# -- labels ---------------------------------------------------------------------------------

@admin_action("labels")
async def create_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label = await actions.create_label(request.app.state.ctx, viewer, form.get("name", ""),
                                       form.get("colour", ""), form.get("description", ""))
    return f"Label {label['name']} created"


@admin_action("labels")
async def update_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label_id = form_id(form.get("label_id"), "label_id")
    changes = {k: form[k] for k in actions.LABEL_FIELDS if k in form}
    label = await actions.update_label(request.app.state.ctx, viewer, label_id, changes)
    return f"Label {label['name']} saved"


@admin_action("labels")
async def delete_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label_id = form_id(form.get("label_id"), "label_id")
    await actions.delete_label(request.app.state.ctx, viewer, label_id)
    return "Label deleted"


routes = [
    Route("/admin", admin_page),
    Route("/admin/inbox", create_inbox, methods=["POST"]),
    Route("/admin/inbox-update", update_inbox, methods=["POST"]),
    Route("/admin/inbox-fallback", set_inbox_fallback, methods=["POST"]),
    Route("/admin/inbox-active", set_inbox_active, methods=["POST"]),
    Route("/admin/inbox-delete", delete_inbox, methods=["POST"]),
    Route("/admin/inbox-routing", set_inbox_routing, methods=["POST"]),
    Route("/admin/inbox-auto-reply", set_inbox_auto_reply, methods=["POST"]),
    Route("/admin/inbox-csat", set_inbox_csat, methods=["POST"]),
    Route("/admin/team-routing", set_team_routing, methods=["POST"]),
    Route("/admin/user-capacity", set_user_capacity, methods=["POST"]),
    Route("/admin/user", create_user, methods=["POST"]),
    Route("/admin/user-update", update_user, methods=["POST"]),
    Route("/admin/user-active", set_user_active, methods=["POST"]),
    Route("/admin/user-password", reset_password, methods=["POST"]),
    Route("/admin/team", create_team, methods=["POST"]),
    Route("/admin/team-update", update_team, methods=["POST"]),
    Route("/admin/team-delete", delete_team, methods=["POST"]),
    Route("/admin/calendar", create_calendar, methods=["POST"]),
    Route("/admin/calendar-update", update_calendar, methods=["POST"]),
    Route("/admin/calendar-delete", delete_calendar, methods=["POST"]),
    Route("/admin/team-calendar", set_team_calendar, methods=["POST"]),
    Route("/admin/canned", create_canned, methods=["POST"]),
    Route("/admin/canned-update", update_canned, methods=["POST"]),
    Route("/admin/canned-delete", delete_canned, methods=["POST"]),
    Route("/admin/token", create_token, methods=["POST"]),
    Route("/admin/token-delete", delete_token, methods=["POST"]),
    Route("/admin/label", create_label, methods=["POST"]),
    Route("/admin/label-update", update_label, methods=["POST"]),
    Route("/admin/label-delete", delete_label, methods=["POST"]),
    Route("/admin/{section:str}", admin_page),  # last: after the actions' paths
]
