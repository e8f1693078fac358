"""Recording a customer's message: the hot path, written for speed.

Every statement is built once, at import, with bind parameters, so SQLAlchemy reuses its
compiled form and cache key; building a Core statement per call cost more than running
it (profiled: ~60% of the writer's time). A message from a known customer with an open
conversation takes six statements: find duplicate (read from the inbox's row, with its
automatic replies), find identity, latest conversation (with whether its owner wants to
hear of the message and where its reports stand), insert message, insert its report fact
(``inbox/domain/metrics.py``), update conversation, plus one insert per live event
(and one read of its labels, for the events, when it has any); and, when the conversation
has an owner, the owner's notification; and, only when the inbox has an automatic reply
on, the reads of ``inbox/actions/autoreply.py`` (and its reply, when one goes). The
events' contact, conversation and message are the values just written, not read back, put
through the serializers of ``inbox/domain/serialize.py`` as the REST API's are, so that a
payload cannot drift from what a GET returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, exists, insert, select, update

from inbox.domain import keywords as kw
from inbox.domain import metrics, serialize
from inbox.domain.access import conversation_scopes
from inbox.domain.autoreply import AUTO_SUBMITTED
from inbox.domain.consent import Purpose, Source, State
from inbox.domain.channels import InboundMessage
from inbox.domain.events import (
    CONTACT_UPDATED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    SCOPE_ALL,
)
from inbox.domain.models import ConversationStatus, DeliveryStatus, Direction, NotificationKind, Priority
from inbox.domain.records import Dict, LabelRef
from inbox.domain.tables import (
    CONTACTS,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    IDENTITIES,
    INBOXES,
    JOBS,
    MESSAGES,
    PREFERENCES,
    SLA_POLICIES,
)
from inbox.queries.labels import labels_of
from inbox.actions import csat, sla
from inbox.actions.reports import store
from inbox.actions.autoreply import AutoReplyPolicy, auto_reply, stored_replies
from inbox.actions.common import _log, preview
from inbox.actions.consent import write_record
from inbox.actions.keywords import answer as keyword_answer
from inbox.actions.notifications import write_notification
from inbox.storage.db import Tx
from inbox.storage.prepared import Prepared, as_utc


def _insert(table: Table, *columns: str) -> Prepared:
    return Prepared(insert(table).values({c: bindparam(c) for c in columns}).returning(table.c.id))


_FIND_MESSAGE = Prepared(select(MESSAGES.c.id, MESSAGES.c.conversation_id).where(
    MESSAGES.c.inbox_id == bindparam("inbox_id"), MESSAGES.c.provider_message_id == bindparam("pid")))
# The same, from the inbox's row, with its automatic replies and whether any SLA policy is
# on: what ingest asks first, so a deployment without either pays no statement to learn it
# (the message columns are NULL when new).
_ANY_SLA = exists().where(SLA_POLICIES.c.enabled.is_(True)).label("any_sla")
_FIND_MESSAGE_AND_REPLIES = Prepared(
    select(MESSAGES.c.id, MESSAGES.c.conversation_id, INBOXES.c.auto_reply, _ANY_SLA, INBOXES.c.keywords)
    .select_from(INBOXES.outerjoin(MESSAGES, and_(MESSAGES.c.inbox_id == INBOXES.c.id,
                                                  MESSAGES.c.provider_message_id == bindparam("pid"))))
    .where(INBOXES.c.id == bindparam("inbox_id")))
_FIND_IDENTITY = Prepared(
    select(IDENTITIES.c.id, IDENTITIES.c.contact_id, IDENTITIES.c.profile_name, IDENTITIES.c.opted_out,
           CONTACTS.c.name, IDENTITIES.c.last_seen_at)
    .join(CONTACTS, CONTACTS.c.id == IDENTITIES.c.contact_id)
    .where(IDENTITIES.c.kind == bindparam("kind"), IDENTITIES.c.handle == bindparam("handle")))
_CONTACT_BY = {
    name: Prepared(select(CONTACTS.c.id, CONTACTS.c.name)
                   .where(column == bindparam("value"), CONTACTS.c.merged_into_id.is_(None))
                   .order_by(CONTACTS.c.id).limit(1))
    for name, column in (("phone", CONTACTS.c.phone), ("email", CONTACTS.c.email))
}
_CONVERSATION_COLUMNS = ("contact_id", "status", "assignee_id", "team_id", "unread_count", "snoozed_until",
                         "resolved_at", "created_at", "last_message_at", "last_message_preview",
                         "last_message_direction", "last_inbound_at", "last_inbound_inbox_id", "channel", "updated_at",
                         "priority", "waiting_since", "assigned_by", "assigned_at", "sla_status", "sla_due_at",
                         "cycle", "cycle_started_at", "responded_at", "csat_survey_id")
_INSERT_CONVERSATION = _insert(CONVERSATIONS, *_CONVERSATION_COLUMNS)
# With the conversation, in the same statement: whether it has labels (only then are they
# read, one more statement, for the events) and whether its owner wants a notification of
# the customer's message (None: they have no preferences, so yes).
_LABELLED = exists().where(CONVERSATION_LABELS.c.conversation_id == CONVERSATIONS.c.id).label("labelled")
_WITH_OWNER_CHOICE = (select(CONVERSATIONS.c.id, *(CONVERSATIONS.c[c] for c in _CONVERSATION_COLUMNS),
                             _LABELLED, PREFERENCES.c.notify_new_message)
                      .outerjoin(PREFERENCES, PREFERENCES.c.user_id == CONVERSATIONS.c.assignee_id))
_LATEST_CONVERSATION = Prepared(_WITH_OWNER_CHOICE.where(CONVERSATIONS.c.contact_id == bindparam("contact_id"))
                                .order_by(CONVERSATIONS.c.id.desc()).limit(1))
_CONVERSATION_BY_ID = Prepared(_WITH_OWNER_CHOICE.where(CONVERSATIONS.c.id == bindparam("id")))
_DATETIMES = frozenset(c for c in _CONVERSATION_COLUMNS if c.endswith(("_at", "_until", "_since")))
_INSERT_MESSAGE = _insert(MESSAGES, "conversation_id", "inbox_id", "direction", "identity_id", "text", "attachments",
                          "provider_message_id", "reply_to", "status", "provider_timestamp", "payload", "raw",
                          "automatic", "created_at", "updated_at")
_INSERT_FETCH_JOB = _insert(JOBS, "message_id", "kind", "attachment", "state", "attempts", "next_attempt_at",
                            "created_at")
_INSERT_CONTACT = _insert(CONTACTS, "name", "phone", "email", "avatar_url", "attributes", "created_at", "updated_at")
_INSERT_IDENTITY = _insert(IDENTITIES, "contact_id", "kind", "handle", "profile_name", "opted_out", "last_seen_at")
_TOUCH_CONVERSATION = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(
    last_message_at=bindparam("b_at"), last_message_preview=bindparam("b_preview"),
    last_message_direction=Direction.inbound.value, last_inbound_at=bindparam("b_at"),
    last_inbound_inbox_id=bindparam("b_inbox"), channel=bindparam("b_channel"), updated_at=bindparam("b_at"),
    unread_count=CONVERSATIONS.c.unread_count + 1, status=bindparam("b_status"),
    resolved_at=bindparam("b_resolved_at"), snoozed_until=bindparam("b_snoozed_until"),
    waiting_since=bindparam("b_waiting"), cycle=bindparam("b_cycle"), cycle_started_at=bindparam("b_cycle_at"),
    responded_at=bindparam("b_responded")))
_TOUCH_FOR_ECHO = Prepared(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(
    last_message_at=bindparam("b_at"), last_message_preview=bindparam("b_preview"),
    last_message_direction=Direction.outbound.value, updated_at=bindparam("b_at")))
_TOUCH_IDENTITY = Prepared(update(IDENTITIES).where(IDENTITIES.c.id == bindparam("b_id")).values(
    last_seen_at=bindparam("b_at"), profile_name=bindparam("b_profile_name"), opted_out=bindparam("b_opted_out")))
# An identity's last_seen_at picks the handle a reply goes to; refreshing it on every
# message would cost a statement each, so it is refreshed when older than this.
SEEN_RESOLUTION = timedelta(minutes=10)


def find_message(conn: Connection, inbox_id: int, provider_message_id: str) -> tuple[int, int] | None:
    row = _FIND_MESSAGE.first(conn, {"inbox_id": inbox_id, "pid": provider_message_id})
    return (row[0], row[1]) if row is not None else None


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    conversation_id: int
    duplicate: bool = False
    fetches: int = 0  # attachments queued for download
    auto_reply: int | None = None  # the automatic reply queued in answer, if one was


def ingest(tx: Tx, msg: InboundMessage, reopen_after: timedelta, now: datetime,
           auto: AutoReplyPolicy | None = None) -> IngestResult:
    """Store one inbound message, or recognise it as one already stored, ``now`` by the app's
    clock; with ``auto``, answer it with the inbox's automatic reply where one is due."""
    conn = tx.conn
    found = _FIND_MESSAGE_AND_REPLIES.first(conn, {"inbox_id": msg.inbox_id, "pid": msg.provider_message_id})
    if found is not None and found[0] is not None:
        return IngestResult(found[0], found[1], duplicate=True)
    replies = stored_replies(found[2]) if found is not None and auto is not None else None
    # The inbox's opt-out words, on every channel (an adapter that knows better, Twilio's
    # OptOutType, has set opt_out already); docs/automation.md.
    keywords, asked = None, ""
    if msg.direction == "in" and msg.text and not msg.automatic and found is not None and auto is not None:
        keywords = kw.normalised(kw.stored(found[4]), msg.kind)
        wants, asked = kw.opt_out(keywords, msg.text)
        if msg.opt_out is None and wants is not None:
            msg = dataclasses.replace(msg, opt_out=wants)
    identity_id, contact_id, contact_name, new_contact = _resolve_identity(conn, msg, now)
    attachments = [a.as_dict() for a in msg.attachments]
    text_preview = preview(msg.text, attachments)

    inbound = msg.direction == "in"
    conv = _threaded_conversation(conn, msg, contact_id) or _latest_conversation(conn, contact_id)
    # A satisfaction answer (docs/csat.md) goes to its survey's conversation and reopens nothing.
    rating = csat.answer_in(conn, conv, msg, contact_id, now) if inbound and (conv or msg.payload) else None
    if rating is not None and (conv is None or conv["id"] != rating.conversation_id):
        conv = _conversation_row(_CONVERSATION_BY_ID.first(conn, {"id": rating.conversation_id}))
    touched: Dict = dict(last_message_at=now, last_message_preview=text_preview, last_message_direction=msg.direction,
                         updated_at=now)
    if inbound:
        touched.update(last_inbound_at=now, last_inbound_inbox_id=msg.inbox_id, channel=msg.kind)
    previous_status = None
    owner_wants = None
    facts: list[Dict] = []
    if conv is None or (conv["status"] == ConversationStatus.resolved and not conv.get("threaded") and rating is None
                        and (conv["resolved_at"] is None or conv["resolved_at"] < now - reopen_after)):
        values: Dict = dict(contact_id=contact_id, status="open", assignee_id=None, team_id=None,
                            unread_count=1 if inbound else 0, snoozed_until=None, resolved_at=None, created_at=now,
                            last_inbound_at=None, last_inbound_inbox_id=None, channel=None,
                            priority=Priority.none.value, waiting_since=None, assigned_by=None, assigned_at=None,
                            sla_status=None, sla_due_at=None, csat_survey_id=None)
        values.update(touched)
        # Its report progress: a first cycle, and the message's facts (docs/metrics.md).
        progress, facts = metrics.created(metrics.Progress(0, inbox_id=msg.inbox_id, channel=msg.kind), now)
        progress, more = _message_facts(progress, msg, now)
        values.update(progress.columns())
        values["id"] = _INSERT_CONVERSATION.scalar(conn, values)
        facts = [{**f, "conversation_id": values["id"]} for f in facts + more]
        _log(tx, values["id"], "created", None, {"channel": msg.kind, "inbox_id": msg.inbox_id}, now)
        created = True
    elif inbound:
        created = False
        values = dict(conv, **touched, unread_count=conv["unread_count"] + 1)
        owner_wants = conv["owner_wants"]
        progress = metrics.Progress.of(conv)
        if conv["status"] != ConversationStatus.open and rating is None:
            # The customer wrote again: a pending, snoozed or recently resolved conversation is open again.
            previous_status = conv["status"]
            values.update(status="open", resolved_at=None, snoozed_until=None)
            _log(tx, conv["id"], "status_changed", None,
                 {"from": conv["status"], "to": "open", "reason": "customer_replied"}, now)
            progress, facts = metrics.status(progress, now, conv["status"], "open", metrics.no_calendar)
        # An answer is counted as a message in, and awaits no reply (as an automatic one).
        progress, more = _message_facts(progress, msg, now, answer=rating is not None)
        facts += more
        values.update(progress.columns())
        _TOUCH_CONVERSATION.execute(conn, {
            "b_id": conv["id"], "b_at": now, "b_preview": text_preview, "b_inbox": msg.inbox_id,
            "b_channel": msg.kind, "b_status": values["status"], "b_resolved_at": values["resolved_at"],
            "b_snoozed_until": values["snoozed_until"], "b_waiting": values["waiting_since"],
            "b_cycle": values["cycle"], "b_cycle_at": values["cycle_started_at"],
            "b_responded": values["responded_at"]})
    else:  # an echo of the business's own message changes nothing but the latest message
        created = False
        values = dict(conv, **touched)
        _TOUCH_FOR_ECHO.execute(conn, {"b_id": conv["id"], "b_at": now, "b_preview": text_preview})
        facts = _message_facts(metrics.Progress.of(conv), msg, now)[1]

    status = DeliveryStatus.received.value if inbound else DeliveryStatus.sent.value
    message: Dict = {
        "conversation_id": values["id"], "inbox_id": msg.inbox_id, "direction": msg.direction,
        "identity_id": identity_id, "text": msg.text, "attachments": attachments,
        "provider_message_id": msg.provider_message_id, "reply_to": msg.reply_to, "status": status,
        "provider_timestamp": msg.timestamp, "payload": dict(msg.payload) if msg.payload else None,
        "raw": dict(msg.raw) if msg.unsupported else None, "automatic": AUTO_SUBMITTED if msg.automatic else None,
        "created_at": now, "updated_at": now}
    message_id = _INSERT_MESSAGE.scalar(conn, message)
    fetches = 0
    for index, attachment in enumerate(attachments):
        if attachment.get("media_id") or attachment.get("url"):
            _INSERT_FETCH_JOB.execute(conn, {"message_id": message_id, "kind": "fetch", "attachment": index,
                                             "state": "pending", "attempts": 0, "next_attempt_at": now,
                                             "created_at": now})
            fetches += 1
    store(conn, facts)

    any_sla = found is None or bool(found[3])
    if inbound and (summary := sla.sync(tx, values["id"], now, values, any_policy=any_sla)) is not None:
        values.update(summary)  # an SLA started, or its clock resumed
    # The events carry the rows as just written, through the serializers the REST API uses.
    labelled = not created and conv is not None and conv["labelled"]
    labels: list[LabelRef] = labels_of(conn, [values["id"]])[values["id"]] if labelled else []
    survey = values.pop("csat_survey_id", None)
    for key in ("threaded", "labelled", "owner_wants", "cycle", "cycle_started_at", "responded_at"):
        values.pop(key, None)
    conversation = serialize.conversation_dict({**values, "contact_name": contact_name}, labels)
    scopes = conversation_scopes(values["assignee_id"], values["team_id"])
    if new_contact:
        tx.emit(CONTACT_UPDATED, {"contact": serialize.contact_dict({
            "id": contact_id, "name": contact_name, "email": msg.email, "phone": msg.phone,
            "avatar_url": msg.avatar_url, "attributes": {}, "created_at": now, "updated_at": now,
            "merged_into_id": None})}, [SCOPE_ALL])
    if created:
        tx.emit(CONVERSATION_CREATED, {"conversation": conversation}, scopes)
    elif previous_status is not None:
        tx.emit(CONVERSATION_UPDATED, {"conversation": conversation, "previous_status": previous_status}, scopes)
    event_message = serialize.message_dict({**message, "id": message_id, "author_id": None, "edited_at": None,
                                            "error_code": None, "error_message": None})
    event_message["sender"] = {"contact_id": contact_id, "name": contact_name, "handle": msg.handle,
                               "channel": msg.kind}
    tx.emit(MESSAGE_CREATED, {"message": event_message, "conversation": conversation}, scopes)
    owner = values["assignee_id"]
    if inbound and not created and owner is not None and (owner_wants is None or bool(owner_wants)):
        _notify_owner(tx, owner, values["id"], message_id, text_preview, contact_name, now)
    if rating is not None:
        csat.record(tx, rating.survey_id, rating.score, None, now, "channel", message_id)
    elif survey is not None and previous_status is not None:
        # Reopened by the customer: a new cycle, whose messages are never a typed rating.
        conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == values["id"]).values(csat_survey_id=None))
    answer = None
    if keywords is not None and rating is None and (asked or keywords["rules"]):
        assert auto is not None
        answer = keyword_answer(tx, msg, keywords, asked, values["id"], contact_id, now, auto.windows)
        if answer is not None or asked:
            replies = None  # answered (or an opt-out word): no out-of-office besides
    if replies is not None and inbound:
        assert auto is not None
        answer = auto_reply(tx, msg, replies, values["id"], contact_id, now, auto)
    return IngestResult(message_id, values["id"], fetches=fetches, auto_reply=answer)


