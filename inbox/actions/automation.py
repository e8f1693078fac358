"""Automation rules at work (docs/automation.md): the rules asked about each committed
live event, in order, and about the timers of timed triggers; the actions of a rule that
matches, done in one transaction with its line in the rule's execution log; the REST
API's writes and the dry run.

Each rule's actions run inside a savepoint of the transaction that moves the event
cursor: a rule that fails is logged with its reason and changes nothing, the others still
run, and an event is acted on once (the cursor moves only with the actions it caused).
Everything a rule does is written with ``tx.by`` set, so its timeline entries and events
name the rule; an event a rule caused never triggers that rule again, and a chain of rules
triggering rules stops at ``MAX_DEPTH`` (logged "stopped").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from inbox import queries
from inbox.actions.common import _log
from inbox.actions.conversations import assign_in, status_in
from inbox.actions.csat import SurveyPolicy, resolved
from inbox.actions.labels import labels_in, priority_in
from inbox.actions.notes import note_in
from inbox.actions.replies import _queue_reply, write_outbound
from inbox.domain import automation, autoreply, webhooks
from inbox.domain.access import AUTOMATION, Viewer
from inbox.domain.automation import Facts, Trigger
from inbox.domain.channels import ReplyWindow
from inbox.domain.errors import InboxError, NotFound
from inbox.domain.models import ConversationStatus, Direction
from inbox.domain.records import Dict, Message
from inbox.domain.tables import (
    AUTOMATION_CURSOR,
    AUTOMATION_RULES,
    AUTOMATION_RUNS,
    AUTOMATION_TIMERS,
    CONTACTS,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    EVENTS,
    INBOXES,
    MESSAGES,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ENDPOINTS,
)
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

log = logging.getLogger(__name__)
EVENT_BATCH = 200  # events one transaction asks the rules about
TIMER_BATCH = 100


@dataclass(frozen=True, slots=True)
class Policy:
    """What acting needs of the process: the reply windows, the automatic-reply interval
    (INBOX_AUTO_REPLY_INTERVAL_HOURS: automatic messages obey it), the survey's keys."""

    windows: Mapping[str, ReplyWindow]
    interval: timedelta
    survey: SurveyPolicy
    take: bool = False  # INBOX_ASSIGN_ON_REPLY, for a macro's reply


@dataclass(slots=True)
class Outcome:
    """What a pass did that the process must follow up after the commit."""

    events: int = 0
    runs: int = 0
    sent: bool = False
    snoozed: bool = False
    routed: bool = False
    posted: bool = False  # an outbound webhook delivery queued
    more: bool = False  # a full batch: there may be more to do at once
    upto: int = 0  # the cursor after the pass: the events up to it have been asked
    log: list[Dict] = field(default_factory=list)


# -- the rules -----------------------------------------------------------------------------

def active_rules(conn: Connection) -> dict[str, list[Dict]]:
    """The switched-on rules by trigger, each trigger's in order."""
    out: dict[str, list[Dict]] = {}
    for row in conn.execute(select(AUTOMATION_RULES).where(AUTOMATION_RULES.c.active.is_(True))
                            .order_by(AUTOMATION_RULES.c.position, AUTOMATION_RULES.c.id)):
        out.setdefault(row.trigger, []).append(dict(row._mapping))
    return out


def any_active(conn: Connection) -> bool:
    return conn.execute(select(AUTOMATION_RULES.c.id).where(AUTOMATION_RULES.c.active.is_(True)).limit(1)
                        ).first() is not None


def _now_cursor(conn: Connection) -> None:
    """Rules act on what happens from now on: the cursor to the newest event."""
    newest = conn.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar_one()
    conn.execute(update(AUTOMATION_CURSOR).where(AUTOMATION_CURSOR.c.id == 1).values(event_id=newest))


