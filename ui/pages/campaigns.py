"""The campaigns' pages (docs/campaigns.md), for leads and admins: /campaigns lists them with
their totals; /campaigns/new and a draft's page hold its form (name, purpose, audience, a
message per channel in order of preference, schedule, quiet hours); a draft's page checks it
(the preflight: who gets what, who is skipped and why, the first messages as they will
read) and starts it; a started one shows its results and its recipients, with pause,
resume and cancel. Every change goes through the actions /api/campaigns uses, with their
checks; a refused form comes back as typed with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox import queries
from inbox.actions import campaigns as engine
from inbox.domain import campaigns
from inbox.domain.errors import InboxError, NotFound
from inbox.queries import campaigns as found
from ui.http import kinds_of, parse_id, path_id
from ui.pages.agent import _channels, _render
from ui.pages.reports import _lead

RESULT_WORDS = {"pending": "Waiting", "queued": "Queued", "sent": "Sent", "delivered": "Delivered", "read": "Read",
                "failed": "Failed", "skipped": "Skipped"}
STATUS_WORDS = {"draft": "Draft", "scheduled": "Scheduled", "sending": "Sending", "paused": "Paused",
                "cancelled": "Cancelled", "done": "Done"}
SHOWN = 100  # recipients a page shows


def _from_form(form: Mapping[str, Any], kinds: list[str]) -> dict[str, Any]:
    """The campaign the form describes, as the API takes it (checked by the action)."""
    audience: dict[str, Any] = {}
    labels = [n for v in form.getlist("labels") if (n := parse_id(v)) is not None]  # type: ignore[attr-defined]
    if labels:
        audience["labels"] = labels
    channels = [str(v) for v in form.getlist("audience_channels")]  # type: ignore[attr-defined]
    if channels:
        audience["channels"] = channels
    key, value = str(form.get("attribute_key", "")).strip(), str(form.get("attribute_value", "")).strip()
    if key:
        audience["attributes"] = {key: value}
    for field in ("last_contact_after", "last_contact_before"):
        if str(form.get(field, "")).strip():
            audience[field] = str(form[field]).strip()
    messages = []
    for kind in kinds:
        inbox = parse_id(str(form.get(f"{kind}_inbox", "")))
        if inbox is None:
            continue
        m: dict[str, Any] = {"channel": kind, "inbox_id": inbox}
        if text := str(form.get(f"{kind}_text", "")).strip():
            m["text"] = text
        if subject := str(form.get(f"{kind}_subject", "")).strip():
            m["subject"] = subject
        if template := str(form.get(f"{kind}_template", "")).strip():
            params = [p.strip() for p in str(form.get(f"{kind}_parameters", "")).splitlines() if p.strip()]
            m["template"] = {"name": template, "language": str(form.get(f"{kind}_language", "")).strip() or "en",
                             "parameters": params}
        try:
            order = int(str(form.get(f"{kind}_order", "")) or 99)
        except ValueError:
            order = 99
        messages.append((order, kinds.index(kind), m))
    schedule: dict[str, Any] = {}
    when = str(form.get("schedule", "now"))
    if when == "at" and form.get("schedule_at"):
        schedule = {"at": f"{form['schedule_at']}:00+00:00" if len(str(form["schedule_at"])) == 16
                    else str(form["schedule_at"])}
    elif when == "local" and form.get("schedule_local"):
        schedule = {"local": str(form["schedule_local"])[:16]}
    elif when in ("at", "local"):
        schedule = {when: ""}  # refused by the check, in its words
    quiet: Any = None
    if form.get("quiet") == "none":
        quiet = False
    elif form.get("quiet") == "custom":
        quiet = {"start": str(form.get("quiet_start", "")), "end": str(form.get("quiet_end", ""))}
    out: dict[str, Any] = {"name": str(form.get("name", "")), "purpose": str(form.get("purpose", "marketing")),
                           "audience": audience, "messages": [m for _, _, m in sorted(messages, key=lambda t: t[:2])],
                           "schedule": schedule}
    if quiet is not None:
        out["quiet_hours"] = quiet
    minutes = str(form.get("fallback_minutes", "")).strip()
    out["fallback_minutes"] = int(minutes) if minutes.isdigit() else (minutes or None)  # a bad one: the check says
    return out


def _draft(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """A saved campaign as the form shows it."""
    schedule = campaign.get("schedule") or {}
    quiet = campaign.get("quiet_hours")
    by_kind = {m["channel"]: {**m, "order": i + 1} for i, m in enumerate(campaign.get("messages") or [])}
    attributes = list((campaign.get("audience") or {}).get("attributes", {}).items())
    return {**campaign, "by_kind": by_kind, "when": "at" if "at" in schedule else "local" if "local" in schedule
            else "now", "at": (schedule.get("at") or "")[:16], "local": schedule.get("local") or "",
            "quiet": "default" if quiet is None else "none" if not quiet else "custom",
            "quiet_start": (quiet or {}).get("start", "21:00"), "quiet_end": (quiet or {}).get("end", "08:00"),
            "attribute": attributes[0] if attributes else ("", "")}


def _form_context(c: Connection, kinds: list[str]) -> dict[str, Any]:
    inboxes = [i for i in queries.list_inboxes(c) if i["kind"] in kinds]
    return {"labels": queries.list_labels(c), "inboxes": inboxes,
            "kinds": [k for k in kinds if any(i["kind"] == k for i in inboxes)]}


async def campaigns_page(request: Request) -> Response:
    """/campaigns: every campaign, newest first, with its totals."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    items = await request.app.state.ctx.db.read(found.campaigns)
    return _render(request, "campaigns.html", viewer=viewer, view="list", campaigns=items, status_words=STATUS_WORDS,
                   done=request.query_params.get("done"))


