"""Replies an agent sends, and retrying one that failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from inbox import queries
from inbox.actions import reports, sla
from inbox.actions.common import _update_message, access_conversation, preview
from inbox.actions.context import Context
from inbox.actions.conversations import assign_in
from inbox.domain import campaigns, metrics, serialize
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.channels import ReplyWindow
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.domain.events import (
    MESSAGE_CREATED,
)
from inbox.domain.models import DeliveryStatus, Direction
from inbox.domain.records import Dict, Message
from inbox.domain.tables import (
    CONVERSATIONS,
    IDENTITIES,
    INBOXES,
    JOBS,
    MESSAGES,
    REPLY_FALLBACKS,
)
from inbox.storage.db import Tx

MAX_TEXT_CHARS = 10_000


async def send_reply(ctx: Context, viewer: Viewer, conversation_id: int, text: str, *,
                     inbox_id: int | None = None, attachments: list[Dict] | None = None,
                     template: Dict | None = None, idempotency_key: str | None = None) -> tuple[Message, bool]:
    """Queue a reply and its delivery job in one transaction. Returns (message, replayed):
    replayed is True when the Idempotency-Key was seen before and nothing new was queued.
    ``template`` ({"name", "language", "parameters"}) sends an approved template, the only
    thing a channel with a closed reply window (WhatsApp's 24 hours) accepts."""
    text = text.strip()
    attachments = attachments or []
    if template is not None:  # the customer reads the template, not what was typed beside it
        text = await _template_text(ctx, conversation_id, inbox_id, template)
    if not text and not attachments:
        raise Invalid("a reply needs text or an attachment", "empty_message")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"a reply is limited to {MAX_TEXT_CHARS} characters", "text_too_long")
    payload = {"template": template} if template is not None else None
    take = ctx.settings.assign_on_reply
    result = await ctx.db.write(lambda tx: _queue_reply(tx, viewer, conversation_id, text, inbox_id, attachments,
                                                        payload, idempotency_key, ctx.reply_windows,
                                                        ctx.clock.now(), take))
    if not result[1]:
        ctx.wake_delivery()
    return result


async def _template_text(ctx: Context, conversation_id: int, inbox_id: int | None, template: Dict) -> str:
    """What a template send says: the template's text with its parameters put in, as the
    inbox's channel lists it; a description where the channel gives no text."""
    params = [str(p) for p in template.get("parameters", [])]

    def inbox_of(conn: Any) -> Dict | None:
        conv = queries.get_conversation(conn, conversation_id)
        chosen = inbox_id or (conv["inbox_id"] if conv else None)
        return queries.get_inbox(conn, chosen) if chosen is not None else None
    inbox = await ctx.db.read(inbox_of)
    listed = await ctx.templates(inbox) if inbox is not None else []
    found = next((t for t in listed if t.get("name") == template["name"]
                  and t.get("language", template["language"]) == template["language"]), None)
    if found and found.get("text"):
        names = [str(n) for n in found.get("parameters") or []]
        values = dict(zip(names, params)) | {str(i): p for i, p in enumerate(params, start=1)}
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), str(found["text"]))
    return f"[template {template['name']} ({template['language']})]" + (f": {', '.join(params)}" if params else "")


def _queue_reply(tx: Tx, viewer: Viewer, conversation_id: int, text: str, inbox_id: int | None,
                 attachments: list[Dict], payload: Dict | None, idempotency_key: str | None,
                 windows: Mapping[str, ReplyWindow], now: datetime, take: bool = False) -> tuple[Message, bool]:
    """``take``: an unassigned conversation becomes the replier's (INBOX_ASSIGN_ON_REPLY)."""
    conn = tx.conn
    if idempotency_key:
        prior = conn.execute(select(MESSAGES).where(MESSAGES.c.author_id == viewer.user_id,
                                                    MESSAGES.c.idempotency_key == idempotency_key)).first()
        if prior is not None:
            if prior.conversation_id != conversation_id:
                raise Conflict("this Idempotency-Key was used for another request", "idempotency_key_reused")
            return serialize.message_dict(prior), True
    conv = access_conversation(conn, viewer, conversation_id)
    inbox_id = inbox_id or conv["inbox_id"]
    channels = {c["inbox_id"]: c for c in queries.reply_channels(conn, conversation_id, now, windows)}
    choice = channels.get(inbox_id) if inbox_id is not None else None
    if choice is None:
        raise Invalid("no channel to reply through: pick an inbox_id from the conversation's reply_channels",
                      "no_channel")
    is_template = bool(payload and "template" in payload)
    if is_template and not (choice["kind"] in windows and windows[choice["kind"]].templates):
        raise Invalid(f"{choice['kind']} has no message templates", "templates_unsupported")
    if not choice["available"] and not (choice["template_required"] and is_template):
        code = ("window_closed" if choice["window"] is not None and not choice["window"]["open"] else
                "recipient_opted_out" if "opted out" in (choice["reason"] or "") else "channel_unavailable")
        raise Conflict(choice["reason"], code)
    if take and conv["assignee_id"] is None:
        conv = assign_in(tx, viewer, conv, {"user_id": viewer.user_id}, now)
    message = write_outbound(tx, conversation_id, conv["contact"]["id"], choice, text, now, author_id=viewer.user_id,
                             attachments=attachments, payload=payload, idempotency_key=idempotency_key)
    return message, False


