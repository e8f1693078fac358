"""Scheduled messages (docs/campaigns.md, "Scheduled messages"): an agent's reply for later,
a reminder the API schedules for a contact, cancelling one, and sending those that fall due
(the campaign worker, inbox/workers/campaigns.py, calls ``send_one`` at their time).

At its time a scheduled message meets every check a message meets then, not when it was
written: an agent's reply goes through ``_queue_reply`` as the agent (their access, the
reply window, an opt-out), so a conversation taken away or a customer who sent STOP
meanwhile fails it with the reason; a reminder needs the channel's consent for its purpose
and an open window or a template; a marketing one waits out the customer's quiet hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from inbox import queries
from inbox.actions import campaigns as campaign_actions
from inbox.actions.common import access_conversation
from inbox.actions.context import Context
from inbox.actions.replies import _queue_reply, _template_text, write_outbound
from inbox.domain import autoreply, campaigns, consent, scheduled
from inbox.domain.access import Viewer
from inbox.domain.consent import Purpose
from inbox.domain.errors import Conflict, InboxError, Invalid, NotFound
from inbox.domain.records import Dict
from inbox.domain.scheduled import State
from inbox.domain.tables import CONTACTS, IDENTITIES, INBOXES, SCHEDULED
from inbox.storage.db import Tx
from inbox.queries.scheduled import as_dict, get

REMINDER = "reminder"  # a reminder's messages' ``automatic``


def _zone(conn: Connection, contact_id: int, inbox_id: int | None, now: datetime) -> Any:
    """The customer's zone, as the contact panel reads it (the inbox calendar's, else UTC)."""
    row = conn.execute(select(CONTACTS.c.attributes, CONTACTS.c.phone).where(CONTACTS.c.id == contact_id)).one()
    fallback = campaign_actions.fallback_zone(conn, inbox_id) if inbox_id is not None else "UTC"
    return autoreply.customer_zone(row.attributes or {}, row.phone, fallback, now)


def _prior(conn: Connection, author_id: int, key: str | None) -> Dict | None:
    if not key:
        return None
    row = conn.execute(select(SCHEDULED).where(SCHEDULED.c.author_id == author_id,
                                               SCHEDULED.c.idempotency_key == key)).first()
    return as_dict(row) if row is not None else None


def _insert(tx: Tx, values: Mapping[str, Any], given: Mapping[str, Any], zone: Any, now: datetime) -> Dict:
    due = scheduled.due(given, zone, now)
    local = f"{given['local'].isoformat(timespec='minutes')} {zone.key}" if "local" in given else None
    new = tx.conn.execute(insert(SCHEDULED).values(
        **values, purpose=given["purpose"], text=given["text"], template=given["template"], due_at=due, local=local,
        state=State.scheduled, created_at=now, updated_at=now).returning(SCHEDULED.c.id)).scalar_one()
    found = get(tx.conn, int(new))
    assert found is not None
    return found


async def schedule_reply(ctx: Context, viewer: Viewer, conversation_id: int, raw: Any,
                         idempotency_key: str | None = None) -> tuple[Dict, bool]:
    """An agent's reply to send later: (it, replayed). Refused now if the conversation has
    no channel to reply through at all; everything else is checked at its time."""
    now = ctx.clock.now()
    given = scheduled.check(raw, now)

    def job(tx: Tx) -> tuple[Dict, bool]:
        conn = tx.conn
        if (prior := _prior(conn, viewer.user_id, idempotency_key)) is not None:
            if prior["conversation_id"] != conversation_id:
                raise Conflict("this Idempotency-Key was used for another request", "idempotency_key_reused")
            return prior, True
        conv = access_conversation(conn, viewer, conversation_id)
        channels = queries.reply_channels(conn, conversation_id, now, ctx.reply_windows)
        inbox_id = given["inbox_id"] or conv["inbox_id"]
        if not any(c["inbox_id"] == inbox_id and c["handle"] for c in channels):
            raise Invalid("no channel to reply through: pick an inbox_id from the conversation's reply_channels",
                          "no_channel")
        zone = _zone(conn, conv["contact"]["id"], inbox_id, now)
        return _insert(tx, {"contact_id": conv["contact"]["id"], "conversation_id": conversation_id,
                            "inbox_id": inbox_id, "author_id": viewer.user_id, "automatic": None,
                            "idempotency_key": idempotency_key}, given, zone, now), False
    done = await ctx.db.write(job)
    ctx.wake_campaigns()
    return done


async def schedule_for_contact(ctx: Context, viewer: Viewer, contact_id: int, raw: Any,
                               idempotency_key: str | None = None) -> tuple[Dict, bool]:
    """A reminder to a contact through one inbox (``inbox_id``, required): (it, replayed)."""
    now = ctx.clock.now()
    given = scheduled.check(raw, now)
    if given["inbox_id"] is None:
        raise Invalid("a reminder needs the inbox_id it goes out through", "invalid_schedule")

    def job(tx: Tx) -> tuple[Dict, bool]:
        conn = tx.conn
        if (prior := _prior(conn, viewer.user_id, idempotency_key)) is not None:
            if prior["contact_id"] != contact_id:
                raise Conflict("this Idempotency-Key was used for another request", "idempotency_key_reused")
            return prior, True
        contact = queries.get_contact(conn, contact_id, full=False)
        if contact is None or contact["merged_into_id"]:
            raise NotFound("no such contact")
        inbox = conn.execute(select(INBOXES.c.kind, INBOXES.c.deleted_at).where(
            INBOXES.c.id == given["inbox_id"])).first()
        if inbox is None or inbox.deleted_at is not None:
            raise Invalid("inbox_id is not an inbox", "invalid_schedule")
        if conn.execute(select(IDENTITIES.c.id).where(IDENTITIES.c.contact_id == contact_id,
                                                     IDENTITIES.c.kind == inbox.kind)).first() is None:
            raise Invalid(f"the contact has no {inbox.kind} identity to send to", "no_channel")
        zone = _zone(conn, contact_id, given["inbox_id"], now)
        return _insert(tx, {"contact_id": contact_id, "conversation_id": None, "inbox_id": given["inbox_id"],
                            "author_id": viewer.user_id, "automatic": REMINDER,
                            "idempotency_key": idempotency_key}, given, zone, now), False
    done = await ctx.db.write(job)
    ctx.wake_campaigns()
    return done


async def cancel(ctx: Context, viewer: Viewer, scheduled_id: int) -> Dict:
    """Cancel one still to go. An agent cancels their own or one on a conversation they may
    see; a reminder, its author or a lead."""
    now = ctx.clock.now()

    def job(tx: Tx) -> Dict:
        conn = tx.conn
        found = get(conn, scheduled_id)
        if found is None:
            raise NotFound("no such scheduled message")
        if found["conversation_id"] is not None and found["kind"] == "reply":
            access_conversation(conn, viewer, found["conversation_id"])
        elif found["author_id"] != viewer.user_id and not viewer.sees_all:
            raise NotFound("no such scheduled message")
        if found["state"] != State.scheduled:
            raise Conflict(f"it was {found['state']} already", "not_scheduled")
        conn.execute(update(SCHEDULED).where(SCHEDULED.c.id == scheduled_id).values(
            state=State.cancelled, updated_at=now))
        return {**found, "state": State.cancelled.value}
    return await ctx.db.write(job)


# -- at its time ----------------------------------------------------------------------------

async def send_one(ctx: Context, scheduled_id: int) -> str:
    """Send one that fell due, or fail it with the reason, or hold a marketing one for the
    customer's quiet hours; what happened ("sent", "failed", "held", or "" when it was not
    due or is gone)."""
    now = ctx.clock.now()
    found = await ctx.db.read(lambda c: get(c, scheduled_id))
    if found is None or found["state"] != State.scheduled or datetime.fromisoformat(found["due_at"]) > now:
        return ""
    text, reason = found["text"], None
    try:
        if found["template"] is not None and found["conversation_id"] is not None:
            text = await _template_text(ctx, found["conversation_id"], found["inbox_id"], found["template"])
        return await ctx.db.write(lambda tx: _send(tx, ctx, found, text, now))
    except InboxError as exc:  # refused before anything was written
        reason = exc.message
    except Exception as exc:  # noqa: BLE001 - a bug: failed with it, so it is not tried on every pass
        reason = f"{type(exc).__name__}: {exc}"
    failure = reason
    return await ctx.db.write(lambda tx: _fail(tx, scheduled_id, failure, now))


def _fail(tx: Tx, scheduled_id: int, reason: str, now: datetime) -> str:
    tx.conn.execute(update(SCHEDULED).where(SCHEDULED.c.id == scheduled_id, SCHEDULED.c.state == State.scheduled)
                    .values(state=State.failed, reason=reason[:500], updated_at=now))
    return "failed"


def _send(tx: Tx, ctx: Context, found: Dict, text: str, now: datetime) -> str:
    conn = tx.conn
    current = get(conn, found["id"])
    if current is None or current["state"] != State.scheduled:  # cancelled meanwhile
        return ""
    payload = {"template": found["template"]} if found["template"] is not None else None
    if found["kind"] == "reply":
        author = queries.get_user(conn, found["author_id"]) if found["author_id"] is not None else None
        if author is None or not author["active"]:
            raise Invalid("its author is no longer active: nobody to send it as", "author_inactive")
        viewer = Viewer(author["id"], author["role"], queries.team_ids_of(conn, author["id"]), author["name"])
        message, _ = _queue_reply(tx, viewer, found["conversation_id"], text, found["inbox_id"], [], payload, None,
                                  ctx.reply_windows, now)
        conversation_id = found["conversation_id"]
    else:
        purpose = Purpose(found["purpose"])
        inbox = queries.get_inbox(conn, found["inbox_id"])
        if inbox is None:
            raise Invalid("its inbox is gone", "no_channel")
        standings = consent.standing(queries.consent_records(conn, found["contact_id"]))
        if (why := consent.may_send(standings, inbox["kind"], purpose)) is not None:
            raise Conflict(why, "recipient_opted_out" if "opted out" in why else "no_consent")
        if purpose == Purpose.marketing:
            zone = _zone(conn, found["contact_id"], found["inbox_id"], now)
            held = campaigns.after_quiet(now, zone, campaigns.quiet_window({"purpose": purpose}))
            if held > now:
                conn.execute(update(SCHEDULED).where(SCHEDULED.c.id == found["id"]).values(due_at=held,
                                                                                          updated_at=now))
                return "held"
        conversation_id = campaign_actions.conversation_for(tx, None, found["contact_id"], found["inbox_id"],
                                                            inbox["kind"], text, now,
                                                            timedelta(days=ctx.settings.reopen_days))
        choice = next((c for c in queries.reply_channels(conn, conversation_id, now, ctx.reply_windows)
                       if c["inbox_id"] == found["inbox_id"]), None)
        if choice is None or not (choice["available"] or (choice["template_required"] and payload)):
            raise Conflict(choice["reason"] if choice else "no channel to send through", "channel_unavailable")
        message = write_outbound(tx, conversation_id, found["contact_id"], choice, text, now,
                                 author_id=None, payload=payload, automatic=REMINDER)
    conn.execute(update(SCHEDULED).where(SCHEDULED.c.id == found["id"]).values(
        state=State.sent, message_id=message["id"], conversation_id=conversation_id, updated_at=now))
    return "sent"
