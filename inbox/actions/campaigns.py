"""Campaigns (docs/campaigns.md): saving one, its preflight, starting, pausing, resuming and
cancelling it, and the two steps the worker (inbox/workers/campaigns.py) repeats:

- ``plan``: the next batch of the audience becomes recipient rows, each ``pending`` with
  the time it is due (the schedule, in the recipient's zone where it says so, moved past
  their quiet hours);
- ``release``: due recipients are decided again (consent, caps, windows and quiet hours
  may have changed since) and either skipped with the reason, held until their quiet hours
  end, or sent: the message and its delivery job are written in the transaction that marks
  the recipient ``queued``, so however the process dies, each recipient's message is
  written once, and the delivery worker sends it once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, or_, select, update

from inbox import queries
from inbox.actions import reports
from inbox.actions.common import _log
from inbox.actions.context import Context
from inbox.actions.delivery import withdraw_send
from inbox.actions.replies import write_outbound
from inbox.domain import automation, campaigns, consent, metrics
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.campaigns import Choice, Skip, Status
from inbox.domain.channels import ReplyWindow
from inbox.domain.consent import Purpose
from inbox.domain.errors import Conflict, Invalid, NotFound
from inbox.domain.events import CONVERSATION_CREATED
from inbox.domain.models import ConversationStatus, DeliveryStatus, Direction, Priority
from inbox.domain.records import Dict
from inbox.domain.tables import CAMPAIGN_RECIPIENTS, CAMPAIGNS, CONVERSATIONS, INBOXES, MESSAGES
from inbox.queries import campaigns as found
from inbox.queries.campaigns import Recipient
from inbox.storage.db import Tx
from inbox.storage.prepared import as_utc

PLAN_BATCH = 1000  # recipients planned a transaction
RELEASE_BATCH = 200  # recipients decided a transaction, at most
SAMPLES = 5  # rendered messages the preflight shows
AUTOMATIC = "campaign"  # the messages' ``automatic``: sent by the inbox itself
UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Policy:
    """What deciding a recipient needs besides the database."""

    windows: Mapping[str, ReplyWindow]
    reopen_after: timedelta
    cap_day: int
    cap_week: int
    public_url: str
    secret_key: str
    # Inbox id -> the (name, language) of its approved templates; an inbox missing: unknown
    # (its provider could not be asked), so its template messages wait.
    approved: Mapping[int, frozenset[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: Context, approved: Mapping[int, frozenset[tuple[str, str]]] | None = None) -> Policy:
        s = ctx.settings
        return cls(ctx.reply_windows, timedelta(days=s.reopen_days), s.marketing_cap_per_day,
                   s.marketing_cap_per_week, s.public_url, s.secret_key, approved or {})


async def approved_templates(ctx: Context, campaign: Mapping[str, Any]) -> dict[int, frozenset[tuple[str, str]]]:
    """The approved templates of each inbox the campaign's template messages go through,
    asked of the provider (an inbox whose provider does not answer is left out)."""
    out: dict[int, frozenset[tuple[str, str]]] = {}
    for m in campaign["messages"]:
        if "template" not in m:
            continue
        inbox_id: int = m["inbox_id"]
        inbox = await ctx.db.read(lambda c: queries.get_inbox(c, inbox_id))
        if inbox is None:
            continue
        try:
            listed = await ctx.templates(inbox)
        except Exception:  # noqa: BLE001 - the provider is down: its templates wait, nothing is skipped
            continue
        out[m["inbox_id"]] = frozenset((str(t.get("name")), str(t.get("language", m["template"]["language"])))
                                       for t in listed)
    return out


# -- saving -------------------------------------------------------------------------------

def _check_inboxes(conn: Connection, given: Mapping[str, Any], windows: Mapping[str, ReplyWindow]) -> None:
    """Each message goes through an inbox of its channel; a template only where the channel
    has templates, and a text where it has none."""
    for i, m in enumerate(given.get("messages") or []):
        inbox = conn.execute(select(INBOXES.c.kind, INBOXES.c.deleted_at).where(INBOXES.c.id == m["inbox_id"])).first()
        if inbox is None or inbox.deleted_at is not None or inbox.kind != m["channel"]:
            raise Invalid(f"messages[{i}].inbox_id is not a {m['channel']} inbox", "invalid_campaign")
        templates = m["channel"] in windows and windows[m["channel"]].templates
        if "template" in m and not templates:
            raise Invalid(f"messages[{i}]: {m['channel']} has no message templates", "invalid_campaign")
        if "text" not in m and not templates:
            raise Invalid(f"messages[{i}] needs a text", "invalid_campaign")


def save(tx: Tx, raw: Any, kinds: Iterable[str], windows: Mapping[str, ReplyWindow], now: datetime, *,
         campaign_id: int | None = None, user_id: int | None = None) -> Dict:
    """Create a campaign (a draft), or change a draft."""
    conn = tx.conn
    given = campaigns.check(raw, kinds, partial=campaign_id is not None)
    _check_inboxes(conn, given, windows)
    if campaign_id is None:
        new = conn.execute(insert(CAMPAIGNS).values(
            name=given["name"], purpose=given["purpose"], status=Status.draft, audience=given["audience"],
            messages=given["messages"], schedule=given["schedule"], quiet_hours=given.get("quiet_hours"),
            fallback_minutes=given.get("fallback_minutes"),
            cursor=0, planned=False, created_by=user_id, created_at=now, updated_at=now)
            .returning(CAMPAIGNS.c.id)).scalar_one()
        campaign_id = int(new)
    else:
        current = _campaign(conn, campaign_id)
        if current["status"] not in campaigns.EDITABLE:
            raise Conflict(f"a {current['status']} campaign cannot be changed; only a draft can",
                           "campaign_not_draft")
        conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(**given, updated_at=now))
    return _campaign(conn, campaign_id)


def _campaign(conn: Connection, campaign_id: int) -> Dict:
    campaign = found.get_campaign(conn, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign")
    return campaign


def delete_draft(tx: Tx, campaign_id: int) -> None:
    campaign = _campaign(tx.conn, campaign_id)
    if campaign["status"] != Status.draft:
        raise Conflict("only a draft can be deleted; cancel a started campaign instead", "campaign_not_draft")
    tx.conn.execute(CAMPAIGNS.delete().where(CAMPAIGNS.c.id == campaign_id))


def move(tx: Tx, campaign_id: int, action: str, now: datetime) -> Dict:
    """start, pause, resume or cancel (domain/campaigns.py ``MOVES``). Cancelling skips every
    recipient still pending; resuming goes back to sending, or scheduled if nothing went."""
    conn = tx.conn
    campaign = _campaign(conn, campaign_id)
    allowed, target = campaigns.MOVES[action]
    if campaign["status"] not in allowed:
        raise Conflict(f"a {campaign['status']} campaign cannot {action}", "campaign_state")
    values: Dict = {"status": target, "updated_at": now}
    if action == "resume" and campaign["started_at"] is not None:
        values["status"] = Status.sending
    if action == "cancel":
        values["finished_at"] = now
        conn.execute(update(CAMPAIGN_RECIPIENTS).where(CAMPAIGN_RECIPIENTS.c.campaign_id == campaign_id,
                                                       CAMPAIGN_RECIPIENTS.c.state == "pending")
                     .values(state="skipped", reason=Skip.cancelled, detail=campaigns.SKIP_WORDS[Skip.cancelled],
                             updated_at=now))
    conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(**values))
    return _campaign(conn, campaign_id)


# -- deciding one recipient ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Decision:
    skip: Skip | None = None
    detail: str | None = None
    hold_until: datetime | None = None  # quiet hours: due again then
    choice: Choice | None = None
    text: str = ""
    payload: Dict | None = None
    segments: int | None = None  # an SMS's


def fallback_zone(conn: Connection, inbox_id: int) -> str:
    """The zone of the inbox's calendar (where a recipient's own is unknown), else UTC."""
    calendar_id = conn.execute(select(INBOXES.c.calendar_id).where(INBOXES.c.id == inbox_id)).scalar()
    calendar = queries.calendar_of(conn, calendar_id)
    return calendar.timezone if calendar is not None else "UTC"


def _zone(r: Recipient, fallback: str, now: datetime) -> Any:
    phones = [i["handle"] for k, i in r.identities.items() if k in ("sms", "whatsapp")]
    return campaigns.zone_of(r.attributes, r.phone or (phones[0] if phones else None), fallback, now)


def decide(campaign: Mapping[str, Any], r: Recipient, policy: Policy, now: datetime, fallback: str,
           inbox_names: Mapping[int, str], tried: Sequence[str] = ()) -> Decision:
    """What to do with one recipient now: skip (why), hold (until when), or send (what).
    ``tried``: the channel kinds its message went through already (a fallback's)."""
    purpose = Purpose(campaign["purpose"])
    choice = campaigns.choose(campaign["messages"], r.identities, r.standings, purpose, tried)
    if choice.message is None or choice.identity is None:
        return Decision(choice.skip, choice.reason)
    if not tried and purpose == Purpose.marketing and (r.marketing_day >= policy.cap_day
                                                       or r.marketing_week >= policy.cap_week):
        return Decision(Skip.frequency_cap, f"{r.marketing_day} marketing messages in the last day, "
                                            f"{r.marketing_week} in the last week (caps {policy.cap_day} and "
                                            f"{policy.cap_week})")
    if (quiet := campaigns.quiet_window(campaign)) is not None:  # (a zone costs a phone number's parse)
        zone = _zone(r, fallback, now)
        held = campaigns.after_quiet(now, zone, quiet)
        if held > now:
            return Decision(hold_until=held, detail=f"quiet hours in {zone.key}")
    m, identity, kind = choice.message, choice.identity, choice.message["channel"]
    template = m.get("template")
    window = policy.windows.get(kind)
    if window is not None:
        last = r.last_inbound.get(identity["id"])
        is_open = last is not None and last + window.length > now
        if is_open and m.get("text"):
            template = None
        elif template is None or not window.templates:
            return Decision(Skip.window_closed, campaigns.SKIP_WORDS[Skip.window_closed])
    values = automation.contact_values(r.name, r.email, r.phone, r.attributes, inbox_names.get(m["inbox_id"]))
    payload: Dict = {"campaign": {"id": campaign["id"], "name": campaign["name"]}}
    if template is not None:
        if (template["name"], template["language"]) not in policy.approved.get(m["inbox_id"], frozenset()):
            if m["inbox_id"] not in policy.approved:
                return Decision(hold_until=now + timedelta(minutes=1), detail="the provider's templates are unknown")
            return Decision(Skip.template_not_approved,
                            f"the template {template['name']} ({template['language']}) is not approved")
        payload["template"] = {**template, "parameters": [campaigns.render(p, values)
                                                          for p in template["parameters"]]}
        text = f"[template {template['name']} ({template['language']})]"
        if params := payload["template"]["parameters"]:
            text += f": {', '.join(params)}"
    else:
        text = campaigns.render(m["text"], values)
    if m.get("subject"):
        payload["subject"] = campaigns.render(m["subject"], values)
    if kind == "email" and purpose == Purpose.marketing:
        payload["headers"] = consent.list_unsubscribe_headers(policy.public_url, policy.secret_key, r.contact_id)
    segments = campaigns.sms_segments(text)["segments"] if kind == "sms" else None
    return Decision(choice=choice, text=text, payload=payload, segments=segments)


# -- the preflight ------------------------------------------------------------------------

def preflight(conn: Connection, campaign: Mapping[str, Any], policy: Policy, now: datetime) -> Dict:
    """What starting the campaign now would do: how many recipients, how many would be
    skipped and why, how many held for quiet hours, by channel, the SMS segments it would
    cost, and the first few messages as they would read."""
    kinds = [m["channel"] for m in campaign["messages"]]
    windows = [k for k in kinds if k in policy.windows]
    fallback = fallback_zone(conn, campaign["messages"][0]["inbox_id"])
    names = _inbox_names(conn)
    by_channel: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    held, segments, total = 0, 0, 0
    samples: list[Dict] = []
    after, local = 0, "local" in (campaign.get("schedule") or {})
    while ids := found.audience_page(conn, campaign["audience"], after, PLAN_BATCH):
        after = ids[-1]
        facts = found.recipients(conn, ids, kinds, now, windows=windows)
        for cid in ids:
            total += 1
            r = facts[cid]
            start = campaigns.start_at(campaign, _zone(r, fallback, now) if local else UTC, now)
            d = decide(campaign, r, policy, start, fallback, names)
            if d.hold_until is not None and d.skip is None and d.choice is None:
                held += 1
                d = decide(campaign, r, policy, d.hold_until, fallback, names)
            if d.skip is not None:
                skipped[d.skip.value] += 1
                continue
            if d.choice is None or d.choice.message is None:
                continue
            kind = d.choice.message["channel"]
            by_channel[kind] += 1
            segments += d.segments or 0
            if len(samples) < SAMPLES:
                samples.append({"contact": {"id": cid, "name": r.name}, "channel": kind,
                                "inbox_id": d.choice.message["inbox_id"], "text": d.text,
                                "subject": (d.payload or {}).get("subject"), "segments": d.segments})
    return {"recipients": total, "will_send": sum(by_channel.values()), "by_channel": dict(by_channel),
            "skipped": sum(skipped.values()), "skipped_by_reason": dict(skipped),
            "held_for_quiet_hours": held, "sms_segments": segments, "samples": samples,
            "caps": {"per_day": policy.cap_day, "per_week": policy.cap_week},
            "quiet_hours": _quiet_words(campaign)}


def _quiet_words(campaign: Mapping[str, Any]) -> Dict | None:
    window = campaigns.quiet_window(campaign)
    return {"start": window[0].strftime("%H:%M"), "end": window[1].strftime("%H:%M")} if window else None


def _inbox_names(conn: Connection) -> dict[int, str]:
    return {r.id: r.name for r in conn.execute(select(INBOXES.c.id, INBOXES.c.name))}


# -- the worker's steps -------------------------------------------------------------------

def active(conn: Connection) -> list[Dict]:
    """The campaigns the worker works on: scheduled or sending."""
    return [found.campaign_dict(r) for r in conn.execute(
        select(CAMPAIGNS).where(CAMPAIGNS.c.status.in_((Status.scheduled, Status.sending))).order_by(CAMPAIGNS.c.id))]


def plan(tx: Tx, campaign_id: int, now: datetime, limit: int = PLAN_BATCH) -> int:
    """Write the next batch of the audience as pending recipients; how many (0: all are)."""
    conn = tx.conn
    campaign = _campaign(conn, campaign_id)
    if campaign["planned"] or campaign["status"] not in (Status.scheduled, Status.sending):
        return 0
    cursor = conn.execute(select(CAMPAIGNS.c.cursor).where(CAMPAIGNS.c.id == campaign_id)).scalar_one()
    ids = found.audience_page(conn, campaign["audience"], cursor, limit)
    if not ids:
        conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(planned=True, updated_at=now))
        return 0
    window = campaigns.quiet_window(campaign)
    zoned = window is not None or "local" in campaign["schedule"]  # else every recipient's time is the same
    kinds = [m["channel"] for m in campaign["messages"]]
    facts = found.recipients(conn, ids, kinds, now) if zoned else {}
    fallback = fallback_zone(conn, campaign["messages"][0]["inbox_id"])
    rows = []
    for cid in ids:
        zone = _zone(facts[cid], fallback, now) if zoned else UTC
        due = campaigns.after_quiet(campaigns.start_at(campaign, zone, now), zone, window)
        rows.append({"campaign_id": campaign_id, "contact_id": cid, "state": "pending", "due_at": due,
                     "marketing": campaign["purpose"] == Purpose.marketing, "attempts": [], "updated_at": now})
    conn.execute(insert(CAMPAIGN_RECIPIENTS), rows)
    conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(
        cursor=ids[-1], planned=len(ids) < limit))
    return len(ids)