def _message_facts(progress: metrics.Progress, msg: InboundMessage, now: datetime, answer: bool = False
                   ) -> tuple[metrics.Progress, list[Dict]]:
    if msg.direction == "in":
        return metrics.inbound(progress, now, msg.inbox_id, msg.kind, msg.automatic or answer)
    return metrics.outbound(progress, now, msg.inbox_id, msg.kind, None, False, metrics.no_calendar)


def _notify_owner(tx: Tx, owner: int, conversation_id: int, message_id: int, text_preview: str, contact_name: str,
                  now: datetime) -> None:
    """The owner's new_message notification. Sent even while they have the conversation
    open (the server cannot know; their browser shows no desktop popup for the
    conversation on screen)."""
    write_notification(tx, owner, NotificationKind.new_message, conversation_id, now, contact_name=contact_name,
                       preview=text_preview, message_id=message_id)


def _threaded_conversation(conn: Connection, msg: InboundMessage, contact_id: int) -> Dict | None:
    """The conversation of the latest earlier message this one names as answered, if it is
    this contact's."""
    for ref in reversed(msg.thread_refs[-20:]):
        found = find_message(conn, msg.inbox_id, ref)
        if found is not None:
            conv = _conversation_row(_CONVERSATION_BY_ID.first(conn, {"id": found[1]}))
            if conv is not None and conv["contact_id"] == contact_id:
                return {**conv, "threaded": True}
    return None


