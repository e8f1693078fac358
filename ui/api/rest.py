"""The JSON REST API under /api (documented in docs/api.md). Routes parse and check
input, call an action (inbox.actions) or a query (inbox.queries), and shape the answer; nothing else."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.actions import inboxes
from inbox.domain import autoreply, csat, keywords, serialize
from inbox.domain.access import Viewer
from inbox.domain.credentials import hash_password
from inbox.domain.errors import Forbidden, Invalid, NotFound
from inbox.domain.models import Priority, Role
from inbox.domain.records import Conversation
from webhooks.registry import channels
from ui.api import automation as automation_api
from ui.api import calendars
from ui.api import campaigns as campaigns_api
from ui.api import consent as consent_api
from ui.api import reports as reports_api
from ui.api import scheduled as scheduled_api
from ui.api import sla as sla_api
from ui.api import webhooks as webhooks_api
from ui.api.media import REPLY_ATTACHMENT, reply_attachments
from ui.api.openapi import ID, IDS, NULLABLE_ID, STRING, TEXT, body, limit, takes
from ui.auth import credentials, csrf_token, requires
from ui.http import ctx_of, json_body, parse_id

JSON_LIMIT = 256 * 1024
NULLABLE_STRING = {"type": ["string", "null"], "maxLength": 1000}
ROLE = {"enum": [r.value for r in Role]}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 1000}
SHORT_CODE = {"type": "string", "pattern": "^/?[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$"}
PRIORITY = {"enum": [p.value for p in Priority]}
LABEL_REFS = {"type": "array", "items": {"anyOf": [ID, STRING]}, "maxItems": 100}
COLOUR = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}


def _int(value: Any, name: str, *, optional: bool = False) -> int | None:
    """An id (or a count) from a body or a query: within the 64-bit range ids have."""
    if value is None or value == "":
        if optional:
            return None
        raise Invalid(f"{name} is required", "missing_field")
    number = parse_id(value)
    if number is None:
        raise Invalid(f"{name} must be an integer (of at most 64 bits)", "invalid_field")
    return number


def _ids(data: dict[str, Any], name: str) -> list[int]:
    ids = data.get(name) or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and parse_id(i) is not None for i in ids):
        raise Invalid(f"{name} must be a list of user ids", "invalid_field")
    return ids


def _path_id(request: Request, name: str = "id") -> int:
    number = parse_id(request.path_params[name])
    if number is None:  # no row has such an id
        raise NotFound("not found")
    return number


def _str(data: dict[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", "invalid_field")
    if required and not value.strip():
        raise Invalid(f"{name} is required", "missing_field")
    return value


def _limit(request: Request, default: int = 25, cap: int = 100) -> int:
    n = _int(request.query_params.get("limit"), "limit", optional=True) or default
    return max(1, min(n, cap))


def _datetime(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return dt.astimezone(timezone.utc) if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: a time zone past year 1 or 9999
        raise Invalid(f"{name} must be an ISO 8601 time", "invalid_field") from None


# -- me -----------------------------------------------------------------------------------

@requires()
async def me(request: Request, viewer: Viewer) -> Response:
    user = await ctx_of(request).db.read(lambda c: queries.get_user(c, viewer.user_id))
    assert user is not None
    extra = {"csrf_token": csrf_token(request)} if credentials(request)[1] is not None else {}
    return JSONResponse({**serialize.user_dict(user), "team_ids": sorted(viewer.team_ids), **extra})


# -- notifications and preferences -------------------------------------------------------

@takes(query={"unread": {"enum": ["true", "false"]}, "cursor": STRING, "limit": limit(100)})
@requires()
async def list_notifications(request: Request, viewer: Viewer) -> Response:
    """The viewer's notifications, newest first, with their unread count."""
    q = request.query_params
    unread, cursor, n = q.get("unread") == "true", q.get("cursor") or None, _limit(request)
    return JSONResponse(await ctx_of(request).db.read(
        lambda c: queries.list_notifications(c, viewer.user_id, unread=unread, cursor=cursor, limit=n)))