@dataclass
class Released:
    sent: Counter[int] = field(default_factory=Counter)  # inbox id -> messages written
    decided: int = 0
    more: bool = False  # due recipients left (a batch's worth, or an inbox's allowance spent)


def release(tx: Tx, campaign_id: int, now: datetime, policy: Policy, allowance: Mapping[int, int] | None = None,
            limit: int = RELEASE_BATCH, only: Sequence[int] | None = None) -> Released:
    """Decide the campaign's due recipients (``only``: these recipient ids): skip, hold or
    send each. ``allowance``: the most messages each inbox may take now (the worker's
    pacing); a recipient whose inbox has none left stays pending."""
    conn = tx.conn
    out = Released()
    campaign = _campaign(conn, campaign_id)
    if campaign["status"] not in (Status.scheduled, Status.sending):
        return out
    rc = CAMPAIGN_RECIPIENTS.c
    query = select(rc.id, rc.contact_id).where(rc.campaign_id == campaign_id, rc.state == "pending",
                                                rc.due_at <= now)
    if only is not None:
        query = query.where(rc.id.in_(list(only)))
    due = conn.execute(query.order_by(rc.due_at, rc.id).limit(limit)).all()
    if not due:
        return out
    kinds = [m["channel"] for m in campaign["messages"]]
    facts = found.recipients(conn, [r.contact_id for r in due], kinds, now,
                             windows=[k for k in kinds if k in policy.windows])
    fallback = fallback_zone(conn, campaign["messages"][0]["inbox_id"])
    names = _inbox_names(conn)
    left = dict(allowance) if allowance is not None else None
    for row in due:
        out.decided += 1
        r = facts.get(row.contact_id)
        if r is None:  # the contact was merged away meanwhile
            _skip(conn, row.id, Skip.no_identity, "the contact was merged into another", now)
            continue
        d = decide(campaign, r, policy, now, fallback, names)
        if d.skip is not None:
            _skip(conn, row.id, d.skip, d.detail, now)
        elif d.hold_until is not None:
            conn.execute(update(CAMPAIGN_RECIPIENTS).where(rc.id == row.id).values(
                due_at=d.hold_until, detail=d.detail, updated_at=now))
        elif d.choice is not None and d.choice.message is not None:
            inbox_id = d.choice.message["inbox_id"]
            if left is not None and left.get(inbox_id, 0) <= 0:  # its inbox's turn is over: next pass
                out.more = True
                out.decided -= 1
                continue
            _send(tx, campaign, row.id, r, d, policy, now)
            out.sent[inbox_id] += 1
            if left is not None:
                left[inbox_id] -= 1
    out.more = out.more or len(due) == limit
    if out.sent and campaign["status"] == Status.scheduled:
        conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(
            status=Status.sending, started_at=now, updated_at=now))
    return out


