"""Automation rules (docs/automation.md): what a rule is and its check, the triggers a
committed event is, and whether a rule's conditions hold for a conversation. Pure: the
engine that reads the facts and acts is ``inbox/actions/automation.py``.

A rule is ``{"name", "trigger", "conditions": [...], "match": "all"|"any", "actions": [...],
"active", "position", "delay_minutes"}``. Rules of one trigger run in ``position`` order.
Patterns over customer text run on RE2 (google-re2), which is linear in the text: never
Python's backtracking ``re``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from inbox.domain import autoreply
from inbox.domain.errors import Invalid
from inbox.domain.events import (
    CONVERSATION_ASSIGNED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    SLA_WARNING,
)
from inbox.domain.models import ConversationStatus, Priority

# The trigger's key -> how the admin page names it.
TRIGGERS = {
    "conversation_created": "A conversation is created",
    "message_received": "A customer writes",
    "message_sent": "An agent replies",
    "status_changed": "The status changes",
    "assigned": "The conversation is assigned",
    "label_added": "A label is added",
    "priority_changed": "The priority changes",
    "no_customer_reply": "No customer reply for a while after our message",
    "waiting_for_agent": "A customer waits for an agent's reply for a while",
    "sla_warning": "An SLA target is about to be missed",
}
# Triggers that fire ``delay_minutes`` after the event that arms them, unless the
# conversation moves on first (the scheduler's timers: inbox/actions/automation.py).
TIMED = ("no_customer_reply", "waiting_for_agent")

# The condition's field -> its operators.
CONDITIONS: dict[str, tuple[str, ...]] = {
    "channel": ("in", "not_in"),
    "inbox": ("in", "not_in"),
    "team": ("in", "not_in"),
    "status": ("in", "not_in"),
    "priority": ("in", "not_in"),
    "label": ("has_any", "has_none"),
    "text": ("contains_words", "not_contains_words", "matches"),
    "contact_attribute": ("equals", "not_equals", "contains", "exists", "missing"),
    "business_hours": ("open", "closed"),
    "first_message": ("is",),
}

# The action's type -> its fields (name -> kind).
ACTIONS: dict[str, dict[str, str]] = {
    "assign_team": {"team_id": "id"},
    "assign_agent": {"user_id": "id"},
    "route": {},
    "add_label": {"label_id": "id"},
    "remove_label": {"label_id": "id"},
    "set_priority": {"priority": "priority"},
    "send_message": {"text": "text"},
    "send_template": {"name": "name", "language": "language", "params": "params"},
    "add_note": {"text": "text"},
    "resolve": {},
    "snooze": {"minutes": "minutes"},
    "reopen": {},
    "send_csat": {},
    "webhook": {"endpoint_id": "id"},  # posts "automation.rule" to an outbound webhook (docs/webhooks.md)
}
# A macro's steps (an agent runs them, as themselves): the rules' actions that make sense
# by hand, and an agent's reply.
MACRO_STEPS = ("assign_team", "assign_agent", "add_label", "remove_label", "set_priority", "add_note", "reply",
               "resolve", "snooze", "reopen")
_MACRO_ONLY: dict[str, dict[str, str]] = {"reply": {"text": "text"}}
# Each step type of a macro -> its fields (as ACTIONS).
MACRO_FIELDS = {k: {**ACTIONS, **_MACRO_ONLY}[k] for k in MACRO_STEPS}

# Actions that send the customer something: they obey opt-outs, reply windows and the
# automatic-reply interval (docs/time.md).
SENDING = ("send_message", "send_template", "send_csat")
WEBHOOK_TYPE = "automation.rule"  # what a rule's webhook action posts

MAX_DEPTH = 3  # a rule's action may trigger rules, theirs too, this deep; then the chain stops
MAX_CONDITIONS = 20
MAX_ACTIONS = 20
MAX_NAME_CHARS = 120
MAX_TEXT_CHARS = 2000
MAX_PATTERN_CHARS = 500
MAX_WORDS = 50
MAX_DELAY_MINUTES = 60 * 24 * 30
VARIABLES = ("contact_name", "contact_email", "contact_phone", "inbox_name")
# {{contact.<key>}}: the contact's attribute of that key as text (empty when it has none)
ATTRIBUTE_VARIABLE = "contact."


def contact_values(name: str | None, email: str | None, phone: str | None, attributes: Mapping[str, Any] | None,
                   inbox_name: str | None) -> dict[str, str]:
    """What a text's variables stand for: the contact's name, email, phone and each of its
    attributes (scalars, as text), the inbox's name; each cut to a bounded length."""
    cut = autoreply.MAX_NAME_CHARS
    values = {f"{ATTRIBUTE_VARIABLE}{key}": ("" if value is None else str(value))[:cut]
              for key, value in (attributes or {}).items() if isinstance(value, str | int | float | bool | None)}
    return values | {"contact_name": (name or "")[:cut], "contact_email": (email or "")[:cut],
                     "contact_phone": (phone or "")[:cut], "inbox_name": (inbox_name or "")[:cut]}