def save_rule(tx: Tx, raw: Any, channels: Iterable[str], now: datetime, *, rule_id: int | None = None,
              user_id: int | None = None) -> Dict:
    """POST and PATCH /api/automations: the rule checked (merged into the stored one for a
    change) and stored. Switching rules on (from none) starts them at the newest event."""
    conn = tx.conn
    current = None
    if rule_id is not None:
        current = get_rule(conn, rule_id)
        if current is None:
            raise NotFound("no such rule")
        current = {k: current[k] for k in ("name", "trigger", "delay_minutes", "match", "conditions", "actions",
                                           "active", "position")}
    rule = automation.check(raw, channels, current)
    if not any_active(conn) and rule["active"]:
        _now_cursor(conn)
    if rule_id is None:
        rule_id = conn.execute(insert(AUTOMATION_RULES).values(**rule, created_by=user_id, created_at=now,
                                                               updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
    else:
        conn.execute(update(AUTOMATION_RULES).where(AUTOMATION_RULES.c.id == rule_id).values(**rule, updated_at=now))
        if not rule["active"] or rule["trigger"] not in automation.TIMED:
            conn.execute(delete(AUTOMATION_TIMERS).where(AUTOMATION_TIMERS.c.rule_id == rule_id))
    got = get_rule(conn, rule_id)
    assert got is not None
    return got


def delete_rule(tx: Tx, rule_id: int) -> None:
    conn = tx.conn
    if get_rule(conn, rule_id) is None:
        raise NotFound("no such rule")
    for table in (AUTOMATION_TIMERS, AUTOMATION_RUNS):
        conn.execute(delete(table).where(table.c.rule_id == rule_id))
    conn.execute(delete(AUTOMATION_RULES).where(AUTOMATION_RULES.c.id == rule_id))


def get_rule(conn: Connection, rule_id: int) -> Dict | None:
    row = conn.execute(select(AUTOMATION_RULES).where(AUTOMATION_RULES.c.id == rule_id)).first()
    return _rule(dict(row._mapping)) if row is not None else None


def list_rules(conn: Connection) -> list[Dict]:
    return [_rule(dict(r._mapping)) for r in conn.execute(select(AUTOMATION_RULES).order_by(
        AUTOMATION_RULES.c.trigger, AUTOMATION_RULES.c.position, AUTOMATION_RULES.c.id))]


def _rule(m: Mapping[str, Any]) -> Dict:
    from inbox.domain.serialize import iso
    return {"id": m["id"], "name": m["name"], "trigger": m["trigger"], "delay_minutes": m["delay_minutes"],
            "match": m["match"], "conditions": m["conditions"], "actions": m["actions"], "active": m["active"],
            "position": m["position"], "created_by": m["created_by"], "created_at": iso(m["created_at"]),
            "updated_at": iso(m["updated_at"])}


def runs(conn: Connection, rule_id: int, *, before: int | None = None, limit: int = 50) -> list[Dict]:
    """A rule's execution log, newest first."""
    from inbox.domain.serialize import iso
    query = select(AUTOMATION_RUNS).where(AUTOMATION_RUNS.c.rule_id == rule_id)
    if before is not None:
        query = query.where(AUTOMATION_RUNS.c.id < before)
    return [{"id": r.id, "conversation_id": r.conversation_id, "trigger": r.trigger, "outcome": r.outcome,
             "detail": r.detail, "depth": r.depth, "at": iso(r.at)}
            for r in conn.execute(query.order_by(AUTOMATION_RUNS.c.id.desc()).limit(limit))]


# -- what the conditions ask ---------------------------------------------------------------

def facts(conn: Connection, conversation_id: int, message_id: int | None, now: datetime) -> Facts | None:
    """One read of what every condition may ask about the conversation (None: it is gone)."""
    row = conn.execute(
        select(CONVERSATIONS.c.channel, CONVERSATIONS.c.last_inbound_inbox_id.label("inbox_id"),
               CONVERSATIONS.c.team_id, CONVERSATIONS.c.status, CONVERSATIONS.c.priority,
               CONVERSATIONS.c.contact_id, CONTACTS.c.attributes, INBOXES.c.calendar_id)
        .select_from(CONVERSATIONS.join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)
                     .outerjoin(INBOXES, INBOXES.c.id == CONVERSATIONS.c.last_inbound_inbox_id))
        .where(CONVERSATIONS.c.id == conversation_id)).first()
    if row is None:
        return None
    labels = frozenset(conn.execute(select(CONVERSATION_LABELS.c.label_id).where(
        CONVERSATION_LABELS.c.conversation_id == conversation_id)).scalars())
    inbound = select(MESSAGES.c.id, MESSAGES.c.text).where(MESSAGES.c.conversation_id == conversation_id,
                                                           MESSAGES.c.direction == Direction.inbound)
    message = (conn.execute(inbound.where(MESSAGES.c.id == message_id)).first() if message_id is not None else
               conn.execute(inbound.order_by(MESSAGES.c.id.desc()).limit(1)).first())
    first = False
    if message is not None:
        earlier = conn.execute(
            select(MESSAGES.c.id).select_from(MESSAGES.join(CONVERSATIONS,
                                                            CONVERSATIONS.c.id == MESSAGES.c.conversation_id))
            .where(CONVERSATIONS.c.contact_id == row.contact_id, MESSAGES.c.direction == Direction.inbound,
                   MESSAGES.c.id < message.id).limit(1)).first()
        first = earlier is None
    calendars: dict[int | None, bool] = {}

    def is_open(calendar_id: int | None) -> bool:
        chosen = calendar_id if calendar_id is not None else row.calendar_id
        if chosen not in calendars:
            calendar = queries.calendar_of(conn, chosen)
            calendars[chosen] = calendar is None or calendar.is_open(now)
        return calendars[chosen]
    return Facts(channel=row.channel or "", inbox_id=row.inbox_id, team_id=row.team_id, status=str(row.status),
                 priority=str(row.priority), label_ids=labels, text=(message.text or "") if message else "",
                 attributes=row.attributes or {}, first_message=first, is_open=is_open)


# -- acting --------------------------------------------------------------------------------

class Skipped(Exception):
    """An action that did not apply (a message to an opted-out customer...): logged, not failed."""


def _send(tx: Tx, conversation_id: int, text: str, now: datetime, policy: Policy,
          template: Dict | None = None) -> Message:
    """An automatic message through the customer's channel, as an automatic reply goes:
    never to an opted-out customer, within the reply window (a template past it, where the
    channel has them), and at most one per conversation per automatic-reply interval."""
    conn = tx.conn
    conv = conn.execute(select(CONVERSATIONS.c.contact_id, CONVERSATIONS.c.last_inbound_inbox_id,
                               CONVERSATIONS.c.auto_replied_at)
                        .where(CONVERSATIONS.c.id == conversation_id)).one()
    if conv.auto_replied_at is not None and as_utc(conv.auto_replied_at) > now - policy.interval:
        raise Skipped("an automatic message went less than the automatic-reply interval ago")
    channels = {c["inbox_id"]: c for c in queries.reply_channels(conn, conversation_id, now, policy.windows)}
    choice = channels.get(conv.last_inbound_inbox_id) if conv.last_inbound_inbox_id is not None else None
    if choice is None:
        raise Skipped("no channel reaches the customer")
    if not choice["available"] and not (template is not None and choice["template_required"]):
        raise Skipped(choice["reason"] or "the channel cannot send now")
    if template is not None and not (choice["kind"] in policy.windows and policy.windows[choice["kind"]].templates):
        raise Skipped(f"{choice['kind']} has no message templates")
    message = write_outbound(tx, conversation_id, conv.contact_id, choice, text, now, author_id=None,
                             payload={"template": template} if template is not None else None,
                             automatic="automation")
    return message


def automation_text(text: str, values: Mapping[str, str]) -> str:
    """A rule's or macro's text for one conversation: an attribute the contact lacks is empty
    (the names were checked when the rule was saved)."""
    return autoreply.render(text, values, missing="")


def _values(conn: Connection, conversation_id: int) -> dict[str, str]:
    """What a text's variables stand for: the contact's name, email, phone and each of its
    attributes (scalars, as text), the inbox's name; each cut to a bounded length."""
    row = conn.execute(select(CONTACTS.c.name, CONTACTS.c.email, CONTACTS.c.phone, CONTACTS.c.attributes,
                              INBOXES.c.name.label("inbox_name"))
                       .select_from(CONVERSATIONS.join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)
                                    .outerjoin(INBOXES, INBOXES.c.id == CONVERSATIONS.c.last_inbound_inbox_id))
                       .where(CONVERSATIONS.c.id == conversation_id)).one()
    return automation.contact_values(row.name, row.email, row.phone, row.attributes, row.inbox_name)