def _skip(conn: Connection, recipient_id: int, skip: Skip, detail: str | None, now: datetime) -> None:
    conn.execute(update(CAMPAIGN_RECIPIENTS).where(CAMPAIGN_RECIPIENTS.c.id == recipient_id).values(
        state="skipped", reason=skip, detail=(detail or campaigns.SKIP_WORDS[skip])[:500], updated_at=now))


def fail(tx: Tx, recipient_id: int, error: str, now: datetime) -> None:
    """A recipient whose message could not be written (a bug, a constraint): skipped with
    the error, so the rest go on."""
    _skip(tx.conn, recipient_id, Skip.failed, error, now)


def _send(tx: Tx, campaign: Mapping[str, Any], recipient_id: int, r: Recipient, d: Decision, policy: Policy,
          now: datetime, tried: Sequence[str] = ()) -> None:
    assert d.choice is not None and d.choice.message is not None and d.choice.identity is not None
    m, identity = d.choice.message, d.choice.identity
    conversation_id = conversation_for(tx, campaign["id"], r.contact_id, m["inbox_id"], m["channel"], d.text, now,
                                    policy.reopen_after)
    choice = {"inbox_id": m["inbox_id"], "kind": m["channel"], "handle": identity["handle"]}
    # With a fallback after it, the message is valid only until its fallback goes (where the
    # provider takes a validity period: Twilio), so that a late delivery cannot make it twice.
    later = [k for k in (x["channel"] for x in campaign["messages"]) if k in r.identities and k not in tried
             and k != m["channel"]]
    minutes = campaign.get("fallback_minutes")
    payload = dict(d.payload or {})
    if minutes and later:
        payload["validity_seconds"] = max(60, minutes * 60 - campaigns.VALIDITY_MARGIN)
    message = write_outbound(tx, conversation_id, r.contact_id, choice, d.text, now, author_id=None,
                             payload=payload, automatic=AUTOMATIC)
    values: Dict = {"state": "queued", "kind": m["channel"], "message_id": message["id"],
                    "conversation_id": conversation_id, "detail": None, "updated_at": now,
                    "fallback_at": now + timedelta(minutes=minutes) if minutes and later else None}
    if not tried:
        values["sent_at"] = now
    tx.conn.execute(update(CAMPAIGN_RECIPIENTS).where(CAMPAIGN_RECIPIENTS.c.id == recipient_id).values(**values))


