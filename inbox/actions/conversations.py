"""Assignment, status (resolve, snooze, reopen), read marks and the snooze wake-up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from inbox import queries
from inbox.actions import csat, reports, sla
from inbox.actions.common import _conversation, _log, access_conversation
from inbox.actions.context import Context
from inbox.actions.notifications import notify, read_conversation
from inbox.domain import metrics, serialize
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import Forbidden, Invalid
from inbox.domain.events import (
    CONVERSATION_ASSIGNED,
    CONVERSATION_RESOLVED,
    CONVERSATION_UPDATED,
)
from inbox.domain.models import ConversationStatus, NotificationKind
from inbox.domain.records import Conversation
from inbox.domain.tables import (
    CONVERSATIONS,
)
from inbox.storage.db import Tx


async def assign_conversation(ctx: Context, viewer: Viewer, conversation_id: int,
                              changes: dict[str, int | None]) -> Conversation:
    """Change the assignee (``changes["user_id"]``) and/or the team (``changes["team_id"]``);
    a key left out is unchanged, None clears. Agents may take unassigned conversations and
    hand on their own; leads and admins may reassign any, and only they change a team: the
    team decides who sees a conversation, and an agent clearing it would show it to all."""
    return await ctx.db.write(
        lambda tx: assign_in(tx, viewer, access_conversation(tx.conn, viewer, conversation_id), changes,
                             ctx.clock.now()))


def assign_in(tx: Tx, viewer: Viewer, conv: Conversation, changes: dict[str, int | None],
              now: datetime) -> Conversation:
    """``assign_conversation`` inside a transaction already holding the conversation (a
    reply that takes an unassigned conversation uses it too)."""
    conn = tx.conn
    conversation_id = conv["id"]
    if not viewer.sees_all and conv["assignee_id"] not in (None, viewer.user_id):
        raise Forbidden("only a lead can reassign another agent's conversation")
    user_id = changes.get("user_id", conv["assignee_id"])
    team_id = changes.get("team_id", conv["team_id"])
    if team_id != conv["team_id"] and not viewer.sees_all:
        raise Forbidden("only a lead or an admin can change a conversation's team", "team_change_forbidden")
    if "user_id" in changes and user_id is not None:
        user = queries.get_user(conn, user_id)
        if user is None or not user["active"]:
            raise Invalid("no such active user", "unknown_user")
    if "team_id" in changes and team_id is not None and queries.get_team(conn, team_id) is None:
        raise Invalid("no such team", "unknown_team")
    before = (conv["assignee_id"], conv["team_id"])
    if before == (user_id, team_id):
        return conv
    values: dict[str, object] = {"assignee_id": user_id, "team_id": team_id, "updated_at": now}
    if user_id != before[0]:
        values.update(assigned_by=None if user_id is None else "manual", assigned_at=None if user_id is None else now)
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(**values))
    kind = "unassigned" if user_id is None and team_id is None else (
        "reassigned" if before != (None, None) else "assigned")
    data = {"from_user_id": before[0], "to_user_id": user_id, "from_team_id": before[1], "to_team_id": team_id}
    _log(tx, conversation_id, kind, viewer.actor, data, now)
    if team_id != before[1]:
        sla.sync(tx, conversation_id, now)  # the team may choose another policy, or calendar
    updated = _conversation(conn, conversation_id)
    scopes = sorted(set(conversation_scopes(*before)) | set(conversation_scopes(user_id, team_id)))
    tx.emit(CONVERSATION_ASSIGNED, {"conversation": updated, "actor_id": viewer.actor,
                                    "previous_assignee_id": before[0], "previous_team_id": before[1]}, scopes)
    if user_id is not None and user_id not in (before[0], viewer.user_id):  # taking one yourself tells no one
        notify(tx, user_id, NotificationKind.assigned, conversation_id, now, actor_id=viewer.actor,
               preview=updated["last_message_preview"] or "")
    return updated


async def set_status(ctx: Context, viewer: Viewer, conversation_id: int, status: str,
                     snoozed_until: datetime | None = None) -> Conversation:
    try:
        new = ConversationStatus(status)
    except ValueError:
        raise Invalid(f"status must be one of {', '.join(s.value for s in ConversationStatus)}",
                      "invalid_status") from None
    if new == ConversationStatus.snoozed and snoozed_until is None:
        raise Invalid("snoozing needs snoozed_until", "snoozed_until_required")

    survey = csat.SurveyPolicy.of(ctx)
    updated, surveyed = await ctx.db.write(
        lambda tx: status_in(tx, viewer, conversation_id, new, snoozed_until, ctx.clock.now(), survey))
    if new == ConversationStatus.snoozed:
        ctx.snoozes_changed()
    if surveyed is not None:
        ctx.wake_delivery()
    return updated


def status_in(tx: Tx, viewer: Viewer, conversation_id: int, new: ConversationStatus, snoozed_until: datetime | None,
              now: datetime, survey: csat.SurveyPolicy) -> tuple[Conversation, int | None]:
    """``set_status`` inside a transaction: the conversation after the change, and the id of
    the satisfaction survey its resolution sent, if one went (then wake the delivery)."""
    conn = tx.conn
    conv = access_conversation(conn, viewer, conversation_id)
    if conv["status"] == new and new != ConversationStatus.snoozed:
        return conv, None
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(
        status=new, updated_at=now, resolved_at=now if new == ConversationStatus.resolved else None,
        snoozed_until=snoozed_until if new == ConversationStatus.snoozed else None))
    _log(tx, conversation_id, "status_changed", viewer.actor,
         {"from": conv["status"], "to": new.value, "snoozed_until": serialize.iso(snoozed_until)}, now)
    reports.apply(conn, conversation_id, lambda p: metrics.status(p, now, conv["status"], new.value,
                                                                 reports.timer(conn)))
    sla.sync(tx, conversation_id, now)  # pauses, resumes, ends or starts its clock
    surveyed = csat.resolved(tx, conversation_id, now, survey) if new == ConversationStatus.resolved else None
    updated = _conversation(conn, conversation_id)
    scopes = conversation_scopes(updated["assignee_id"], updated["team_id"])
    tx.emit(CONVERSATION_UPDATED, {"conversation": updated, "previous_status": conv["status"]}, scopes)
    if new == ConversationStatus.resolved:
        tx.emit(CONVERSATION_RESOLVED, {"conversation": updated, "previous_status": conv["status"],
                                        "actor_id": viewer.actor}, scopes)
    return updated, surveyed


async def mark_read(ctx: Context, viewer: Viewer, conversation_id: int) -> Conversation:
    """The viewer read the conversation: its unread count and their notifications of it."""
    def job(tx: Tx) -> Conversation:
        conv = access_conversation(tx.conn, viewer, conversation_id)
        read_conversation(tx, viewer.user_id, conversation_id, ctx.clock.now())
        if conv["unread_count"] == 0:
            return conv
        tx.conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(unread_count=0))
        updated = _conversation(tx.conn, conversation_id)
        tx.emit(CONVERSATION_UPDATED, {"conversation": updated, "read_by": viewer.user_id},
                conversation_scopes(updated["assignee_id"], updated["team_id"]))
        return updated
    return await ctx.db.write(job)


async def wake_snoozed(ctx: Context) -> datetime | None:
    """Reopen every conversation whose snooze has run out; return when the next one will."""
    def job(tx: Tx) -> datetime | None:
        conn = tx.conn
        now = ctx.clock.now()
        due = conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.status == ConversationStatus.snoozed,
                                                            CONVERSATIONS.c.snoozed_until <= now)).scalars().all()
        for cid in due:
            conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == cid).values(
                status=ConversationStatus.open, snoozed_until=None, updated_at=now))
            _log(tx, cid, "status_changed", None, {"from": "snoozed", "to": "open", "reason": "snooze_ended"}, now)
            sla.sync(tx, cid, now)
            conv = _conversation(conn, cid)
            tx.emit(CONVERSATION_UPDATED, {"conversation": conv, "previous_status": "snoozed"},
                    conversation_scopes(conv["assignee_id"], conv["team_id"]))
        return conn.execute(select(CONVERSATIONS.c.snoozed_until).where(
            CONVERSATIONS.c.status == ConversationStatus.snoozed).order_by(CONVERSATIONS.c.snoozed_until)
            .limit(1)).scalar()
    return await ctx.db.write(job)
