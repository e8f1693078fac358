"""Campaigns (docs/campaigns.md): the campaigns, their audience, what the engine needs to
know of each recipient (identities, consent, recent marketing, reply windows), and the
results.

The engine reads recipients a batch at a time, each fact in one statement per batch: the
preflight of 100,000 recipients is a few hundred statements, not a few per recipient.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select

from inbox.domain import consent
from inbox.domain.campaigns import Skip
from inbox.domain.consent import Standing
from inbox.domain.models import DeliveryStatus
from inbox.domain.records import Dict
from inbox.domain.tables import (
    CAMPAIGN_RECIPIENTS,
    CAMPAIGNS,
    CONSENT,
    CONTACTS,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    IDENTITIES,
    MESSAGES,
)
from inbox.storage.prepared import as_utc

BATCH = 500  # contacts a statement asks about


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def campaign_dict(row: Any) -> Dict:
    return {"id": row.id, "name": row.name, "purpose": row.purpose, "status": row.status,
            "audience": row.audience or {}, "messages": row.messages or [], "schedule": row.schedule or {},
            "quiet_hours": row.quiet_hours, "fallback_minutes": row.fallback_minutes, "planned": bool(row.planned),
            "created_by": row.created_by,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "started_at": _iso(row.started_at), "finished_at": _iso(row.finished_at)}


def get_campaign(conn: Connection, campaign_id: int) -> Dict | None:
    row = conn.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)).first()
    return campaign_dict(row) if row is not None else None


def campaigns(conn: Connection, statuses: Sequence[str] | None = None) -> list[Dict]:
    """Newest first, each with its totals."""
    query = select(CAMPAIGNS).order_by(CAMPAIGNS.c.id.desc())
    if statuses:
        query = query.where(CAMPAIGNS.c.status.in_(list(statuses)))
    out = [campaign_dict(r) for r in conn.execute(query)]
    for c in out:
        c["totals"] = totals(conn, c["id"])
    return out


def started_between(conn: Connection, start: datetime, end: datetime) -> list[Dict]:
    """The campaigns that started in [start, end), first first, each with its totals: the
    reports page's campaigns (a campaign's figures are its recipients', whenever they went)."""
    rows = conn.execute(select(CAMPAIGNS).where(CAMPAIGNS.c.started_at >= start, CAMPAIGNS.c.started_at < end)
                        .order_by(CAMPAIGNS.c.started_at, CAMPAIGNS.c.id))
    return [{**campaign_dict(r), "totals": totals(conn, r.id)} for r in rows]


# -- the audience -------------------------------------------------------------------------

def audience_query(audience: Mapping[str, Any]) -> Any:
    """The contacts the audience describes (not merged away), as a selectable of ids."""
    c = CONTACTS.c
    query = select(c.id).where(c.merged_into_id.is_(None))
    if audience.get("labels"):
        query = query.where(exists().where(
            CONVERSATIONS.c.contact_id == c.id, CONVERSATION_LABELS.c.conversation_id == CONVERSATIONS.c.id,
            CONVERSATION_LABELS.c.label_id.in_(audience["labels"])))
    for key, value in (audience.get("attributes") or {}).items():
        column = c.attributes[key]
        if isinstance(value, bool):
            query = query.where(column.as_boolean() == value)
        elif isinstance(value, int | float):
            query = query.where(column.as_float() == float(value))
        else:
            query = query.where(column.as_string() == value)
    if audience.get("channels"):
        query = query.where(exists().where(IDENTITIES.c.contact_id == c.id,
                                           IDENTITIES.c.kind.in_(audience["channels"])))
    seen = []
    if audience.get("last_contact_after"):
        start = datetime.combine(date.fromisoformat(audience["last_contact_after"]), time(), timezone.utc)
        seen.append(IDENTITIES.c.last_seen_at >= start)
    if audience.get("last_contact_before"):
        end = datetime.combine(date.fromisoformat(audience["last_contact_before"]), time(), timezone.utc)
        seen.append(IDENTITIES.c.last_seen_at < end + timedelta(days=1))
    if seen:
        query = query.where(exists().where(IDENTITIES.c.contact_id == c.id, *seen))
    return query


def audience_page(conn: Connection, audience: Mapping[str, Any], after: int, limit: int) -> list[int]:
    """The next ``limit`` contact ids of the audience after ``after``, in id order."""
    query = audience_query(audience).where(CONTACTS.c.id > after).order_by(CONTACTS.c.id).limit(limit)
    return list(conn.execute(query).scalars())


# -- what the engine knows of a recipient -------------------------------------------------