def conversation_for(tx: Tx, campaign_id: int | None, contact_id: int, inbox_id: int, kind: str, text: str,
                  now: datetime, reopen_after: timedelta) -> int:
    """The contact's conversation the message goes in: their latest, unless it was resolved
    longer ago than a customer's reply would reopen it; then a new one, resolved (it waits
    for nobody until the customer answers, which reopens it)."""
    conn = tx.conn
    c = CONVERSATIONS.c
    latest = conn.execute(select(c.id, c.status, c.resolved_at).where(c.contact_id == contact_id)
                          .order_by(c.id.desc()).limit(1)).first()
    if latest is not None and not (latest.status == ConversationStatus.resolved and (
            latest.resolved_at is None or as_utc(latest.resolved_at) < now - reopen_after)):
        return int(latest.id)
    progress, facts = metrics.created(metrics.Progress(0, status=ConversationStatus.resolved, inbox_id=inbox_id,
                                                       channel=kind), now)
    values: Dict = dict(contact_id=contact_id, status=ConversationStatus.resolved, unread_count=0,
                        last_message_at=now, last_message_preview=text[:200], last_message_direction=Direction.outbound,
                        last_inbound_inbox_id=inbox_id, channel=kind, resolved_at=now, priority=Priority.none,
                        created_at=now, updated_at=now, **progress.columns())
    conversation_id = int(conn.execute(insert(CONVERSATIONS).values(**values).returning(c.id)).scalar_one())
    reports.store(conn, [{**f, "conversation_id": conversation_id} for f in facts])
    _log(tx, conversation_id, "created", None, {"channel": kind, "inbox_id": inbox_id,
                                                **({"campaign_id": campaign_id} if campaign_id else {})}, now)
    conversation = queries.get_conversation(conn, conversation_id)
    assert conversation is not None
    tx.emit(CONVERSATION_CREATED, {"conversation": conversation}, conversation_scopes(None, None))
    return conversation_id


