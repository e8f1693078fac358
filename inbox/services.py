"""The only code that changes state. Each service runs its writes as one job of the
group-committing writer (db.py), checks permissions inside that transaction, and emits
its live events there, so they go out only after the commit.

Naming: ``record_*`` takes what a provider told us, ``*_conversation``/``send_reply``/
``add_note`` act for a user, ``create_*`` are admin actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from collections.abc import Callable, Mapping

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox import store
from inbox.auth import hash_token, new_token
from inbox.channels import InboundMessage, MessageEdit, ReplyWindow, StatusUpdate
from inbox.config import Settings
from inbox.db import Database, Tx
from inbox.media import MediaStore
from inbox.ingest import IngestResult, find_message, ingest, preview
from inbox.errors import Conflict, Forbidden, Invalid, NotFound
from inbox.identity import normalize_email, normalize_phone
from inbox.events import (ACCESS_CHANGED, CONTACT_UPDATED, CONVERSATION_ASSIGNED, INTERNAL_SCOPES, CONVERSATION_UPDATED,
                          MESSAGE_CREATED, MESSAGE_UPDATED, NOTE_CREATED, SCOPE_ALL, Bus, Viewer,
                          conversation_scopes)
from inbox.models import ConversationStatus, DeliveryStatus, Direction, Role, utcnow
from inbox.store import (CANNED, CONTACTS, CONV_EVENTS, CONVERSATIONS, EARLY_RECEIPTS, EVENTS, IDENTITIES, INBOXES,
                         JOBS, MEMBERS, MESSAGES, NOTES, TEAMS, TOKENS, USERS, Dict)
from inbox.store import WEBHOOK_NONCES

MAX_TEXT_CHARS = 10_000
# Delivery receipts never move a message backwards (providers' callbacks arrive out of order).
STATUS_RANK = {"received": 0, "queued": 1, "sent": 2, "delivered": 3, "read": 4}


@dataclass
class Context:
    """What services need: built once per process by the app (ui/app.py) or the CLI."""

    db: Database
    settings: Settings
    bus: Bus = field(default_factory=Bus)
    media: MediaStore | None = None
    # Per channel kind: how long after the customer's last message a free-form reply may go.
    reply_windows: Mapping[str, ReplyWindow] = field(default_factory=dict)
    wake_delivery: Callable[[], None] = lambda: None
    snoozes_changed: Callable[[], None] = lambda: None
    # "Now", for checks against a provider's clock (signed timestamps): tests move it.
    clock: Callable[[], datetime] = utcnow


def _conversation(conn: Connection, conversation_id: int) -> Dict:
    conv = store.get_conversation(conn, conversation_id)
    if conv is None:
        raise NotFound("no such conversation")
    return conv


def access_conversation(conn: Connection, viewer: Viewer, conversation_id: int) -> Dict:
    """A permission-checked fetch: a conversation the viewer may not see does not exist for them."""
    conv = _conversation(conn, conversation_id)
    if not store.visible_to(viewer, conv):
        raise NotFound("no such conversation")
    return conv


def _log(tx: Tx, conversation_id: int, kind: str, actor_id: int | None, data: Dict, at: datetime) -> None:
    tx.conn.execute(insert(CONV_EVENTS).values(conversation_id=conversation_id, kind=kind, actor_id=actor_id,
                                               data=data, created_at=at))


# -- inbound ------------------------------------------------------------------------------

async def record_inbound(ctx: Context, msg: InboundMessage) -> IngestResult:
    """Store one customer message: contact, identity, conversation and message in one
    transaction, idempotent on (inbox, provider message id). See ingest.py."""
    reopen_after = timedelta(days=ctx.settings.reopen_days)
    try:
        result = await ctx.db.write(lambda tx: ingest(tx, msg, reopen_after))
        if result.fetches:
            ctx.wake_delivery()
        return result
    except IntegrityError:
        # Another process committed a unique row of ours first (PostgreSQL scale-out): the
        # same provider message id (a duplicate), or this new customer's identity from
        # another of their messages, which a second attempt then joins.
        found = await ctx.db.read(lambda c: find_message(c, msg.inbox_id, msg.provider_message_id))
        if found is not None:
            return IngestResult(*found, duplicate=True)
        result = await ctx.db.write(lambda tx: ingest(tx, msg, reopen_after))
        if result.fetches:
            ctx.wake_delivery()
        return result


async def record_edit(ctx: Context, edit: MessageEdit) -> bool:
    """The customer edited a message: the new text replaces the old (kept in the message's
    payload as ``previous_texts``) and the message is marked edited. False if unknown."""
    def job(tx: Tx) -> bool:
        row = tx.conn.execute(select(MESSAGES).where(
            MESSAGES.c.inbox_id == edit.inbox_id, MESSAGES.c.provider_message_id == edit.provider_message_id)).first()
        if row is None:
            return False
        if row.text == edit.text:
            return True
        payload = dict(row.payload or {})
        payload["previous_texts"] = [*payload.get("previous_texts", []), row.text]
        _update_message(tx, row.id, {"text": edit.text, "edited_at": edit.edited_at, "payload": payload})
        return True
    return await ctx.db.write(job)


async def record_watermark(ctx: Context, inbox_id: int, kind: str, handle: str, status: str,
                           up_to: datetime) -> int:
    """A receipt that covers every message sent to ``handle`` through the inbox up to a
    time (Messenger's delivery and read watermarks). Returns how many messages moved on."""
    def job(tx: Tx) -> int:
        rows = tx.conn.execute(
            select(MESSAGES.c.id, MESSAGES.c.status).join(IDENTITIES, IDENTITIES.c.id == MESSAGES.c.identity_id)
            .where(MESSAGES.c.inbox_id == inbox_id, MESSAGES.c.direction == Direction.outbound,
                   IDENTITIES.c.kind == kind, IDENTITIES.c.handle == handle, MESSAGES.c.created_at <= up_to,
                   MESSAGES.c.provider_message_id.is_not(None))).all()
        moved = [r.id for r in rows
                 if r.status != DeliveryStatus.failed and STATUS_RANK.get(status, 0) > STATUS_RANK.get(r.status, 0)]
        for message_id in moved:
            _update_message(tx, message_id, {"status": status})
        return len(moved)
    return await ctx.db.write(job)


async def record_status(ctx: Context, status: StatusUpdate) -> bool:
    """Apply a delivery receipt. False when we know no such message (not ours, or not yet)."""
    return await ctx.db.write(lambda tx: _apply_status(tx, status))


def _apply_status(tx: Tx, su: StatusUpdate) -> bool:
    conn = tx.conn
    row = conn.execute(select(MESSAGES).where(MESSAGES.c.inbox_id == su.inbox_id,
                                              MESSAGES.c.provider_message_id == su.provider_message_id)).first()
    if row is None:  # kept until the send it belongs to has recorded the provider's id
        conn.execute(insert(EARLY_RECEIPTS).values(
            inbox_id=su.inbox_id, provider_message_id=su.provider_message_id, status=su.status,
            error_code=su.error_code, error_message=su.error_message, created_at=utcnow()))
        return False
    if su.status == DeliveryStatus.failed:
        if row.status in (DeliveryStatus.delivered, DeliveryStatus.read):
            return True
        values: Dict = {"status": DeliveryStatus.failed, "error_code": su.error_code,
                        "error_message": su.error_message or "the provider reported the message as failed"}
    elif STATUS_RANK.get(su.status, 0) > STATUS_RANK.get(row.status, 0):
        values = {"status": su.status}
    else:
        return True
    _update_message(tx, row.id, values)
    if su.recipient_opted_out:
        record_opt_out(tx, row.identity_id)
    return True


def record_opt_out(tx: Tx, identity_id: int) -> None:
    """The provider refused a reply because the customer opted out (Twilio's 21610: they
    texted STOP, and Twilio keeps its own list): mark the identity, so that no inbox offers
    it as a reply channel (store.reply_channels) until the customer opts in again."""
    conn = tx.conn
    row = conn.execute(select(IDENTITIES.c.contact_id, IDENTITIES.c.opted_out)
                       .where(IDENTITIES.c.id == identity_id)).first()
    if row is None or row.opted_out:
        return
    conn.execute(update(IDENTITIES).where(IDENTITIES.c.id == identity_id).values(opted_out=True))
    # Clients showing the contact's reply channels learn they changed.
    tx.emit(CONTACT_UPDATED, {"contact": store.get_contact(conn, row.contact_id, full=False)}, [SCOPE_ALL])


def apply_early_receipts(tx: Tx, inbox_id: int, provider_message_id: str) -> None:
    """Receipts that came in before the send recorded ``provider_message_id``, in order."""
    where = (EARLY_RECEIPTS.c.inbox_id == inbox_id) & (EARLY_RECEIPTS.c.provider_message_id == provider_message_id)
    for r in tx.conn.execute(select(EARLY_RECEIPTS).where(where).order_by(EARLY_RECEIPTS.c.id)).all():
        _apply_status(tx, StatusUpdate(inbox_id, provider_message_id, r.status, r.error_code, r.error_message))
    tx.conn.execute(EARLY_RECEIPTS.delete().where(where))


def _update_message(tx: Tx, message_id: int, values: Dict) -> Dict:
    conn = tx.conn
    conn.execute(update(MESSAGES).where(MESSAGES.c.id == message_id).values(updated_at=utcnow(), **values))
    message = store.get_message(conn, message_id)
    assert message is not None
    conv = conn.execute(select(CONVERSATIONS.c.assignee_id, CONVERSATIONS.c.team_id)
                        .where(CONVERSATIONS.c.id == message["conversation_id"])).one()
    tx.emit(MESSAGE_UPDATED, {"message": message}, conversation_scopes(conv.assignee_id, conv.team_id))
    return message


# -- replies ------------------------------------------------------------------------------

async def send_reply(ctx: Context, viewer: Viewer, conversation_id: int, text: str, *,
                     inbox_id: int | None = None, attachments: list[Dict] | None = None,
                     template: Dict | None = None, idempotency_key: str | None = None) -> tuple[Dict, bool]:
    """Queue a reply and its delivery job in one transaction. Returns (message, replayed):
    replayed is True when the Idempotency-Key was seen before and nothing new was queued.
    ``template`` ({"name", "language", "parameters"}) sends an approved template, the only
    thing a channel with a closed reply window (WhatsApp's 24 hours) accepts."""
    text = text.strip()
    attachments = attachments or []
    if template is not None and not text:
        params = ", ".join(str(p) for p in template.get("parameters", []))
        text = f"[template {template['name']} ({template['language']})]" + (f": {params}" if params else "")
    if not text and not attachments:
        raise Invalid("a reply needs text or an attachment", "empty_message")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"a reply is limited to {MAX_TEXT_CHARS} characters", "text_too_long")
    payload = {"template": template} if template is not None else None
    result = await ctx.db.write(lambda tx: _queue_reply(tx, viewer, conversation_id, text, inbox_id, attachments,
                                                        payload, idempotency_key, ctx.reply_windows))
    if not result[1]:
        ctx.wake_delivery()
    return result


