"""Macros on two pages (docs/automation.md, "Macros"): the admin's section /admin/macros, and
every user's /settings (agents and leads do not see the admin area). Both list the shared
macros and the viewer's own, each with its steps in words, and hold the same form: the name,
who may run it (only me, or everyone: shared, which only leads and admins make, as the
action checks) and up to ten ordered steps in the rules' step editor (ui/pages/steps.py).

Every change goes through inbox/actions/macros.py, as /api/macros does. A refused form comes
back on the page it was posted from (422), as typed, with the reason in the form's words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.actions import macros
from inbox.domain import automation
from inbox.domain.access import Viewer
from inbox.domain.errors import InboxError
from ui.http import form_id
from ui.pages import steps
from ui.pages.admin import VIEWER_READERS, _section
from ui.pages.agent import _to_login, _viewer

SECTION = "macros"
STEP_ROWS = 10
STEP_WORDS = {k: steps.WORDS[k] for k in automation.MACRO_STEPS}

# The pages that show the macros: name -> how it draws itself again with a refused form.
Redraw = Callable[..., Awaitable[Response]]
PAGES: dict[str, Redraw] = {}


def _values(m: Mapping[str, Any] | None) -> dict[str, Any]:
    m = m or {"name": "", "shared": False, "steps": []}
    return {"name": m["name"], "shared": m["shared"], "steps": steps.padded([steps.row(s) for s in m["steps"]],
                                                                             STEP_ROWS)}


def read(c: Any, viewer: Viewer) -> dict[str, Any]:
    """The viewer's macros and the shared ones, each in words, with its form."""
    named = steps.choices(c)
    listed = [{**m, "said": [steps.said(s, named["names"], STEP_WORDS) for s in m["steps"]],
               "may_change": viewer.sees_all or not m["shared"], "form_values": _values(m)}
              for m in macros.list_macros(c, viewer)]
    return {"macros": listed, "macro_new": _values(None), "macro_kinds": STEP_WORDS, "macro_choices": named,
            "macro_can_share": viewer.sees_all}


VIEWER_READERS[SECTION] = lambda c, registry, viewer: read(c, viewer)


async def _admin_page(request: Request, viewer: Viewer, status_code: int, **extra: Any) -> Response:
    return await _section(request, viewer, SECTION, status_code, **extra)


PAGES["admin"] = _admin_page


def _page(form: FormData, viewer: Viewer) -> str:
    """The page the form came from; the admin's only for an admin."""
    return "admin" if form.get("page") == "admin" and viewer.role == "admin" else "settings"


def _back(page: str, done: str) -> Response:
    path = "/admin/macros" if page == "admin" else "/settings"
    return RedirectResponse(f"{path}?{urlencode({'done': done})}#macros", status_code=303)


def _posted(form: FormData) -> dict[str, Any]:
    return {"name": str(form.get("name", "")).strip(), "shared": form.get("shared") == "true",
            "steps": steps.posted(form, "s", STEP_ROWS)}


async def save(request: Request) -> Response:
    """A macro's form: a new one, or a change (``macro_id``)."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    ctx, form = request.app.state.ctx, await request.form()
    page, values = _page(form, viewer), _posted(form)
    key: str | int = "new"
    try:
        key = form_id(form.get("macro_id"), "macro_id") if form.get("macro_id") else "new"
        macro_id = key if isinstance(key, int) else None
        body = {"name": values["name"], "shared": values["shared"],
                "steps": steps.body(values["steps"], automation.MACRO_FIELDS, STEP_WORDS, "Step")}
        saved = await ctx.db.write(lambda tx: macros.save_macro(tx, viewer, body, ctx.clock.now(), macro_id))
    except InboxError as exc:
        return await PAGES[page](request, viewer, exc.status,
                                 macro_error={"form": key, "message": steps.plain(exc.message, {"steps": "Step"})},
                                 macro_values={key: values})
    return _back(page, f"Macro {saved['name']} {'created' if key == 'new' else 'saved'}")


async def delete(request: Request) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    ctx, form = request.app.state.ctx, await request.form()
    page = _page(form, viewer)
    try:
        macro_id = form_id(form.get("macro_id"), "macro_id")
        await ctx.db.write(lambda tx: macros.delete_macro(tx, viewer, macro_id))
    except InboxError as exc:
        return await PAGES[page](request, viewer, exc.status, macro_error={"form": None, "message": exc.message})
    return _back(page, f"Macro {form.get('name') or macro_id} deleted")


routes = [
    Route("/macros/save", save, methods=["POST"]),
    Route("/macros/delete", delete, methods=["POST"]),
]