FALLBACK_BATCH = 100


def fall_back(tx: Tx, campaign_id: int, now: datetime, policy: Policy) -> int:
    """Recipients whose message failed, or was not delivered by its ``fallback_at``: sent
    again through the next channel they have and consent to (decided as any send is), or
    left as they are when none is left. How many were looked at."""
    conn = tx.conn
    campaign = _campaign(conn, campaign_id)
    rc = CAMPAIGN_RECIPIENTS.c
    rows = conn.execute(
        select(rc.id, rc.contact_id, rc.kind, rc.message_id, rc.attempts, rc.fallback_at, rc.conversation_id,
               MESSAGES.c.status, MESSAGES.c.error_message)
        .select_from(CAMPAIGN_RECIPIENTS.join(MESSAGES, MESSAGES.c.id == rc.message_id))
        .where(rc.campaign_id == campaign_id, rc.state == "queued", rc.fallback_at.is_not(None),
               or_(rc.fallback_at <= now, MESSAGES.c.status == DeliveryStatus.failed))
        .order_by(rc.fallback_at, rc.id).limit(FALLBACK_BATCH)).all()
    if not rows:
        return 0
    kinds = [m["channel"] for m in campaign["messages"]]
    facts = found.recipients(conn, [r.contact_id for r in rows], kinds, now,
                             windows=[k for k in kinds if k in policy.windows])
    fallback_zone_name, names = fallback_zone(conn, campaign["messages"][0]["inbox_id"]), _inbox_names(conn)
    for row in rows:
        if row.status in (DeliveryStatus.delivered, DeliveryStatus.read):
            conn.execute(update(CAMPAIGN_RECIPIENTS).where(rc.id == row.id).values(fallback_at=None, updated_at=now))
            continue
        failed = row.status == DeliveryStatus.failed
        why = (f"failed: {row.error_message}" if failed and row.error_message else "failed" if failed
               else f"not delivered within {campaign['fallback_minutes']} minutes")
        attempts = [*(row.attempts or []), {"kind": row.kind, "message_id": row.message_id, "why": why}]
        tried = [a["kind"] for a in attempts]
        r = facts.get(row.contact_id)
        d = decide(campaign, r, policy, now, fallback_zone_name, names, tried) if r is not None else None
        if d is None or d.choice is None or d.choice.message is None:  # nothing left to try (or held): as it is
            conn.execute(update(CAMPAIGN_RECIPIENTS).where(rc.id == row.id).values(
                fallback_at=None, updated_at=now, detail=d.detail if d is not None and d.skip else None))
            continue
        assert r is not None
        to = d.choice.message["channel"]
        if not failed:  # still to be retried: it goes no more
            withdraw_send(tx, row.message_id, f"{why}: sent by {to} instead", now)
        conn.execute(update(CAMPAIGN_RECIPIENTS).where(rc.id == row.id).values(attempts=attempts))
        _send(tx, campaign, row.id, r, d, policy, now, tried)
        _log(tx, row.conversation_id, "fallback", None, {"from": row.kind, "to": to, "why": why,
                                                         "message_id": row.message_id, "campaign_id": campaign_id}, now)
    return len(rows)