def _queue_reply(tx: Tx, viewer: Viewer, conversation_id: int, text: str, inbox_id: int | None,
                 attachments: list[Dict], payload: Dict | None, idempotency_key: str | None,
                 windows: Mapping[str, ReplyWindow]) -> tuple[Dict, bool]:
    conn = tx.conn
    if idempotency_key:
        prior = conn.execute(select(MESSAGES).where(MESSAGES.c.author_id == viewer.user_id,
                                                    MESSAGES.c.idempotency_key == idempotency_key)).first()
        if prior is not None:
            if prior.conversation_id != conversation_id:
                raise Conflict("this Idempotency-Key was used for another request", "idempotency_key_reused")
            return store.message_dict(prior), True
    conv = access_conversation(conn, viewer, conversation_id)
    inbox_id = inbox_id or conv["inbox_id"]
    channels = {c["inbox_id"]: c for c in store.reply_channels(conn, conversation_id, windows)}
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
    identity_id = conn.execute(select(IDENTITIES.c.id).where(
        IDENTITIES.c.contact_id == conv["contact"]["id"], IDENTITIES.c.handle == choice["handle"],
        IDENTITIES.c.kind == choice["kind"])).scalar_one()
    now = utcnow()
    message_id = conn.execute(insert(MESSAGES).values(
        conversation_id=conversation_id, inbox_id=inbox_id, direction=Direction.outbound, identity_id=identity_id,
        author_id=viewer.user_id, text=text, attachments=attachments, payload=payload, status=DeliveryStatus.queued,
        idempotency_key=idempotency_key, created_at=now, updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(insert(JOBS).values(message_id=message_id, kind="send", attachment=0, state="pending", attempts=0,
                                     next_attempt_at=now, created_at=now))
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(
        last_message_at=now, last_message_preview=preview(text, attachments),
        last_message_direction=Direction.outbound, unread_count=0, updated_at=now))
    message = store.get_message(conn, message_id)
    conversation = store.get_conversation(conn, conversation_id)
    assert message is not None and conversation is not None
    scopes = conversation_scopes(conversation["assignee_id"], conversation["team_id"])
    tx.emit(MESSAGE_CREATED, {"message": message, "conversation": conversation}, scopes)
    return message, False


async def retry_message(ctx: Context, viewer: Viewer, message_id: int) -> Dict:
    """An agent asks to send a failed reply again: a fresh delivery job, attempts from zero."""
    def job(tx: Tx) -> Dict:
        row = tx.conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
        if row is None:
            raise NotFound("no such message")
        access_conversation(tx.conn, viewer, row.conversation_id)
        if row.direction != Direction.outbound or row.status != DeliveryStatus.failed:
            raise Conflict("only a failed reply can be retried", "not_failed")
        to = tx.conn.execute(select(IDENTITIES).where(IDENTITIES.c.id == row.identity_id)).first()
        if to is not None and to.opted_out:
            raise Conflict(f"{to.handle} has opted out of {to.kind} messages", "recipient_opted_out")
        now = utcnow()
        tx.conn.execute(update(JOBS).where(JOBS.c.message_id == message_id, JOBS.c.kind == "send").values(
            state="pending", attempts=0, next_attempt_at=now, lease_until=None, last_error=None))
        return _update_message(tx, message_id, {"status": DeliveryStatus.queued, "error_code": None,
                                                "error_message": None})
    message = await ctx.db.write(job)
    ctx.wake_delivery()
    return message


# -- notes, assignment, status ------------------------------------------------------------

MENTION = re.compile(r"@([\w.+-]+(?:@[\w-]+\.[\w.-]+)?)")


async def add_note(ctx: Context, viewer: Viewer, conversation_id: int, text: str,
                   mentions: list[int] | None = None) -> Dict:
    """A private note: never leaves the inbox. ``@name`` (an agent's first name or the
    part of their email before the @, or the whole email) mentions and notifies them.
    Only users who may see the conversation can be mentioned: a mention must not hand
    the note (and the conversation's id) to someone the conversation is hidden from."""
    text = text.strip()
    if not text:
        raise Invalid("a note needs text", "empty_note")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"a note is limited to {MAX_TEXT_CHARS} characters", "text_too_long")

    def job(tx: Tx) -> Dict:
        conn = tx.conn
        conv = access_conversation(conn, viewer, conversation_id)
        mentioned = set(mentions or [])
        words = {w.lower() for w in MENTION.findall(text)}
        if words:
            for u in conn.execute(select(USERS.c.id, USERS.c.name, USERS.c.email)):
                names = {u.email.lower(), u.email.split("@")[0].lower(), (u.name.split() or [""])[0].lower()}
                if words & names:
                    mentioned.add(u.id)
        valid = _may_see(conn, mentioned, conv)
        now = utcnow()
        note_id = conn.execute(insert(NOTES).values(conversation_id=conversation_id, author_id=viewer.user_id,
                                                    text=text, mentions=sorted(valid), created_at=now)
                               ).inserted_primary_key[0]  # type: ignore[index]
        note = {"id": note_id, "conversation_id": conversation_id, "author_id": viewer.user_id, "text": text,
                "mentions": sorted(valid), "created_at": store.iso(now)}
        scopes = conversation_scopes(conv["assignee_id"], conv["team_id"]) + [f"user:{u}" for u in sorted(valid)]
        tx.emit(NOTE_CREATED, {"note": note, "conversation_id": conversation_id}, scopes)
        return note
    return await ctx.db.write(job)


