"""Campaigns (docs/campaigns.md): messages the business sends first, to an audience, with
consent, quiet hours and frequency caps. Pure: what a campaign is and its check, which
channel a recipient gets and why one is skipped, when a recipient's message may go, and
an SMS text's segment count. The engine that reads and writes is
``inbox/actions/campaigns.py``; the worker that paces it, ``inbox/workers/campaigns.py``.

A campaign is ``{"name", "purpose", "audience", "messages": [...], "schedule",
"quiet_hours"}``. ``messages`` lists one message per channel kind in the order of
preference: each recipient gets the first one whose channel they have an identity on and
consent for. Its lifecycle::

    draft -> scheduled -> sending -> done
                 \\          |  ^
                  \\       paused
                   `-> cancelled (from any state but done)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from inbox.domain import automation, autoreply, scheduled
from inbox.domain.consent import Purpose, Standing, may_send
from inbox.domain.errors import Invalid

MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 5_000  # an SMS of 30-odd segments; email bodies likewise
MAX_SUBJECT_CHARS = 200
MAX_AUDIENCE_ITEMS = 50
ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
DEFAULT_QUIET = {"start": "21:00", "end": "08:00"}  # marketing's, unless the campaign says
# A fallback waits at most 10 hours: Twilio's longest validity period (ValidityPeriod, 36,000 s),
# which the first message is sent with so that it cannot arrive after its fallback.
MAX_FALLBACK_MINUTES = 600
VALIDITY_MARGIN = 30  # seconds the first message's validity ends before its fallback goes


# An inbox's own channel fallback, for the messages agents and reminders send through it
# (inbox settings; a campaign has its own, ``fallback_minutes``).
FALLBACK_INBOX = "fallback_inbox_id"
FALLBACK_MINUTES = "fallback_minutes"
DEFAULT_FALLBACK_MINUTES = 15


def fallback_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """An inbox's fallback settings, checked and taken out of ``settings``: the inbox to fall
    back to (an id) and the minutes to wait for delivery (1 to MAX_FALLBACK_MINUTES, default
    DEFAULT_FALLBACK_MINUTES). Whether that inbox exists is for the caller to check."""
    target, minutes = settings.pop(FALLBACK_INBOX, None), settings.pop(FALLBACK_MINUTES, None)
    if target in (None, ""):
        return {}
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise Invalid(f"{FALLBACK_INBOX} is the id of another inbox", "invalid_fallback")
    if minutes in (None, ""):
        minutes = DEFAULT_FALLBACK_MINUTES
    if isinstance(minutes, str) and minutes.isdigit():
        minutes = int(minutes)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_FALLBACK_MINUTES:
        raise Invalid(f"{FALLBACK_MINUTES} is 1 to {MAX_FALLBACK_MINUTES} minutes", "invalid_fallback")
    return {FALLBACK_INBOX: target, FALLBACK_MINUTES: minutes}


class Status(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    cancelled = "cancelled"
    done = "done"


# What may follow what, by the admin's or lead's hand (the worker moves scheduled to
# sending when the time comes, and sending to done).
MOVES = {"start": ({Status.draft}, Status.scheduled), "pause": ({Status.scheduled, Status.sending}, Status.paused),
         "resume": ({Status.paused}, Status.scheduled),
         "cancel": ({Status.draft, Status.scheduled, Status.sending, Status.paused}, Status.cancelled)}
EDITABLE = (Status.draft,)


class Skip(StrEnum):
    """Why a recipient gets nothing: each is logged on the recipient with its words."""

    no_identity = "no_identity"  # none of the campaign's channels
    no_consent = "no_consent"  # no marketing opt-in on any of them
    opted_out = "opted_out"
    frequency_cap = "frequency_cap"
    window_closed = "window_closed"  # a channel with a reply window and no template given
    template_not_approved = "template_not_approved"
    cancelled = "cancelled"
    failed = "failed"  # the message could not be written (the reason says why)


SKIP_WORDS = {
    Skip.no_identity: "has no identity on the campaign's channels",
    Skip.no_consent: "has not opted in to marketing on the campaign's channels",
    Skip.opted_out: "opted out",
    Skip.frequency_cap: "had as many marketing messages as the caps allow",
    Skip.window_closed: "the channel's reply window is closed and the campaign gives no template",
    Skip.template_not_approved: "the WhatsApp template is not approved",
    Skip.cancelled: "the campaign was cancelled before their message went",
    Skip.failed: "the message could not be written",
}


# -- the check ----------------------------------------------------------------------------

def check(raw: Any, kinds: Iterable[str], *, partial: bool = False) -> dict[str, Any]:
    """A campaign as the API or the page gives it, checked; refused with the reason
    (``invalid_campaign``). ``partial``: a change to a draft (only the fields given)."""
    if not isinstance(raw, Mapping):
        raise Invalid("a campaign is an object: {name, purpose, audience, messages, schedule, quiet_hours}",
                      "invalid_campaign")
    fields = {"name", "purpose", "audience", "messages", "schedule", "quiet_hours", "fallback_minutes"}
    if unknown := set(raw) - fields:
        raise Invalid(f"unknown campaign fields: {', '.join(sorted(unknown))}", "invalid_campaign")
    if not partial and (missing := {"name", "messages"} - set(raw)):
        raise Invalid(f"a campaign needs {' and '.join(sorted(missing))}", "invalid_campaign")
    out: dict[str, Any] = {}
    if "name" in raw:
        name = raw["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            raise Invalid(f"name must be text of 1 to {MAX_NAME_CHARS} characters", "invalid_campaign")
        out["name"] = name.strip()
    if "purpose" in raw or not partial:
        purpose = raw.get("purpose", Purpose.marketing.value)
        if purpose not in {p.value for p in Purpose}:
            raise Invalid("purpose must be marketing or transactional", "invalid_campaign")
        out["purpose"] = purpose
    if "audience" in raw or not partial:
        out["audience"] = _audience(raw.get("audience") or {}, set(kinds))
    if "messages" in raw:
        out["messages"] = _messages(raw["messages"], set(kinds))
    if "schedule" in raw or not partial:
        out["schedule"] = _schedule(raw.get("schedule"))
    if "quiet_hours" in raw:
        out["quiet_hours"] = _quiet(raw["quiet_hours"])
    if "fallback_minutes" in raw:
        minutes = raw["fallback_minutes"]
        if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)
                                    or not 1 <= minutes <= MAX_FALLBACK_MINUTES):
            raise Invalid(f"fallback_minutes is 1 to {MAX_FALLBACK_MINUTES} minutes, or null for no fallback",
                          "invalid_campaign")
        out["fallback_minutes"] = minutes
    return out


def _audience(raw: Any, kinds: set[str]) -> dict[str, Any]:
    """``{"labels": [label id], "attributes": {key: value}, "channels": [kind],
    "last_contact_after": date, "last_contact_before": date}``: every part given must hold
    (labels: any of them on one of the contact's conversations)."""
    if not isinstance(raw, Mapping):
        raise Invalid("audience is an object: {labels, attributes, channels, last_contact_after, "
                      "last_contact_before}", "invalid_campaign")
    allowed = {"labels", "attributes", "channels", "last_contact_after", "last_contact_before"}
    if unknown := set(raw) - allowed:
        raise Invalid(f"unknown audience fields: {', '.join(sorted(unknown))}", "invalid_campaign")
    out: dict[str, Any] = {}
    labels = raw.get("labels") or []
    if not isinstance(labels, list) or len(labels) > MAX_AUDIENCE_ITEMS \
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in labels):
        raise Invalid("audience.labels is a list of label ids", "invalid_campaign")
    if labels:
        out["labels"] = sorted(set(labels))
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping) or len(attributes) > MAX_AUDIENCE_ITEMS:
        raise Invalid("audience.attributes is an object of attribute: value", "invalid_campaign")
    for key, value in attributes.items():
        if not ATTRIBUTE_KEY.fullmatch(str(key)) or not isinstance(value, str | int | float | bool) \
                or len(str(value)) > 200:
            raise Invalid(f"audience.attributes: {str(key)[:64]!r} must be a plain key with a text or number",
                          "invalid_campaign")
    if attributes:
        out["attributes"] = dict(attributes)
    channels = raw.get("channels") or []
    if not isinstance(channels, list) or any(c not in kinds for c in channels):
        raise Invalid(f"audience.channels lists channel kinds: {', '.join(sorted(kinds))}", "invalid_campaign")
    if channels:
        out["channels"] = sorted(set(channels))
    for key in ("last_contact_after", "last_contact_before"):
        if raw.get(key) is not None:
            try:
                out[key] = date.fromisoformat(str(raw[key])).isoformat()
            except ValueError:
                raise Invalid(f"audience.{key} is a date, YYYY-MM-DD", "invalid_campaign") from None
    return out