def fallback_words(attempts: Sequence[Mapping[str, Any]], kind: str | None, labels: Mapping[str, str]) -> str | None:
    """"via SMS after WhatsApp failed": how a recipient's message got there, for people."""
    if not attempts or kind is None:
        return None
    steps = ", then ".join(f"{labels.get(a['kind'], a['kind'])} {a['why'].split(':')[0]}" for a in attempts)
    return f"via {labels.get(kind, kind)} after {steps}"


def finish(tx: Tx, campaign_id: int, now: datetime) -> bool:
    """A sending campaign with every recipient planned, none pending and no fallback to
    come is done."""
    conn = tx.conn
    campaign = _campaign(conn, campaign_id)
    if campaign["status"] not in (Status.scheduled, Status.sending) or not campaign["planned"]:
        return False
    rc = CAMPAIGN_RECIPIENTS.c
    # Two reads of an index each (an OR of the two would read every recipient, each pass).
    for waiting in (rc.state == "pending", rc.fallback_at.is_not(None)):
        if conn.execute(select(rc.id).where(rc.campaign_id == campaign_id, waiting).limit(1)).first() is not None:
            return False
    conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(
        status=Status.done, finished_at=now, updated_at=now))
    conn.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id, CAMPAIGNS.c.started_at.is_(None))
                 .values(started_at=now))
    return True