@takes(body(ids=IDS, all={"type": "boolean"}, conversation_id=ID))
@requires()
async def read_notifications(request: Request, viewer: Viewer) -> Response:
    """Mark the viewer's notifications read: {"ids": [...]}, {"conversation_id": id} or {"all": true}."""
    data = await json_body(request, JSON_LIMIT)
    everything = data.get("all", False)
    if not isinstance(everything, bool):
        raise Invalid("all must be true or false", "invalid_field")
    ids = _ids(data, "ids")
    conversation_id = _int(data.get("conversation_id"), "conversation_id", optional=True)
    if not everything and not ids and conversation_id is None:
        raise Invalid('say which: {"ids": [...]}, {"conversation_id": id} or {"all": true}', "missing_field")
    return JSONResponse(await actions.mark_notifications_read(
        ctx_of(request), viewer, ids=ids, conversation_id=conversation_id, everything=everything))


PREFERENCES = body(notify={"type": "object", "properties": {k: {"type": "boolean"} for k in serialize.NOTIFY_KINDS},
                           "additionalProperties": False},
                   desktop={"type": "boolean"}, sound={"type": "boolean"},
                   landing_tab={"type": ["string", "null"], "maxLength": 30},
                   away_after_minutes={"type": ["integer", "null"], "minimum": 1, "maximum": 480})


@requires()
async def get_preferences(request: Request, viewer: Viewer) -> Response:
    """The viewer's own preferences."""
    return JSONResponse(await ctx_of(request).db.read(lambda c: queries.get_preferences(c, viewer.user_id)))


@takes(PREFERENCES)
@requires()
async def patch_preferences(request: Request, viewer: Viewer) -> Response:
    """Change the viewer's own preferences (the keys given)."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_preferences(ctx_of(request), viewer, data))


# -- conversations ------------------------------------------------------------------------

@takes(query={"status": {"enum": ["open", "pending", "snoozed", "resolved"]},
             "assignee": {"anyOf": [{"enum": ["me", "none"]}, ID]}, "team": ID,
             "channel": {"enum": [c.kind for c in channels()]}, "inbox": ID,
             "label": {"type": "array", "items": STRING}, "priority": {"type": "array", "items": PRIORITY},
             "q": STRING, "cursor": STRING, "limit": limit(100),
             "sla": {"enum": ["due_soon", "breached", "running"]}, "sort": {"enum": ["recent", "sla_due"]}})
@requires()
async def list_conversations(request: Request, viewer: Viewer) -> Response:
    q = request.query_params
    assignee: int | str | None = q.get("assignee") or None
    if assignee == "me":
        assignee = viewer.user_id
    elif assignee not in (None, "none"):
        assignee = _int(assignee, "assignee")
    status = q.get("status") or None
    if status and status not in {"open", "pending", "snoozed", "resolved"}:
        raise Invalid("status must be open, pending, snoozed or resolved", "invalid_status")
    channel = q.get("channel") or None
    if channel and not request.app.state.registry.supports(channel):
        raise Invalid("unknown channel", "invalid_channel")
    args = dict(status=status, assignee=assignee, team=_int(q.get("team"), "team", optional=True),
                channel=channel, inbox=_int(q.get("inbox"), "inbox", optional=True),
                labels=[v for v in q.getlist("label") if v], priority=[v for v in q.getlist("priority") if v],
                q=q.get("q") or None, sla=q.get("sla") or None, sort=_sort(q.get("sort")),
                cursor=q.get("cursor") or None, limit=_limit(request))
    page = await ctx_of(request).db.read(lambda c: queries.list_conversations(c, viewer, **args))  # type: ignore[arg-type]
    return JSONResponse(page)


def _sort(value: str | None) -> str:
    if value in (None, "", "recent", "sla_due"):
        return value or "recent"
    raise Invalid("sort must be recent or sla_due", "invalid_sort")


@requires()
async def get_conversation(request: Request, viewer: Viewer) -> Response:
    cid, ctx = _path_id(request), ctx_of(request)

    def read(c: Any) -> Conversation:
        conv = actions.access_conversation(c, viewer, cid)
        conv["reply_channels"] = queries.reply_channels(c, cid, ctx.clock.now(), ctx.reply_windows)
        conv["sla_detail"] = queries.sla_detail(c, cid)
        return conv
    return JSONResponse(await ctx.db.read(read))


@takes(body(closed=True, priority=PRIORITY))
@requires()
async def patch_conversation(request: Request, viewer: Viewer) -> Response:
    """Change a conversation's priority."""
    data = await json_body(request, JSON_LIMIT)
    unknown = set(data) - {"priority"}
    if unknown:
        raise Invalid(f"unknown conversation fields: {', '.join(sorted(unknown))}", "unknown_field")
    ctx, cid = ctx_of(request), _path_id(request)
    if "priority" in data:
        return JSONResponse(await actions.set_priority(ctx, viewer, cid, _str(data, "priority")))
    return JSONResponse(await ctx.db.read(lambda c: actions.access_conversation(c, viewer, cid)))