def _may_see(conn: Connection, user_ids: set[int], conv: Dict) -> set[int]:
    """Those of ``user_ids`` who exist and may see the conversation."""
    if not user_ids:
        return set()
    users = conn.execute(select(USERS.c.id, USERS.c.role).where(USERS.c.id.in_(user_ids)))
    return {u.id for u in users if store.visible_to(Viewer(u.id, u.role, store.team_ids_of(conn, u.id)), conv)}


async def assign_conversation(ctx: Context, viewer: Viewer, conversation_id: int,
                              changes: dict[str, int | None]) -> Dict:
    """Change the assignee (``changes["user_id"]``) and/or the team (``changes["team_id"]``);
    a key left out is unchanged, None clears. Agents may take unassigned conversations and
    hand on their own; leads and admins may reassign any, and only they change a team: the
    team decides who sees a conversation, and an agent clearing it would show it to all."""
    def job(tx: Tx) -> Dict:
        conn = tx.conn
        conv = access_conversation(conn, viewer, conversation_id)
        if not viewer.sees_all and conv["assignee_id"] not in (None, viewer.user_id):
            raise Forbidden("only a lead can reassign another agent's conversation")
        user_id = changes.get("user_id", conv["assignee_id"])
        team_id = changes.get("team_id", conv["team_id"])
        if team_id != conv["team_id"] and not viewer.sees_all:
            raise Forbidden("only a lead or an admin can change a conversation's team", "team_change_forbidden")
        if "user_id" in changes and user_id is not None:
            user = store.get_user(conn, user_id)
            if user is None or not user["active"]:
                raise Invalid("no such active user", "unknown_user")
        if "team_id" in changes and team_id is not None and store.get_team(conn, team_id) is None:
            raise Invalid("no such team", "unknown_team")
        before = (conv["assignee_id"], conv["team_id"])
        if before == (user_id, team_id):
            return conv
        now = utcnow()
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(
            assignee_id=user_id, team_id=team_id, updated_at=now))
        kind = "unassigned" if user_id is None and team_id is None else (
            "reassigned" if before != (None, None) else "assigned")
        data = {"from_user_id": before[0], "to_user_id": user_id, "from_team_id": before[1], "to_team_id": team_id}
        _log(tx, conversation_id, kind, viewer.user_id, data, now)
        updated = _conversation(conn, conversation_id)
        scopes = sorted(set(conversation_scopes(*before)) | set(conversation_scopes(user_id, team_id)))
        tx.emit(CONVERSATION_ASSIGNED, {"conversation": updated, "actor_id": viewer.user_id,
                                        "previous_assignee_id": before[0], "previous_team_id": before[1]}, scopes)
        return updated
    return await ctx.db.write(job)