_ATTRIBUTE_KEY = re2.compile(r"[A-Za-z0-9_\-]{1,64}")
_RE2 = re2.Options()
_RE2.max_mem = 1 << 20  # a pattern's automaton is bounded too
_RE2.case_sensitive = False
_RE2.log_errors = False  # a refused pattern is the admin's answer, not the server log's
_WORD = re2.compile(r"\w+")


def _fail(message: str) -> Invalid:
    return Invalid(message, "invalid_rule")


def _ids(value: Any, where: str, *, none: bool = False) -> list[Any]:
    if not isinstance(value, list) or not value or len(value) > 100:
        raise _fail(f"{where} must be a list of 1 to 100 ids")
    for v in value:
        if not (v is None and none) and (isinstance(v, bool) or not isinstance(v, int)):
            raise _fail(f"{where} must be a list of ids" + (" (null: none)" if none else ""))
    return value


def _strings(value: Any, where: str, allowed: Iterable[str] | None = None, limit: int = MAX_WORDS) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > limit or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(f"{where} must be a list of 1 to {limit} texts")
    out = [v.strip() for v in value]
    if allowed is not None:
        allowed = tuple(allowed)
        wrong = [v for v in out if v not in allowed]
        if wrong:
            raise _fail(f"{where}: {wrong[0]!r} is not one of {', '.join(allowed)}")
    return out


