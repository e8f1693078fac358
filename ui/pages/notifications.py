"""The notification centre of the top bar and the user's own settings page (with their
macros, ui/pages/macros.py).

The bell's badge and panel are partials htmx loads (topbar.html): the badge on every page
load and again whenever ui/static/notifications.js hears ``notification.created`` or marks
some read, so the count always comes from the server, never from counting in the browser.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain.access import Viewer
from inbox.domain.errors import InboxError
from inbox.domain.serialize import NOTIFY_KINDS
from ui.http import parse_id
from ui.pages import macros
from ui.pages.agent import TABS, _render, _to_login, _viewer

PANEL_SIZE = 20
KIND_LABELS = {"assigned": "Assigned to you", "mentioned": "Mentioned in a note",
               "new_message": "New message in a conversation of yours",
               "sla_warning": "SLA warnings: a target is due soon", "sla_breached": "SLA breaches: a target was missed",
               "no_reply": "A conversation routed to someone was not answered in time"}
AWAY_ERROR = "Set me away after: a whole number of minutes from 1 to 480, or empty for never."
LEAD_KINDS = {"no_reply"}  # sent to leads only: not offered to agents


def _kinds(viewer: Viewer) -> dict[str, str]:
    """The kinds of notification the settings page offers this user, in NOTIFY_KINDS order."""
    return {k: KIND_LABELS.get(k, k.replace("_", " ").capitalize()) for k in NOTIFY_KINDS
            if viewer.sees_all or k not in LEAD_KINDS}


async def _state(request: Request, viewer: Viewer, panel: bool) -> dict[str, Any]:
    def read(c: Any) -> dict[str, Any]:
        page = queries.list_notifications(c, viewer.user_id, limit=PANEL_SIZE if panel else 1)
        return {"notifications": page["items"] if panel else [], "unread_count": page["unread_count"],
                "unread_conversations": queries.unread_conversations(c, viewer.user_id) if page["unread_count"] else [],
                "prefs": queries.get_preferences(c, viewer.user_id)}
    return await request.app.state.ctx.db.read(read)  # type: ignore[no-any-return]


async def badge(request: Request) -> Response:
    """The bell's count (with the user's desktop and sound choices, for notifications.js)."""
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    return _render(request, "notifications.html#badge", **await _state(request, viewer, panel=False))


async def panel(request: Request) -> Response:
    """The panel the bell opens: the latest notifications, newest first."""
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    return _render(request, "notifications.html", **await _state(request, viewer, panel=True), oob_badge=True)


async def read(request: Request) -> Response:
    """Mark notifications read (form: ``id``s, a ``conversation_id`` or ``all``); answers
    the panel, with the badge out of band."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    form = await request.form()
    ids = [i for i in (parse_id(v) for v in form.getlist("id")) if i is not None]
    conversation_id = parse_id(form.get("conversation_id"))
    everything = form.get("all") == "1"
    if ids or conversation_id is not None or everything:
        await actions.mark_notifications_read(request.app.state.ctx, viewer, ids=ids,
                                              conversation_id=conversation_id, everything=everything)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/inbox", status_code=303)
    return _render(request, "notifications.html", **await _state(request, viewer, panel=True), oob_badge=True)


async def settings_page(request: Request) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    return await render_settings(request, viewer)


async def render_settings(request: Request, viewer: Viewer, status_code: int = 200, **extra: Any) -> Response:
    """/settings: the preferences' form, then the viewer's macros (ui/pages/macros.py)."""
    def read(c: Any) -> dict[str, Any]:
        teams = queries.list_teams(c)
        return {"prefs": queries.get_preferences(c, viewer.user_id), "presence": queries.presence_of(c, viewer.user_id),
                "teams": teams if viewer.sees_all else [t for t in teams if t["id"] in viewer.team_ids],
                **macros.read(c, viewer)}
    response = _render(request, "settings.html", viewer=viewer, **await request.app.state.ctx.db.read(read),
                       tabs=TABS, kinds=_kinds(viewer), saved=bool(request.query_params.get("saved")),
                       done=request.query_params.get("done"), error=request.query_params.get("error"),
                       here="settings", macro_page="settings", **extra)
    response.status_code = status_code
    return response


macros.PAGES["settings"] = render_settings


async def save_settings(request: Request) -> Response:
    """The settings form: every choice at once (an unticked box is off)."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    form = await request.form()
    tab = str(form.get("landing_tab") or "")
    away = str(form.get("away_after_minutes") or "").strip()
    changes = {"notify": {k: form.get(f"notify_{k}") == "on" for k in _kinds(viewer)},
               "desktop": form.get("desktop") == "on", "sound": form.get("sound") == "on",
               "landing_tab": tab or None, "away_after_minutes": int(away) if away.isdigit() else None}
    if away and not away.isdigit():
        return RedirectResponse("/settings?" + urlencode({"error": AWAY_ERROR}), status_code=303)
    try:
        await actions.update_preferences(request.app.state.ctx, viewer, changes)
    except InboxError as exc:
        message = AWAY_ERROR if "away_after_minutes" in exc.message else exc.message
        return RedirectResponse("/settings?" + urlencode({"error": message}), status_code=303)
    return RedirectResponse("/settings?saved=1", status_code=303)


routes = [
    Route("/ui/notifications", panel),
    Route("/ui/notifications/badge", badge),
    Route("/ui/notifications/read", read, methods=["POST"]),
    Route("/settings", settings_page),
    Route("/settings", save_settings, methods=["POST"]),
]