async def set_status(ctx: Context, viewer: Viewer, conversation_id: int, status: str,
                     snoozed_until: datetime | None = None) -> Dict:
    try:
        new = ConversationStatus(status)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(s.value for s in ConversationStatus)}",
                      "invalid_status") from None
    if new == ConversationStatus.snoozed and snoozed_until is None:
        raise Invalid("snoozing needs snoozed_until", "snoozed_until_required")

    def job(tx: Tx) -> Dict:
        conn = tx.conn
        conv = access_conversation(conn, viewer, conversation_id)
        if conv["status"] == new and new != ConversationStatus.snoozed:
            return conv
        now = utcnow()
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(
            status=new, updated_at=now, resolved_at=now if new == ConversationStatus.resolved else None,
            snoozed_until=snoozed_until if new == ConversationStatus.snoozed else None))
        _log(tx, conversation_id, "status_changed", viewer.user_id,
             {"from": conv["status"], "to": new.value, "snoozed_until": store.iso(snoozed_until)}, now)
        updated = _conversation(conn, conversation_id)
        tx.emit(CONVERSATION_UPDATED, {"conversation": updated, "previous_status": conv["status"]},
                conversation_scopes(updated["assignee_id"], updated["team_id"]))
        return updated
    updated = await ctx.db.write(job)
    if new == ConversationStatus.snoozed:
        ctx.snoozes_changed()
    return updated