@dataclass
class Recipient:
    contact_id: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    identities: dict[str, Dict] = field(default_factory=dict)  # kind -> its latest-seen identity
    standings: dict[tuple[str, str], Standing] = field(default_factory=dict)
    marketing_day: int = 0  # marketing messages in the last 24 hours, every campaign and channel
    marketing_week: int = 0
    last_inbound: dict[int, datetime] = field(default_factory=dict)  # identity id -> its last message in


def recipients(conn: Connection, contact_ids: Sequence[int], kinds: Iterable[str], now: datetime,
               *, windows: Iterable[str] = ()) -> dict[int, Recipient]:
    """What sending to each of these contacts depends on: their fields, their identities of
    the campaign's ``kinds``, their consent, their marketing messages of the last day and
    week, and, for the channel kinds with a reply window (``windows``), when they last wrote."""
    kinds, windows = list(kinds), set(windows)
    out: dict[int, Recipient] = {}
    for at in range(0, len(contact_ids), BATCH):
        ids = sorted(contact_ids[at:at + BATCH])
        wanted_ids = set(ids)

        def of(column: Any) -> Any:
            """The batch's rows: by a range of the index where the ids are dense (an audience
            of everyone, in id order), else by the list of ids."""
            if ids[-1] - ids[0] < 4 * len(ids):
                return column.between(ids[0], ids[-1])
            return column.in_(ids)
        for r in conn.execute(select(CONTACTS.c.id, CONTACTS.c.name, CONTACTS.c.email, CONTACTS.c.phone,
                                     CONTACTS.c.attributes).where(of(CONTACTS.c.id))):
            if r.id in wanted_ids:
                out[r.id] = Recipient(r.id, r.name, r.email, r.phone, r.attributes or {})
        for i in conn.execute(select(IDENTITIES.c.id, IDENTITIES.c.contact_id, IDENTITIES.c.kind,
                                     IDENTITIES.c.handle, IDENTITIES.c.opted_out, IDENTITIES.c.last_seen_at)
                              .where(of(IDENTITIES.c.contact_id), IDENTITIES.c.kind.in_(kinds))):
            if i.contact_id not in wanted_ids or i.contact_id not in out:
                continue
            held = out[i.contact_id].identities.get(i.kind)
            seen = as_utc(i.last_seen_at)
            if held is None or seen > held["last_seen_at"]:
                out[i.contact_id].identities[i.kind] = {"id": i.id, "kind": i.kind, "handle": i.handle,
                                                        "opted_out": bool(i.opted_out), "last_seen_at": seen}
        records: dict[int, list[Dict]] = defaultdict(list)
        for rec in conn.execute(select(CONSENT.c.id, CONSENT.c.contact_id, CONSENT.c.kind, CONSENT.c.purpose,
                                       CONSENT.c.state).where(of(CONSENT.c.contact_id), CONSENT.c.kind.in_(kinds))):
            if rec.contact_id in wanted_ids:
                records[rec.contact_id].append({"id": rec.id, "kind": rec.kind, "purpose": rec.purpose,
                                                "state": rec.state})
        for cid, lines in records.items():
            if cid in out:
                out[cid].standings = consent.standing(lines)
        rc = CAMPAIGN_RECIPIENTS.c
        day, week = now - timedelta(days=1), now - timedelta(days=7)
        for cid, sent_at in conn.execute(select(rc.contact_id, rc.sent_at).where(
                of(rc.contact_id), rc.marketing, rc.sent_at >= week)):
            if cid in wanted_ids and cid in out:
                out[cid].marketing_week += 1
                out[cid].marketing_day += as_utc(sent_at) >= day
        by_identity = {i["id"]: cid for cid in ids if cid in out
                       for kind, i in out[cid].identities.items() if kind in windows}
        if by_identity:
            for identity_id, last in conn.execute(
                    select(MESSAGES.c.identity_id, func.max(MESSAGES.c.created_at))
                    .where(MESSAGES.c.identity_id.in_(list(by_identity)), MESSAGES.c.direction == "in")
                    .group_by(MESSAGES.c.identity_id)):
                out[by_identity[identity_id]].last_inbound[identity_id] = as_utc(last)
    return out


# -- results ------------------------------------------------------------------------------

RESULTS = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped")


def _result(state: str, status: str | None) -> str:
    """A recipient's result: pending or skipped by its row; once queued, its message's
    status, which never moves backwards (inbox/actions/inbound.py)."""
    return state if state != "queued" or status is None else status


