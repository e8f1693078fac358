"""Satisfaction surveys (docs/csat.md): asked when a conversation is resolved, answered in
the customer's channel (a press on a choice, or a digit typed) or on our rating page.

A survey goes, in the resolving transaction, when the inbox the customer last wrote to asks
on resolve, and not:
- when this cycle of the conversation already had one;
- when the contact has opted out anywhere;
- when the contact had a survey within the inbox's interval (``interval_days``);
- when the inbox cannot reach the customer now (disabled, no identity, a reply window
  closed), except WhatsApp, which sends the inbox's approved template when it has one.
Each skipped survey is logged with its reason (the timeline shows it). The survey keeps who
gets the credit (the assignee at resolution), the team, the inbox, the channel, the question
and its version; the answer's report fact is counted with those, whoever holds the
conversation when the customer answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from inbox import queries
from inbox.actions import reports
from inbox.actions.common import _log
from inbox.actions.context import Context
from inbox.queries.csat import get_survey
from inbox.actions import replies  # (replies imports conversations, which imports this)
from inbox.domain import csat
from inbox.domain.access import conversation_scopes
from inbox.domain.channels import InboundMessage, ReplyWindow
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.domain.events import CONVERSATION_UPDATED, CSAT_RECEIVED
from inbox.domain.models import ConversationStatus
from inbox.domain.records import Dict
from inbox.domain.tables import CONTACTS, CONVERSATIONS, CSAT_SURVEYS, IDENTITIES, INBOXES
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

# Channels that show the choices as buttons (the adapters render ``payload["csat"]``).
BUTTONS = frozenset({"whatsapp", "telegram", "messenger"})


@dataclass(frozen=True, slots=True)
class SurveyPolicy:
    """What sending a survey needs of the process: the reply windows, the rating page's
    address and the key that signs its links."""

    windows: Mapping[str, ReplyWindow]
    public_url: str
    secret: str

    @classmethod
    def of(cls, ctx: Context) -> SurveyPolicy:
        return cls(ctx.reply_windows, ctx.settings.public_url, ctx.settings.secret_key)


def link(policy: SurveyPolicy, survey_id: int, expires_at: datetime) -> str:
    return f"{policy.public_url}/rate/{csat.token(policy.secret, survey_id, int(expires_at.timestamp()))}"


_CONTEXT = (select(CONVERSATIONS.c.contact_id, CONVERSATIONS.c.cycle, CONVERSATIONS.c.assignee_id,
                   CONVERSATIONS.c.team_id, CONVERSATIONS.c.last_inbound_inbox_id, INBOXES.c.kind, INBOXES.c.csat)
            .select_from(CONVERSATIONS).join(INBOXES, INBOXES.c.id == CONVERSATIONS.c.last_inbound_inbox_id))


def resolved(tx: Tx, conversation_id: int, now: datetime, policy: SurveyPolicy) -> int | None:
    """The conversation was just resolved (in this transaction): the survey's id when its
    inbox asks for a rating and one goes (queued for delivery), else None."""
    conn = tx.conn
    row = conn.execute(_CONTEXT.where(CONVERSATIONS.c.id == conversation_id)).first()
    if row is None or not csat.enabled(row.csat):
        return None
    setting = csat.normalised(row.csat)
    cycle = row.cycle or 1  # cycle 0: a conversation from before reports, in its first cycle

    def skip(reason: str) -> None:
        _log(tx, conversation_id, "csat_skipped", None, {"reason": reason, "cycle": cycle}, now)

    if conn.execute(select(CSAT_SURVEYS.c.id).where(CSAT_SURVEYS.c.conversation_id == conversation_id,
                                                     CSAT_SURVEYS.c.cycle == cycle)).first() is not None:
        return None  # asked once in this cycle already (resolved, reopened by an agent, resolved again)
    if conn.execute(select(IDENTITIES.c.id).where(IDENTITIES.c.contact_id == row.contact_id,
                                                  IDENTITIES.c.opted_out.is_(True))).first() is not None:
        skip("the contact has opted out of messages")
        return None
    since = now - timedelta(days=setting["interval_days"])
    last = conn.execute(select(CSAT_SURVEYS.c.sent_at).where(
        CSAT_SURVEYS.c.contact_id == row.contact_id, CSAT_SURVEYS.c.sent_at > since)
        .order_by(CSAT_SURVEYS.c.sent_at.desc()).limit(1)).scalar()
    if last is not None:
        skip(f"the contact was asked on {as_utc(last).date().isoformat()}, within {setting['interval_days']} days")
        return None
    channels = {c["inbox_id"]: c for c in queries.reply_channels(conn, conversation_id, now, policy.windows)}
    choice = channels.get(row.last_inbound_inbox_id)
    template = setting["whatsapp_template"]
    use_template = choice is not None and not choice["available"] and choice["template_required"] \
        and row.kind == "whatsapp" and template is not None
    if choice is None or not (choice["available"] or use_template):
        skip(choice["reason"] if choice is not None else "the inbox cannot reach the customer")
        return None

    expires = now + timedelta(days=setting["expiry_days"])
    survey_id = conn.execute(insert(CSAT_SURVEYS).values(
        conversation_id=conversation_id, cycle=cycle, contact_id=row.contact_id, inbox_id=choice["inbox_id"],
        channel=choice["kind"], agent_id=row.assignee_id, team_id=row.team_id, question=setting["question"],
        version=setting["version"], sent_at=now, expires_at=expires)).inserted_primary_key[0]  # type: ignore[index]
    url = link(policy, survey_id, expires)
    buttons = choice["kind"] in BUTTONS
    text = csat.text(choice["kind"], setting["question"], url, buttons)
    payload: Dict = {"csat": {"survey_id": survey_id, "question": setting["question"], "link": url,
                              "choices": csat.choices(survey_id),
                              "plain": csat.text(choice["kind"], setting["question"], url, False)}}
    if use_template:
        assert template is not None
        payload["template"] = {"name": template["name"], "language": template["language"], "parameters": [],
                               "buttons": [c["data"] for c in csat.choices(survey_id)]}
    message = replies.write_outbound(tx, conversation_id, row.contact_id, {**choice, "available": True}, text, now,
                             author_id=None, payload=payload, automatic="csat")
    conn.execute(update(CSAT_SURVEYS).where(CSAT_SURVEYS.c.id == survey_id).values(message_id=message["id"]))
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(csat_survey_id=survey_id))
    _log(tx, conversation_id, "csat_sent", None, {
        "survey_id": survey_id, "cycle": cycle, "message_id": message["id"], "agent_id": row.assignee_id,
        "question": setting["question"], "version": setting["version"], "template": use_template}, now)
    return int(survey_id)


# -- answers -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answer:
    survey_id: int
    conversation_id: int
    score: int


def answer_in(conn: Connection, conv: Mapping[str, Any] | None, msg: InboundMessage, contact_id: int,
              now: datetime) -> Answer | None:
    """Whether the customer's message answers a survey of theirs: a press on one of its
    choices (any of their conversations'), or a score typed while ``conv`` is resolved with
    its survey waiting. Checked before ingest decides to reopen: an answer reopens nothing.
    Costs a statement only when the message could be one."""
    found = csat.pressed(msg.payload) if msg.payload else None
    if found is not None and (found[0] or (conv is not None and conv["csat_survey_id"] is not None)):
        survey_id, score = found[0] or conv["csat_survey_id"], found[1]  # type: ignore[index]
    elif conv is not None and conv["csat_survey_id"] is not None and conv["status"] == ConversationStatus.resolved \
            and (typed := csat.typed(msg.text)) is not None:
        survey_id, score = conv["csat_survey_id"], typed
    else:
        return None
    row = conn.execute(select(CSAT_SURVEYS.c.conversation_id, CSAT_SURVEYS.c.contact_id, CSAT_SURVEYS.c.answered_at,
                              CSAT_SURVEYS.c.expires_at).where(CSAT_SURVEYS.c.id == survey_id)).first()
    if row is None or row.answered_at is not None or as_utc(row.expires_at) <= now:
        return None
    if row.contact_id != contact_id and not _same_contact(conn, row.contact_id, contact_id):
        return None  # someone else's survey id in a forged payload
    return Answer(survey_id, row.conversation_id, score)


def _same_contact(conn: Connection, surveyed: int, writing: int) -> bool:
    """The surveyed contact was merged into the one writing now."""
    merged = conn.execute(select(CONTACTS.c.merged_into_id).where(CONTACTS.c.id == surveyed)).scalar()
    return merged == writing


def record(tx: Tx, survey_id: int, score: int, comment: str | None, now: datetime, source: str,
           message_id: int | None = None) -> Dict:
    """The answer, once: Conflict ``already_answered`` for a second one. Clears the
    conversation's waiting survey, counts the report fact with what the survey captured,
    logs it for the timeline and tells the conversation's viewers."""
    if not 1 <= score <= 5:
        raise Invalid("score must be a whole number from 1 to 5", "invalid_score")
    conn = tx.conn
    comment = (comment or "").strip()[:csat.MAX_COMMENT_CHARS] or None
    done = conn.execute(update(CSAT_SURVEYS).where(CSAT_SURVEYS.c.id == survey_id,
                                                   CSAT_SURVEYS.c.answered_at.is_(None)).values(
        answered_at=now, score=score, comment=comment, source=source, answer_message_id=message_id))
    if done.rowcount == 0:
        raise Conflict("this survey has been answered already", "already_answered")
    survey = dict(conn.execute(select(CSAT_SURVEYS).where(CSAT_SURVEYS.c.id == survey_id)).one()._mapping)
    cid = survey["conversation_id"]
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == cid, CONVERSATIONS.c.csat_survey_id == survey_id)
                 .values(csat_survey_id=None))
    reports.record_csat(conn, cid, now, score, cycle=survey["cycle"], agent_id=survey["agent_id"],
                        team_id=survey["team_id"], inbox_id=survey["inbox_id"], channel=survey["channel"])
    _log(tx, cid, "csat_answered", None, {"survey_id": survey_id, "score": score, "comment": comment,
                                          "source": source, "agent_id": survey["agent_id"]}, now)
    conversation = queries.get_conversation(conn, cid)
    if conversation is not None:
        scopes = conversation_scopes(conversation["assignee_id"], conversation["team_id"])
        tx.emit(CONVERSATION_UPDATED, {"conversation": conversation, "previous_status": conversation["status"]},
                scopes)
        tx.emit(CSAT_RECEIVED, {"survey": get_survey(conn, survey_id), "conversation": conversation}, scopes)
    return survey


def survey_by_token(conn: Connection, secret: str, token: str) -> Dict:
    """The survey a rating page's token names: NotFound for a forged or unknown one."""
    found = csat.verify(secret, token)
    if found is None:
        raise NotFound("this rating link is not valid", "invalid_link")
    row = conn.execute(select(CSAT_SURVEYS).where(CSAT_SURVEYS.c.id == found[0])).first()
    if row is None or int(as_utc(row.expires_at).timestamp()) != found[1]:
        raise NotFound("this rating link is not valid", "invalid_link")
    return dict(row._mapping)


async def rate_by_link(ctx: Context, token: str, score: int, comment: str | None) -> Dict:
    """The rating page's answer: NotFound for a bad link, Conflict ``link_expired`` or
    ``already_answered``."""
    def job(tx: Tx) -> Dict:
        survey = survey_by_token(tx.conn, ctx.settings.secret_key, token)
        now = ctx.clock.now()
        if survey["answered_at"] is None and as_utc(survey["expires_at"]) <= now:
            raise Conflict("this rating link has expired", "link_expired")
        return record(tx, survey["id"], score, comment, now, "link")
    return await ctx.db.write(job)