async def mark_read(ctx: Context, viewer: Viewer, conversation_id: int) -> Dict:
    def job(tx: Tx) -> Dict:
        conv = access_conversation(tx.conn, viewer, conversation_id)
        if conv["unread_count"] == 0:
            return conv
        tx.conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(unread_count=0))
        updated = _conversation(tx.conn, conversation_id)
        tx.emit(CONVERSATION_UPDATED, {"conversation": updated},
                conversation_scopes(updated["assignee_id"], updated["team_id"]))
        return updated
    return await ctx.db.write(job)


# -- contacts -----------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "email", "phone", "avatar_url", "attributes")


async def update_contact(ctx: Context, viewer: Viewer, contact_id: int, changes: Dict) -> Dict:
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise Invalid(f"unknown contact fields: {', '.join(sorted(unknown))}", "unknown_field")
    if "attributes" in changes and not isinstance(changes["attributes"], dict):
        raise Invalid("attributes must be an object", "invalid_attributes")
    for key in ("name", "email", "phone", "avatar_url"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise Invalid(f"{key} must be a string", "invalid_field")
    if "name" in changes and changes["name"] is None:  # every contact has a name (its handle at first)
        raise Invalid("name must be a string", "invalid_field")
    changes = dict(changes)
    # Stored the way inbound messages carry them, so later messages find this contact.
    if "phone" in changes:
        raw = changes["phone"]
        changes["phone"] = normalize_phone(raw) if raw else None
        if raw and changes["phone"] is None:
            raise Invalid(f"{raw!r} is not a phone number that can be read", "invalid_phone")
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"] or "") or None

    def job(tx: Tx) -> Dict:
        conn = tx.conn
        current = store.get_contact(conn, contact_id, full=False)
        if current is None or current["merged_into_id"] is not None:
            raise NotFound("no such contact")
        values = dict(changes)
        if "attributes" in values:  # a PATCH merges attributes; a null value removes a key
            attrs = dict(current["attributes"])
            for k, v in values["attributes"].items():
                if v is None:
                    attrs.pop(k, None)
                else:
                    attrs[k] = v
            values["attributes"] = attrs
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == contact_id).values(updated_at=utcnow(), **values))
        contact = store.get_contact(conn, contact_id, full=False)
        assert contact is not None
        tx.emit(CONTACT_UPDATED, {"contact": contact}, [SCOPE_ALL])
        return contact
    return await ctx.db.write(job)