def next_due(conn: Connection) -> datetime | None:
    """When the earliest pending recipient of an active campaign falls due, or a fallback."""
    rc = CAMPAIGN_RECIPIENTS.c
    campaigns_now = active(conn)
    times = [conn.execute(select(func.min(rc.due_at)).where(rc.campaign_id == c["id"], rc.state == "pending")
                          ).scalar() for c in campaigns_now]
    times += [conn.execute(select(func.min(rc.fallback_at)).where(rc.campaign_id == c["id"])).scalar()
              for c in campaigns_now if c["fallback_minutes"]]
    known = [as_utc(t) for t in times if t is not None]
    return min(known) if known else None


# -- what the API and pages call ----------------------------------------------------------

async def create(ctx: Context, viewer: Viewer, raw: Any, kinds: Iterable[str]) -> Dict:
    kinds = list(kinds)
    return await ctx.db.write(lambda tx: save(tx, raw, kinds, ctx.reply_windows, ctx.clock.now(),
                                              user_id=viewer.user_id))


async def change(ctx: Context, campaign_id: int, raw: Any, kinds: Iterable[str]) -> Dict:
    kinds = list(kinds)
    return await ctx.db.write(lambda tx: save(tx, raw, kinds, ctx.reply_windows, ctx.clock.now(),
                                              campaign_id=campaign_id))


async def act(ctx: Context, campaign_id: int, action: str) -> Dict:
    if action not in campaigns.MOVES:
        raise NotFound("no such action")
    done = await ctx.db.write(lambda tx: move(tx, campaign_id, action, ctx.clock.now()))
    ctx.wake_campaigns()
    return done


async def check_before(ctx: Context, campaign_id: int) -> Dict:
    """The preflight of a saved campaign, read on the thread pool."""
    campaign = await ctx.db.read(lambda c: found.get_campaign(c, campaign_id))
    if campaign is None:
        raise NotFound("no such campaign")
    policy = Policy.of(ctx, await approved_templates(ctx, campaign))
    now = ctx.clock.now()
    return await ctx.db.read(lambda c: preflight(c, campaign, policy, now))


def serialize_campaign(conn: Connection, campaign: Dict) -> Dict:
    """A campaign with its totals: what the API answers."""
    return {**campaign, "totals": found.totals(conn, campaign["id"])}