def compile_pattern(pattern: str, where: str = "pattern") -> Any:
    """An RE2 pattern, case-insensitive; Invalid names what is wrong with it."""
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise _fail(f"{where} must be a pattern of 1 to {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _RE2)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise _fail(f"{where}: not a pattern RE2 accepts ({detail})") from None


def _condition(raw: Any, where: str, channels: Iterable[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(f'{where} must be an object: {{"field", "op", "value"}}')
    name, op = raw.get("field"), raw.get("op")
    if name not in CONDITIONS:
        raise _fail(f"{where}.field must be one of {', '.join(CONDITIONS)}")
    if op not in CONDITIONS[name]:
        raise _fail(f"{where}.op for {name} must be one of {', '.join(CONDITIONS[name])}")
    value, at = raw.get("value"), f"{where}.value"
    out: dict[str, Any] = {"field": name, "op": op}
    if name == "channel":
        out["value"] = _strings(value, at, channels)
    elif name in ("inbox", "label"):
        out["value"] = _ids(value, at)
    elif name == "team":
        out["value"] = _ids(value, at, none=True)
    elif name == "status":
        out["value"] = _strings(value, at, [s.value for s in ConversationStatus])
    elif name == "priority":
        out["value"] = _strings(value, at, [p.value for p in Priority])
    elif name == "text":
        if op == "matches":
            if not isinstance(value, str):
                raise _fail(f"{at} must be a pattern")
            compile_pattern(value, at)
            out["value"] = value
        else:
            out["value"] = [w.casefold() for w in _strings(value, at)]
    elif name == "contact_attribute":
        key = raw.get("key")
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            raise _fail(f"{where}.key must name the attribute")
        out["key"] = key.strip()
        if op not in ("exists", "missing"):
            if not isinstance(value, str | int | float) or isinstance(value, bool) or len(str(value)) > 500:
                raise _fail(f"{at} must be a text or a number")
            out["value"] = str(value)
    elif name == "business_hours":
        calendar = raw.get("calendar_id")
        if calendar is not None and (isinstance(calendar, bool) or not isinstance(calendar, int)):
            raise _fail(f"{where}.calendar_id must be a calendar's id, or null for the inbox's")
        out["calendar_id"] = calendar
    elif name == "first_message":
        if not isinstance(value, bool):
            raise _fail(f"{at} must be true or false")
        out["value"] = value
    return out


def _action(raw: Any, where: str, allowed: Sequence[str] = tuple(ACTIONS)) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or raw.get("type") not in allowed:
        raise _fail(f"{where}.type must be one of {', '.join(allowed)}")
    kind = raw["type"]
    out: dict[str, Any] = {"type": kind}
    for name, what in {**ACTIONS, **_MACRO_ONLY}[kind].items():
        value, at = raw.get(name), f"{where}.{name}"
        if what == "id":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(f"{at} must be an id")
        elif what == "priority":
            _strings([value] if isinstance(value, str) else value, at, [p.value for p in Priority])
        elif what == "text":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_CHARS:
                raise _fail(f"{at} must be text of 1 to {MAX_TEXT_CHARS} characters")
            _variables(value, at)
            value = value.strip()
        elif what == "name":
            if not isinstance(value, str) or not value.strip() or len(value) > 512:
                raise _fail(f"{at} must name an approved template")
        elif what == "language":
            value = value or "en_US"
            if not isinstance(value, str) or len(value) > 16:
                raise _fail(f"{at} must be a language code such as en_US")
        elif what == "params":
            value = value or []
            if not isinstance(value, list) or len(value) > 10 or not all(isinstance(v, str) for v in value):
                raise _fail(f"{at} must be a list of at most 10 texts (variables allowed)")
            for i, param in enumerate(value):
                _variables(param, f"{at}[{i}]")
        elif what == "minutes":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DELAY_MINUTES:
                raise _fail(f"{at} must be a whole number of minutes from 1 to {MAX_DELAY_MINUTES}")
        out[name] = value
    return out


def is_variable(name: str) -> bool:
    """A variable a rule's or macro's text may use: one of ``VARIABLES`` or a contact
    attribute's ``contact.<key>``."""
    return name in VARIABLES or (name.startswith(ATTRIBUTE_VARIABLE)
                                 and _ATTRIBUTE_KEY.fullmatch(name[len(ATTRIBUTE_VARIABLE):]) is not None)


def _variables(text: str, at: str) -> None:
    unknown = [n for n in autoreply.variable_names(text) if not is_variable(n)]
    if unknown:
        raise _fail(f"{at}: no variable {{{{{unknown[0]}}}}}; the variables are "
                    + ", ".join(f"{{{{{v}}}}}" for v in VARIABLES) + f", and {{{{{ATTRIBUTE_VARIABLE}<attribute>}}}}")


def check(raw: Any, channels: Iterable[str], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A rule as given (merged into ``current`` for a change), checked and normalised. Invalid
    ``invalid_rule`` names the field that is wrong."""
    if not isinstance(raw, Mapping):
        raise _fail("a rule must be an object")
    unknown = set(raw) - {"name", "trigger", "conditions", "match", "actions", "active", "position",
                          "delay_minutes"}
    if unknown:
        raise _fail(f"{sorted(unknown)[0]}: unknown; the fields are name, trigger, delay_minutes, conditions, "
                    "match, actions, active and position")
    rule = {"name": "", "trigger": "", "conditions": [], "match": "all", "actions": [], "active": True,
            "position": 0, "delay_minutes": None, **(current or {}), **raw}
    name = rule["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise _fail(f"name must be text of 1 to {MAX_NAME_CHARS} characters")
    if rule["trigger"] not in TRIGGERS:
        raise _fail(f"trigger must be one of {', '.join(TRIGGERS)}")
    delay = rule["delay_minutes"]
    if rule["trigger"] in TIMED:
        if isinstance(delay, bool) or not isinstance(delay, int) or not 1 <= delay <= MAX_DELAY_MINUTES:
            raise _fail(f"delay_minutes: {rule['trigger']} needs a whole number of minutes from 1 to "
                        f"{MAX_DELAY_MINUTES}")
    else:
        delay = None
    if rule["match"] not in ("all", "any"):
        raise _fail("match must be all or any")
    conditions, actions = rule["conditions"], rule["actions"]
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise _fail(f"conditions must be a list of at most {MAX_CONDITIONS}")
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        raise _fail(f"actions must be a list of 1 to {MAX_ACTIONS}")
    if not isinstance(rule["active"], bool):
        raise _fail("active must be true or false")
    if isinstance(rule["position"], bool) or not isinstance(rule["position"], int):
        raise _fail("position must be a whole number")
    known = list(channels)
    return {"name": name.strip(), "trigger": rule["trigger"], "delay_minutes": delay, "match": rule["match"],
            "conditions": [_condition(c, f"conditions[{i}]", known) for i, c in enumerate(conditions)],
            "actions": [_action(a, f"actions[{i}]") for i, a in enumerate(actions)],
            "active": rule["active"], "position": rule["position"]}


def check_macro(raw: Any, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A macro ``{"name", "steps": [...], "shared"}`` checked (merged into ``current``);
    Invalid ``invalid_macro`` names the field."""
    if not isinstance(raw, Mapping):
        raise Invalid("a macro must be an object", "invalid_macro")
    unknown = set(raw) - {"name", "steps", "shared"}
    if unknown:
        raise Invalid(f"{sorted(unknown)[0]}: unknown; the fields are name, steps and shared", "invalid_macro")
    macro = {"name": "", "steps": [], "shared": False, **(current or {}), **raw}
    name, steps = macro["name"], macro["steps"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise Invalid(f"name must be text of 1 to {MAX_NAME_CHARS} characters", "invalid_macro")
    if not isinstance(steps, list) or not steps or len(steps) > MAX_ACTIONS:
        raise Invalid(f"steps must be a list of 1 to {MAX_ACTIONS}", "invalid_macro")
    if not isinstance(macro["shared"], bool):
        raise Invalid("shared must be true or false", "invalid_macro")
    try:
        checked = [_action(s, f"steps[{i}]", MACRO_STEPS) for i, s in enumerate(steps)]
    except Invalid as exc:
        raise Invalid(exc.message, "invalid_macro") from None
    return {"name": name.strip(), "steps": checked, "shared": macro["shared"]}


# -- the triggers of an event --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Trigger:
    """One committed event as the rules see it: ``kind`` (a TRIGGERS key), its conversation,
    and what caused it. ``by`` is the rule whose action caused it, with the chain's depth."""

    kind: str
    conversation_id: int
    event_id: int
    message_id: int | None = None
    label_ids: tuple[int, ...] = ()
    by: Mapping[str, Any] | None = None

    @property
    def depth(self) -> int:
        return int(self.by.get("depth", 0)) if self.by else 0


def triggers(event_id: int, type_: str, data: Mapping[str, Any]) -> list[Trigger]:
    """The triggers one live event is (none for most): see docs/events.md for the data."""
    conv = data.get("conversation")
    if not isinstance(conv, Mapping) or not isinstance(conv.get("id"), int):
        return []
    cid, by = conv["id"], data.get("by")
    by = by if isinstance(by, Mapping) else None

    def one(kind: str, **more: Any) -> list[Trigger]:
        return [Trigger(kind, cid, event_id, by=by, **more)]
    if type_ == CONVERSATION_CREATED:  # by a customer: not one an agent started writing out
        return one("conversation_created") if conv.get("last_message_direction", "in") == "in" else []
    if type_ == MESSAGE_CREATED:
        message = data.get("message")
        if not isinstance(message, Mapping):
            return []
        if message.get("direction") == "in" and not message.get("automatic"):
            return one("message_received", message_id=message.get("id"))
        if message.get("direction") == "out" and message.get("author_id") is not None \
                and not message.get("automatic"):
            return one("message_sent", message_id=message.get("id"))
        return []
    if type_ == CONVERSATION_ASSIGNED:
        return one("assigned")
    if type_ == CONVERSATION_UPDATED:
        out: list[Trigger] = []
        if "previous_status" in data and data["previous_status"] != conv.get("status"):
            out += one("status_changed")
        added = data.get("labels_added")
        if isinstance(added, list) and added:
            out += one("label_added", label_ids=tuple(a["id"] for a in added if isinstance(a, Mapping)))
        if "previous_priority" in data:
            out += one("priority_changed")
        return out
    if type_ == SLA_WARNING:
        return one("sla_warning")
    return []


# -- the conditions ------------------------------------------------------------------------

@dataclass(slots=True)
class Facts:
    """What the conditions ask about one conversation, read once by the engine."""

    channel: str
    inbox_id: int | None
    team_id: int | None
    status: str
    priority: str
    label_ids: frozenset[int]
    text: str  # the triggering message's, else the latest customer message's
    attributes: Mapping[str, Any]
    first_message: bool  # the contact's first conversation, in its first cycle
    is_open: Callable[[int | None], bool] = field(default=lambda _calendar: True)


def words(text: str) -> list[str]:
    """The text's words, case-folded (RE2: linear in the text)."""
    return [w.casefold() for w in _WORD.findall(text)]


def _has_phrase(tokens: Sequence[str], phrase: str) -> bool:
    wanted = words(phrase)
    if not wanted:
        return False
    n = len(wanted)
    return any(tokens[i:i + n] == wanted for i, t in enumerate(tokens) if t == wanted[0])


def holds(condition: Mapping[str, Any], facts: Facts) -> bool:
    name: str = condition["field"]
    op: str = condition["op"]
    value: Any = condition.get("value")
    if name in ("channel", "inbox", "team", "status", "priority"):
        got = {"channel": facts.channel, "inbox": facts.inbox_id, "team": facts.team_id, "status": facts.status,
               "priority": facts.priority}[name]
        return (got in value) == (op == "in")
    if name == "label":
        return bool(facts.label_ids & set(value)) == (op == "has_any")
    if name == "text":
        if op == "matches":
            return compile_pattern(value).search(facts.text) is not None
        tokens = words(facts.text)
        found = any(_has_phrase(tokens, w) for w in value)
        return found == (op == "contains_words")
    if name == "contact_attribute":
        present = condition["key"] in facts.attributes and facts.attributes[condition["key"]] not in (None, "")
        if op in ("exists", "missing"):
            return present == (op == "exists")
        got = str(facts.attributes.get(condition["key"], "")).casefold()
        want = str(value).casefold()
        return {"equals": got == want, "not_equals": got != want, "contains": want in got}[op]
    if name == "business_hours":
        return facts.is_open(condition.get("calendar_id")) == (op == "open")
    if name == "first_message":
        return facts.first_message is bool(value)
    return False


def matches(rule: Mapping[str, Any], facts: Facts) -> bool:
    """Whether the rule's conditions hold (no condition: always)."""
    conditions = rule["conditions"]
    if not conditions:
        return True
    results = (holds(c, facts) for c in conditions)
    return all(results) if rule["match"] == "all" else any(results)