async def merge_contacts(ctx: Context, viewer: Viewer, contact_id: int, other_id: int) -> Dict:
    """Fold ``other`` into ``contact``: identities, conversations (with their messages and
    notes) move; missing fields and attributes are filled from the other; the other is
    kept as a tombstone pointing at the survivor, and every moved conversation logs it."""
    if contact_id == other_id:
        raise Invalid("cannot merge a contact with itself", "same_contact")

    def job(tx: Tx) -> Dict:
        conn = tx.conn
        keep = store.get_contact(conn, contact_id, full=False)
        other = store.get_contact(conn, other_id, full=False)
        if keep is None or other is None or keep["merged_into_id"] or other["merged_into_id"]:
            raise NotFound("no such contact")
        now = utcnow()
        filled = {k: other[k] for k in ("email", "phone", "avatar_url") if not keep[k] and other[k]}
        if not keep["name"] and other["name"]:
            filled["name"] = other["name"]
        filled["attributes"] = {**other["attributes"], **keep["attributes"]}
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == contact_id).values(updated_at=now, **filled))
        conn.execute(update(IDENTITIES).where(IDENTITIES.c.contact_id == other_id).values(contact_id=contact_id))
        moved = list(conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.contact_id == other_id)).scalars())
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.contact_id == other_id).values(
            contact_id=contact_id, updated_at=now))
        for cid in moved:
            _log(tx, cid, "merged", viewer.user_id, {"from_contact_id": other_id, "into_contact_id": contact_id,
                                                     "from_contact_name": other["name"]}, now)
        conn.execute(update(CONTACTS).where(CONTACTS.c.id == other_id).values(merged_into_id=contact_id,
                                                                                 updated_at=now))
        merged = store.get_contact(conn, contact_id, viewer=viewer)
        assert merged is not None
        tx.emit(CONTACT_UPDATED, {"contact": {k: v for k, v in merged.items() if k != "conversations"},
                                  "merged_contact_id": other_id}, [SCOPE_ALL])
        for cid in moved:
            conv = _conversation(conn, cid)
            tx.emit(CONVERSATION_UPDATED, {"conversation": conv},
                    conversation_scopes(conv["assignee_id"], conv["team_id"]))
        return merged
    return await ctx.db.write(job)


# -- admin: users, tokens, teams, inboxes -------------------------------------------------

def create_user(tx: Tx, *, email: str, name: str, role: str, password_hash: str) -> Dict:
    try:
        Role(role)
    except ValueError:
        raise Invalid("role must be agent, lead or admin", "invalid_role") from None
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid("email must be an email address", "invalid_email")
    if store.get_user_by_email(tx.conn, email) is not None:
        raise Conflict(f"a user with email {email} exists", "user_exists")
    uid = tx.conn.execute(insert(USERS).values(email=email, name=name.strip() or email, role=role,
                                               password_hash=password_hash, active=True, created_at=utcnow())
                          ).inserted_primary_key[0]  # type: ignore[index]
    user = store.get_user(tx.conn, uid)
    assert user is not None
    return store.user_dict(user)


def update_user(tx: Tx, user_id: int, changes: Dict) -> Dict:
    if store.get_user(tx.conn, user_id) is None:
        raise NotFound("no such user")
    if "role" in changes:
        try:
            Role(changes["role"])
        except ValueError:
            raise Invalid("role must be agent, lead or admin", "invalid_role") from None
    if "password_hash" in changes or changes.get("active") is False:
        # A new password, or a deactivation, ends every session: a cookie taken before it
        # must not work again (nor after a reactivation).
        changes = {**changes, "session_version": USERS.c.session_version + 1}
    if changes:  # nothing to change (a PATCH of {}) is the user as they are
        tx.conn.execute(update(USERS).where(USERS.c.id == user_id).values(**changes))
    if changes.keys() & {"role", "active", "session_version"}:
        access_changed(tx, [user_id])
    user = store.get_user(tx.conn, user_id)
    assert user is not None
    return store.user_dict(user)


def end_sessions(tx: Tx, user_id: int) -> None:
    """Log out and "log out everywhere": every session cookie of the user stops working,
    and their open WebSockets opened with one are closed."""
    tx.conn.execute(update(USERS).where(USERS.c.id == user_id).values(session_version=USERS.c.session_version + 1))
    access_changed(tx, [user_id])


def access_changed(tx: Tx, user_ids: list[int]) -> None:
    """Tell the live layer of every process to recheck these users' open sockets now,
    rather than at its next periodic pass (ui/live.py)."""
    if user_ids:
        tx.emit(ACCESS_CHANGED, {"user_ids": sorted(set(user_ids))}, INTERNAL_SCOPES)