def _messages(raw: Any, kinds: set[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw or len(raw) > len(kinds):
        raise Invalid("messages is a list of one message per channel, in the order of preference",
                      "invalid_campaign")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping) or m.get("channel") not in kinds:
            raise Invalid(f"{where}.channel must be one of {', '.join(sorted(kinds))}", "invalid_campaign")
        if unknown := set(m) - {"channel", "inbox_id", "text", "template", "subject"}:
            raise Invalid(f"unknown fields in {where}: {', '.join(sorted(unknown))}", "invalid_campaign")
        if any(o["channel"] == m["channel"] for o in out):
            raise Invalid(f"{where}: one message per channel ({m['channel']} twice)", "invalid_campaign")
        inbox_id = m.get("inbox_id")
        if not isinstance(inbox_id, int) or isinstance(inbox_id, bool):
            raise Invalid(f"{where}.inbox_id names the inbox it goes out through", "invalid_campaign")
        one: dict[str, Any] = {"channel": m["channel"], "inbox_id": inbox_id}
        text = m.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
            raise Invalid(f"{where}.text is text of at most {MAX_TEXT_CHARS} characters", "invalid_campaign")
        if text and text.strip():
            one["text"] = text.strip()
        if m.get("template") is not None:
            one["template"] = _template(m["template"], where)
        if "text" not in one and "template" not in one:
            raise Invalid(f"{where} needs a text or a template", "invalid_campaign")
        if m.get("subject") is not None:
            subject = m["subject"]
            if not isinstance(subject, str) or len(subject) > MAX_SUBJECT_CHARS or "\n" in subject or "\r" in subject:
                raise Invalid(f"{where}.subject is one line of at most {MAX_SUBJECT_CHARS} characters",
                              "invalid_campaign")
            one["subject"] = subject.strip()
        if m["channel"] == "email" and not one.get("subject"):
            raise Invalid(f"{where}: an email needs a subject", "invalid_campaign")
        for text in [one.get("text") or "", one.get("subject") or "", *one.get("template", {}).get("parameters", [])]:
            if bad := [n for n in autoreply.variable_names(text) if not automation.is_variable(n)]:
                raise Invalid(f"{where}: unknown variable {{{{{bad[0][:64]}}}}}; known: "
                              f"{', '.join(automation.VARIABLES)}, contact.<attribute>", "invalid_campaign")
        out.append(one)
    return out


def _template(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"] \
            or not isinstance(raw.get("language", "en"), str):
        raise Invalid(f'{where}.template is {{"name", "language", "parameters"}}', "invalid_campaign")
    params = raw.get("parameters") or []
    if not isinstance(params, list) or len(params) > 20 or not all(isinstance(p, str) and len(p) <= 1000
                                                                   for p in params):
        raise Invalid(f"{where}.template.parameters is a list of texts (variables allowed)", "invalid_campaign")
    return {"name": raw["name"], "language": raw.get("language") or "en", "parameters": list(params)}


def _schedule(raw: Any) -> dict[str, Any]:
    """``{"at": ISO instant}`` once for everyone, ``{"local": "YYYY-MM-DDTHH:MM"}`` at that
    time in each recipient's zone, or null / ``{}``: as soon as it is started."""
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping) or len(raw) != 1 or not ({"at", "local"} & set(raw)):
        raise Invalid('schedule is {"at": "<ISO 8601 instant>"} or {"local": "YYYY-MM-DDTHH:MM"} or null',
                      "invalid_campaign")
    if "at" in raw:
        if (at := scheduled.instant(raw["at"])) is None:
            raise Invalid("schedule.at is an ISO 8601 instant with its offset", "invalid_campaign")
        return {"at": at.isoformat()}
    if (local := scheduled.wall_time(raw["local"])) is None:
        raise Invalid("schedule.local is a local date and time, YYYY-MM-DDTHH:MM, with no offset", "invalid_campaign")
    return {"local": local.isoformat(timespec="minutes")}


def _quiet(raw: Any) -> dict[str, Any] | None:
    """``{"start": "HH:MM", "end": "HH:MM"}`` in each recipient's zone, ``false`` for none;
    absent: 21:00-08:00 for marketing, none for transactional."""
    if raw is False:
        return {}
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"start", "end"} \
            or not all(isinstance(raw[k], str) and CLOCK.fullmatch(raw[k]) for k in ("start", "end")) \
            or raw["start"] == raw["end"]:
        raise Invalid('quiet_hours is {"start": "HH:MM", "end": "HH:MM"} (two different times) or false',
                      "invalid_campaign")
    return {"start": raw["start"], "end": raw["end"]}