@takes(body(add=LABEL_REFS, remove=LABEL_REFS))
@requires()
async def post_labels(request: Request, viewer: Viewer) -> Response:
    """Add and remove labels on a conversation, by id or name."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.change_labels(ctx_of(request), viewer, _path_id(request),
                                                    data.get("add", []), data.get("remove", [])))


@takes(query={"before": STRING, "limit": limit(200)})
@requires()
async def get_timeline(request: Request, viewer: Viewer) -> Response:
    cid = _path_id(request)
    before = request.query_params.get("before") or None
    limit = _limit(request, 50, 200)

    def read(c: Any) -> dict[str, Any]:
        actions.access_conversation(c, viewer, cid)
        return queries.timeline(c, cid, before=before, limit=limit)
    return JSONResponse(await ctx_of(request).db.read(read))


@takes(body(text=TEXT, inbox_id=ID, attachments={"type": "array", "items": REPLY_ATTACHMENT, "maxItems": 10},
           template=body(("name",), name=STRING, language=STRING,
                         parameters={"type": "array", "items": {"type": ["string", "number"]}})),
       headers={"Idempotency-Key": {"type": "string", "maxLength": 200}})
@requires()
async def post_message(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    attachments = reply_attachments(ctx_of(request), viewer, data.get("attachments"))
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > 200:
        raise Invalid("Idempotency-Key is limited to 200 characters", "invalid_idempotency_key")
    message, replayed = await actions.send_reply(
        ctx_of(request), viewer, _path_id(request), _str(data, "text", required=False),
        inbox_id=_int(data.get("inbox_id"), "inbox_id", optional=True), attachments=attachments,
        template=_template(data.get("template")), idempotency_key=key)
    return JSONResponse(message, status_code=200 if replayed else 202,
                        headers={"Idempotent-Replayed": "true"} if replayed else None)


def _template(value: Any) -> dict[str, Any] | None:
    """{"name": "order_update", "language": "en_US", "parameters": ["Dana", "#1234"]}"""
    if value is None:
        return None
    if (not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]
            or not isinstance(value.get("language", "en_US"), str)
            or not isinstance(value.get("parameters", []), list)
            or not all(isinstance(p, str | int | float) for p in value.get("parameters", []))):
        raise Invalid('template must be {"name": str, "language": str, "parameters": [str, ...]}', "invalid_template")
    return {"name": value["name"], "language": value.get("language", "en_US"),
            "parameters": [str(p) for p in value.get("parameters", [])]}


@requires()
async def get_raw(request: Request, viewer: Viewer) -> Response:
    """The provider's untouched payload of a message we could not show fully."""
    mid = _path_id(request)

    def read(c: Any) -> dict[str, Any]:
        message = queries.get_raw(c, mid)
        if message is None:
            raise NotFound("no such message")
        actions.access_conversation(c, viewer, message["conversation_id"])
        return {"message_id": mid, "raw": message["raw"]}
    return JSONResponse(await ctx_of(request).db.read(read))


