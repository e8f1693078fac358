"""The campaigns' pages (docs/campaigns.md), for leads and admins: /campaigns lists them with
their totals; /campaigns/new and a draft's page hold its form (name, purpose, audience, a
message per channel in order of preference, schedule, quiet hours); a draft's page checks it
(the preflight: who gets what, who is skipped and why, the first messages as they will
read) and starts it; a started one shows its results and its recipients, with pause,
resume and cancel. Every change goes through the actions /api/campaigns uses, with their
checks; a refused form comes back as typed with the reason. Three parts htmx asks for: the
SMS counter (the server's sms_segments as the lead types), one more attribute row ("Add
condition", which without JavaScript posts the form and shows it again with the row), and
the results a scheduled or sending campaign's page polls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox import queries
from inbox.actions import campaigns as engine
from inbox.domain import campaigns
from inbox.domain.errors import InboxError, Invalid, NotFound
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
    if attributes := {key: value for key, value in _conditions(form) if key or value}:
        audience["attributes"] = attributes
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


def _conditions(form: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The audience's attribute rows (key, value) as posted, blank ones too."""
    keys, values = form.getlist("attribute_key"), form.getlist("attribute_value")  # type: ignore[attr-defined]
    return [(str(k).strip(), str(v).strip()) for k, v in zip(keys, values, strict=False)]


def _check_conditions(rows: list[tuple[str, str]]) -> None:
    """What the API's object of attributes cannot say: a value with no attribute, or one
    attribute in two rows (a contact has one value of it; every row must hold)."""
    keys = [key for key, value in rows if key or value]
    if "" in keys:
        raise Invalid("a contact attribute condition needs the attribute's name, or clear its value",
                      "invalid_campaign")
    if twice := sorted(key for key, n in Counter(keys).items() if n > 1):
        raise Invalid(f"the contact attribute {twice[0]!r} is in two conditions: a contact has one value of it",
                      "invalid_campaign")


def _draft(campaign: Mapping[str, Any], typed: list[tuple[str, str]] | None = None,
           add: bool = False) -> dict[str, Any]:
    """A saved campaign as the form shows it; ``typed``: the attribute rows as posted (a
    refused form), ``add``: with one more ("Add condition" without JavaScript). One empty
    row follows the conditions, so one more can be written without a request."""
    schedule = campaign.get("schedule") or {}
    quiet = campaign.get("quiet_hours")
    by_kind = {m["channel"]: {**m, "order": i + 1} for i, m in enumerate(campaign.get("messages") or [])}
    if typed is None:
        typed = [(k, str(v)) for k, v in (campaign.get("audience") or {}).get("attributes", {}).items()]
    rows = typed if add else [r for r in typed if r != ("", "")]
    return {**campaign, "by_kind": by_kind, "when": "at" if "at" in schedule else "local" if "local" in schedule
            else "now", "at": (schedule.get("at") or "")[:16], "local": schedule.get("local") or "",
            "quiet": "default" if quiet is None else "none" if not quiet else "custom",
            "quiet_start": (quiet or {}).get("start", "21:00"), "quiet_end": (quiet or {}).get("end", "08:00"),
            "conditions": [*rows, ("", "")], "focus": len(rows) + 1 if add else None,
            "sms": _sms(by_kind.get("sms", {}).get("text") or ""), "sms_recipients": None}


def _sms(text: str) -> dict[str, Any]:
    """The counter's figures: the text's segments, and whether it holds variables (counted
    as written, where the check counts each message as it will read)."""
    return {**campaigns.sms_segments(text), "variables": "{{" in text}


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
        raw, rows = _from_form(form, kinds), _conditions(form)
        if form.get("then") == "condition":
            return await _form_again(request, viewer, raw, None, None, rows)
        try:
            _check_conditions(rows)
            made = await engine.create(ctx, viewer, raw, kinds)
        except InboxError as exc:
            return await _form_again(request, viewer, raw, exc, None, rows)
        return RedirectResponse(f"/campaigns/{made['id']}?{_then(form)}", status_code=303)
    context = await ctx.db.read(lambda c: _form_context(c, kinds))
    draft = _draft({"name": "", "purpose": "marketing", "audience": {}, "messages": [], "schedule": {},
                    "quiet_hours": None})
    return _render(request, "campaigns.html", viewer=viewer, view="new", draft=draft, channels=_channels(request),
                   **context)


