"""The agent web UI: server-rendered pages and the partials htmx swaps in.

One page, three panes (conversation list, conversation, contact). Each pane is its own
template (list.html, conversation.html, contact.html) that inbox.html includes for a page
load and that is rendered alone for an htmx request (``HX-Request``), so there is one copy
of the markup. Every form also works without
JavaScript: it posts, the server redirects back to the page. ui/static/app.js listens on
/ws and asks the server to re-render the panes an event touches.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.queries import scheduled as scheduled_reads
from inbox.actions import macros, scheduled
from inbox.actions.context import Context
from inbox.domain import csat, routing, serialize
from inbox.domain.access import Viewer
from inbox.domain.consent import Source
from inbox.domain.errors import InboxError, Invalid, NotFound, Unauthenticated
from inbox.domain.models import Priority
from ui.api.media import store_upload, viewable_html
from webhooks.registry import channels as registered_channels
from ui.auth import authenticate, csrf_token
from ui.http import form_id, parse_id
from ui.pages import sla as sla_view
from ui.pages.avatar import avatar_colour, initials

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
TEMPLATES.filters["zip"] = zip
TEMPLATES.filters.update(initials=initials, avatar_colour=avatar_colour)  # ui.html's avatar()
TEMPLATES.filters.update(sla_exact=sla_view.exact, sla_duration=sla_view.duration)  # sla.html's
TEMPLATES.globals.update(sla_timer=sla_view.timer, sla_kinds=sla_view.KIND_LABELS)
TEMPLATES.globals.update(csat_labels=csat.LABELS)
TABS = ("mine", "unassigned", "all")


def _render(request: Request, *parts: str, **context: Any) -> HTMLResponse:
    """The named templates, concatenated: a whole page, or the panes htmx swaps in. A part
    ``file.html#block`` is only that block of the file. Every page gets the session's CSRF
    token for its forms."""
    context["csrf"] = csrf_token(request)
    html = []
    for part in parts:
        name, _, block = part.partition("#")
        tpl = TEMPLATES.get_template(name)
        html.append("".join(tpl.blocks[block](tpl.new_context(context))) if block else tpl.render(**context))
    return HTMLResponse("".join(html))


async def _viewer(request: Request) -> Viewer | None:
    try:
        return await authenticate(request)
    except Unauthenticated:
        return None


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def login_page(request: Request) -> Response:
    throttled = request.query_params.get("throttled", "")
    return _render(request, "login.html", next=request.query_params.get("next", "/inbox"),
                   failed=bool(request.query_params.get("failed")),
                   throttled=max(parse_id(throttled) or 0, 0))


async def home(request: Request) -> Response:
    return RedirectResponse("/inbox", status_code=303)


async def _filters(request: Request, viewer: Viewer) -> dict[str, Any]:
    """The list's tab (mine, unassigned, all, or team:<id> for each of the viewer's teams
    and, for leads, every team) and filters, from the query string. Without ?tab, the
    landing tab the user chose in /settings, else by role."""
    q = request.query_params
    landing = "all" if viewer.sees_all else "mine"  # leads and admins land where their work is: everything
    if "tab" not in q:
        chosen = (await request.app.state.ctx.db.read(
            lambda c: queries.get_preferences(c, viewer.user_id)))["landing_tab"]
        if chosen and (not chosen.startswith("team:") or viewer.sees_all or int(chosen[5:]) in viewer.team_ids):
            landing = chosen
    tab = q.get("tab", landing)
    if tab not in TABS and not (tab.startswith("team:") and parse_id(tab[5:]) is not None):
        tab = landing
    status = q.get("status") if q.get("status") in ("open", "pending", "snoozed", "resolved", "") else "open"
    inbox = q.get("inbox", "")
    label, priority = q.get("label", ""), q.get("priority", "")
    return {"tab": tab, "status": status, "channel": q.get("channel") or "", "q": q.get("q") or "",
            "inbox": inbox if parse_id(inbox) is not None else "",
            # one label (an id or a name) and one priority: the list's two filters
            "label": label.strip()[:100],
            "priority": priority if priority in {p.value for p in Priority} else "",
            # the SLA filter (due_soon, breached, running) and the order (sla_due: the soonest due first)
            "sla": q.get("sla") if q.get("sla") in queries.SLA_FILTERS else "",
            "sort": "sla_due" if q.get("sort") == "sla_due" else ""}


async def _list(request: Request, viewer: Viewer, f: dict[str, Any]) -> dict[str, Any]:
    team = int(f["tab"][5:]) if f["tab"].startswith("team:") else None
    by_tab: dict[str, int | str] = {"mine": viewer.user_id, "unassigned": "none"}
    assignee = by_tab.get(f["tab"])

    def read(c: Any) -> dict[str, Any]:
        labels = queries.list_labels(c)
        # A label in the address that no longer exists (deleted since) is left out, not an error page.
        known, _ = queries.find_labels(c, [f["label"]] if f["label"] else [])
        page = queries.list_conversations(
            c, viewer, status=f["status"] or None, assignee=assignee, team=team, channel=f["channel"] or None,
            inbox=int(f["inbox"]) if f["inbox"] else None, labels=[label["id"] for label in known],
            priority=[f["priority"]] if f["priority"] else [], q=f["q"] or None, limit=50,
            sla=f["sla"] or None, sort=f["sort"] or "recent")
        page["labels"] = labels
        page["now"] = serialize.iso(request.app.state.ctx.clock.now())  # what the SLA chips count from
        teams = queries.list_teams(c)
        page["teams"] = teams if viewer.sees_all else [t for t in teams if t["id"] in viewer.team_ids]
        page["inboxes"] = [{"id": i["id"], "name": i["name"], "kind": i["kind"]} for i in queries.list_inboxes(c)]
        page["counts"] = queries.tab_counts(c, viewer, f["status"] or None, [t["id"] for t in page["teams"]])
        page["users"] = {u["id"]: u for u in queries.list_users(c)}
        return page
    return await request.app.state.ctx.db.read(read)  # type: ignore[no-any-return]


TIMELINE_PAGE = 50  # items a conversation opens with; "Load earlier" pages back by as many


async def _conversation(request: Request, viewer: Viewer, conversation_id: int,
                        before: str | None = None) -> dict[str, Any]:
    ctx = request.app.state.ctx

    def read(c: Any) -> dict[str, Any]:
        conv = actions.access_conversation(c, viewer, conversation_id)
        conv["reply_channels"] = queries.reply_channels(c, conversation_id, ctx.clock.now(), ctx.reply_windows)
        timeline = queries.timeline(c, conversation_id, before=before, limit=TIMELINE_PAGE)
        contact = queries.contact_panel(c, conv["contact"]["id"], viewer, ctx.clock.now())
        users = {u["id"]: u for u in queries.list_users(c)}
        teams = queries.list_teams(c)
        inbox_kinds = {i["id"]: i["kind"] for i in queries.list_inboxes(c, include_deleted=True)}
        for item in timeline["items"]:
            if item["type"] == "message" and (item.get("payload") or {}).get("html"):
                item["payload"]["html"], item["remote_images"] = viewable_html(ctx, item["payload"]["html"])
        subjects = [i["payload"]["subject"] for i in timeline["items"]
                    if i["type"] == "message" and (i.get("payload") or {}).get("subject")]
        subject = subjects[-1] if subjects else None
        if subject and not subject.lower().startswith("re:"):
            subject = "Re: " + subject
        now = ctx.clock.now()
        return {"conv": conv, "reply": _reply_state(conv["reply_channels"]), "timeline": timeline["items"],
                "sla": sla_view.view(queries.sla_detail(c, conversation_id), now), "now": serialize.iso(now),
                "earlier": timeline["next_cursor"],
                "contact": contact, "users": users, "teams": teams,
                "inbox_kinds": inbox_kinds, "subject": subject, "all_labels": queries.list_labels(c),
                "priorities": [p.value for p in Priority], "macros": macros.list_macros(c, viewer),
                "scheduled": scheduled_reads.for_conversation(c, conversation_id)}
    return await ctx.db.read(read)  # type: ignore[no-any-return]


def _reply_state(channels: list[dict[str, Any]]) -> dict[str, Any]:
    """The channel the composer starts on (the customer's latest, else the first that can
    send, else the first) and what it allows: "open", "template" (only a template can go)
    or "blocked". The composer and its live-rendered reply state both read it."""
    chosen = next((c for c in channels if c["default"]), None) or next(
        (c for c in channels if c["available"]), None) or (channels[0] if channels else None)
    state = ("open" if chosen is None or chosen["available"] else
             "template" if chosen["template_required"] else "blocked")
    return {"chosen": chosen, "state": state}


def _channels(request: Request) -> dict[str, Any]:
    """The channels served, by kind: the templates draw each one's badge from its declaration."""
    return {c.kind: c for c in request.app.state.registry.channels()}