def quiet_window(campaign: Mapping[str, Any]) -> tuple[time, time] | None:
    """The campaign's quiet hours (start, end), or None: none apply."""
    quiet = campaign.get("quiet_hours")
    if quiet is None:
        quiet = DEFAULT_QUIET if campaign["purpose"] == Purpose.marketing else {}
    if not quiet:
        return None
    return time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"])


# -- when a recipient's message may go ----------------------------------------------------

def start_at(campaign: Mapping[str, Any], zone: ZoneInfo, started: datetime) -> datetime:
    """When a recipient in ``zone`` is due by the schedule alone (never before ``started``)."""
    schedule = campaign.get("schedule") or {}
    if "at" in schedule:
        return max(started, datetime.fromisoformat(schedule["at"]))
    if "local" in schedule:
        local = datetime.fromisoformat(schedule["local"]).replace(tzinfo=zone)
        return max(started, local.astimezone(timezone.utc))
    return started


def after_quiet(at: datetime, zone: ZoneInfo, window: tuple[time, time] | None) -> datetime:
    """``at``, or the end of the recipient's quiet hours when ``at`` falls inside them (in
    their zone, across midnight and daylight-saving changes)."""
    if window is None:
        return at
    start, end = window
    local = at.astimezone(zone)
    now = local.time()
    inside = (start <= now or now < end) if start > end else (start <= now < end)
    if not inside:
        return at
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, zone).astimezone(timezone.utc)


