"""One serializer per entity: a row as the JSON the REST API, the live events and ingest
all send. Each takes a database row or any mapping with the row's keys (ingest passes the
values it has just written, so its events need no read back) and returns the record of
``inbox/domain/records.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Row

from inbox.domain import autoreply, csat, keywords, webhooks
from inbox.domain.records import (
    BusinessCalendar,
    Contact,
    Conversation,
    ConversationEvent,
    Dict,
    Identity,
    Inbox,
    Label,
    LabelRef,
    Message,
    Note,
    Notification,
    Preferences,
    User,
)

Fields = Row[Any] | Mapping[str, Any]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _row(row: Row[Any] | None) -> Dict | None:
    return dict(row._mapping) if row is not None else None


def _fields(row: Fields) -> Mapping[Any, Any]:
    return row._mapping if isinstance(row, Row) else row


def user_dict(row: Fields) -> User:
    m = _fields(row)
    return {"id": m["id"], "email": m["email"], "name": m["name"], "role": m["role"], "active": m["active"]}


def inbox_dict(row: Fields, secrets: Collection[str]) -> Inbox:
    """``secrets``: the settings keys to mask, as the channels declare them (Channel.secrets)."""
    m = _fields(row)
    settings = {k: ("********" if k in secrets and v else v) for k, v in m["settings"].items()}
    return {"id": m["id"], "kind": m["kind"], "name": m["name"], "address": m["address"], "settings": settings,
            "active": bool(m.get("active", True)), "routing": dict(m.get("routing") or {}),
            "calendar_id": m.get("calendar_id"), "auto_reply": autoreply.normalised(m.get("auto_reply")),
            "csat": csat.normalised(m.get("csat")),
            "keywords": dict(keywords.normalised(keywords.stored(m.get("keywords")), m["kind"])),
            "created_at": iso(m["created_at"])}


def identity_dict(row: Fields) -> Identity:
    m = _fields(row)
    return {"id": m["id"], "kind": m["kind"], "handle": m["handle"], "profile_name": m["profile_name"],
            "opted_out": m["opted_out"], "last_seen_at": iso(m["last_seen_at"])}


def contact_dict(row: Fields) -> Contact:
    m = _fields(row)
    return {"id": m["id"], "name": m["name"], "email": m["email"], "phone": m["phone"],
            "avatar_url": m["avatar_url"], "attributes": m["attributes"], "created_at": iso(m["created_at"]),
            "updated_at": iso(m["updated_at"]), "merged_into_id": m["merged_into_id"]}


def conversation_dict(row: Fields, labels: list[LabelRef]) -> Conversation:
    """From a row of ``_conversation_select()`` (the conversation and its contact's name as
    ``contact_name``), or any mapping with the same keys; ``labels`` are the conversation's,
    from ``queries.labels_of`` (one read for a whole page), sorted by name."""
    m = _fields(row)
    return {
        "id": m["id"], "status": m["status"], "assignee_id": m["assignee_id"], "team_id": m["team_id"],
        "contact": {"id": m["contact_id"], "name": m["contact_name"]},
        "priority": m["priority"], "waiting_since": iso(m["waiting_since"]), "labels": labels,
        "unread_count": m["unread_count"], "channel": m["channel"], "inbox_id": m["last_inbound_inbox_id"],
        "last_message_at": iso(m["last_message_at"]), "last_message_preview": m["last_message_preview"],
        "last_message_direction": m["last_message_direction"], "last_inbound_at": iso(m["last_inbound_at"]),
        "snoozed_until": iso(m["snoozed_until"]), "resolved_at": iso(m["resolved_at"]),
        "assigned_by": m["assigned_by"], "assigned_at": iso(m["assigned_at"]),
        # the SLA at a glance (GET /api/conversations/{id} gives its targets): None, or the
        # next due time of its running targets and running, paused, due_soon or breached
        "sla": {"status": m["sla_status"], "due_at": iso(m["sla_due_at"])} if m.get("sla_status") else None,
        "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"]),
    }


def sla_target_dict(row: Fields) -> dict[str, Any]:
    """One SLA target of a conversation (docs/api.md, "SLA")."""
    m = _fields(row)
    return {"id": m["id"], "kind": m["kind"], "cycle": m["cycle"], "status": m["status"],
            "policy_id": m["policy_id"], "started_at": iso(m["started_at"]), "due_at": iso(m["due_at"]),
            "warn_at": iso(m["warn_at"]), "warned_at": iso(m["warned_at"]), "met_at": iso(m["met_at"]),
            "missed_at": iso(m["missed_at"]), "ended": m["ended"], "budget_seconds": m["budget_seconds"],
            "used_seconds": round(float(m["used_seconds"]), 3), "running_since": iso(m["resumed_at"]),
            "calendar_id": m["calendar_id"], "calendar_version": m["calendar_version"]}


def sla_policy_dict(row: Fields) -> dict[str, Any]:
    m = _fields(row)
    return {"id": m["id"], "name": m["name"], "position": m["position"], "enabled": m["enabled"],
            "conditions": m["conditions"] or {}, "first_response_minutes": m["first_response_minutes"],
            "next_response_minutes": m["next_response_minutes"], "resolution_minutes": m["resolution_minutes"],
            "business_hours": m["business_hours"], "calendar_id": m["calendar_id"],
            "pause_statuses": m["pause_statuses"], "warn_percent": m["warn_percent"],
            "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"])}


def label_ref(row: Fields) -> LabelRef:
    """A label as a conversation carries it."""
    m = _fields(row)
    return {"id": m["id"], "name": m["name"], "colour": m["colour"]}


def label_dict(row: Fields) -> Label:
    m = _fields(row)
    return {"id": m["id"], "name": m["name"], "colour": m["colour"], "description": m["description"],
            "created_at": iso(m["created_at"])}


def calendar_dict(row: Fields) -> BusinessCalendar:
    """As stored: the actions store a calendar in the form ``Calendar`` writes it."""
    m = _fields(row)
    return {"id": m["id"], "name": m["name"], "timezone": m["timezone"], "intervals": list(m["intervals"]),
            "exceptions": list(m["exceptions"]), "version": m["version"], "created_at": iso(m["created_at"]),
            "updated_at": iso(m["updated_at"])}


def message_dict(row: Fields) -> Message:
    m = _fields(row)
    error_code, error_message = m["error_code"], m["error_message"]
    return {
        "id": m["id"], "conversation_id": m["conversation_id"], "inbox_id": m["inbox_id"],
        "direction": m["direction"], "author_id": m["author_id"], "identity_id": m["identity_id"], "text": m["text"],
        "attachments": m["attachments"], "provider_message_id": m["provider_message_id"], "reply_to": m["reply_to"],
        "status": m["status"], "payload": m["payload"], "edited_at": iso(m["edited_at"]),
        "has_raw": m["raw"] is not None, "automatic": m["automatic"],
        "error": {"code": error_code, "message": error_message} if (error_code or error_message) else None,
        "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"]),
    }


def note_dict(row: Fields) -> Note:
    m = _fields(row)
    return {"id": m["id"], "conversation_id": m["conversation_id"], "author_id": m["author_id"], "text": m["text"],
            "mentions": m["mentions"], "by": m.get("by"), "created_at": iso(m["created_at"])}


def conv_event_dict(row: Fields) -> ConversationEvent:
    m = _fields(row)
    return {"id": m["id"], "conversation_id": m["conversation_id"], "kind": m["kind"], "actor_id": m["actor_id"],
            "data": m["data"], "created_at": iso(m["created_at"])}


def notification_dict(row: Fields) -> Notification:
    """From a notification row with ``actor_name`` and ``contact_name`` beside it."""
    m = _fields(row)
    return {"id": m["id"], "kind": m["kind"], "conversation_id": m["conversation_id"], "actor_id": m["actor_id"],
            "actor_name": m["actor_name"], "contact_name": m["contact_name"], "message_id": m["message_id"],
            "note_id": m["note_id"], "preview": m["preview"], "created_at": iso(m["created_at"]),
            "read_at": iso(m["read_at"])}


NOTIFY_KINDS = ("assigned", "mentioned", "new_message", "sla_warning", "sla_breached", "no_reply")


def preferences_dict(row: Fields | None) -> Preferences:
    """A ``user_preference`` row, or the defaults for a user who has none."""
    if row is None:
        return {"notify": {k: True for k in NOTIFY_KINDS}, "desktop": False, "sound": False, "landing_tab": None,
                "away_after_minutes": None}
    m = _fields(row)
    return {"notify": {k: bool(m[f"notify_{k}"]) for k in NOTIFY_KINDS}, "desktop": bool(m["desktop"]),
            "sound": bool(m["sound"]), "landing_tab": m["landing_tab"], "away_after_minutes": m["away_after_minutes"]}


def webhook_endpoint_dict(row: Fields, pending: int = 0) -> dict[str, Any]:
    """An outbound webhook endpoint (docs/webhooks.md). The secret is masked: it is shown
    whole only in the answer that creates it or rotates it (``with_secret``)."""
    m = _fields(row)
    return {"id": m["id"], "url": m["url"], "events": list(m["events"]), "active": m["active"],
            "paused_reason": m["paused_reason"], "paused_at": iso(m["paused_at"]),
            "secret": webhooks.mask(m["secret"]),
            "previous_secret_until": iso(m["previous_until"]) if m["previous_secret"] else None,
            "pending": pending, "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"])}


def with_secret(endpoint: dict[str, Any], secret: str) -> dict[str, Any]:
    return {**endpoint, "secret": secret}


def webhook_attempt_dict(row: Fields) -> dict[str, Any]:
    m = _fields(row)
    return {"at": iso(m["at"]), "timestamp": m["timestamp"], "status": m["status"], "response": m["response"],
            "error": m["error"], "duration_ms": round(float(m["duration_ms"]), 1)}


def webhook_delivery_dict(row: Fields, attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A delivery as its endpoint's log shows it: the request (its ``webhook-id``, type and
    exact body), where it stands, the last answer, and (when read with them) its attempts,
    oldest first."""
    m = _fields(row)
    duration = m["last_duration_ms"]
    item: dict[str, Any] = {
        "id": m["id"], "endpoint_id": m["endpoint_id"], "event_id": m["event_id"], "webhook_id": m["msg_id"],
        "type": m["type"], "state": m["state"], "attempts": m["attempts"],
        "next_attempt_at": iso(m["next_attempt_at"]), "last_attempt_at": iso(m["last_attempt_at"]),
        "last_status": m["last_status"], "last_response": m["last_response"], "last_error": m["last_error"],
        "last_duration_ms": round(float(duration), 1) if duration is not None else None,
        "created_at": iso(m["created_at"]), "delivered_at": iso(m["delivered_at"]), "payload": m["payload"]}
    if attempts is not None:
        item["attempt_log"] = attempts
    return item