def _common(request: Request, viewer: Viewer, f: dict[str, Any]) -> dict[str, Any]:
    return {"viewer": viewer, "f": f, "tabs": TABS, "channels": _channels(request)}


async def inbox_page(request: Request) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    f = await _filters(request, viewer)
    context: dict[str, Any] = {**_common(request, viewer, f), "page": await _list(request, viewer, f), "open": None}
    selected = parse_id(request.query_params.get("c"))
    if selected is not None:
        try:
            context["open"] = await _conversation(request, viewer, selected)
        except InboxError:
            context["open"] = None
    context["presence"] = await request.app.state.ctx.db.read(lambda c: queries.presence_of(c, viewer.user_id))
    return _render(request, "inbox.html", **context)


async def list_partial(request: Request) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    f = await _filters(request, viewer)
    selected = parse_id(request.query_params.get("c"))
    context = {**_common(request, viewer, f), "page": await _list(request, viewer, f),
               "open": {"conv": {"id": selected}} if selected is not None else None}
    if request.query_params.get("part") != "rows":
        return _render(request, "list.html", **context)
    # The tabs and rows alone, each swapped in by its id; the address bar follows the filters.
    response = _render(request, "list.html#tabs", "list.html#rows", oob=True, **context)
    keep = {k: v for k, v in f.items() if v or k == "status"} | ({"c": str(selected)} if selected is not None else {})
    response.headers["HX-Replace-Url"] = "/inbox?" + urlencode(keep)
    return response