def perform(tx: Tx, action: Mapping[str, Any], conversation_id: int, now: datetime, policy: Policy,
            outcome: Outcome, *, actor: Viewer = AUTOMATION, author_id: int | None = None) -> str:
    """Do one action (a rule's, as the automation; a macro's step, as the agent who runs
    it: ``actor``); what it did, in words for the log. Skipped when it does not apply.
    ``author_id``: who a note is written by (a rule's creator)."""
    conn, kind = tx.conn, action["type"]
    conv = queries.get_conversation(conn, conversation_id)
    if conv is None:
        raise NotFound("the conversation is gone")
    if kind == "assign_team":
        assign_in(tx, actor, conv, {"team_id": action["team_id"]}, now)
        return f"assigned to team {action['team_id']}"
    if kind == "assign_agent":
        assign_in(tx, actor, conv, {"user_id": action["user_id"]}, now)
        return f"assigned to user {action['user_id']}"
    if kind == "route":
        assign_in(tx, actor, conv, {"user_id": None}, now)
        outcome.routed = True
        return "handed to routing"
    if kind in ("add_label", "remove_label"):
        adding = [action["label_id"]] if kind == "add_label" else []
        labels_in(tx, actor, conversation_id, adding, [action["label_id"]] if not adding else [], now)
        return f"{'added' if adding else 'removed'} label {action['label_id']}"
    if kind == "set_priority":
        priority_in(tx, actor, conversation_id, action["priority"], now)
        return f"priority {action['priority']}"
    if kind == "add_note":
        note_in(tx, actor, conversation_id, automation_text(action["text"], _values(conn, conversation_id)),
                None, now, author_id=author_id)
        return "added a note"
    if kind in ("resolve", "reopen", "snooze"):
        status = {"resolve": ConversationStatus.resolved, "reopen": ConversationStatus.open,
                  "snooze": ConversationStatus.snoozed}[kind]
        until = now + timedelta(minutes=action["minutes"]) if kind == "snooze" else None
        _, surveyed = status_in(tx, actor, conversation_id, status, until, now, policy.survey)
        outcome.sent = outcome.sent or surveyed is not None
        outcome.snoozed = outcome.snoozed or kind == "snooze"
        return {"resolve": "resolved", "reopen": "reopened", "snooze": f"snoozed {action.get('minutes')} min"}[kind]
    if kind == "reply":  # a macro's: the agent's own reply
        _queue_reply(tx, actor, conversation_id, automation_text(action["text"], _values(conn, conversation_id)),
                     None, [], None, None, policy.windows, now, policy.take)
        outcome.sent = True
        return "replied"
    if kind == "send_message":
        message = _send(tx, conversation_id, automation_text(action["text"], _values(conn, conversation_id)), now,
                        policy)
        outcome.sent = True
        return f"sent message {message['id']}"
    if kind == "send_template":
        values = _values(conn, conversation_id)
        params = [automation_text(p, values) for p in action.get("params") or []]
        template = {"name": action["name"], "language": action["language"], "parameters": params}
        text = f"[template {action['name']} ({action['language']})]" + (f": {', '.join(params)}" if params else "")
        message = _send(tx, conversation_id, text, now, policy, template)
        outcome.sent = True
        return f"sent template {action['name']} as message {message['id']}"
    if kind == "webhook":
        endpoint = conn.execute(select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.active)
                                .where(WEBHOOK_ENDPOINTS.c.id == action["endpoint_id"])).first()
        if endpoint is None:
            raise NotFound(f"no webhook endpoint {action['endpoint_id']}")
        by = dict(tx.by or {})
        payload = webhooks.body(automation.WEBHOOK_TYPE, now, {"rule": by, "conversation": conv}, None)
        conn.execute(insert(WEBHOOK_DELIVERIES).values(
            endpoint_id=endpoint.id, msg_id=webhooks.new_msg_id(), type=automation.WEBHOOK_TYPE, payload=payload,
            state="pending", attempts=0, created_at=now))
        outcome.posted = True
        return f"posted to webhook {endpoint.id}"
    if kind == "send_csat":
        survey = resolved(tx, conversation_id, now, policy.survey)
        if survey is None:
            raise Skipped("no survey went (see the timeline for why)")
        outcome.sent = True
        return f"sent satisfaction survey {survey}"
    raise InboxError(f"unknown action {kind}")