def create_token(tx: Tx, user_id: int, name: str = "") -> str:
    """A new API token; only its hash is stored, so this is the one time it is seen."""
    token = new_token()
    tx.conn.execute(insert(TOKENS).values(user_id=user_id, token_hash=hash_token(token), name=name,
                                          created_at=utcnow()))
    return token


def revoke_token(tx: Tx, viewer: Viewer, token_id: int) -> None:
    """Delete an API token: your own, or anyone's for an admin. Requests with it fail at once."""
    owner = tx.conn.execute(select(TOKENS.c.user_id).where(TOKENS.c.id == token_id)).scalar()
    if owner is None or (owner != viewer.user_id and viewer.role != Role.admin):
        raise NotFound("no such token")
    tx.conn.execute(TOKENS.delete().where(TOKENS.c.id == token_id))
    access_changed(tx, [owner])


def create_team(tx: Tx, name: str, member_ids: list[int]) -> Dict:
    name = _team_name(tx, name)
    team_id = tx.conn.execute(insert(TEAMS).values(name=name, created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    _set_members(tx, team_id, member_ids)
    team = store.get_team(tx.conn, team_id)
    assert team is not None
    return team


def update_team(tx: Tx, team_id: int, *, name: str | None = None, member_ids: list[int] | None = None) -> Dict:
    """Rename and/or replace the members; what is None is left as it is."""
    if store.get_team(tx.conn, team_id) is None:
        raise NotFound("no such team")
    if name is not None:
        tx.conn.execute(update(TEAMS).where(TEAMS.c.id == team_id).values(name=_team_name(tx, name, team_id)))
    if member_ids is not None:
        _set_members(tx, team_id, member_ids)
    team = store.get_team(tx.conn, team_id)
    assert team is not None
    return team


def _team_name(tx: Tx, name: str, team_id: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise Invalid("a team needs a name", "invalid_name")
    other = tx.conn.execute(select(TEAMS.c.id).where(TEAMS.c.name == name)).scalar()
    if other is not None and other != team_id:
        raise Conflict(f"a team named {name} exists", "team_exists")
    return name


def _set_members(tx: Tx, team_id: int, member_ids: list[int]) -> None:
    known = set(tx.conn.execute(select(USERS.c.id).where(USERS.c.id.in_(member_ids))).scalars())
    if missing := set(member_ids) - known:
        raise Invalid(f"no such users: {sorted(missing)}", "unknown_user")
    before = set(tx.conn.execute(select(MEMBERS.c.user_id).where(MEMBERS.c.team_id == team_id)).scalars())
    access_changed(tx, list(before ^ known))  # who joined or left sees other conversations from now on
    tx.conn.execute(MEMBERS.delete().where(MEMBERS.c.team_id == team_id))
    if known:
        tx.conn.execute(insert(MEMBERS), [{"team_id": team_id, "user_id": u} for u in sorted(known)])


def _check_address_free(tx: Tx, kind: str, address: str, inbox_id: int | None = None) -> None:
    other = tx.conn.execute(select(INBOXES.c.id).where(INBOXES.c.kind == kind, INBOXES.c.address == address)).scalar()
    if other is not None and other != inbox_id:
        raise Conflict(f"a {kind} inbox for {address} exists", "inbox_exists")


def create_inbox(tx: Tx, *, kind: str, name: str, address: str, settings: Dict) -> Dict:
    _check_address_free(tx, kind, address)
    inbox_id = tx.conn.execute(insert(INBOXES).values(kind=kind, name=name, address=address, settings=settings,
                                                      created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    inbox = store.get_inbox(tx.conn, inbox_id)
    assert inbox is not None
    return inbox


def delete_inbox(tx: Tx, inbox_id: int) -> None:
    """Only for an inbox that never carried a message (a failed setup)."""
    tx.conn.execute(INBOXES.delete().where(INBOXES.c.id == inbox_id))


def update_inbox(tx: Tx, inbox_id: int, *, name: str | None, address: str | None, settings: Dict | None) -> Dict:
    """Change what is not None. ``settings`` replaces the stored settings whole: the caller
    has merged the change into them and had the channel adapter check the result."""
    inbox = store.get_inbox(tx.conn, inbox_id)
    if inbox is None:
        raise NotFound("no such inbox")
    values: Dict = {}
    if name is not None:
        values["name"] = name
    if address is not None:
        _check_address_free(tx, inbox["kind"], address, inbox_id)
        values["address"] = address
    if settings is not None:
        values["settings"] = settings
    if values:
        tx.conn.execute(update(INBOXES).where(INBOXES.c.id == inbox_id).values(**values))
    updated = store.get_inbox(tx.conn, inbox_id)
    assert updated is not None
    return updated


async def wake_snoozed(ctx: Context) -> datetime | None:
    """Reopen every conversation whose snooze has run out; return when the next one will."""
    def job(tx: Tx) -> datetime | None:
        conn = tx.conn
        now = utcnow()
        due = conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.status == ConversationStatus.snoozed,
                                                            CONVERSATIONS.c.snoozed_until <= now)).scalars().all()
        for cid in due:
            conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == cid).values(
                status=ConversationStatus.open, snoozed_until=None, updated_at=now))
            _log(tx, cid, "status_changed", None, {"from": "snoozed", "to": "open", "reason": "snooze_ended"}, now)
            conv = _conversation(conn, cid)
            tx.emit(CONVERSATION_UPDATED, {"conversation": conv, "previous_status": "snoozed"},
                    conversation_scopes(conv["assignee_id"], conv["team_id"]))
        return conn.execute(select(CONVERSATIONS.c.snoozed_until).where(
            CONVERSATIONS.c.status == ConversationStatus.snoozed).order_by(CONVERSATIONS.c.snoozed_until)
            .limit(1)).scalar()
    return await ctx.db.write(job)


async def prune_events(ctx: Context, older_than: timedelta, batch: int = 5000) -> int:
    """Drop live events older than the retention: they exist to replay a reconnecting
    client, not as history (the conversation event log is the history)."""
    cutoff = utcnow() - older_than
    total = 0
    while True:
        def job(tx: Tx) -> int:
            ids = select(EVENTS.c.id).where(EVENTS.c.created_at < cutoff).order_by(EVENTS.c.id).limit(batch)
            deleted = tx.conn.execute(EVENTS.delete().where(EVENTS.c.id.in_(ids))).rowcount or 0
            # Receipts for messages we never sent (sent from another tool) wait at most a day.
            tx.conn.execute(EARLY_RECEIPTS.delete().where(EARLY_RECEIPTS.c.created_at < utcnow() - timedelta(days=1)))
            return deleted
        deleted = await ctx.db.write(job)
        total += deleted
        if deleted < batch:
            return total


async def use_webhook_nonce(ctx: Context, key: str, expires_at: datetime) -> bool:
    """Record a signed webhook's one-time token; False if it was seen before (a replay)."""
    def job(tx: Tx) -> bool:
        if tx.conn.execute(select(WEBHOOK_NONCES.c.key).where(WEBHOOK_NONCES.c.key == key)).first() is not None:
            return False
        tx.conn.execute(insert(WEBHOOK_NONCES).values(key=key, expires_at=expires_at))
        return True
    try:
        return await ctx.db.write(job)
    except IntegrityError:  # another process recorded it first
        return False


async def forget_webhook_nonce(ctx: Context, key: str) -> None:
    """The post it came with was not stored (a server fault): the provider's retry may use it."""
    await ctx.db.write(lambda tx: tx.conn.execute(WEBHOOK_NONCES.delete().where(WEBHOOK_NONCES.c.key == key)))


async def prune_webhook_nonces(ctx: Context) -> int:
    """Drop tokens whose timestamps are too old to be accepted anyway."""
    now = ctx.clock()
    return await ctx.db.write(
        lambda tx: tx.conn.execute(WEBHOOK_NONCES.delete().where(WEBHOOK_NONCES.c.expires_at < now)).rowcount or 0)


SHORT_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def save_canned(tx: Tx, *, canned_id: int | None, short_code: str, text: str, author_id: int) -> Dict:
    """Create (``canned_id`` None) or change a canned response."""
    short_code, text = short_code.strip().lower().lstrip("/"), text.strip()
    if not SHORT_CODE.match(short_code):
        raise Invalid("a short code is 1-32 of a-z, 0-9, _ and -", "invalid_short_code")
    if not text or len(text) > MAX_TEXT_CHARS:
        raise Invalid(f"the text must be 1-{MAX_TEXT_CHARS} characters", "invalid_text")
    clash = tx.conn.execute(select(CANNED.c.id).where(CANNED.c.short_code == short_code)).scalar()
    if clash is not None and clash != canned_id:
        raise Conflict(f"/{short_code} exists", "short_code_exists")
    if canned_id is None:
        canned_id = tx.conn.execute(insert(CANNED).values(short_code=short_code, text=text, created_by=author_id,
                                                          created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
    elif tx.conn.execute(update(CANNED).where(CANNED.c.id == canned_id).values(
            short_code=short_code, text=text)).rowcount == 0:
        raise NotFound("no such canned response")
    return next(c for c in store.list_canned(tx.conn) if c["id"] == canned_id)


def delete_canned(tx: Tx, canned_id: int) -> None:
    if tx.conn.execute(CANNED.delete().where(CANNED.c.id == canned_id)).rowcount == 0:
        raise NotFound("no such canned response")
