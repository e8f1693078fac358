"""The shapes entities travel in between the layers: what the serializers of
``inbox/domain/serialize.py`` return, and so what the REST API and the live events send.

TypedDicts rather than dataclasses: the records are JSON on the way out, and callers read
them by key. A key marked ``NotRequired`` is added by one view only (the full contact's
identities and conversations, an inbound message's sender).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from inbox.domain.autoreply import AutoReply
from inbox.domain.csat import Setting as CsatSetting

Dict = dict[str, Any]


class User(TypedDict):
    id: int
    email: str
    name: str
    role: str
    active: bool


class Inbox(TypedDict):
    id: int
    kind: str
    name: str
    address: str
    settings: dict[str, Any]  # secret values masked
    active: bool  # False: disabled, stores inbound, sends nothing
    routing: dict[str, Any]  # what it sets of its routing policy (docs/routing.md)
    calendar_id: int | None  # its business hours; None: open around the clock
    auto_reply: AutoReply  # its out-of-office and acknowledgement replies (docs/time.md)
    csat: CsatSetting  # its satisfaction survey (docs/csat.md)
    keywords: Dict  # opt-out words and keyword replies (inbox/domain/keywords.py)
    created_at: str | None


class Identity(TypedDict):
    id: int
    kind: str
    handle: str
    profile_name: str | None
    opted_out: bool
    last_seen_at: str | None


class ContactRef(TypedDict):
    id: int
    name: str


class LabelRef(TypedDict):
    """A label as a conversation carries it."""

    id: int
    name: str
    colour: str


class Label(TypedDict):
    id: int
    name: str
    colour: str  # "#rrggbb"
    description: str
    created_at: str | None


class BusinessCalendar(TypedDict):
    """Business hours (inbox/domain/calendar.py) in the API's form: ``intervals`` are
    {"day", "start", "end"}, ``exceptions`` {"date", "name", "closed": true} or
    {"date", "name", "intervals": [{"start", "end"}]}, as ``Calendar`` writes them."""

    id: int
    name: str
    timezone: str
    intervals: list[dict[str, str]]
    exceptions: list[dict[str, Any]]
    version: int
    created_at: str | None
    updated_at: str | None


class Conversation(TypedDict):
    id: int
    status: str
    assignee_id: int | None
    team_id: int | None
    contact: ContactRef
    priority: str  # none, low, medium, high, urgent
    waiting_since: str | None  # the first customer message still unanswered
    labels: list[LabelRef]  # sorted by name
    unread_count: int
    channel: str | None
    inbox_id: int | None  # the inbox of the latest inbound message
    last_message_at: str | None
    last_message_preview: str | None
    last_message_direction: str | None
    last_inbound_at: str | None
    snoozed_until: str | None
    resolved_at: str | None
    assigned_by: str | None  # "routing" or "manual" (a person); None when unassigned
    assigned_at: str | None
    sla: Dict | None  # {"status", "due_at"}: the SLA at a glance; None when none runs
    created_at: str | None
    updated_at: str | None
    reply_channels: NotRequired[list[Dict]]  # GET /api/conversations/{id}: where a reply can go
    sla_detail: NotRequired[Dict]  # GET /api/conversations/{id}: the policy, targets and clock


class Contact(TypedDict):
    id: int
    name: str
    email: str | None
    phone: str | None
    avatar_url: str | None
    attributes: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    merged_into_id: int | None
    identities: NotRequired[list[Identity]]  # GET /api/contacts/{id}, and after a merge
    conversations: NotRequired[list[Conversation]]  # GET /api/contacts/{id}: those the viewer may see


class MessageError(TypedDict):
    code: str | None
    message: str | None


class Sender(TypedDict):
    contact_id: int
    name: str
    handle: str
    channel: str


class Message(TypedDict):
    id: int
    conversation_id: int
    inbox_id: int | None
    direction: str
    author_id: int | None
    identity_id: int | None
    text: str
    attachments: list[dict[str, Any]]
    provider_message_id: str | None
    reply_to: str | None
    status: str
    payload: dict[str, Any] | None
    edited_at: str | None
    has_raw: bool
    # Sent or written by a machine: "out_of_office" or "acknowledgement" (ours, outbound),
    # "auto_submitted" (the customer's side, inbound); None for a person's message.
    automatic: str | None
    error: MessageError | None
    created_at: str | None
    updated_at: str | None
    sender: NotRequired[Sender]  # only in the live event of an inbound message


class Note(TypedDict):
    id: int
    conversation_id: int
    author_id: int | None
    text: str
    mentions: list[int]
    by: Dict | None  # an automation rule's note: the rule (its author made the rule)
    created_at: str | None
    # Only in the answer to its writer: who was mentioned but not notified, and why.
    not_notified: NotRequired[list[Dict]]


class ConversationEvent(TypedDict):
    """An entry of the timeline's log (assigned, status_changed, merged...)."""

    id: int
    conversation_id: int
    kind: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: str | None


class Notification(TypedDict):
    """One entry of a user's notification list (GET /api/notifications)."""

    id: int
    kind: str  # assigned, mentioned, new_message (later sla_warning)
    conversation_id: int
    actor_id: int | None
    actor_name: str | None  # who did it (None: the customer, or the system)
    contact_name: str | None  # the customer of the conversation
    message_id: int | None
    note_id: int | None
    preview: str
    created_at: str | None
    read_at: str | None


class Preferences(TypedDict):
    """A user's own settings (GET/PATCH /api/me/preferences)."""

    notify: dict[str, bool]  # by notification kind: whether it notifies
    desktop: bool
    sound: bool
    landing_tab: str | None  # mine, unassigned, all or team:<id>; None: by role
    away_after_minutes: int | None  # away after this long without input; None: never