def _run_rule(tx: Tx, rule: Mapping[str, Any], trigger: Trigger, key: str, got: Facts | None, now: datetime,
              policy: Policy, outcome: Outcome) -> None:
    """One rule asked about one trigger: nothing when it does not match; else its actions
    in a savepoint and its line in the log (done, failed with the reason, or stopped)."""
    conn = tx.conn
    if got is None or not automation.matches(rule, got):
        return
    depth = trigger.depth + 1
    row = {"rule_id": rule["id"], "key": key, "conversation_id": trigger.conversation_id, "trigger": trigger.kind,
           "depth": depth, "at": now}
    if depth > automation.MAX_DEPTH:
        _record(conn, {**row, "outcome": "stopped", "detail": {
            "reason": f"a chain of rules triggering rules stops at depth {automation.MAX_DEPTH}",
            "caused_by": dict(trigger.by or {})}})
        outcome.runs += 1
        return
    done: list[str] = []
    skipped: list[str] = []
    savepoint = conn.begin_nested()
    tx.by = {"rule_id": rule["id"], "rule_name": rule["name"], "depth": depth}
    events_before = len(tx.events)
    try:
        for action in rule["actions"]:
            try:
                with conn.begin_nested():
                    done.append(perform(tx, action, trigger.conversation_id, now, policy, outcome,
                                        author_id=rule.get("created_by")))
            except Skipped as why:
                skipped.append(f"{action['type']}: {why}")
        savepoint.commit()
        _record(conn, {**row, "outcome": "done", "detail": {"done": done, "skipped": skipped}})
        if skipped:
            _log(tx, trigger.conversation_id, "automation_skipped", None, {"skipped": skipped}, now)
    except Exception as exc:  # noqa: BLE001 - one rule's failure never stops the others
        savepoint.rollback()
        del tx.events[events_before:]
        message = exc.message if isinstance(exc, InboxError) else "internal error"
        if not isinstance(exc, InboxError):
            log.exception("automation rule %s failed on conversation %s", rule["id"], trigger.conversation_id)
        tx.by = None
        _record(conn, {**row, "outcome": "failed", "detail": {"error": message, "done_before": done}})
    finally:
        tx.by = None
    outcome.runs += 1