async def _form_again(request: Request, viewer: Any, raw: dict[str, Any], exc: InboxError | None,
                      campaign: dict[str, Any] | None, rows: list[tuple[str, str]]) -> Response:
    """The form as it was typed: with the reason it was refused (422), or, without an
    error, with one more attribute row ("Add condition" without JavaScript), unsaved."""
    kinds = kinds_of(request)
    context = await request.app.state.ctx.db.read(lambda c: _form_context(c, kinds))
    shown = {**(campaign or {}), **raw, "id": (campaign or {}).get("id"), "status": "draft"}
    response = _render(request, "campaigns.html", viewer=viewer, view="new" if campaign is None else "campaign",
                       draft=_draft(shown, rows, add=exc is None), campaign=campaign,
                       form_error=exc.message if exc else None, channels=_channels(request),
                       status_words=STATUS_WORDS, **context)
    if exc is not None:
        response.status_code = exc.status
    return response


def _recipients(c: Connection, campaign_id: int, result: str | None, after: int) -> dict[str, Any]:
    """A page of the campaign's recipients (``result``: only those), with the next page's link."""
    recipients = found.recipient_page(c, campaign_id, result=result, after=after, limit=SHOWN)
    more = None
    if len(recipients) == SHOWN:
        more = f"/campaigns/{campaign_id}?" + urlencode({**({"result": result} if result else {}),
                                                          "after": recipients[-1]["id"]})
    return {"recipients": recipients, "result": result, "after": after, "more": more}


def _shown(request: Request) -> tuple[str | None, int]:
    """The recipients the page shows: ?result= (one result) and ?after= (the page)."""
    q = request.query_params
    return (q.get("result") if q.get("result") in found.RESULTS else None), parse_id(q.get("after", "")) or 0


WORDS = {"result_words": RESULT_WORDS, "status_words": STATUS_WORDS, "skip_words": campaigns.SKIP_WORDS,
         "fallback_words": engine.fallback_words}