@takes(body(("text",), text=TEXT, mentions=IDS))
@requires()
async def post_note(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    note = await actions.add_note(ctx_of(request), viewer, _path_id(request), _str(data, "text"),
                                   _ids(data, "mentions"))
    return JSONResponse(note, status_code=201)


@takes(body(user_id=NULLABLE_ID, team_id=NULLABLE_ID))
@requires()
async def post_assignment(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    changes: dict[str, int | None] = {key: _int(data[key], key, optional=True) for key in ("user_id", "team_id")
                                      if key in data}
    return JSONResponse(await actions.assign_conversation(ctx_of(request), viewer, _path_id(request), changes))


@takes(body(("status",), status={"enum": ["open", "pending", "snoozed", "resolved"]},
           snoozed_until={"type": ["string", "null"], "format": "date-time"}))
@requires()
async def post_status(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    conv = await actions.set_status(ctx_of(request), viewer, _path_id(request), _str(data, "status"),
                                     _datetime(data.get("snoozed_until"), "snoozed_until"))
    return JSONResponse(conv)


@requires()
async def post_read(request: Request, viewer: Viewer) -> Response:
    return JSONResponse(await actions.mark_read(ctx_of(request), viewer, _path_id(request)))


@requires()
async def retry_message(request: Request, viewer: Viewer) -> Response:
    return JSONResponse(await actions.retry_message(ctx_of(request), viewer, _path_id(request)), status_code=202)


# -- contacts -----------------------------------------------------------------------------

@takes(query={"q": STRING, "limit": limit(200)})
@requires()
async def list_contacts(request: Request, viewer: Viewer) -> Response:
    q = request.query_params.get("q", "")
    limit = _limit(request, 50, 200)
    return JSONResponse({"items": await ctx_of(request).db.read(lambda c: queries.search_contacts(c, q, limit))})


@requires()
async def get_contact(request: Request, viewer: Viewer) -> Response:
    cid = _path_id(request)
    contact = await ctx_of(request).db.read(lambda c: queries.get_contact(c, cid, viewer=viewer))
    if contact is None:
        raise NotFound("no such contact")
    return JSONResponse(contact)


@requires()
async def contact_duplicates(request: Request, viewer: Viewer) -> Response:
    """Likely duplicates of a contact (same name, email or phone), for a merge."""
    cid = _path_id(request)

    def read(c: Any) -> list[Any] | None:
        if queries.get_contact(c, cid, full=False) is None:
            return None
        return queries.likely_duplicates(c, cid, viewer)
    found = await ctx_of(request).db.read(read)
    if found is None:
        raise NotFound("no such contact")
    return JSONResponse({"items": found})


@takes(body(closed=True, name=NULLABLE_STRING, email=NULLABLE_STRING, phone=NULLABLE_STRING,
           avatar_url=NULLABLE_STRING, attributes={"type": "object"}))
@requires()
async def patch_contact(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_contact(ctx_of(request), viewer, _path_id(request), data))


@takes(body(("other_id",), other_id=ID))
@requires()
async def merge_contact(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    other = _int(data.get("other_id"), "other_id")
    assert other is not None
    return JSONResponse(await actions.merge_contacts(ctx_of(request), viewer, _path_id(request), other))


# -- admin --------------------------------------------------------------------------------

def _inbox_out(request: Request, inbox: dict[str, Any]) -> dict[str, Any]:
    return inboxes.describe(request.app.state.registry, inbox)


@requires(Role.admin)
async def list_inboxes(request: Request, viewer: Viewer) -> Response:
    inboxes = await ctx_of(request).db.read(queries.list_inboxes)
    return JSONResponse({"items": [_inbox_out(request, i) for i in inboxes]})


@takes(body(("kind", "name"), kind={"enum": [c.kind for c in channels()]}, name=STRING,
           settings={"type": "object"}))
@requires(Role.admin)
async def create_inbox(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    kind, name = _str(data, "kind"), _str(data, "name")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise Invalid("settings must be an object", "invalid_settings")
    inbox = await inboxes.setup_inbox(ctx_of(request), request.app.state.registry, kind, name, settings)
    await request.app.state.directory.reload()
    return JSONResponse(_inbox_out(request, inbox), status_code=201)


@requires(Role.admin)
async def get_inbox(request: Request, viewer: Viewer) -> Response:
    iid = _path_id(request)
    inbox = await ctx_of(request).db.read(lambda c: queries.get_inbox(c, iid))
    if inbox is None:
        raise NotFound("no such inbox")
    return JSONResponse(_inbox_out(request, inbox))


ROUTING = {"type": "object", "description": "routing policy keys to set (null: back to the inherited value); "
                                           "docs/routing.md"}


AUTO_REPLY_TEXT = {"type": "object", "properties": {
    "enabled": {"type": "boolean"}, "text": {"type": "string", "maxLength": autoreply.MAX_TEXT_CHARS}}}
AUTO_REPLY = {"type": "object", "description": "the out-of-office (closed) and acknowledgement (open) replies; "
                                              "docs/time.md",
              "properties": {"closed": AUTO_REPLY_TEXT, "open": AUTO_REPLY_TEXT}}


CSAT = {"type": "object", "description": "the satisfaction survey asked on resolve; docs/csat.md", "properties": {
    "mode": {"type": "string", "enum": list(csat.MODES)},
    "question": {"type": "string", "maxLength": csat.MAX_QUESTION_CHARS},
    "interval_days": {"type": "integer", "minimum": 0, "maximum": 365},
    "expiry_days": {"type": "integer", "minimum": 1, "maximum": 365},
    "whatsapp_template": {"type": ["object", "null"], "properties": {
        "name": {"type": "string"}, "language": {"type": "string"}}}}}


_WORDS = {"type": "array", "maxItems": keywords.MAX_WORDS, "items": {"type": "string"}}
_KEYWORD_REPLY = {"type": "string", "maxLength": keywords.MAX_REPLY_CHARS}
KEYWORDS = {"type": "object", "description": "opt-out words and keyword replies; docs/automation.md", "properties": {
    "stop": _WORDS, "start": _WORDS, "help": _WORDS, "stop_reply": _KEYWORD_REPLY, "start_reply": _KEYWORD_REPLY,
    "help_reply": _KEYWORD_REPLY, "rules": {"type": "array", "maxItems": keywords.MAX_RULES, "items": {
        "type": "object", "properties": {"word": {"type": "string"}, "reply": _KEYWORD_REPLY, "label_ids": IDS}}}}}


@takes(body(name=STRING, settings={"type": "object"}, active={"type": "boolean"}, routing=ROUTING,
            calendar_id=NULLABLE_ID, auto_reply=AUTO_REPLY, csat=CSAT, keywords=KEYWORDS))
@requires(Role.admin)
async def patch_inbox(request: Request, viewer: Viewer) -> Response:
    """Rename, reconfigure, or disable (``active``: false) or enable an inbox, or change
    how its conversations are routed (``routing``), its business hours (``calendar_id``),
    automatic replies (``auto_reply``), satisfaction survey (``csat``) and keywords (``keywords``)."""
    iid = _path_id(request)
    data = await json_body(request, JSON_LIMIT)
    replies: dict[str, Any] = {k: data[k] for k in ("calendar_id", "auto_reply", "csat", "keywords") if k in data}
    if replies:
        await ctx_of(request).db.write(lambda tx: actions.set_auto_reply(tx, iid, replies, ctx_of(request).clock.now()))
        if data.keys() <= replies.keys():
            inbox = await ctx_of(request).db.read(lambda c: queries.get_inbox(c, iid))
            assert inbox is not None
            return JSONResponse(_inbox_out(request, inbox))
    if "routing" in data:
        await actions.change_routing(ctx_of(request), "inbox", iid, data["routing"])
        if data.keys() == {"routing"}:
            inbox = await ctx_of(request).db.read(lambda c: queries.get_inbox(c, iid))
            assert inbox is not None
            return JSONResponse(_inbox_out(request, inbox))
    patch = data.get("settings")
    if patch is not None and not isinstance(patch, dict):
        raise Invalid("settings must be an object", "invalid_settings")
    active = data.get("active")
    if active is not None and not isinstance(active, bool):
        raise Invalid("active must be true or false", "invalid_field")
    name = _str(data, "name") if "name" in data else None
    inbox = await inboxes.reconfigure_inbox(ctx_of(request), request.app.state.registry, iid, name, patch)
    if active is not None:
        inbox = await ctx_of(request).db.write(lambda tx: actions.set_inbox_active(tx, iid, active))
    await request.app.state.directory.reload()
    return JSONResponse(_inbox_out(request, inbox))


@requires(Role.admin)
async def delete_inbox(request: Request, viewer: Viewer) -> Response:
    """Delete an inbox: its conversations and messages stay; webhooks to it are refused."""
    iid = _path_id(request)
    ctx = ctx_of(request)
    await ctx.db.write(lambda tx: actions.delete_inbox(tx, iid, ctx.clock.now()))
    await request.app.state.directory.reload()
    return Response(status_code=204)


@requires()
async def list_templates(request: Request, viewer: Viewer) -> Response:
    """Message templates of an inbox (WhatsApp), for replies outside the reply window."""
    iid = _path_id(request)
    inbox = await ctx_of(request).db.read(lambda c: queries.get_inbox(c, iid))
    if inbox is None:
        raise NotFound("no such inbox")
    inboxes.adapter_for(request.app.state.registry, inbox["kind"])  # 422 for a kind no longer served
    return JSONResponse({"items": await request.app.state.registry.templates(inbox)})


@requires(Role.admin)
async def list_users(request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_users)})


@takes(body(("email", "password"), email={"type": "string", "pattern": "^[^@]+@[^@]+$", "maxLength": 320},
           name=STRING, role=ROLE, password=PASSWORD))
@requires(Role.admin)
async def create_user(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    password = _str(data, "password")
    if len(password) < 8:
        raise Invalid("password must be at least 8 characters", "weak_password")
    pw_hash = await asyncio.to_thread(hash_password, password)
    email, name, role = _str(data, "email"), _str(data, "name", required=False), _str(data, "role", default="agent")
    user = await ctx_of(request).db.write(
        lambda tx: actions.create_user(tx, email=email, name=name, role=role, password_hash=pw_hash))
    return JSONResponse(user, status_code=201)


@takes(body(name=STRING, role=ROLE, active={"type": "boolean"}, password=PASSWORD))
@requires(Role.admin)
async def patch_user(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    changes: dict[str, Any] = {}
    for key in ("name", "role"):
        if key in data:
            changes[key] = _str(data, key)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise Invalid("active must be true or false", "invalid_field")
        changes["active"] = data["active"]
    if "password" in data:
        password = _str(data, "password")
        if len(password) < 8:
            raise Invalid("password must be at least 8 characters", "weak_password")
        changes["password_hash"] = await asyncio.to_thread(hash_password, password)
    uid = _path_id(request)
    if uid == viewer.user_id and (changes.get("role", Role.admin) != Role.admin or changes.get("active") is False):
        raise Invalid("you cannot demote or deactivate yourself", "cannot_demote_self")  # as in the admin page
    return JSONResponse(await ctx_of(request).db.write(lambda tx: actions.update_user(tx, uid, changes)))


@takes(body(password=PASSWORD))
@requires(Role.admin)
async def reset_password(request: Request, viewer: Viewer) -> Response:
    """Set a user's password, or generate one (no ``password``: it is in the answer, this
    once); every session of the user ends."""
    data = await json_body(request, JSON_LIMIT)
    password = _str(data, "password") if data.get("password") is not None else None
    user, generated = await actions.reset_password(ctx_of(request), _path_id(request), password)
    return JSONResponse({"user": user, **({"password": generated} if generated else {})})


@requires()
async def list_teams(request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_teams)})


@takes(body(("name",), name=STRING, member_ids=IDS))
@requires(Role.admin)
async def create_team(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    name, members = _str(data, "name"), _ids(data, "member_ids")
    return JSONResponse(await ctx_of(request).db.write(lambda tx: actions.create_team(tx, name, members)),
                        status_code=201)


@takes(body(name=STRING, member_ids=IDS, routing=ROUTING, calendar_id=NULLABLE_ID))
@requires(Role.admin)
async def patch_team(request: Request, viewer: Viewer) -> Response:
    """Rename a team, set its members, override its conversations' routing policy, or
    point it at a calendar (``calendar_id``, null for none)."""
    data = await json_body(request, JSON_LIMIT)
    tid = _path_id(request)
    if "routing" in data:
        await actions.change_routing(ctx_of(request), "team", tid, data["routing"])
    name = _str(data, "name") if "name" in data else None
    members = _ids(data, "member_ids") if "member_ids" in data else None
    calendar = actions.calendar_ref(data["calendar_id"]) if "calendar_id" in data else None

    def job(tx: Any) -> Any:
        if "calendar_id" in data:
            actions.set_calendar(tx, "team", tid, calendar, ctx_of(request).clock.now())
        return actions.update_team(tx, tid, name=name, member_ids=members)
    return JSONResponse(await ctx_of(request).db.write(job))


@requires(Role.admin)
async def delete_team(request: Request, viewer: Viewer) -> Response:
    """Delete a team that holds no conversation (409 otherwise: move them first)."""
    tid = _path_id(request)
    await ctx_of(request).db.write(lambda tx: actions.delete_team(tx, tid))
    return Response(status_code=204)


@takes(body(user_id=ID, name=STRING))
@requires()
async def create_token(request: Request, viewer: Viewer) -> Response:
    """A token for yourself; an admin may create one for any user (``user_id``)."""
    data = await json_body(request, JSON_LIMIT)
    uid = _token_user(viewer, data.get("user_id"))
    if await ctx_of(request).db.read(lambda c: queries.get_user(c, uid)) is None:
        raise Invalid("no such user", "unknown_user")
    name = _str(data, "name", required=False)
    token = await ctx_of(request).db.write(lambda tx: actions.create_token(tx, uid, name))
    return JSONResponse({"token": token, "user_id": uid, "name": name}, status_code=201)


@takes(query={"user_id": ID})
@requires()
async def list_tokens(request: Request, viewer: Viewer) -> Response:
    """Your tokens (never the tokens themselves); an admin may ask for another user's (``?user_id=``)."""
    uid = _token_user(viewer, request.query_params.get("user_id"))
    return JSONResponse({"items": await ctx_of(request).db.read(lambda c: queries.list_tokens(c, uid))})


@requires()
async def delete_token(request: Request, viewer: Viewer) -> Response:
    """Revoke a token: your own, or anyone's for an admin."""
    tid = _path_id(request)
    await ctx_of(request).db.write(lambda tx: actions.revoke_token(tx, viewer, tid))
    return Response(status_code=204)


def _token_user(viewer: Viewer, user_id: Any) -> int:
    uid = _int(user_id, "user_id", optional=True) or viewer.user_id
    if uid != viewer.user_id and viewer.role != Role.admin:
        raise Forbidden("only an admin can manage another user's tokens")
    return uid


@requires()
async def list_labels(request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_labels)})


@takes(body(("name", "colour"), name=STRING, colour=COLOUR, description=STRING))
@requires(Role.admin)
async def create_label(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    label = await actions.create_label(ctx_of(request), viewer, _str(data, "name"), _str(data, "colour"),
                                       _str(data, "description", required=False))
    return JSONResponse(label, status_code=201)


@takes(body(closed=True, name=STRING, colour=COLOUR, description=STRING))
@requires(Role.admin)
async def patch_label(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_label(ctx_of(request), viewer, _path_id(request), data))


@requires(Role.admin)
async def delete_label(request: Request, viewer: Viewer) -> Response:
    await actions.delete_label(ctx_of(request), viewer, _path_id(request))
    return Response(status_code=204)


@requires()
async def list_canned(request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_canned)})


@takes(body(("short_code", "text"), short_code=SHORT_CODE, text=TEXT))
@requires(Role.admin)
async def create_canned(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    code, text = _str(data, "short_code"), _str(data, "text")
    return JSONResponse(await ctx_of(request).db.write(lambda tx: actions.save_canned(
        tx, canned_id=None, short_code=code, text=text, author_id=viewer.user_id)), status_code=201)


@takes(body(short_code=SHORT_CODE, text=TEXT))
@requires(Role.admin)
async def patch_canned(request: Request, viewer: Viewer) -> Response:
    data = await json_body(request, JSON_LIMIT)
    cid = _path_id(request)
    current = await ctx_of(request).db.read(lambda c: queries.get_canned(c, cid))
    if current is None:
        raise NotFound("no such canned response")
    code = _str(data, "short_code") if "short_code" in data else current["short_code"]
    text = _str(data, "text") if "text" in data else current["text"]
    return JSONResponse(await ctx_of(request).db.write(lambda tx: actions.save_canned(
        tx, canned_id=cid, short_code=code, text=text, author_id=viewer.user_id)))


@requires(Role.admin)
async def delete_canned(request: Request, viewer: Viewer) -> Response:
    cid = _path_id(request)
    await ctx_of(request).db.write(lambda tx: actions.delete_canned(tx, cid))
    return Response(status_code=204)


# -- routing and presence ------------------------------------------------------------------

@requires()
async def get_presence(request: Request, viewer: Viewer) -> Response:
    """The viewer's own presence."""
    return JSONResponse(await ctx_of(request).db.read(lambda c: queries.presence_of(c, viewer.user_id)))


@takes(body(("status",), status={"enum": ["online", "away"]}))
@requires()
async def put_presence(request: Request, viewer: Viewer) -> Response:
    """Say you are online or away (offline follows from closing the app)."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.choose_presence(ctx_of(request), viewer, _str(data, "status")))


@requires()
async def list_agents(request: Request, viewer: Viewer) -> Response:
    """Every active user with their presence, open conversations per channel, weighted
    load, capacity and whether they can take more."""
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_agents)})


@takes(body(capacity={"type": ["integer", "null"], "minimum": 0, "maximum": 1000}))
@requires(Role.lead)
async def patch_agent(request: Request, viewer: Viewer) -> Response:
    """Set an agent's own capacity (null: their policy's)."""
    data = await json_body(request, JSON_LIMIT)
    if "capacity" not in data:
        raise Invalid("nothing to change: give capacity", "invalid_field")
    uid, ctx = _path_id(request), ctx_of(request)
    agent = await ctx.db.write(lambda tx: actions.set_capacity(tx, viewer, uid, data["capacity"], ctx.clock.now()))
    ctx.wake_routing()
    return JSONResponse(agent)


@requires()
async def agent_presence(request: Request, viewer: Viewer) -> Response:
    """An agent's presence changes, newest first, each with its cause."""
    uid = _path_id(request)
    if uid != viewer.user_id and not viewer.sees_all:
        raise Forbidden("only a lead sees another agent's presence history")
    return JSONResponse({"items": await ctx_of(request).db.read(lambda c: queries.presence_history(c, uid))})


@requires(Role.lead)
async def get_queue(request: Request, viewer: Viewer) -> Response:
    """The waiting queue (unassigned open and pending conversations, longest waiting
    first, each with why it is not assigned) and the agents."""
    ctx = ctx_of(request)
    return JSONResponse(await ctx.db.read(lambda c: queries.routing_queue(c, ctx.clock.now())))


routes = [
    Route("/api/me", me),
    Route("/api/me/presence", get_presence),
    Route("/api/me/presence", put_presence, methods=["PUT"]),
    Route("/api/agents", list_agents),
    Route("/api/agents/{id}", patch_agent, methods=["PATCH"]),
    Route("/api/agents/{id}/presence", agent_presence),
    Route("/api/queue", get_queue),
    Route("/api/me/preferences", get_preferences),
    Route("/api/me/preferences", patch_preferences, methods=["PATCH"]),
    Route("/api/notifications", list_notifications),
    Route("/api/notifications/read", read_notifications, methods=["POST"]),
    Route("/api/conversations", list_conversations),
    Route("/api/conversations/{id}", get_conversation),
    Route("/api/conversations/{id}", patch_conversation, methods=["PATCH"]),
    Route("/api/conversations/{id}/labels", post_labels, methods=["POST"]),
    Route("/api/conversations/{id}/timeline", get_timeline),
    Route("/api/conversations/{id}/messages", post_message, methods=["POST"]),
    Route("/api/conversations/{id}/notes", post_note, methods=["POST"]),
    Route("/api/conversations/{id}/assignment", post_assignment, methods=["POST"]),
    Route("/api/conversations/{id}/status", post_status, methods=["POST"]),
    Route("/api/conversations/{id}/read", post_read, methods=["POST"]),
    Route("/api/messages/{id}/retry", retry_message, methods=["POST"]),
    Route("/api/messages/{id}/raw", get_raw),
    Route("/api/contacts", list_contacts),
    Route("/api/contacts/{id}", get_contact),
    Route("/api/contacts/{id}", patch_contact, methods=["PATCH"]),
    Route("/api/contacts/{id}/duplicates", contact_duplicates),
    Route("/api/contacts/{id}/merge", merge_contact, methods=["POST"]),
    Route("/api/inboxes", list_inboxes),
    Route("/api/inboxes", create_inbox, methods=["POST"]),
    Route("/api/inboxes/{id}", get_inbox),
    Route("/api/inboxes/{id}", patch_inbox, methods=["PATCH"]),
    Route("/api/inboxes/{id}", delete_inbox, methods=["DELETE"]),
    Route("/api/inboxes/{id}/templates", list_templates),
    Route("/api/users", list_users),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{id}", patch_user, methods=["PATCH"]),
    Route("/api/users/{id}/password", reset_password, methods=["POST"]),
    Route("/api/teams", list_teams),
    Route("/api/teams", create_team, methods=["POST"]),
    Route("/api/teams/{id}", patch_team, methods=["PATCH"]),
    Route("/api/teams/{id}", delete_team, methods=["DELETE"]),
    Route("/api/tokens", list_tokens),
    Route("/api/tokens", create_token, methods=["POST"]),
    Route("/api/labels", list_labels),
    Route("/api/labels", create_label, methods=["POST"]),
    Route("/api/labels/{id}", patch_label, methods=["PATCH"]),
    Route("/api/labels/{id}", delete_label, methods=["DELETE"]),
    *sla_api.ROUTES,
    *consent_api.ROUTES,
    *campaigns_api.ROUTES,
    *scheduled_api.ROUTES,
    *automation_api.ROUTES,
    *reports_api.ROUTES,
    *webhooks_api.ROUTES,
    Route("/api/canned_responses", list_canned),
    Route("/api/canned_responses", create_canned, methods=["POST"]),
    Route("/api/canned_responses/{id}", patch_canned, methods=["PATCH"]),
    Route("/api/canned_responses/{id}", delete_canned, methods=["DELETE"]),
    Route("/api/tokens/{id}", delete_token, methods=["DELETE"]),
] + calendars.ROUTES