def _record(conn: Connection, row: Dict) -> None:
    try:
        with conn.begin_nested():
            conn.execute(insert(AUTOMATION_RUNS).values(**row))
    except IntegrityError:  # already run for this key (cannot happen under the cursor; kept safe)
        pass


# -- timers --------------------------------------------------------------------------------

def _arm(conn: Connection, rules: Mapping[str, list[Dict]], trigger: Trigger, now: datetime) -> None:
    """What the trigger does to the timed rules' timers: an agent's reply arms "no
    customer reply" and ends "waiting for an agent"; a customer's message the reverse
    (a wait already running keeps its start); a resolution ends both."""
    cid = trigger.conversation_id
    arm, end = {"message_sent": ("no_customer_reply", "waiting_for_agent"),
                "message_received": ("waiting_for_agent", "no_customer_reply")}.get(trigger.kind, (None, None))
    ending = [end] if end else []
    if trigger.kind == "status_changed":
        status = conn.execute(select(CONVERSATIONS.c.status).where(CONVERSATIONS.c.id == cid)).scalar()
        if status == ConversationStatus.resolved:
            ending = list(automation.TIMED)
    ended = [r["id"] for kind in ending for r in rules.get(kind, [])]
    if ended:
        conn.execute(delete(AUTOMATION_TIMERS).where(AUTOMATION_TIMERS.c.conversation_id == cid,
                                                     AUTOMATION_TIMERS.c.rule_id.in_(ended)))
    for rule in rules.get(arm or "", []):
        if trigger.by and trigger.by.get("rule_id") == rule["id"]:
            continue
        due = now + timedelta(minutes=rule["delay_minutes"])
        exists = conn.execute(select(AUTOMATION_TIMERS.c.id).where(
            AUTOMATION_TIMERS.c.conversation_id == cid, AUTOMATION_TIMERS.c.rule_id == rule["id"])).first()
        if exists is None:
            conn.execute(insert(AUTOMATION_TIMERS).values(rule_id=rule["id"], conversation_id=cid, due_at=due,
                                                          armed_at=now))
        elif arm == "no_customer_reply":  # each reply of ours starts the wait again
            conn.execute(update(AUTOMATION_TIMERS).where(AUTOMATION_TIMERS.c.id == exists.id).values(
                due_at=due, armed_at=now))


def newest_event(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar_one())


def next_timer(conn: Connection) -> datetime | None:
    due = conn.execute(select(func.min(AUTOMATION_TIMERS.c.due_at))).scalar()
    return as_utc(due) if due is not None else None


def fire_timers(tx: Tx, now: datetime, policy: Policy) -> Outcome:
    """The timed rules whose time has come: each timer claimed (deleted) by one process,
    the rule asked about its conversation as it is now."""
    conn, outcome = tx.conn, Outcome()
    due = conn.execute(select(AUTOMATION_TIMERS).where(AUTOMATION_TIMERS.c.due_at <= now)
                       .order_by(AUTOMATION_TIMERS.c.due_at).limit(TIMER_BATCH)).all()
    outcome.more = len(due) == TIMER_BATCH
    for timer in due:
        if not conn.execute(delete(AUTOMATION_TIMERS).where(AUTOMATION_TIMERS.c.id == timer.id)).rowcount:
            continue  # another process fired it
        rule = get_rule(conn, timer.rule_id)
        if rule is None or not rule["active"]:
            continue
        trigger = Trigger(rule["trigger"], timer.conversation_id, 0)
        _run_rule(tx, rule, trigger, f"t{timer.id}", facts(conn, timer.conversation_id, None, now), now, policy,
                  outcome)
    return outcome


