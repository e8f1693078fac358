"""The schema. SQLModel classes define the tables; the queries and actions use them
with SQLAlchemy Core (``Model.__table__``) because the ORM costs ~10x on ingest
(docs/performance.md).

All timestamps are timezone-aware UTC (SQLModel's UTCDateTime refuses naive ones).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint, true
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Role(StrEnum):
    agent = "agent"
    lead = "lead"
    admin = "admin"


class ConversationStatus(StrEnum):
    open = "open"
    pending = "pending"
    snoozed = "snoozed"
    resolved = "resolved"


class Priority(StrEnum):
    """How urgent a conversation is, as its agents judge it; "none" until someone says."""

    none = "none"
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class Direction(StrEnum):
    inbound = "in"
    outbound = "out"


class DeliveryStatus(StrEnum):
    received = "received"  # inbound messages
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"


class NotificationKind(StrEnum):
    assigned = "assigned"  # someone else gave you a conversation
    mentioned = "mentioned"  # @you in a private note
    new_message = "new_message"  # the customer wrote in a conversation you own
    sla_warning = "sla_warning"  # a conversation of yours (or your team's, for leads) is close to its SLA target
    sla_breached = "sla_breached"  # ... and has missed it
    no_reply = "no_reply"  # leads: a routed conversation's assignee has not answered in time


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)
    name: str
    role: str = Role.agent.value
    password_hash: str = ""
    active: bool = True
    # In every session cookie; bumped by logout, a password change and deactivation, so
    # every earlier session ends at once (ui/auth.py).
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    # What the team overrides of its conversations' routing policy (inbox/domain/routing.py).
    routing: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                            server_default="{}"))
    # Its business hours (inbox/domain/calendar.py); None: its inboxes'. No foreign key (a
    # column added in place on SQLite cannot carry one): a calendar in use cannot be deleted.
    calendar_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(unique=True)  # sha256 hex of the token; the token itself is shown once
    name: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Inbox(SQLModel, table=True):
    """One provider account of a channel kind. ``address`` is the routing key a webhook
    names (an E.164 number for sms), unique per kind."""

    __table_args__ = (UniqueConstraint("kind", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    name: str
    address: str
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Disabled: still stores what customers send, sends nothing. Deleted: kept for the
    # history that went through it, unreachable (docs/admin.md, migration 0004).
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    deleted_at: datetime | None = None
    # How its conversations are assigned (inbox/domain/routing.py); {}: by hand, the defaults.
    routing: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                            server_default="{}"))
    # Its business hours (inbox/domain/calendar.py); None: open around the clock. No foreign
    # key, as the team's.
    calendar_id: int | None = None
    # Out-of-office and acknowledgement replies: {"closed": {"enabled", "text"}, "open": {...}}.
    auto_reply: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                               server_default="{}"))
    # Satisfaction surveys (inbox/domain/csat.py): {} is off.
    csat: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    # Opt-out, opt-in and help words and keyword replies (inbox/domain/keywords.py): {} is the defaults.
    keywords: dict[str, Any] = Field(default_factory=dict,
                                     sa_column=Column(JSON, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    avatar_url: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    merged_into_id: int | None = Field(default=None, foreign_key="contact.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ContactIdentity(SQLModel, table=True):
    __tablename__ = "contact_identity"
    __table_args__ = (UniqueConstraint("kind", "handle"),)
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str
    handle: str
    profile_name: str | None = None
    opted_out: bool = False
    last_seen_at: datetime = Field(default_factory=utcnow)


class ConsentRecord(SQLModel, table=True):
    """One line of a contact's consent ledger (docs/consent.md): an opt-in or opt-out of a
    channel kind for a purpose, with where it came from and its proof. Append-only; the
    latest line of a (contact, kind, purpose) is where it stands."""

    __tablename__ = "consent_record"
    __table_args__ = (Index("ix_consent_record_contact", "contact_id", "kind", "purpose", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    kind: str  # a channel kind
    purpose: str  # transactional | marketing
    state: str  # opt_in | opt_out
    source: str  # keyword | agent | api | import | form | provider | unsubscribe | migration
    proof: str | None = None  # what the customer sent or agreed to, as recorded
    identity_id: int | None = Field(default=None, foreign_key="contact_identity.id")
    user_id: int | None = Field(default=None, foreign_key="user.id")  # who recorded it
    at: datetime = Field(default_factory=utcnow)


class Conversation(SQLModel, table=True):
    __table_args__ = (
        Index("ix_conversation_list", "last_message_at", "id"),
        Index("ix_conversation_status_list", "status", "last_message_at", "id"),
        Index("ix_conversation_assignee", "assignee_id", "last_message_at"),
        Index("ix_conversation_team_list", "team_id", "last_message_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    status: str = ConversationStatus.open.value
    assignee_id: int | None = Field(default=None, foreign_key="user.id")
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    unread_count: int = 0
    last_message_at: datetime = Field(default_factory=utcnow)
    last_message_preview: str = ""
    last_message_direction: str = Direction.inbound.value
    last_inbound_at: datetime | None = None
    # The channel and inbox of the customer's latest message: where a reply goes by default.
    last_inbound_inbox_id: int | None = Field(default=None, foreign_key="inbox.id")
    channel: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    priority: str = Field(default=Priority.none.value, sa_column_kwargs={"server_default": Priority.none.value})
    # The first customer message still unanswered: set by a customer message when empty,
    # cleared by an agent's reply (not a note). How long the customer has waited.
    waiting_since: datetime | None = None
    # Who gave it to its assignee: "routing" or "manual" (a person), and when; what routing
    # may undo depends on it (docs/routing.md).
    assigned_by: str | None = None
    assigned_at: datetime | None = None
    # When the no-reply timeout last acted: once per customer wait and assignment.
    no_reply_handled: datetime | None = None
    # When an automatic reply (out-of-office, acknowledgement) last went to the customer:
    # at most one per INBOX_AUTO_REPLY_INTERVAL.
    auto_replied_at: datetime | None = None
    # The SLA clock's summary, for the list's sort and filter (the details in sla_target):
    # the next due time of its running targets, and "running", "due_soon" (past the
    # warning share) or "breached" (a target missed and not yet met); None: no SLA running.
    sla_due_at: datetime | None = Field(default=None, index=True)
    sla_status: str | None = None
    # Where its reports stand (docs/metrics.md): the number of its current cycle (created
    # or reopened until resolved; 0 until its first), when that cycle began, and when an
    # agent first answered a customer in it (None: not yet). ``waiting_since`` is the rest.
    cycle: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    cycle_started_at: datetime | None = None
    responded_at: datetime | None = None
    # The satisfaction survey waiting for this customer's answer, if one is (docs/csat.md):
    # read with the conversation by ingest, so a plain "4" on SMS can answer it.
    csat_survey_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Label(SQLModel, table=True):
    """An admin-defined, coloured tag on conversations."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    # The name casefolded: unique, so no two names differ only by case, on every engine
    # (SQLite's lower() folds ASCII letters only).
    name_key: str = Field(unique=True)
    colour: str  # "#rrggbb"
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class ConversationLabel(SQLModel, table=True):
    """Which labels a conversation carries; a deleted label leaves every conversation."""

    __tablename__ = "conversation_label"
    __table_args__ = (Index("ix_conversation_label_label", "label_id", "conversation_id"),)
    conversation_id: int = Field(sa_column=Column(Integer, ForeignKey("conversation.id"), primary_key=True))
    label_id: int = Field(sa_column=Column(Integer, ForeignKey("label.id", ondelete="CASCADE"), primary_key=True))


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("inbox_id", "provider_message_id"),
        UniqueConstraint("author_id", "idempotency_key"),
        Index("ix_message_conversation", "conversation_id", "created_at", "id"),
        Index("ix_message_identity", "identity_id", "direction", "created_at"),  # reply windows
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    inbox_id: int = Field(foreign_key="inbox.id")
    direction: str
    identity_id: int | None = Field(default=None, foreign_key="contact_identity.id")
    author_id: int | None = Field(default=None, foreign_key="user.id")
    text: str = ""
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provider_message_id: str | None = None
    reply_to: str | None = None
    status: str = DeliveryStatus.received.value
    error_code: str | None = None
    error_message: str | None = None
    idempotency_key: str | None = None
    # Channel-specific content beyond text: a template reply, a location, a contact card...
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The provider's untouched payload, kept only for messages we could not show fully.
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    edited_at: datetime | None = None
    provider_timestamp: datetime | None = None
    # An automatic message: outbound, what sent it ("out_of_office", "acknowledgement"; not an
    # agent's reply, no first response); inbound, "auto_submitted" when the customer's side
    # sent it by itself (a vacation reply, a bounce), which is never answered automatically.
    automatic: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Note(SQLModel, table=True):
    __table_args__ = (Index("ix_note_conversation", "conversation_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    author_id: int = Field(foreign_key="user.id")
    text: str
    mentions: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # An automation rule's note: {"rule_id", "rule_name", "depth"} (the author made the rule).
    by: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class ConversationEvent(SQLModel, table=True):
    """Append-only log of what happened to a conversation and who did it."""

    __tablename__ = "conversation_event"
    __table_args__ = (Index("ix_conversation_event_conversation", "conversation_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    kind: str  # created, assigned, reassigned, unassigned, status_changed, merged, labelled, priority_changed
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryJob(SQLModel, table=True):
    """Work the worker does with a provider: ``send`` an outbound message, or ``fetch`` an
    inbound message's attachment (``attachment`` is its index). ``state`` is pending until
    a worker claims it (sending, with a lease), then done or failed."""

    __tablename__ = "delivery_job"
    __table_args__ = (Index("ix_delivery_job_due", "state", "next_attempt_at"),
                      UniqueConstraint("message_id", "kind", "attachment"))
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id")
    kind: str = "send"
    attachment: int = 0
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class EarlyReceipt(SQLModel, table=True):
    """A delivery receipt that arrived before we had recorded the provider's id for the
    message (the provider answered the send and called back at once). Applied as soon as
    the id is recorded; pruned after a day if it never matches (a message sent elsewhere)."""

    __tablename__ = "early_receipt"
    __table_args__ = (Index("ix_early_receipt_message", "inbox_id", "provider_message_id"),)
    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int = Field(foreign_key="inbox.id")
    provider_message_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CannedResponse(SQLModel, table=True):
    """A saved reply agents insert by typing "/" and its short code in the composer."""

    __tablename__ = "canned_response"
    id: int | None = Field(default=None, primary_key=True)
    short_code: str = Field(unique=True)
    text: str
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class WebhookNonce(SQLModel, table=True):
    """A one-time token of a signed webhook (Mailgun's ``token``), kept until its
    timestamp is too old to be accepted anyway: a captured post cannot be replayed."""

    __tablename__ = "webhook_nonce"
    key: str = Field(primary_key=True)
    expires_at: datetime = Field(index=True)


class Notification(SQLModel, table=True):
    """Something a user should know about, kept until they have read it: their list in the
    top bar (GET /api/notifications). Written in the transaction of what caused it."""

    __table_args__ = (Index("ix_notification_user", "user_id", "read_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    kind: str  # a NotificationKind
    conversation_id: int = Field(foreign_key="conversation.id")
    actor_id: int | None = Field(default=None, foreign_key="user.id")  # who did it; None for a customer
    message_id: int | None = Field(default=None, foreign_key="message.id")
    note_id: int | None = Field(default=None, foreign_key="note.id")
    preview: str = ""  # at most PREVIEW_CHARS (inbox/actions/notifications.py)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None


class UserPreference(SQLModel, table=True):
    """A user's own settings (GET/PATCH /api/me/preferences). No row: the defaults below.
    One column per notification kind, so ingest can read the owner's choice in the join
    it already makes (inbox/actions/ingest.py)."""

    __tablename__ = "user_preference"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    notify_assigned: bool = True
    notify_mentioned: bool = True
    notify_new_message: bool = True
    notify_sla_warning: bool = True
    notify_sla_breached: bool = True
    notify_no_reply: bool = True
    # Away after this many minutes without input in the app (None: never).
    away_after_minutes: int | None = None
    desktop: bool = False  # the browser's desktop notifications (asked for from /settings)
    sound: bool = False
    landing_tab: str | None = None  # mine, unassigned, all or team:<id>; None: by role
    updated_at: datetime = Field(default_factory=utcnow)


class AgentState(SQLModel, table=True):
    """A user's presence and what routing keeps about them. No row: offline, never seen."""

    __tablename__ = "agent_state"
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    status: str = "offline"  # inbox.domain.routing.Presence
    since: datetime = Field(default_factory=utcnow)
    # What they chose last (online or away): where a reconnect brings them back to.
    chosen: str = "online"
    capacity: int | None = None  # their own capacity; None: the policy's
    last_seen_at: datetime | None = None  # a socket of theirs was connected (refreshed while one is)
    last_active_at: datetime | None = None  # their last input in the app
    last_assigned_at: datetime | None = None  # routing's last assignment to them (round robin, ties)


class PresenceChange(SQLModel, table=True):
    """Every change of an agent's status, with its cause (inbox.domain.routing.PresenceCause)."""

    __tablename__ = "presence_change"
    __table_args__ = (Index("ix_presence_change_user", "user_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    status: str
    previous: str
    cause: str
    created_at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """The live-event outbox: written in the transaction that caused it, so event ids
    are durable, monotonic, and replayable after a reconnect. AUTOINCREMENT on SQLite: ids
    are never reused, even once pruning has emptied the table."""

    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    type: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Who may see it: "all", "user:<id>", "team:<id>" (see inbox/domain/access.py).
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class BusinessCalendar(SQLModel, table=True):
    """Business hours (inbox/domain/calendar.py): a zone, weekly intervals, dated
    exceptions. ``version`` counts its edits: a figure computed in its business time
    records the version it used."""

    __tablename__ = "calendar"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    timezone: str
    intervals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    exceptions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SlaPolicy(SQLModel, table=True):
    """Promised response and resolution times (docs/sla.md). The first enabled policy by
    ``position`` whose conditions all hold applies; one without conditions is the fallback."""

    __tablename__ = "sla_policy"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    position: int = 0
    enabled: bool = True
    # {"inbox_ids": [...], "team_ids": [...], "label_ids": [...], "priorities": [...]}: each
    # given list must hold the conversation's (any of its labels); absent or empty: any.
    conditions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    # Business time: of ``calendar_id``, or (None) of the conversation's team's calendar, else
    # its inbox's; calendar time when ``business_hours`` is false.
    business_hours: bool = False
    calendar_id: int | None = Field(default=None, foreign_key="calendar.id")
    pause_statuses: list[str] = Field(default_factory=lambda: ["pending", "snoozed"],
                                      sa_column=Column(JSON, nullable=False))
    warn_percent: int = 75
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SlaTarget(SQLModel, table=True):
    """One promise made to one conversation: its first response, a next response (each
    customer message awaiting an answer) or its resolution, in one cycle (created or
    reopened until resolved). The time used is kept as ``used_seconds`` up to
    ``resumed_at`` (None while paused); ``fire_at`` is when the scheduler next acts on it
    (its warning, then its due time), indexed: the scheduler reads only what is due."""

    __tablename__ = "sla_target"
    __table_args__ = (Index("ix_sla_target_conversation", "conversation_id", "id"),
                      Index("ix_sla_target_fire", "fire_at"))
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    policy_id: int | None = Field(default=None, foreign_key="sla_policy.id")
    kind: str  # first_response, next_response, resolution
    cycle: int = 1
    started_at: datetime
    budget_seconds: int
    used_seconds: float = 0.0
    resumed_at: datetime | None = None  # running since; None: paused or ended
    due_at: datetime | None = None  # while running
    warn_at: datetime | None = None  # while running and not yet warned
    fire_at: datetime | None = None
    status: str = "running"  # running, paused, met, missed
    warned_at: datetime | None = None
    met_at: datetime | None = None  # answered (or resolved); also after a miss
    missed_at: datetime | None = None
    ended: str | None = None  # why it stopped counting: met, resolved, replaced (the policy changed)
    calendar_id: int | None = Field(default=None, foreign_key="calendar.id")
    calendar_version: int | None = None


class SlaSpan(SQLModel, table=True):
    """The conversation's SLA clock, as intervals: running or paused, from when to when
    (None: still). The history the timeline shows, and what the targets can be recomputed from."""

    __tablename__ = "sla_span"
    __table_args__ = (Index("ix_sla_span_conversation", "conversation_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    state: str  # running, paused
    reason: str = ""  # the status that paused it, or what started it
    started_at: datetime
    ended_at: datetime | None = None


class CalendarVersion(SQLModel, table=True):
    """Each version of a calendar as it was, from when: a figure computed in business time
    names the version it used, and ``inbox reports rebuild`` computes in the same one."""

    __tablename__ = "calendar_version"
    calendar_id: int = Field(primary_key=True)
    version: int = Field(primary_key=True)
    timezone: str
    intervals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    exceptions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_from: datetime


class InboxCalendar(SQLModel, table=True):
    """Which calendar an inbox pointed at, from when (None: none): a rebuild computes each
    figure in the calendar its inbox had when it happened."""

    __tablename__ = "inbox_calendar"
    inbox_id: int = Field(primary_key=True)
    valid_from: datetime = Field(primary_key=True)
    calendar_id: int | None = None


class ReportFact(SQLModel, table=True):
    """One fact reports count (docs/metrics.md), append-only, written in the transaction
    of the event that completes it: a cycle begun, a message in or out, a first response, a
    reply, a resolution, an SLA target met or missed, a satisfaction answer. ``at`` is when
    it happened (a figure belongs to the period holding it); the dimensions are the
    conversation's at that moment; ``agent_id`` is who gets the credit. Time figures are in
    seconds, in calendar time and in the business time of the inbox's calendar (the
    calendar and version used beside them; no calendar: always open)."""

    __tablename__ = "report_fact"
    # Reports read a kind's facts over a period, with their values and dimensions: all in the
    # index, so a period is one range scan of it and no row is visited.
    __table_args__ = (Index("ix_report_fact_kind_at", "kind", "at", "outcome", "seconds", "business_seconds",
                            "score", "channel", "inbox_id", "team_id", "agent_id"),
                      Index("ix_report_fact_conversation", "conversation_id", "cycle"))
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    at: datetime
    conversation_id: int
    cycle: int
    inbox_id: int | None = None
    channel: str | None = None
    team_id: int | None = None
    agent_id: int | None = None
    seconds: float | None = None
    business_seconds: float | None = None
    calendar_id: int | None = None
    calendar_version: int | None = None
    # What kind of one: a cycle "created" or "reopened"; a message "agent", "automatic" or
    # "echo" (out) or "customer", "automatic" (in); an SLA target's kind and "met"/"missed".
    outcome: str | None = None
    score: int | None = None  # a satisfaction answer's score, 1 to 5


class CsatSurvey(SQLModel, table=True):
    """A satisfaction survey sent when a conversation was resolved (docs/csat.md): one per
    cycle. What it was asked with is kept as it was then: the assignee at resolution (who
    gets the credit), the team, the inbox and channel it went through, the question and its
    wording version. ``answered_at`` set once: the link and the buttons work one time."""

    __tablename__ = "csat_survey"
    __table_args__ = (UniqueConstraint("conversation_id", "cycle"),
                      Index("ix_csat_survey_contact", "contact_id", "sent_at"),
                      Index("ix_csat_survey_answered", "answered_at"))
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int
    cycle: int
    contact_id: int
    inbox_id: int
    channel: str
    message_id: int | None = None  # the survey as sent (an automatic message, "csat")
    agent_id: int | None = None
    team_id: int | None = None
    question: str
    version: int
    sent_at: datetime
    expires_at: datetime
    answered_at: datetime | None = None
    score: int | None = None
    comment: str | None = None
    source: str | None = None  # how it was answered: "channel" (a press or a typed digit) or "link"
    answer_message_id: int | None = None


class AutomationRule(SQLModel, table=True):
    """An admin's automation rule (docs/automation.md; checked by domain/automation.py
    ``check``): when ``trigger`` happens and its conditions hold, its actions run, in
    ``position`` order among the rules of that trigger."""

    __tablename__ = "automation_rule"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    trigger: str = Field(index=True)
    delay_minutes: int | None = None  # a timed trigger's X
    match: str = "all"
    conditions: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    actions: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    position: int = 0
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime
    updated_at: datetime


class AutomationRun(SQLModel, table=True):
    """One time a rule was asked about a conversation and acted, failed, or stopped (the
    rule's execution log). ``key`` is what it ran for ("e<event id>" or "t<timer id>"):
    unique per rule, so an event is acted on once however many processes look."""

    __tablename__ = "automation_run"
    __table_args__ = (UniqueConstraint("rule_id", "key"), Index("ix_automation_run_rule", "rule_id", "id"))
    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(foreign_key="automation_rule.id")
    key: str
    conversation_id: int | None = None
    trigger: str
    outcome: str  # "done", "failed" or "stopped" (the chain's depth limit)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    depth: int = 0
    at: datetime


class AutomationTimer(SQLModel, table=True):
    """A timed trigger armed for one conversation: fires at ``due_at`` unless the
    conversation moves on first (then it is deleted, or re-armed)."""

    __tablename__ = "automation_timer"
    __table_args__ = (UniqueConstraint("rule_id", "conversation_id"), Index("ix_automation_timer_due", "due_at"))
    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(foreign_key="automation_rule.id")
    conversation_id: int
    due_at: datetime
    armed_at: datetime


class AutomationCursor(SQLModel, table=True):
    """The last live event the rules have been asked about: one row."""

    __tablename__ = "automation_cursor"
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = 0


class Macro(SQLModel, table=True):
    """A named sequence of steps an agent runs on a conversation (docs/automation.md,
    "Macros"): personal (``owner_id``) or shared with everyone (``owner_id`` None)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    steps: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class Campaign(SQLModel, table=True):
    """Messages the business sends first, to an audience (docs/campaigns.md; checked by
    domain/campaigns.py ``check``). ``cursor``: the last contact id whose recipient row is
    written; ``planned`` is True once every one is."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    purpose: str = "marketing"  # marketing | transactional
    status: str = Field(default="draft", index=True)  # draft | scheduled | sending | paused | cancelled | done
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    messages: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    schedule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    quiet_hours: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Channel fallback: a message not delivered within this many minutes (or failed) goes
    # again through the next of ``messages`` the recipient has and consents to.
    fallback_minutes: int | None = None
    cursor: int = 0
    planned: bool = False
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class CampaignRecipient(SQLModel, table=True):
    """One contact of a campaign's audience: ``pending`` until its time (``due_at``), then
    ``queued`` with the message written in the same transaction (so a restart never sends
    it twice) or ``skipped`` with the reason. What happened next is the message's status."""

    __tablename__ = "campaign_recipient"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id"),
                      Index("ix_campaign_recipient_due", "campaign_id", "state", "due_at"),
                      Index("ix_campaign_recipient_contact", "contact_id", "sent_at"))
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    contact_id: int = Field(foreign_key="contact.id")
    state: str = "pending"  # pending | queued | skipped
    reason: str | None = None  # a skip's Skip value
    detail: str | None = None  # its words
    due_at: datetime
    kind: str | None = None  # the channel it went through
    marketing: bool = False  # counted by the frequency caps
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    conversation_id: int | None = None
    sent_at: datetime | None = None
    # Channel fallback: when its message is looked at again (delivered by then, or sent again
    # through the next channel), and the earlier attempts ([{"kind", "message_id", "why"}]).
    fallback_at: datetime | None = Field(default=None, index=True)
    attempts: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class ScheduledMessage(SQLModel, table=True):
    """A message to send later (docs/campaigns.md, "Scheduled messages"): an agent's reply
    (``author_id``, ``automatic`` None) or a reminder the API scheduled (``automatic``
    "reminder"). At ``due_at`` it is sent through the checks a reply meets, then ``sent``
    with its ``message_id``, or ``failed`` with the reason; until then it can be cancelled."""

    __tablename__ = "scheduled_message"
    __table_args__ = (Index("ix_scheduled_message_due", "state", "due_at"),
                      UniqueConstraint("author_id", "idempotency_key"))
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    # An agent's reply: its conversation. A reminder: the conversation it went in, once sent.
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    inbox_id: int | None = Field(default=None, foreign_key="inbox.id")
    author_id: int | None = Field(default=None, foreign_key="user.id")
    automatic: str | None = None
    purpose: str = "transactional"
    text: str = ""
    template: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    due_at: datetime
    local: str | None = None  # "2026-12-05T09:00 Europe/Berlin": the customer's time it was asked for
    state: str = "scheduled"
    reason: str | None = None
    message_id: int | None = Field(default=None, foreign_key="message.id")
    idempotency_key: str | None = None
    created_at: datetime
    updated_at: datetime


class ReplyFallback(SQLModel, table=True):
    """An inbox's channel fallback for one message (docs/campaigns.md, "Channel fallback"):
    if ``message_id`` fails, or is not delivered by ``due_at``, the same content goes out
    through ``fallback_inbox_id``. ``state`` is waiting until then, then done with its
    ``outcome``: delivered (no fallback needed), sent (``next_message_id``) or skipped
    (``detail``: why not)."""

    __tablename__ = "reply_fallback"
    __table_args__ = (Index("ix_reply_fallback_due", "state", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    conversation_id: int = Field(foreign_key="conversation.id")
    fallback_inbox_id: int = Field(foreign_key="inbox.id")
    due_at: datetime
    state: str = "waiting"
    outcome: str | None = None
    next_message_id: int | None = Field(default=None, foreign_key="message.id")
    detail: str | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpoint(SQLModel, table=True):
    """A URL that outbound webhooks are posted to, signed per Standard Webhooks
    (docs/webhooks.md), with the event types it subscribes to. ``secret`` signs every
    request; after a rotation ``previous_secret`` signs too until ``previous_until``. Not
    ``active``: paused (by an admin, or by the worker after a long failure, ``paused_reason``
    says which); its deliveries wait, in order. Deleted: kept while its log is, receives
    nothing. ``lease_owner``/``lease_until``: the worker sending its queue (one at a time,
    so deliveries keep their order)."""

    __tablename__ = "webhook_endpoint"
    id: int | None = Field(default=None, primary_key=True)
    url: str
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str
    previous_secret: str | None = None
    previous_until: datetime | None = None
    active: bool = True
    paused_reason: str | None = None
    paused_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One event (or a test) to one endpoint, written in the event's transaction. ``msg_id``
    is its ``webhook-id``, the same on every attempt; ``payload`` the exact body posted.
    ``state``: pending (waiting, due at ``next_attempt_at``, None: at once), delivered, or
    failed (a test that failed; deliveries of events are retried until they go)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_queue", "endpoint_id", "state", "id"),
                      Index("ix_webhook_delivery_log", "endpoint_id", "id"),
                      Index("ix_webhook_delivery_created", "created_at"))
    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id")
    event_id: int | None = None  # the live event's id; None for a test
    msg_id: str
    type: str
    payload: str
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    first_attempt_at: datetime | None = None  # of the current run of failures: how long it has failed
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_response: str | None = None  # the start of the answer's body
    last_error: str | None = None  # why there was no answer (or what the answer meant)
    last_duration_ms: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class WebhookAttempt(SQLModel, table=True):
    """Each attempt of a delivery, as the delivery log shows it: when, the
    ``webhook-timestamp`` it was signed with, the answer's status and body excerpt, or why
    there was none, and how long it took."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id")
    at: datetime
    timestamp: int
    status: int | None = None
    response: str | None = None
    error: str | None = None
    duration_ms: float = 0.0


class WebhookState(SQLModel, table=True):
    """One row: ``version`` counts the changes of endpoints, read in every transaction that
    writes events, so each process knows when its cached subscriptions are stale
    (inbox/storage/subscriptions.py)."""

    __tablename__ = "webhook_state"
    id: int = Field(default=1, primary_key=True)
    version: int = 0


class ReportRollup(SQLModel, table=True):
    """Report facts folded together (docs/performance.md, "Reports"): per bucket of time in
    UTC (``width`` seconds from ``start``, epoch seconds: a quarter hour and an hour for the
    totals, a day and blocks of 2 to 64 days aligned to the epoch for every group), figure
    (``name``: conversations_created, messages_in, reply, sla_met, csat...), group (``grp``:
    "" for the total, channel, inbox, team, agent or label) and the group's key ("" for
    none): how many facts, the sums of their seconds and business seconds (a satisfaction
    answer's: of its scores) and their histograms (inbox/domain/rollups.py). Folded by the
    rollup worker from the facts up to ``ReportRollupState.upto``; reports add the facts
    above it."""

    __tablename__ = "report_rollup"
    # Read by ranges of the key: on SQLite the rows are kept in its order (no rowid table
    # and a second lookup per row).
    __table_args__ = {"sqlite_with_rowid": False}
    grp: str = Field(primary_key=True)
    width: int = Field(primary_key=True)
    start: int = Field(primary_key=True)
    name: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    n: int = 0
    total: float = 0.0
    btotal: float = 0.0
    hist: str = ""  # JSON {bin: count}
    bhist: str = ""


class ReportRollupState(SQLModel, table=True):
    """One row: the facts up to fact id ``upto`` are in the rollups; ``paused`` while
    ``inbox reports rebuild`` runs (it folds every fact once at its end)."""

    __tablename__ = "report_rollup_state"
    id: int = Field(default=1, primary_key=True)
    upto: int = 0
    paused: bool = False
