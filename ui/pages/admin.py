"""Admin pages: inboxes (with the exact webhook URLs to give each provider), users and
roles, teams, canned responses, labels. Plain forms that post and redirect back; every change
goes through the same actions and checks as the REST API."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.actions import inboxes
from inbox.domain.access import Viewer
from inbox.domain.credentials import hash_password
from inbox.domain.errors import InboxError, Invalid
from ui.http import form_id, parse_id
from ui.pages.agent import _render, _to_login, _viewer


async def _admin(request: Request) -> Viewer | Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    if viewer.role != "admin":
        return HTMLResponse("<p>Only admins manage inboxes, users, teams and canned responses.</p>", status_code=403)
    return viewer


async def admin_page(request: Request) -> Response:
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    registry = request.app.state.registry

    def read(c: Any) -> dict[str, Any]:
        return {"inboxes": [inboxes.describe(registry, i) for i in queries.list_inboxes(c)],
                "users": queries.list_users(c), "teams": queries.list_teams(c), "canned": queries.list_canned(c),
                "labels": queries.list_labels(c), "label_uses": queries.label_uses(c)}
    data = await request.app.state.ctx.db.read(read)
    kinds = {c.kind: c.cli_options for c in registry.channels()}
    return _render(request, "admin.html", viewer=viewer, kinds=kinds, done=request.query_params.get("done"),
                   error=request.query_params.get("error"), **data)


def _back(done: str | None = None, error: str | None = None) -> Response:
    query = {k: v for k, v in (("done", done), ("error", error)) if v}
    return RedirectResponse("/admin" + ("?" + urlencode(query) if query else ""), status_code=303)


def _channel_settings(registry: Any, form: dict[str, str], kind: str) -> dict[str, str]:
    """The channel's settings filled in on the inbox form (fields named ``<kind>:<key>``).
    A blank field is left out: on an edit it keeps the setting as it is (secrets are never
    shown to edit)."""
    options = registry.channel(kind).cli_options if registry.supports(kind) else {}
    return {key: form[f"{kind}:{key}"] for _, (key, _, _) in options.items() if form.get(f"{kind}:{key}")}


AdminAction = Callable[[Request, Viewer, dict[str, str]], Awaitable[str]]


def admin_action(act: AdminAction) -> Callable[[Request], Awaitable[Response]]:
    """The route handler of one admin form: admins only; ``act(request, viewer, form)``
    makes the change and says what it did, shown on the admin page it redirects back to
    (or the reason it refused)."""
    @functools.wraps(act)
    async def endpoint(request: Request) -> Response:
        viewer = await _admin(request)
        if isinstance(viewer, Response):
            return viewer
        form = {k: str(v) for k, v in (await request.form()).multi_items()}
        try:
            return _back(done=await act(request, viewer, form))
        except InboxError as exc:
            return _back(error=exc.message)
        except ValueError:
            return _back(error="a number was expected")
    return endpoint


async def _members(request: Request) -> list[int]:
    """The team form's checked members (the form is read already: this is its cache)."""
    return [n for v in (await request.form()).getlist("member_ids") if (n := parse_id(v)) is not None]


async def create_inbox(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, registry = request.app.state.ctx, request.app.state.registry
    kind = form.get("kind", "")
    inbox = await inboxes.setup_inbox(ctx, registry, kind, form.get("name", "").strip() or kind,
                                      _channel_settings(registry, form, kind))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name']} created"


async def update_inbox(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, registry = request.app.state.ctx, request.app.state.registry
    iid, kind = form_id(form.get("inbox_id"), "inbox_id"), form.get("kind", "")
    inbox = await inboxes.reconfigure_inbox(ctx, registry, iid, form.get("name", "").strip() or None,
                                            _channel_settings(registry, form, kind))
    await request.app.state.directory.reload()
    return f"Inbox {inbox['name']} saved"


async def create_user(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    password = form.get("password", "")
    if len(password) < 8:
        raise Invalid("password must be at least 8 characters")
    pw_hash = await asyncio.to_thread(hash_password, password)
    user = await request.app.state.ctx.db.write(lambda tx: actions.create_user(
        tx, email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "agent"),
        password_hash=pw_hash))
    return f"User {user['email']} created"


async def update_user(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    uid = form_id(form.get("user_id"), "user_id")
    changes: dict[str, Any] = {"role": form.get("role", "agent"), "active": form.get("active") == "on"}
    if uid == viewer.user_id and (changes["role"] != "admin" or not changes["active"]):
        raise Invalid("you cannot demote or deactivate yourself")
    await request.app.state.ctx.db.write(lambda tx: actions.update_user(tx, uid, changes))
    return "User updated"


async def create_team(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    members = await _members(request)
    team = await request.app.state.ctx.db.write(lambda tx: actions.create_team(tx, form.get("name", ""), members))
    return f"Team {team['name']} created"


async def update_team(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    tid, members = form_id(form.get("team_id"), "team_id"), await _members(request)
    await request.app.state.ctx.db.write(lambda tx: actions.update_team(tx, tid, member_ids=members))
    return "Team updated"


async def create_canned(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    await request.app.state.ctx.db.write(lambda tx: actions.save_canned(
        tx, canned_id=None, short_code=form.get("short_code", ""), text=form.get("text", ""),
        author_id=viewer.user_id))
    return f"/{form.get('short_code', '').strip().lower()} saved"


async def delete_canned(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    canned_id = form_id(form.get("canned_id"), "canned_id")
    await request.app.state.ctx.db.write(lambda tx: actions.delete_canned(tx, canned_id))
    return "Canned response deleted"


async def create_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label = await actions.create_label(request.app.state.ctx, viewer, form.get("name", ""),
                                       form.get("colour", ""), form.get("description", ""))
    return f"Label {label['name']} created"


async def update_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label_id = form_id(form.get("label_id"), "label_id")
    changes = {k: form[k] for k in actions.LABEL_FIELDS if k in form}
    label = await actions.update_label(request.app.state.ctx, viewer, label_id, changes)
    return f"Label {label['name']} saved"


async def delete_label(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    label_id = form_id(form.get("label_id"), "label_id")
    await actions.delete_label(request.app.state.ctx, viewer, label_id)
    return "Label deleted"


routes = [
    Route("/admin", admin_page),
    Route("/admin/inbox", admin_action(create_inbox), methods=["POST"]),
    Route("/admin/inbox-update", admin_action(update_inbox), methods=["POST"]),
    Route("/admin/user", admin_action(create_user), methods=["POST"]),
    Route("/admin/user-update", admin_action(update_user), methods=["POST"]),
    Route("/admin/team", admin_action(create_team), methods=["POST"]),
    Route("/admin/team-update", admin_action(update_team), methods=["POST"]),
    Route("/admin/canned", admin_action(create_canned), methods=["POST"]),
    Route("/admin/canned-delete", admin_action(delete_canned), methods=["POST"]),
    Route("/admin/label", admin_action(create_label), methods=["POST"]),
    Route("/admin/label-update", admin_action(update_label), methods=["POST"]),
    Route("/admin/label-delete", admin_action(delete_label), methods=["POST"]),
]