def write_outbound(tx: Tx, conversation_id: int, contact_id: int, choice: Mapping[str, Any], text: str,
                   now: datetime, *, author_id: int | None, attachments: list[Dict] | None = None,
                   payload: Dict | None = None, idempotency_key: str | None = None,
                   automatic: str | None = None) -> Message:
    """A message to the customer through ``choice`` (one of ``queries.reply_channels``, checked
    by the caller), queued with its delivery job, and its ``message.created``: what an agent's
    reply and an automatic one (``automatic``: its kind, author None) both write.

    An agent's reply answers the customer: the conversation's latest message, read, no
    longer waiting. An automatic one answers nothing: waiting_since (how long the customer has
    waited for a person; SLA and reports read it), unread and the list's latest message stay
    the customer's, and only auto_replied_at records it."""
    conn = tx.conn
    attachments = attachments or []
    fallback = _fallback_of(conn, choice["inbox_id"], automatic)
    if fallback is not None:  # expire unsent (where the provider can: Twilio) before the fallback goes
        payload = {**(payload or {}), "validity_seconds": max(60, fallback[1] * 60 - campaigns.VALIDITY_MARGIN)}
    identity_id = conn.execute(select(IDENTITIES.c.id).where(
        IDENTITIES.c.contact_id == contact_id, IDENTITIES.c.handle == choice["handle"],
        IDENTITIES.c.kind == choice["kind"])).scalar_one()
    message_id = conn.execute(insert(MESSAGES).values(
        conversation_id=conversation_id, inbox_id=choice["inbox_id"], direction=Direction.outbound,
        identity_id=identity_id, author_id=author_id, text=text, attachments=attachments, payload=payload,
        status=DeliveryStatus.queued, idempotency_key=idempotency_key, automatic=automatic, created_at=now,
        updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
    reports.apply(conn, conversation_id, lambda p: metrics.outbound(
        p, now, choice["inbox_id"], choice["kind"], author_id, automatic is not None, reports.timer(conn)))
    conn.execute(insert(JOBS).values(message_id=message_id, kind="send", attachment=0, state="pending", attempts=0,
                                     next_attempt_at=now, created_at=now))
    if fallback is not None:
        conn.execute(insert(REPLY_FALLBACKS).values(
            message_id=message_id, conversation_id=conversation_id, fallback_inbox_id=fallback[0],
            due_at=now + timedelta(minutes=fallback[1]), state="waiting", created_at=now, updated_at=now))
    # (A satisfaction survey or a campaign's message is no reply at all: it leaves the
    # auto-reply interval, and the list's order, alone.)
    touched: Dict = ({"auto_replied_at": now} if automatic not in (None, "csat", "campaign", FALLBACK)
                     else {} if automatic else {
        "last_message_at": now, "last_message_preview": preview(text, attachments),
        "last_message_direction": Direction.outbound, "unread_count": 0, "updated_at": now,
        "waiting_since": None})  # the customer has their answer
    if touched:
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(**touched))
    if automatic is None:
        sla.sync(tx, conversation_id, now)  # ... and the response target is met
    message = queries.get_message(conn, message_id)
    conversation = queries.get_conversation(conn, conversation_id)
    assert message is not None and conversation is not None
    scopes = conversation_scopes(conversation["assignee_id"], conversation["team_id"])
    tx.emit(MESSAGE_CREATED, {"message": message, "conversation": conversation}, scopes)
    return message


FALLBACK = "fallback"  # the ``automatic`` of a message sent again through an inbox's fallback
FALLS_BACK = (None, "reminder")  # the messages an inbox's fallback is for: agents' and reminders'


def _fallback_of(conn: Any, inbox_id: int, automatic: str | None) -> tuple[int, int] | None:
    """The inbox and minutes a message through ``inbox_id`` falls back to, if it has one."""
    if automatic not in FALLS_BACK:
        return None
    settings = conn.execute(select(INBOXES.c.settings).where(INBOXES.c.id == inbox_id)).scalar() or {}
    target = settings.get(campaigns.FALLBACK_INBOX)
    return (int(target), int(settings.get(campaigns.FALLBACK_MINUTES) or campaigns.DEFAULT_FALLBACK_MINUTES)
            ) if target else None


async def retry_message(ctx: Context, viewer: Viewer, message_id: int) -> Message:
    """An agent asks to send a failed reply again: a fresh delivery job, attempts from zero."""
    def job(tx: Tx) -> Message:
        row = tx.conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
        if row is None:
            raise NotFound("no such message")
        access_conversation(tx.conn, viewer, row.conversation_id)
        if row.direction != Direction.outbound or row.status != DeliveryStatus.failed:
            raise Conflict("only a failed reply can be retried", "not_failed")
        to = tx.conn.execute(select(IDENTITIES).where(IDENTITIES.c.id == row.identity_id)).first()
        if to is not None and to.opted_out:
            raise Conflict(f"{to.handle} has opted out of {to.kind} messages", "recipient_opted_out")
        now = ctx.clock.now()
        tx.conn.execute(update(JOBS).where(JOBS.c.message_id == message_id, JOBS.c.kind == "send").values(
            state="pending", attempts=0, next_attempt_at=now, lease_until=None, last_error=None))
        return _update_message(tx, message_id, {"status": DeliveryStatus.queued, "error_code": None,
                                                "error_message": None}, now)
    message = await ctx.db.write(job)
    ctx.wake_delivery()
    return message