def _latest_conversation(conn: Connection, contact_id: int) -> Dict | None:
    return _conversation_row(_LATEST_CONVERSATION.first(conn, {"contact_id": contact_id}))


def _conversation_row(row: Any) -> Dict | None:
    if row is None:
        return None
    conv = dict(zip(("id", *_CONVERSATION_COLUMNS, "labelled", "owner_wants"), row))
    for key in _DATETIMES:
        if conv[key] is not None:
            conv[key] = as_utc(conv[key])
    return conv


def _resolve_identity(conn: Connection, msg: InboundMessage, now: datetime) -> tuple[int, int, str, bool]:
    """(identity id, contact id, contact name, contact is new). A new handle joins the
    contact who already has the same phone or email, whatever channel it came from."""
    row = _FIND_IDENTITY.first(conn, {"kind": msg.kind, "handle": msg.handle})
    if row is not None:
        identity_id, contact_id, profile_name, opted_out, name, last_seen = row
        opted_out = bool(opted_out)
        new_profile = msg.profile_name or profile_name
        new_opt_out = opted_out if msg.opt_out is None else msg.opt_out
        stale = last_seen is None or as_utc(last_seen) < now - SEEN_RESOLUTION
        if new_profile != profile_name or new_opt_out != opted_out or stale:
            _TOUCH_IDENTITY.execute(conn, {"b_id": identity_id, "b_at": now, "b_profile_name": new_profile,
                                           "b_opted_out": new_opt_out})
        if new_opt_out != opted_out:
            _record_keyword(conn, msg, contact_id, identity_id, now)
        return identity_id, contact_id, name, False

    contact = None
    for key, value in (("phone", msg.phone), ("email", msg.email)):
        if value and contact is None:
            contact = _CONTACT_BY[key].first(conn, {"value": value})
    if contact is None:
        name = msg.profile_name or msg.handle
        contact_id = _INSERT_CONTACT.scalar(conn, {
            "name": name, "phone": msg.phone, "email": msg.email, "avatar_url": msg.avatar_url, "attributes": {},
            "created_at": now, "updated_at": now})
    else:
        contact_id, name = contact
    identity_id = _INSERT_IDENTITY.scalar(conn, {
        "contact_id": contact_id, "kind": msg.kind, "handle": msg.handle, "profile_name": msg.profile_name,
        "opted_out": bool(msg.opt_out), "last_seen_at": now})
    if msg.opt_out:
        _record_keyword(conn, msg, contact_id, identity_id, now)
    return identity_id, contact_id, name, contact is None


def _record_keyword(conn: Connection, msg: InboundMessage, contact_id: int, identity_id: int, now: datetime) -> None:
    """The customer opted out (or in again) with their message: a line of the contact's
    consent ledger, the message as its proof."""
    write_record(conn, contact_id, msg.kind, Purpose.transactional, State.opt_out if msg.opt_out else State.opt_in,
                 Source.keyword, now, proof=msg.text, identity_id=identity_id)