def totals(conn: Connection, campaign_id: int) -> Dict:
    """Recipients by result, skips by reason, replies and opt-outs since their message."""
    rc = CAMPAIGN_RECIPIENTS.c
    by: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    rows = conn.execute(select(rc.state, MESSAGES.c.status, rc.reason, func.count())
                        .select_from(CAMPAIGN_RECIPIENTS.outerjoin(MESSAGES, MESSAGES.c.id == rc.message_id))
                        .where(rc.campaign_id == campaign_id).group_by(rc.state, MESSAGES.c.status, rc.reason))
    for state, status, reason, n in rows:
        by[_result(state, status)] += n
        if reason:
            reasons[reason] += n
    # A reply or an opt-out counts for a recipient whose message did not fail: what answers
    # a message that never arrived answers something else.
    failed = MESSAGES.alias("failed")
    sent = and_(rc.campaign_id == campaign_id, rc.state == "queued", ~exists().where(
        failed.c.id == rc.message_id, failed.c.status == DeliveryStatus.failed))
    replied = conn.execute(select(func.count()).where(sent, exists().where(
        MESSAGES.c.conversation_id == rc.conversation_id, MESSAGES.c.direction == "in",
        MESSAGES.c.created_at > rc.sent_at))).scalar_one()
    opted_out = conn.execute(select(func.count()).where(sent, exists().where(
        CONSENT.c.contact_id == rc.contact_id, CONSENT.c.kind == rc.kind, CONSENT.c.state == "opt_out",
        CONSENT.c.at >= rc.sent_at))).scalar_one()
    by.update(recipients=sum(by.values()), replied=int(replied), opted_out=int(opted_out))
    return _shaped(by, reasons)


def summed(totals: Iterable[Dict]) -> Dict:
    """Campaigns' totals added up, in the shape of one campaign's: a report's total row."""
    by: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for t in totals:
        by.update({name: t[name] for name in (*RESULTS, "recipients", "replied", "opted_out")})
        reasons.update(t["skipped_by_reason"])
    return _shaped(by, reasons)


def _shaped(by: Counter[str], reasons: Counter[str]) -> Dict:
    """A campaign's totals as the API gives them, from the counts by name and skip reason."""
    return {**{name: by[name] for name in RESULTS}, "recipients": by["recipients"],
            "skipped_by_reason": dict(reasons), "replied": by["replied"], "opted_out": by["opted_out"]}


CAMPAIGN_COLUMNS = (
    "campaign_id", "name", "purpose", "status", "started_at", "finished_at", "recipients", *RESULTS,
    *(f"skipped_{reason}" for reason in Skip), "replied", "opted_out")


def report_row(campaign: Dict) -> Dict:
    """A campaign with its totals (``started_between``'s) as a CSV row of ``CAMPAIGN_COLUMNS``."""
    t = campaign["totals"]
    return {"campaign_id": campaign["id"], **{k: campaign[k] for k in ("name", "purpose", "status", "started_at",
                                                                      "finished_at")},
            **{k: t[k] for k in ("recipients", *RESULTS, "replied", "opted_out")},
            **{f"skipped_{reason}": t["skipped_by_reason"].get(reason, 0) for reason in Skip}}


def recipient_page(conn: Connection, campaign_id: int, *, result: str | None = None, after: int = 0,
                   limit: int = 100) -> list[Dict]:
    """The campaign's recipients in id order after ``after`` (``result``: only those)."""
    rc = CAMPAIGN_RECIPIENTS.c
    query = (select(rc.id, rc.contact_id, CONTACTS.c.name, rc.state, rc.reason, rc.detail, rc.due_at, rc.kind,
                    rc.message_id, rc.conversation_id, rc.sent_at, rc.attempts, MESSAGES.c.status,
                    MESSAGES.c.error_code, MESSAGES.c.error_message)
             .select_from(CAMPAIGN_RECIPIENTS.join(CONTACTS, CONTACTS.c.id == rc.contact_id)
                          .outerjoin(MESSAGES, MESSAGES.c.id == rc.message_id))
             .where(rc.campaign_id == campaign_id, rc.id > after).order_by(rc.id).limit(limit))
    if result in ("pending", "skipped"):
        query = query.where(rc.state == result)
    elif result == "queued":
        query = query.where(rc.state == "queued", MESSAGES.c.status == "queued")
    elif result is not None:
        query = query.where(rc.state == "queued", MESSAGES.c.status == result)
    return [{"id": r.id, "contact": {"id": r.contact_id, "name": r.name}, "result": _result(r.state, r.status),
             "reason": r.reason, "detail": r.detail or r.error_message, "error_code": r.error_code,
             "channel": r.kind, "due_at": _iso(r.due_at), "sent_at": _iso(r.sent_at), "message_id": r.message_id,
             "conversation_id": r.conversation_id, "attempts": r.attempts or []} for r in conn.execute(query)]