async def conversation_partial(request: Request) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    f = await _filters(request, viewer)
    part = request.query_params.get("part")
    before = request.query_params.get("before") if part == "earlier" else None
    try:
        opened = await _conversation(request, viewer, form_id(request.path_params["id"], "id"), before)
    except InboxError:
        return HTMLResponse('<section id="conversation" class="pane empty">This conversation is not available.'
                            '</section>', status_code=404)
    if part == "earlier":  # the page of the timeline before ``before``, put above what is shown
        return _render(request, "conversation.html#items", **_common(request, viewer, f), open=opened)
    if part in ("timeline", "state"):  # a live refresh that leaves the composer and what is typed alone
        return _render(request, f"conversation.html#{part}", "conversation.html#reply_state",
                       **_common(request, viewer, f), open=opened)
    return _render(request, "conversation.html", "contact.html", **_common(request, viewer, f), open=opened,
                   oob=True)


# An action may answer what the re-rendered pane shows besides (the mention warning of a note).
ConversationAction = Callable[[Context, Viewer, int, FormData], Awaitable[dict[str, Any] | None]]


def conversation_action(act: ConversationAction, *, rerender: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """The route handler of one conversation action of the UI (``act(ctx, viewer,
    conversation_id, form)``): it checks the viewer, reads the form, runs the action and
    answers with the re-rendered conversation pane for htmx (the action's error shown in
    it), or a redirect to the page for a plain form post. ``rerender=False``: an htmx
    request that succeeded gets an empty 204 (nothing on the page to replace)."""
    @functools.wraps(act)
    async def endpoint(request: Request) -> Response:
        viewer = await _viewer(request)
        if viewer is None:
            return _to_login(request)
        ctx: Context = request.app.state.ctx
        cid = form_id(request.path_params["id"], "conversation id")
        form = await request.form(max_files=1, max_part_size=ctx.settings.max_media_bytes)
        error = None
        draft = None  # a refused message comes back in the composer: the agent's text is never lost
        extra = None
        try:
            extra = await act(ctx, viewer, cid, form)
        except InboxError as exc:
            error = exc.message
            draft = {"text": str(form.get("text", "")), "mode": str(form.get("mode", "reply"))}
        finally:
            await form.close()  # an uploaded file's temporary copy
        if request.headers.get("hx-request") != "true":
            return RedirectResponse(f"/inbox?c={cid}", status_code=303)
        if not rerender and error is None:
            return Response(status_code=204)
        return await _conversation_pane(request, viewer, cid, error, draft, extra)
    return endpoint


async def _conversation_pane(request: Request, viewer: Viewer, cid: int, error: str | None,
                             draft: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Response:
    f = await _filters(request, viewer)
    try:
        opened = await _conversation(request, viewer, cid)
    except InboxError:
        return HTMLResponse('<section id="conversation" class="pane empty">This conversation is no longer yours '
                            'to see.</section>')
    return _render(request, "conversation.html", "contact.html", **_common(request, viewer, f), open=opened,
                   error=error, draft=draft, oob=True, **(extra or {}))


async def send(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> dict[str, Any] | None:
    """The composer: a reply (a template once the reply window has closed, an attachment)
    or, in note mode, an internal note (and who it mentioned in vain, to warn the writer)."""
    text = str(form.get("text", ""))
    if form.get("mode") == "note":
        note = await actions.add_note(ctx, viewer, cid, text)
        return {"not_notified": note.get("not_notified") or []}
    inbox_id = str(form.get("inbox_id") or "")
    template = None
    if form.get("template"):  # "name|language", chosen when the reply window has closed
        name, _, language = str(form["template"]).partition("|")
        params = [p.strip() for p in str(form.get("template_params") or "").split(",") if p.strip()]
        template = {"name": name, "language": language or "en_US", "parameters": params}
    upload = form.get("file")
    if form.get("later"):  # "Send later": at the customer's time, or the agent's own
        if isinstance(upload, UploadFile) and upload.filename:
            raise Invalid("a scheduled reply cannot carry an attachment: send the file now, or schedule the text",
                          "invalid_schedule")
        raw: dict[str, Any] = {"text": text, "inbox_id": form_id(inbox_id, "inbox") if inbox_id else None}
        if template is not None:
            raw["template"] = template
        at = str(form.get("send_at") or "")
        if not at:
            raise Invalid("pick the date and time to send it at", "invalid_schedule")
        if form.get("send_zone") == "mine":
            raw["at"] = _agent_time(at, str(form.get("tz_offset") or ""), "invalid_schedule").isoformat()
        else:
            raw["local"] = at
        await scheduled.schedule_reply(ctx, viewer, cid, raw)
        return None
    attachments = []
    if isinstance(upload, UploadFile) and upload.filename:
        stored = await store_upload(ctx, upload, viewer.user_id)
        attachments = [{k: v for k, v in stored.items() if k != "handle"}]
    await actions.send_reply(ctx, viewer, cid, text, template=template, attachments=attachments,
                             inbox_id=form_id(inbox_id, "inbox") if inbox_id else None)
    return None


async def cancel_scheduled(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await scheduled.cancel(ctx, viewer, form_id(form.get("scheduled_id"), "scheduled_id"))


async def assign(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await actions.assign_conversation(ctx, viewer, cid, _assignment(str(form.get("assignee", "")), viewer))


async def set_status(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    until = None
    if form.get("status") == "snoozed":
        at = str(form.get("until_utc") or form.get("until_at") or "")
        until = _snooze_until(ctx.clock.now(), str(form.get("until", "")), at, str(form.get("tz_offset") or ""))
    await actions.set_status(ctx, viewer, cid, str(form.get("status", "")), until)


async def mark_read(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await actions.mark_read(ctx, viewer, cid)


async def retry(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await actions.retry_message(ctx, viewer, form_id(form.get("message_id"), "message_id"))


async def change_labels(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    """The header's label menu: its ticked boxes (``label``) out of those it showed
    (``labels_shown``, comma-separated ids); or ids (or names) to ``add`` and ``remove``."""
    def refs(name: str) -> list[int | str]:
        return [v for v in (str(x).strip() for x in form.getlist(name)) if v]
    add, remove = refs("add"), refs("remove")
    if "labels_shown" in form:
        ticked = set(refs("label"))
        add += sorted(ticked)
        remove += [v for v in str(form["labels_shown"]).split(",") if v and v not in ticked]
    await actions.change_labels(ctx, viewer, cid, add=add, remove=remove)


async def set_priority(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await actions.set_priority(ctx, viewer, cid, str(form.get("priority", "")))


async def run_macro(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    await macros.run_macro(ctx, viewer, cid, form_id(form.get("macro_id"), "macro_id"))


async def edit_contact(ctx: Context, viewer: Viewer, cid: int, form: FormData) -> None:
    """The contact pane's forms: merge with another contact (posted from the confirmation,
    see ``merge_confirmation``), record consent, rename, or set an attribute (its Remove button, or an
    empty value, removes it)."""
    contact_id = form_id(form.get("contact_id"), "contact_id")
    key, value = str(form.get("key", "")).strip(), str(form.get("value", "")).strip()
    if form.get("merge_with"):
        other = form_id(form["merge_with"], "the other contact's id")
        await actions.merge_contacts(ctx, viewer, contact_id, other)
    elif form.get("consent_channel"):
        await actions.record_consent(ctx, viewer, contact_id, {
            "channel": str(form["consent_channel"]), "purpose": str(form.get("consent_purpose", "")),
            "state": str(form.get("consent_state", "")), "proof": str(form.get("consent_proof", ""))},
            [c.kind for c in registered_channels()], Source.agent)
    elif form.get("name") is not None:
        await actions.update_contact(ctx, viewer, contact_id, {"name": str(form["name"]).strip()})
    elif key:
        removing = form.get("remove") is not None or not value
        await actions.update_contact(ctx, viewer, contact_id, {"attributes": {key: None if removing else value}})


async def contact_search(request: Request) -> Response:
    """The merge search of the contact pane: contacts the viewer may see whose name, phone,
    email or handle contains ``q``, without ``exclude`` (the contact being kept); each one
    offers the merge confirmation for conversation ``c``."""
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    q = request.query_params.get("q", "").strip()
    keep = form_id(request.query_params.get("exclude"), "exclude")
    cid = form_id(request.query_params.get("c"), "c")
    found = await request.app.state.ctx.db.read(
        lambda c: queries.search_contacts(c, q, 10, viewer=viewer, exclude=keep) if q else [])
    return _render(request, "contact_candidates.html", candidates=found, keep_id=keep, conversation_id=cid,
                   channels=_channels(request), searched=q)


async def merge_confirmation(request: Request) -> Response:
    """What merging contact ``other`` into contact ``{id}`` would move, with Merge (posted to
    the conversation's contact form) and Cancel: nothing merges without this step."""
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    keep = form_id(request.path_params["id"], "contact id")
    other, cid = form_id(request.query_params.get("other"), "other"), form_id(request.query_params.get("c"), "c")
    preview = await request.app.state.ctx.db.read(lambda c: queries.merge_preview(c, keep, other, viewer))
    if preview is None:  # shown as a toast by app.js
        raise NotFound("that contact cannot be merged into this one")
    return _render(request, "contact_confirm.html", preview=preview, conversation_id=cid,
                   channels=_channels(request))


def _assignment(target: str, viewer: Viewer) -> dict[str, Any]:
    """The assign forms' choice: "me", "user:<id>", "team:<id>" or "team:none" (the agent stays) or "none"
    (for an agent, who may not change the team: nobody in the same team)."""
    kind, _, ident = target.partition(":")
    if target == "me":
        return {"user_id": viewer.user_id}
    if target == "none":
        return {"user_id": None, "team_id": None} if viewer.sees_all else {"user_id": None}
    if target == "team:none":
        return {"team_id": None}
    if kind in ("user", "team") and (number := parse_id(ident)) is not None:
        return {f"{kind}_id": number}
    raise Invalid("pick someone to assign to", "invalid_assignee")


def _offset(tz_offset: str) -> timedelta:
    """The browser's Date.getTimezoneOffset() (minutes behind UTC); none given: UTC."""
    return timedelta(minutes=int(tz_offset)) if re.fullmatch(r"-?\d{1,4}", tz_offset) and \
        abs(int(tz_offset)) <= 18 * 60 else timedelta(0)


def _agent_time(at: str, tz_offset: str, code: str) -> datetime:
    """A datetime-local field the agent filled in, on their clock (``tz_offset``), in UTC."""
    try:
        local = datetime.fromisoformat(at)
    except ValueError:
        raise Invalid(f"{at[:40]!r} is not a date and time", code) from None
    return local.replace(tzinfo=timezone.utc) + _offset(tz_offset) if local.tzinfo is None else local


def _snooze_until(now: datetime, choice: str, at: str = "", tz_offset: str = "") -> datetime:
    """When a snooze from the conversation header ends, read at ``now``: ``at`` if given (the browser's UTC
    reading of the agent's datetime-local field, or without JavaScript the field itself),
    else a preset ("1h", "4h", "tomorrow" at 09:00, "week"). ``tz_offset`` is the browser's
    Date.getTimezoneOffset(), minutes behind UTC; without it the agent's clock is taken to
    be UTC."""
    offset = _offset(tz_offset)
    if at:
        until = _agent_time(at, tz_offset, "invalid_snooze")
        if not now < until <= now + timedelta(days=366):
            raise Invalid("a snooze ends in the future, within a year", "invalid_snooze")
        return until
    if choice == "tomorrow":
        local_now = now - offset
        return (local_now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0) + offset
    return now + {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "week": timedelta(days=7)}.get(
        choice, timedelta(hours=1))


VIEWING_TTL = 45.0  # seconds a heartbeat keeps an agent listed as viewing a conversation


class Presence:
    """Who has which conversation open, from the heartbeats; in this process's memory.
    Bounded: an entry goes ``ttl`` seconds after its last heartbeat (a sweep of the whole
    map every ``ttl``), and at most ``max_conversations`` are tracked (the longest-tracked
    goes first): heartbeats on conversations never opened again cannot pile up."""

    def __init__(self, ttl: float = VIEWING_TTL, max_conversations: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_conversations, self.clock = ttl, max_conversations, clock
        self.seen: dict[int, dict[int, float]] = {}  # conversation -> user -> last heartbeat
        self._next_sweep = 0.0

    def beat(self, conversation_id: int, user_id: int) -> list[int]:
        """Record that ``user_id`` is looking at the conversation; the others who are."""
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        here = self.seen.get(conversation_id)
        if here is None:
            while len(self.seen) >= self.max_conversations:
                del self.seen[next(iter(self.seen))]
            here = self.seen[conversation_id] = {}
        here[user_id] = now
        return [uid for uid, at in here.items() if uid != user_id and now - at <= self.ttl]

    def _sweep(self, now: float) -> None:
        for cid in list(self.seen):
            here = {uid: at for uid, at in self.seen[cid].items() if now - at <= self.ttl}
            if here:
                self.seen[cid] = here
            else:
                del self.seen[cid]
        self._next_sweep = now + self.ttl


async def viewing(request: Request) -> Response:
    """Heartbeat of an open conversation (ui/static/app.js, every 15 s): records that this
    agent is looking at it and answers who else is; only for a conversation the agent may
    see (anyone else learns nothing, and is not recorded)."""
    viewer = await _viewer(request)
    if viewer is None:
        return Response(status_code=401)
    cid = int(request.path_params["id"])
    ctx = request.app.state.ctx
    try:
        await ctx.db.read(lambda c: actions.access_conversation(c, viewer, cid))
    except InboxError:
        return Response(status_code=404)
    state = request.app.state
    if not hasattr(state, "viewing"):
        state.viewing = Presence()
    others = state.viewing.beat(cid, viewer.user_id)
    names = []
    if others:
        users = {u["id"]: u["name"] for u in await ctx.db.read(queries.list_users)}
        names = [users.get(uid, f"#{uid}") for uid in others]
    return _render(request, "conversation.html#viewers", viewers=names, open={"conv": {"id": cid}}, beat=True)


# The board's groups of waiting conversations (queries.why_waiting's codes), in this order:
# first what a lead can fix (nobody there to take them), last what routing is about to do.
REASONS = {"nobody_online": "Nobody online", "at_capacity": "Everyone at capacity", "nobody": "Nobody to take them",
           "manual": "Assigned by hand", "next": "Next in line"}


def waited(seconds: float | None) -> str:
    """How long a customer has waited, as the board shows it (ui/static/queue.js ticks it
    on in the same words)."""
    if seconds is None:
        return ""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d {minutes // 60 % 24} h"


TEMPLATES.filters["waited"] = waited


async def queue_page(request: Request) -> Response:
    """The team lead's board: who is waiting and why they are not assigned, and the agents
    with their presence and load; ?team= and ?reason= filter it."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    if not viewer.sees_all:
        return HTMLResponse("<p>The queue view is for team leads and admins.</p>", status_code=403)
    q = request.query_params
    return _render(request, "queue.html#queue" if request.headers.get("hx-request") == "true" else "queue.html",
                   **await _queue(request, viewer, q.get("team"), q.get("reason"), q.get("done"), q.get("error")))


async def _queue(request: Request, viewer: Viewer, team: Any, reason: Any, message: str | None = None,
                 error: str | None = None) -> dict[str, Any]:
    ctx = request.app.state.ctx

    def read(c: Any) -> dict[str, Any]:
        return {**queries.routing_queue(c, ctx.clock.now()), "presence": queries.presence_of(c, viewer.user_id)}
    board = await ctx.db.read(read)
    team_id = parse_id(str(team or ""))
    team_id = team_id if any(t["id"] == team_id for t in board["teams"]) else None
    waiting, agents = board["waiting"], board["agents"]
    if team_id is not None:
        waiting = [c for c in waiting if team_id in c["pool_team_ids"]]  # its team's, or its inbox's
        agents = [a for a in agents if team_id in a["team_ids"]]
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for c in waiting:
        by_reason.setdefault(c["reason"], []).append(c)
    labels = {**REASONS, **{code: code.replace("_", " ").capitalize() for code in by_reason if code not in REASONS}}
    reason = reason if reason in labels else ""
    counts = {code: len(by_reason.get(code, [])) for code in labels}
    groups = [(code, label, by_reason[code]) for code, label in labels.items() if counts[code] and reason in ("", code)]
    for a in agents:
        a["load_text"] = routing.load_text(a["load"], a["capacity"])
        a["load_percent"] = 100 if a["capacity"] <= 0 else min(100, round(100 * a["load"] / a["capacity"]))
    filters = {k: v for k, v in (("team", team_id), ("reason", reason)) if v not in (None, "")}

    def href(**change: Any) -> str:
        chosen = {k: v for k, v in {**filters, **change}.items() if v not in (None, "")}
        return "/queue" + ("?" + urlencode(chosen) if chosen else "")
    reason_links = [("", "All", len(waiting), href(reason=""))] + [
        (code, label, counts[code], href(reason=code)) for code, label in labels.items() if counts[code]]
    return {"viewer": viewer, "presence": board["presence"], "channels": _channels(request), "groups": groups,
            "reason_links": reason_links, "shown": sum(len(g[2]) for g in groups),
            "total_waiting": board["total_waiting"], "agents": agents, "teams": board["teams"],
            "team_names": {t["id"]: t["name"] for t in board["teams"]}, "team": team_id, "reason": reason,
            "filters": filters, "refresh": href(),
            "message": message, "error": error}


async def queue_assign(request: Request) -> Response:
    """Assign the checked conversations (or the one dragged onto an agent, or picked in a
    card's menu) to one agent or team. Without htmx, back to the board (?done=N); with it,
    the board itself."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    form = await request.form()
    filters = {k: str(form[k]) for k in ("team", "reason") if form.get(k)}
    moved, error = 0, None
    try:
        changes = _assignment(str(form.get("assignee", "")), viewer)
    except InboxError as exc:
        error = exc.message
    else:
        for raw in form.getlist("conversation"):
            try:
                await actions.assign_conversation(request.app.state.ctx, viewer, form_id(raw, "conversation"), changes)
                moved += 1
            except InboxError:
                continue
    if request.headers.get("hx-request") == "true" and viewer.sees_all:
        return _render(request, "queue.html#queue", **await _queue(
            request, viewer, filters.get("team"), filters.get("reason"), None if error else str(moved), error))
    query = {"error": error} if error else {"done": moved}
    return RedirectResponse("/queue?" + urlencode({**query, **filters}), status_code=303)


async def presence_menu(request: Request) -> Response:
    """The top bar's user menu with the viewer's presence (topbar.html#user_menu): GET it
    (ui/static/presence.js, when it changes), or POST ``status`` (online or away) from its
    Online / Away buttons; without htmx, back to the page the form was on."""
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request) if request.method == "POST" else Response(status_code=401)
    ctx = request.app.state.ctx
    if request.method == "POST":
        form = await request.form()
        await actions.choose_presence(ctx, viewer, str(form.get("status", "")))
        if request.headers.get("hx-request") != "true":
            back = urlsplit(request.headers.get("referer", ""))
            same_site = back.netloc == request.url.netloc and back.path.startswith("/")
            return RedirectResponse((back.path + (f"?{back.query}" if back.query else "")) if same_site else "/inbox",
                                    status_code=303)
    presence = await ctx.db.read(lambda c: queries.presence_of(c, viewer.user_id))
    return _render(request, "topbar.html#user_menu", viewer=viewer, presence=presence)


routes = [
    Route("/", home),
    Route("/login", login_page, methods=["GET"]),
    Route("/inbox", inbox_page),
    Route("/ui/list", list_partial),
    Route("/ui/conversations/{id:int}", conversation_partial),
    Route("/ui/conversations/{id:int}/viewing", viewing, methods=["POST"]),
    Route("/ui/conversations/{id:int}/send", conversation_action(send), methods=["POST"]),
    Route("/ui/conversations/{id:int}/scheduled-cancel", conversation_action(cancel_scheduled), methods=["POST"]),
    Route("/ui/conversations/{id:int}/assign", conversation_action(assign), methods=["POST"]),
    Route("/ui/conversations/{id:int}/status", conversation_action(set_status), methods=["POST"]),
    # sent in the background when a conversation is opened: nothing to re-render
    Route("/ui/conversations/{id:int}/read", conversation_action(mark_read, rerender=False), methods=["POST"]),
    Route("/ui/conversations/{id:int}/retry", conversation_action(retry), methods=["POST"]),
    Route("/ui/conversations/{id:int}/labels", conversation_action(change_labels), methods=["POST"]),
    Route("/ui/conversations/{id:int}/priority", conversation_action(set_priority), methods=["POST"]),
    Route("/ui/conversations/{id:int}/macro", conversation_action(run_macro), methods=["POST"]),
    Route("/ui/conversations/{id:int}/contact", conversation_action(edit_contact), methods=["POST"]),
    Route("/ui/contacts/search", contact_search),
    Route("/ui/contacts/{id:int}/merge", merge_confirmation),
    Route("/ui/me/presence", presence_menu, methods=["GET", "POST"]),
    Route("/queue", queue_page),
    Route("/queue/assign", queue_assign, methods=["POST"]),
]