# -- the pass over new events --------------------------------------------------------------

def run_events(tx: Tx, now: datetime, policy: Policy) -> Outcome:
    """Ask the rules about the events committed since the cursor (a batch), and move it.
    Another process that moved the cursor first has done this batch: nothing is done."""
    conn, outcome = tx.conn, Outcome()
    cursor = conn.execute(select(AUTOMATION_CURSOR.c.event_id).where(AUTOMATION_CURSOR.c.id == 1)).scalar()
    if cursor is None:
        conn.execute(insert(AUTOMATION_CURSOR).values(id=1, event_id=0))
        _now_cursor(conn)
        return outcome
    rules = active_rules(conn)
    if not rules:
        _now_cursor(conn)
        return outcome
    events = conn.execute(select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.data).where(EVENTS.c.id > cursor)
                          .order_by(EVENTS.c.id).limit(EVENT_BATCH)).all()
    outcome.upto = cursor
    if not events:
        return outcome
    moved = conn.execute(update(AUTOMATION_CURSOR).where(AUTOMATION_CURSOR.c.id == 1,
                                                         AUTOMATION_CURSOR.c.event_id == cursor)
                         .values(event_id=events[-1].id)).rowcount
    if not moved:
        return outcome
    outcome.events, outcome.more, outcome.upto = len(events), len(events) == EVENT_BATCH, events[-1].id
    for event in events:
        data = event.data if isinstance(event.data, Mapping) else {}
        for trigger in automation.triggers(event.id, event.type, data):
            _arm(conn, rules, trigger, now)
            chosen = rules.get(trigger.kind, [])
            got = facts(conn, trigger.conversation_id, trigger.message_id, now) if chosen else None
            for rule in chosen:
                if trigger.by and trigger.by.get("rule_id") == rule["id"]:
                    continue  # never on its own actions
                _run_rule(tx, rule, trigger, f"e{event.id}", got, now, policy, outcome)
    return outcome


# -- the dry run ---------------------------------------------------------------------------

def dry_run(conn: Connection, raw: Any, channels: Iterable[str], now: datetime, last: int = 50) -> Dict:
    """Which of the ``last`` conversations (newest activity first) the rule would have
    matched, asked as its trigger would ask now, and what it would have done: nothing is
    written. The rule need not be saved."""
    rule = automation.check(raw, channels)
    ids = list(conn.execute(select(CONVERSATIONS.c.id).order_by(CONVERSATIONS.c.last_message_at.desc(),
                                                                CONVERSATIONS.c.id.desc()).limit(last)).scalars())
    matched = []
    for cid in ids:
        got = facts(conn, cid, None, now)
        if got is not None and automation.matches(rule, got):
            conv = queries.get_conversation(conn, cid)
            matched.append({"conversation_id": cid, "contact_name": conv["contact"]["name"] if conv else None,
                            "would": [describe(a) for a in rule["actions"]]})
    return {"checked": len(ids), "matched": matched}


def describe(action: Mapping[str, Any]) -> str:
    """An action in words, for the dry run and the admin page."""
    kind = action["type"]
    words: dict[str, Callable[[], str]] = {
        "assign_team": lambda: f"assign to team {action['team_id']}",
        "assign_agent": lambda: f"assign to user {action['user_id']}",
        "route": lambda: "hand to routing",
        "add_label": lambda: f"add label {action['label_id']}",
        "remove_label": lambda: f"remove label {action['label_id']}",
        "set_priority": lambda: f"set priority {action['priority']}",
        "send_message": lambda: f"send “{action['text'][:80]}”",
        "send_template": lambda: f"send template {action['name']} ({action['language']})",
        "add_note": lambda: f"add the note “{action['text'][:80]}”",
        "resolve": lambda: "resolve",
        "snooze": lambda: f"snooze {action['minutes']} min",
        "reopen": lambda: "reopen",
        "send_csat": lambda: "send the satisfaction survey",
        "webhook": lambda: f"post to webhook {action['endpoint_id']}",
    }
    return words[kind]()