async def campaign_page(request: Request) -> Response:
    """/campaigns/{id}: a draft's form and its check (?check=1), or a started one's results
    and recipients (?result= for one result)."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, kinds, campaign_id = request.app.state.ctx, kinds_of(request), path_id(request, "campaign")
    q = request.query_params
    result, after = _shown(request)

    def read(c: Connection) -> dict[str, Any] | None:
        campaign = found.get_campaign(c, campaign_id)
        if campaign is None:
            return None
        return {"campaign": engine.serialize_campaign(c, campaign), **_form_context(c, kinds),
                **_recipients(c, campaign_id, result, after)}
    got = await ctx.db.read(read)
    if got is None:
        raise NotFound("no such campaign")
    campaign = got["campaign"]
    check = await engine.check_before(ctx, campaign_id) if campaign["status"] == "draft" and q.get("check") else None
    draft = _draft(campaign)
    if check and check["by_channel"].get("sms"):
        draft["sms_recipients"] = check["by_channel"]["sms"]
    return _render(request, "campaigns.html", viewer=viewer, view="campaign", draft=draft, check=check,
                   channels=_channels(request), following=_following(campaign), done=q.get("done"),
                   error=q.get("error"), **WORDS, **got)


async def _lead_of_part(request: Request, empty: int) -> Any:
    """The lead asking for a part htmx swaps in; for a lapsed session an empty answer
    (``empty``: 204 swaps nothing, 286 stops polling) instead of the login page, which
    htmx would follow and swap in. Anyone else: the refusal (htmx swaps no error)."""
    viewer = await _lead(request)
    return Response(status_code=empty) if isinstance(viewer, RedirectResponse) else viewer


def _following(campaign: Mapping[str, Any]) -> bool:
    """Whether its page follows the campaign (polls its results): while it is to send. Not
    once done (receipts and replies that come after show on the next visit), paused or
    cancelled (nothing more goes)."""
    return campaign["status"] in ("scheduled", "sending")


async def results_part(request: Request) -> Response:
    """A started campaign's results, which its page polls every 2 s while it follows the
    campaign. ?status= is the status the page shows: once it has moved, or the page stops
    following, the header (status, Pause or Resume) and the recipients come too, out of band."""
    viewer = await _lead_of_part(request, 286)
    if isinstance(viewer, Response):
        return viewer
    campaign_id, (result, after) = path_id(request, "campaign"), _shown(request)

    def read(c: Connection) -> dict[str, Any] | None:
        campaign = found.get_campaign(c, campaign_id)
        return None if campaign is None else {"campaign": engine.serialize_campaign(c, campaign),
                                              **_recipients(c, campaign_id, result, after)}
    got = await request.app.state.ctx.db.read(read)
    if got is None:
        raise NotFound("no such campaign")
    following = _following(got["campaign"])
    moved = got["campaign"]["status"] != request.query_params.get("status") or not following
    parts = ["campaigns.html#results", *(("campaigns.html#head", "campaigns.html#recipients") if moved else ())]
    return _render(request, *parts, viewer=viewer, view="campaign", oob=True, channels=_channels(request),
                   following=following, **WORDS, **got)


async def sms_count(request: Request) -> Response:
    """The SMS text's characters, encoding and segments (domain.campaigns.sms_segments), and
    with ``recipients`` (the check's count by SMS) what the campaign costs: the form's
    counter, asked as the lead types."""
    viewer = await _lead_of_part(request, 204)
    if isinstance(viewer, Response):
        return viewer
    form = await request.form()
    draft = {"sms": _sms(str(form.get("sms_text", ""))),
             "sms_recipients": parse_id(str(form.get("recipients", "")))}
    return _render(request, "campaigns.html#sms_count", draft=draft)


async def condition_row(request: Request) -> Response:
    """One more empty attribute row ("Add condition"), after those the form has
    (?attribute_key= once a row)."""
    viewer = await _lead_of_part(request, 204)
    if isinstance(viewer, Response):
        return viewer
    n = len(request.query_params.getlist("attribute_key")) + 1
    return _render(request, "campaigns.html#condition", n=n, key="", value="", focus=True)


async def save_campaign(request: Request) -> Response:
    """A draft's form posted: saved, or shown again with the reason."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, kinds, campaign_id = request.app.state.ctx, kinds_of(request), path_id(request, "campaign")
    form = await request.form()
    raw, rows = _from_form(form, kinds), _conditions(form)
    refused: InboxError | None = None
    try:
        if form.get("then") != "condition":
            _check_conditions(rows)
            await engine.change(ctx, campaign_id, raw, kinds)
    except InboxError as exc:
        refused = exc
    if refused is not None or form.get("then") == "condition":
        campaign = await ctx.db.read(lambda c: found.get_campaign(c, campaign_id))
        if campaign is None:
            raise NotFound("no such campaign")
        return await _form_again(request, viewer, raw, refused, campaign, rows)
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
    Route("/campaigns/sms-count", sms_count, methods=["POST"]),
    Route("/campaigns/condition", condition_row),
    Route("/campaigns/{id}/results", results_part),
    Route("/campaigns/{id}", campaign_page),
    Route("/campaigns/{id}/save", save_campaign, methods=["POST"]),
    Route("/campaigns/{id}/{action:str}", move_campaign, methods=["POST"]),
]