def zone_of(attributes: Mapping[str, Any], phone: str | None, fallback: str, now: datetime) -> ZoneInfo:
    """A recipient's zone: their ``timezone`` attribute, else their phone number's region,
    else ``fallback`` (the sending inbox's calendar zone), as the contact panel reads it."""
    return autoreply.customer_zone(attributes, phone, fallback, now)


# -- which channel a recipient gets -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Choice:
    message: Mapping[str, Any] | None  # the campaign's message for the chosen channel
    identity: Mapping[str, Any] | None
    skip: Skip | None = None
    reason: str | None = None


def choose(messages: Sequence[Mapping[str, Any]], identities: Mapping[str, Mapping[str, Any]],
           standings: Mapping[tuple[str, str], Standing], purpose: Purpose, tried: Iterable[str] = ()) -> Choice:
    """The first of the campaign's messages whose channel the recipient has an identity on
    and may get ``purpose`` messages on (but for the kinds ``tried`` already); else why not
    (the first channel's reason)."""
    first: Choice | None = None
    tried = set(tried)
    for m in messages:
        if m["channel"] in tried:
            continue
        identity = identities.get(m["channel"])
        if identity is None:
            continue
        why = may_send(standings, m["channel"], purpose)
        if identity.get("opted_out") and why is None:
            why = f"opted out of {m['channel']} messages"
        if why is None:
            return Choice(m, identity)
        first = first or Choice(None, None, Skip.opted_out if "opted out" in why else Skip.no_consent, why)
    return first or Choice(None, None, Skip.no_identity, SKIP_WORDS[Skip.no_identity])


# -- SMS segments -------------------------------------------------------------------------

_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> dict[str, Any]:
    """How carriers count a text: GSM-7 when every character is in its alphabet (160 in one
    message, 153 a part; the extension table's characters take two), else UCS-2 (70, 67 a
    part; a character outside the basic plane takes two units). What the composer's counter
    (ui/static/app.js) shows, on the server for the cost estimate."""
    if all(c in _GSM or c in _GSM_EXTENDED for c in text):
        septets = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        return {"encoding": "GSM-7", "length": septets, "segments": 1 if septets <= 160 else -(-septets // 153)}
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return {"encoding": "UCS-2", "length": units, "segments": 1 if units <= 70 else -(-units // 67)}


def render(text: str, values: Mapping[str, str]) -> str:
    """A message's text with the contact's fields put in ({{contact_name}}, ...); a field
    the contact lacks becomes empty."""
    return autoreply.render(text, values, missing="")