async def new_page(request: Request) -> Response:
    """/campaigns/new: an empty form; its post makes the draft and opens its page."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, kinds = request.app.state.ctx, kinds_of(request)
    if request.method == "POST":
        form = await request.form()
        raw = _from_form(form, kinds)
        try:
            made = await engine.create(ctx, viewer, raw, kinds)
        except InboxError as exc:
            return await _form_again(request, viewer, raw, exc, None)
        return RedirectResponse(f"/campaigns/{made['id']}?{_then(form)}", status_code=303)
    context = await ctx.db.read(lambda c: _form_context(c, kinds))
    draft = _draft({"name": "", "purpose": "marketing", "audience": {}, "messages": [], "schedule": {},
                    "quiet_hours": None})
    return _render(request, "campaigns.html", viewer=viewer, view="new", draft=draft, channels=_channels(request),
                   **context)


async def _form_again(request: Request, viewer: Any, raw: dict[str, Any], exc: InboxError,
                      campaign: dict[str, Any] | None) -> Response:
    """The form as it was typed, with the reason it was refused (422)."""
    kinds = kinds_of(request)
    context = await request.app.state.ctx.db.read(lambda c: _form_context(c, kinds))
    shown = {**(campaign or {}), **raw, "id": (campaign or {}).get("id"), "status": "draft"}
    response = _render(request, "campaigns.html", viewer=viewer, view="new" if campaign is None else "campaign",
                       draft=_draft(shown), campaign=campaign, form_error=exc.message, channels=_channels(request),
                       status_words=STATUS_WORDS, **context)
    response.status_code = exc.status
    return response


async def campaign_page(request: Request) -> Response:
    """/campaigns/{id}: a draft's form and its check (?check=1), or a started one's results
    and recipients (?result= for one result)."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, kinds, campaign_id = request.app.state.ctx, kinds_of(request), path_id(request, "campaign")
    q = request.query_params
    result = q.get("result") if q.get("result") in found.RESULTS else None
    after = parse_id(q.get("after", "")) or 0

    def read(c: Connection) -> dict[str, Any] | None:
        campaign = found.get_campaign(c, campaign_id)
        if campaign is None:
            return None
        return {"campaign": engine.serialize_campaign(c, campaign), **_form_context(c, kinds),
                "recipients": found.recipient_page(c, campaign_id, result=result, after=after, limit=SHOWN)}
    got = await ctx.db.read(read)
    if got is None:
        raise NotFound("no such campaign")
    campaign = got["campaign"]
    check = await engine.check_before(ctx, campaign_id) if campaign["status"] == "draft" and q.get("check") else None
    recipients = got.pop("recipients")
    more = None
    if len(recipients) == SHOWN:
        more = f"/campaigns/{campaign_id}?" + urlencode({**({"result": result} if result else {}),
                                                          "after": recipients[-1]["id"]})
    return _render(request, "campaigns.html", viewer=viewer, view="campaign", draft=_draft(campaign), check=check,
                   recipients=recipients, result=result, more=more, result_words=RESULT_WORDS,
                   status_words=STATUS_WORDS, skip_words=campaigns.SKIP_WORDS, channels=_channels(request),
                   fallback_words=engine.fallback_words,
                   done=q.get("done"), error=q.get("error"), now=datetime.now(timezone.utc), **got)


async def save_campaign(request: Request) -> Response:
    """A draft's form posted: saved, or shown again with the reason."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, kinds, campaign_id = request.app.state.ctx, kinds_of(request), path_id(request, "campaign")
    form = await request.form()
    raw = _from_form(form, kinds)
    try:
        await engine.change(ctx, campaign_id, raw, kinds)
    except InboxError as exc:
        campaign = await ctx.db.read(lambda c: found.get_campaign(c, campaign_id))
        if campaign is None:
            raise
        return await _form_again(request, viewer, raw, exc, campaign)
    return RedirectResponse(f"/campaigns/{campaign_id}?{_then(form)}", status_code=303)


def _then(form: Mapping[str, Any]) -> str:
    """Where a saved form goes: its check ("Save and check"), or back to it."""
    return "check=1&done=Draft+saved#campaign-check" if form.get("then") == "check" else "done=Draft+saved"


DONE = {"start": "Started: recipients are written now and sent at their time",
        "pause": "Paused: nothing more goes until it is resumed", "resume": "Resumed",
        "cancel": "Cancelled: every recipient still waiting is skipped"}


async def move_campaign(request: Request) -> Response:
    """Start, pause, resume, cancel or delete (a draft), from the campaign's page."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, campaign_id, action = request.app.state.ctx, path_id(request, "campaign"), request.path_params["action"]
    try:
        if action == "delete":
            await ctx.db.write(lambda tx: engine.delete_draft(tx, campaign_id))
            return RedirectResponse("/campaigns?done=Draft+deleted", status_code=303)
        await engine.act(ctx, campaign_id, action)
    except InboxError as exc:
        if isinstance(exc, NotFound):
            raise
        return RedirectResponse(f"/campaigns/{campaign_id}?" + urlencode({"error": exc.message}), status_code=303)
    return RedirectResponse(f"/campaigns/{campaign_id}?" + urlencode({"done": DONE[action]}), status_code=303)


routes = [
    Route("/campaigns", campaigns_page),
    Route("/campaigns/new", new_page, methods=["GET", "POST"]),
    Route("/campaigns/{id}", campaign_page),
    Route("/campaigns/{id}/save", save_campaign, methods=["POST"]),
    Route("/campaigns/{id}/{action:str}", move_campaign, methods=["POST"]),
]
