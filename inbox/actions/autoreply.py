"""Out-of-office and acknowledgement replies (docs/time.md): whether a customer's message
gets one, and writing it, inside ingest's transaction; and an inbox's settings for them.

Ingest reads the inbox's replies in its first statement, so an inbox with none on costs
nothing more. When one is on, the message gets no reply, cheapest check first:
- when it is automatic itself (a vacation reply, a bounce: ``InboundMessage.automatic``),
  or its sender asked for none (``no_auto_reply``): two responders would answer each other;
- when the conversation had an automatic reply within INBOX_AUTO_REPLY_INTERVAL;
- when the reply for the calendar's state now (closed: out of office; open: the
  acknowledgement) is off; an inbox without a calendar is always open;
- when an agent replied within ``AGENT_QUIET``: someone is in the conversation;
- when the inbox cannot reply to the customer now (``queries.reply_channels``: the inbox
  disabled, the customer opted out, a reply window closed).
The reply is written as an agent's is (``replies.write_outbound``), author None, and answers
nothing: the customer still waits for a person (waiting_since stays).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from inbox import queries
from inbox.actions.common import _log
from inbox.actions.replies import write_outbound
from inbox.actions.calendars import calendar_ref, set_calendar
from inbox.domain import autoreply, csat, keywords
from inbox.domain.channels import InboundMessage, ReplyWindow
from inbox.domain.errors import NotFound
from inbox.domain.records import Dict
from inbox.domain.serialize import iso
from inbox.domain.tables import CONTACTS, CONVERSATIONS, INBOXES
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

# No automatic reply while an agent is in the conversation: they replied within this.
AGENT_QUIET = timedelta(minutes=5)
# What a {{next_opening}} says when the calendar does not open again within its horizon.
NO_OPENING = "as soon as we are open again"


@dataclass(frozen=True, slots=True)
class AutoReplyPolicy:
    """The process's settings the decision needs (actions.record_inbound builds it)."""

    interval: timedelta  # INBOX_AUTO_REPLY_INTERVAL
    windows: Mapping[str, ReplyWindow]  # the channels' reply windows, by kind


def stored_replies(raw: Any) -> Dict | None:
    """An inbox's ``auto_reply`` as the driver hands it over (text from SQLite, parsed by
    psycopg), when a reply is on; None, the usual answer, at the cost of a comparison."""
    if raw is None or raw == "{}" or raw == {} or (isinstance(raw, str) and "true" not in raw):
        return None  # (texts stored with both replies off are not even parsed)
    value = json.loads(raw) if isinstance(raw, str) else raw
    return value if isinstance(value, dict) and autoreply.enabled(value) else None


_CONTEXT = (select(CONVERSATIONS.c.auto_replied_at, CONTACTS.c.name, CONTACTS.c.phone, CONTACTS.c.attributes,
                   INBOXES.c.name.label("inbox_name"), INBOXES.c.calendar_id)
            .select_from(CONVERSATIONS)
            .join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)
            .join(INBOXES, INBOXES.c.id == bindparam("inbox_id"))
            .where(CONVERSATIONS.c.id == bindparam("conversation_id")))


def auto_reply(tx: Tx, msg: InboundMessage, replies: Mapping[str, Any], conversation_id: int, contact_id: int,
               now: datetime, policy: AutoReplyPolicy) -> int | None:
    """The automatic reply to the customer's message just stored, if one is due (see the
    module's docstring): its message id, queued for delivery; None when none goes."""
    if msg.automatic or msg.no_auto_reply:
        return None
    conn = tx.conn
    row = conn.execute(_CONTEXT, {"inbox_id": msg.inbox_id, "conversation_id": conversation_id}).first()
    if row is None or (row.auto_replied_at is not None and as_utc(row.auto_replied_at) > now - policy.interval):
        return None
    calendar = queries.calendar_of(conn, row.calendar_id)
    state = "open" if calendar is None or calendar.is_open(now) else "closed"
    setting = autoreply.reply(replies, state)
    if not setting["enabled"] or not setting["text"] or \
            queries.agent_replied_since(conn, conversation_id, now - AGENT_QUIET):
        return None
    channels = {c["inbox_id"]: c for c in queries.reply_channels(conn, conversation_id, now, policy.windows)}
    choice = channels.get(msg.inbox_id)
    if choice is None or not choice["available"]:
        return None
    opening = calendar.next_open(now) if calendar is not None else now
    zone = autoreply.customer_zone(row.attributes or {}, row.phone or msg.phone,
                                   calendar.timezone if calendar is not None else "UTC", now)
    shown = autoreply.format_opening(opening, zone, now) if opening is not None else NO_OPENING
    text = autoreply.render(setting["text"], autoreply.values(shown, row.name or "", row.inbox_name or ""))
    kind = autoreply.KINDS[state]
    message = write_outbound(tx, conversation_id, contact_id, choice, text, now, author_id=None, automatic=kind)
    _log(tx, conversation_id, "auto_reply", None, {
        "kind": kind, "message_id": message["id"],
        "next_opening": iso(opening) if state == "closed" else None, "zone": zone.key}, now)
    return message["id"]


# -- settings ------------------------------------------------------------------------------

def set_auto_reply(tx: Tx, inbox_id: int, patch: Mapping[str, Any], now: datetime) -> Dict:
    """PATCH /api/inboxes/{id} and the admin form: ``calendar_id`` (an id, or None: open
    around the clock), ``auto_reply`` (see domain/autoreply.py ``check``) and ``csat`` (the
    satisfaction survey, domain/csat.py ``check``) and ``keywords`` (domain/keywords.py),
    whichever ``patch`` has. Returns the inbox as stored."""
    conn = tx.conn
    current = queries.get_inbox(conn, inbox_id)
    if current is None:
        raise NotFound("no such inbox")
    values: Dict = {}
    if "calendar_id" in patch:
        values["calendar_id"] = calendar_ref(patch["calendar_id"])
        set_calendar(tx, "inbox", inbox_id, values["calendar_id"], now)
    if "auto_reply" in patch:
        values["auto_reply"] = autoreply.check(patch["auto_reply"], current.get("auto_reply"))
    if "csat" in patch:
        values["csat"] = csat.check(patch["csat"], current.get("csat"))
    if "keywords" in patch:
        values["keywords"] = keywords.check(patch["keywords"], keywords.stored(current.get("keywords")),
                                            current["kind"])
    if values:
        conn.execute(update(INBOXES).where(INBOXES.c.id == inbox_id).values(**values))
    return {**current, **values}
