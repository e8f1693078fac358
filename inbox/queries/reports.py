"""Report figures from the fact table (docs/metrics.md): a period's overview against the
period before it, its breakdown by channel, inbox, team, agent or label, a day-by-day
series and an hour-by-weekday heatmap of incoming messages in a chosen time zone, and the
facts behind any figure (the drill-down).

Every figure counts facts whose ``at`` falls in [start, end): a period's figures are final
once it is over. Counts are done by the database; times are read for the period's timed
facts only and their median and 90th percentile computed here (``statistics``, inclusive
method, as a spreadsheet's PERCENTILE.INC). The series and heatmap group facts by the
quarter hour in UTC in SQL and put each quarter into its local day and hour here, which is
exact for every zone (all offsets are whole quarters of an hour).
"""

from __future__ import annotations

import bisect
import functools
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, false, func, literal_column, or_, select

from inbox.domain import rollups
from inbox.domain.errors import Invalid
from inbox.domain.metrics import TIMED, Kind
from inbox.domain.tables import CONTACTS, CONVERSATION_LABELS, CONVERSATIONS, FACTS, INBOXES, LABELS, TEAMS, USERS
from inbox.domain.rollups import Acc
from inbox.queries import rollups as rollup_q
from inbox.storage.prepared import Prepared, as_utc

GROUPS = ("channel", "inbox", "team", "agent", "label")
METRICS = ("conversations_created", "conversations_reopened", "messages_in", "messages_out", "resolved",
           "first_response", "reply", "resolution", "sla_met", "sla_missed", "csat")
QUARTER = 900
DRILL_PAGE = 100


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    zone: ZoneInfo
    first: date
    last: date

    @classmethod
    def of(cls, first: date, last: date, zone: ZoneInfo) -> Period:
        start = datetime.combine(first, datetime.min.time(), zone).astimezone(timezone.utc)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(timezone.utc)
        return cls(start, end, zone, first, last)

    def previous(self) -> Period:
        days = (self.last - self.first).days + 1
        return Period.of(self.first - timedelta(days=days), self.first - timedelta(days=1), self.zone)


# What each metric counts: (fact kind, outcome or None for any).
_COUNTED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "conversations_created": (Kind.cycle, ("created",)), "conversations_reopened": (Kind.cycle, ("reopened",)),
    "messages_in": (Kind.message_in, None), "messages_out": (Kind.message_out, None),
    "resolved": (Kind.resolution, None), "first_response": (Kind.first_response, None),
    "reply": (Kind.reply, None), "resolution": (Kind.resolution, None), "csat": (Kind.csat, None),
}
_GROUP_COLUMN = {"channel": FACTS.c.channel, "inbox": FACTS.c.inbox_id, "team": FACTS.c.team_id,
                 "agent": FACTS.c.agent_id, "label": CONVERSATION_LABELS.c.label_id}


def _where(period: Period, kinds: Iterable[str]) -> Any:
    return and_(FACTS.c.kind.in_(list(kinds)), FACTS.c.at >= period.start, FACTS.c.at < period.end)


# -- the overview: rollups, and the facts they do not hold -----------------------------------
#
# A period is read as the rollup rows of the whole buckets inside it (hours, days and blocks
# of days for the total; days and blocks for a group: inbox/domain/rollups.py ``cover``), and
# the facts no row read holds, folded here the same way: those at the edges (a group's first
# and last partial UTC days; the total's partial hours) and every one above the worker's mark.
# So counts are exact, and current, whatever the worker's lag. The medians and 90th
# percentiles are read from the histograms (within 0.5%), unless the period has at most
# EXACT_VALUES of that time figure: then from its values, exactly.

_LABEL = CONVERSATION_LABELS.c.label_id
EXACT_VALUES = 5000


def _in_period(*columns: Any, label: bool = False) -> Any:
    query = select(*columns).where(FACTS.c.kind == bindparam("kind"), FACTS.c.at >= bindparam("start"),
                                   FACTS.c.at < bindparam("end"))
    if label:
        query = query.select_from(FACTS.outerjoin(CONVERSATION_LABELS,
                                                  CONVERSATION_LABELS.c.conversation_id == FACTS.c.conversation_id))
    return query


@functools.cache
def _values(column: str, group: str | None) -> Prepared:
    """(value,) of a kind's facts in the period; with a group (key, value)."""
    value = FACTS.c[column]
    return Prepared(_in_period(value) if group is None
                    else _in_period(_GROUP_COLUMN[group], value, label=group == "label"))


def _bound(period: Period, kind: str) -> dict[str, Any]:
    return {"kind": kind, "start": period.start, "end": period.end}


@dataclass(slots=True)
class _Figures:
    """One group's (or the total's) figures: by figure name, and the exact values of the
    time figures read exactly."""

    folded: dict[str, Acc]
    exact: dict[str, list[float]]


def _key(group: str | None, text: str) -> Any:
    if group is None or text == "":
        return None
    return text if group == "channel" else int(text)


def _figures(conn: Connection, period: Period, group: str | None, business: bool, mark: int,
             name: str | None = None) -> dict[Any, _Figures]:
    """Each group's figures (key None without a group); with ``name`` that one's count only."""
    lo, hi = rollup_q.epoch(period.start), rollup_q.epoch(period.end)
    runs, edges = rollups.cover(lo, hi, (rollups.HOUR, *rollups.GROUP_WIDTHS) if group is None
                                else rollups.GROUP_WIDTHS)
    folded: dict[tuple[str, str], Acc] = {}
    for key, figure, _, _, acc in rollup_q.rows(conn, group or "", runs, business,
                                                names=None if name is None else [name], values=name is None):
        found = folded.get((key, figure))
        if found is None:
            folded[(key, figure)] = acc
        else:
            found.merge(acc)
    raw = rollup_q.facts(conn, *rollup_q.outside(mark, period.start, period.end, edges), label=group == "label")
    if group is None or group == "label":
        rollups.fold_flat(folded, raw)
    else:
        rollups.fold_flat(folded, ((f.key(group), f) for _, f in raw))
    out: dict[Any, _Figures] = {}
    for (key, figure), acc in folded.items():
        out.setdefault(_key(group, key), _Figures({}, {})).folded[figure] = acc
    if name is not None:
        return out
    seconds = "business_seconds" if business else "seconds"
    for kind in TIMED:
        if 0 < sum(f.folded[kind].n for f in out.values() if kind in f.folded) <= EXACT_VALUES:
            for row in _values(seconds, group).all(conn, _bound(period, kind)):
                out.setdefault(row[0] if group is not None else None, _Figures({}, {})).exact.setdefault(
                    kind, []).append(row[-1])
    return out


def _shape(f: _Figures, business: bool) -> dict[str, Any]:
    def n(name: str) -> int:
        return f.folded[name].n if name in f.folded else 0

    def times(kind: str) -> dict[str, Any]:
        if kind in f.exact:
            return _times(f.exact[kind])
        acc = f.folded.get(kind)
        if acc is None or not acc.n:
            return _times([])
        hist = acc.bhist if business else acc.hist
        median, p90 = rollups.percentile(hist, 0.5), rollups.percentile(hist, 0.9)
        return {"count": acc.n, "median": round(median, 1) if median is not None else None,
                "p90": round(p90, 1) if p90 is not None else None}

    met, missed = n("sla_met"), n("sla_missed")
    csat = f.folded.get("csat") or Acc()
    scores = {str(s): csat.hist.get(str(s), 0) for s in range(1, 6)}
    return {
        **{name: n(name) for name in ("conversations_created", "conversations_reopened", "messages_in",
                                       "messages_out")},
        "resolved": n("resolution"),
        "first_response": times(Kind.first_response), "reply": times(Kind.reply),
        "resolution": times(Kind.resolution),
        "sla": {"met": met, "missed": missed, "attainment": round(met / (met + missed), 4) if met + missed else None},
        "csat": {"responses": csat.n, "average": round(csat.total / csat.n, 2) if csat.n else None,
                 "satisfied": round((scores["4"] + scores["5"]) / csat.n, 4) if csat.n else None,
                 "distribution": scores},
    }


def _times(values: list[float]) -> dict[str, Any]:
    """Count, median and 90th percentile (inclusive, as PERCENTILE.INC) in seconds."""
    if not values:
        return {"count": 0, "median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[0] if len(ordered) == 1 else statistics.quantiles(ordered, n=10, method="inclusive")[8]
    return {"count": len(ordered), "median": round(statistics.median(ordered), 1), "p90": round(p90, 1)}


EMPTY: dict[str, Any] = {
    "conversations_created": 0, "conversations_reopened": 0, "messages_in": 0, "messages_out": 0, "resolved": 0,
    "first_response": _times([]), "reply": _times([]), "resolution": _times([]),
    "sla": {"met": 0, "missed": 0, "attainment": None},
    "csat": {"responses": 0, "average": None, "satisfied": None, "distribution": {str(s): 0 for s in range(1, 6)}}}


def _names(conn: Connection, group: str, keys: Iterable[Any]) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    table = {"inbox": INBOXES, "team": TEAMS, "agent": USERS, "label": LABELS}.get(group)
    if table is None or not ids:
        return {k: str(k) for k in ids}
    return {row.id: row.name for row in conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(ids)))}


@functools.lru_cache(maxsize=64)
def _hours(period: Period) -> tuple[tuple[datetime, ...], tuple[tuple[date, int, int], ...]]:
    """The period's local hours: when each starts (UTC; each ends where the next starts, the
    last at the period's end) and its (local day, weekday, hour). Taken a quarter hour at a
    time, so exact in every zone (offsets are whole quarters of an hour)."""
    starts: list[datetime] = []
    local_hours: list[tuple[date, int, int]] = []
    at, step = period.start, timedelta(seconds=QUARTER)
    while at < period.end:
        local = at.astimezone(period.zone)
        here = (local.date(), local.weekday(), local.hour)
        if not local_hours or local_hours[-1] != here:
            starts.append(at)
            local_hours.append(here)
        at += step
    return tuple(starts), tuple(local_hours)


@functools.lru_cache(maxsize=64)
def _day_starts(period: Period) -> tuple[datetime, ...]:
    return tuple(Period.of(period.first + timedelta(days=i), period.first + timedelta(days=i), period.zone).start
                 for i in range((period.last - period.first).days + 1))


@functools.lru_cache(maxsize=64)
def _local(period: Period) -> tuple[list[int], tuple[tuple[date, int, int], ...], int]:
    """The period's local hours as ``_hours`` gives them (their starts in epoch seconds), and
    the width of the total's rows that each is a union of: an hour, or a quarter hour in a
    zone whose hours are not UTC's."""
    starts, local_hours = _hours(period)
    epochs = [rollup_q.epoch(s) for s in starts]
    aligned = all(e % rollups.HOUR == 0 for e in (*epochs, rollup_q.epoch(period.end)))
    return epochs, local_hours, rollups.HOUR if aligned else rollups.QUARTER


def daily_medians(conn: Connection, period: Period, kind: str, business: bool) -> dict[date, float]:
    """The median of a time figure on each local day of the period that had one: from the
    total's hour rows' histograms (within 0.5%), or from the values when the period holds at
    most EXACT_VALUES of them. (In a zone whose hours are not UTC's, all from the facts.)"""
    _one_snapshot(conn)
    mark = rollup_q.upto(conn)
    epochs, local_hours, width = _local(period)
    runs, edges = rollups.cover(rollup_q.epoch(period.start), rollup_q.epoch(period.end), (width,))
    days: dict[date, Acc] = {}
    if width != rollups.HOUR:  # (quarter hours hold the series' figures alone)
        runs, edges = [], [(rollup_q.epoch(period.start), rollup_q.epoch(period.end))]

    def day(at: int) -> Acc:
        return days.setdefault(local_hours[bisect.bisect_right(epochs, at) - 1][0], Acc())
    for _, _, _, start, acc in rollup_q.rows(conn, "", runs, business, [kind]):
        day(start).merge(acc)
    for _, f in rollup_q.facts(conn, FACTS.c.kind == kind, *rollup_q.outside(mark, period.start, period.end, edges)):
        rollups.add(day(f.at), kind, f.seconds, f.business, f.score)
    if sum(acc.n for acc in days.values()) > EXACT_VALUES:
        medians = {d: rollups.percentile(acc.bhist if business else acc.hist, 0.5) for d, acc in days.items()}
        return {d: m for d, m in medians.items() if m is not None}
    seconds = "business_seconds" if business else "seconds"
    exact: dict[date, list[float]] = {}
    for at, value in conn.execute(select(FACTS.c.at, FACTS.c[seconds]).where(
            FACTS.c.kind == kind, FACTS.c.at >= period.start, FACTS.c.at < period.end)):
        if value is not None:
            exact.setdefault(as_utc(at).astimezone(period.zone).date(), []).append(float(value))
    return {d: statistics.median(values) for d, values in exact.items()}


_SERIES_NAMES = rollups.SERIES


def _series(conn: Connection, period: Period, days: list[date], mark: int
            ) -> tuple[dict[date, Counter[str]], list[list[int]]]:
    """The counts of each local day, and incoming messages by local weekday and hour: from
    the total's hour rows (quarter hours in a zone whose hours are not UTC's), and the facts
    above the mark."""
    series: dict[date, Counter[str]] = {d: Counter() for d in days}
    heatmap = [[0] * 24 for _ in range(7)]
    epochs, local_hours, width = _local(period)
    lo, hi = rollup_q.epoch(period.start), rollup_q.epoch(period.end)

    def put(at: int, name: str, n: int) -> None:
        day, weekday, hour = local_hours[bisect.bisect_right(epochs, at) - 1]
        series[day]["resolved" if name == "resolution" else name] += n
        if name == "messages_in":
            heatmap[weekday][hour] += n

    runs, edges = rollups.cover(lo, hi, (width,))
    hourly: tuple[str, ...] = _SERIES_NAMES
    if all(rollup_q.epoch(s) % rollups.DAY == 0 for s in (*_day_starts(period), period.end)):
        # Local days are UTC's (UTC, or a zone at UTC's time all period): the day rows, but
        # for the heatmap's messages.
        hourly = ("messages_in",)
        days_runs, _ = rollups.cover(lo, hi, (rollups.DAY,))
        daily = [n for n in _SERIES_NAMES if n not in hourly]
        for _, name, _, start, acc in rollup_q.rows(conn, "", days_runs, False, daily, values=False):
            put(start, name, acc.n)
    for _, name, _, start, acc in rollup_q.rows(conn, "", runs, False, hourly, values=False):
        put(start, name, acc.n)
    for _, f in rollup_q.facts(conn, *rollup_q.outside(mark, period.start, period.end, edges)):
        name = rollups.name_of(f.kind, f.outcome)
        if name in _SERIES_NAMES:
            put(f.at, name, 1)
    return series, heatmap


_SERIES = ("conversations_created", "conversations_reopened", "messages_in", "messages_out", "resolved")


def overview(conn: Connection, period: Period, *, group: str | None = None, business: bool = False) -> dict[str, Any]:
    """The period's figures against the previous period's, a series by local day, the
    heatmap of incoming messages (weekday 0 = Monday, by local hour), and with ``group``
    the same figures for each group."""
    _one_snapshot(conn)
    mark = rollup_q.upto(conn)
    days = [period.first + timedelta(days=i) for i in range((period.last - period.first).days + 1)]
    series, heatmap = _series(conn, period, days, mark)
    # The period's figures: a group's add up to the total (each fact is in one), except by
    # label (a fact of a conversation with two labels counts under both).
    total = _figures(conn, period, None, business, mark).get(None, _Figures({}, {}))
    groups = _figures(conn, period, group, business, mark) if group is not None else {}
    before = _figures(conn, period.previous(), None, business, mark).get(None, _Figures({}, {}))
    metrics = _shape(total, business) if _any(total) else EMPTY
    answer: dict[str, Any] = {
        "from": period.first.isoformat(), "to": period.last.isoformat(), "tz": period.zone.key,
        "hours": "business" if business else "calendar",
        "start": period.start.isoformat(), "end": period.end.isoformat(),
        "previous": {"from": period.previous().first.isoformat(), "to": period.previous().last.isoformat(),
                     "metrics": _shape(before, business) if _any(before) else EMPTY},
        "metrics": metrics,
        "series": [{"date": d.isoformat(), **{k: series[d][k] for k in _SERIES}} for d in days],
        "heatmap": heatmap,
    }
    if group is not None:
        rows = {key: _shape(t, business) for key, t in groups.items() if _any(t)}
        names = _names(conn, group, rows)
        answer["group"] = group
        answer["groups"] = sorted(
            ({"key": key, "name": names.get(key, str(key)) if key is not None else None, "metrics": figures}
             for key, figures in rows.items()), key=lambda g: (g["key"] is None, str(g["name"] or "")))
    return answer


def _one_snapshot(conn: Connection) -> None:
    """One snapshot for the mark, the rollups and the facts (SQLite's read transaction is
    one already): a fold committing between two reads would otherwise count twice."""
    if conn.dialect.name == "postgresql" and not conn.in_transaction():
        conn.execution_options(isolation_level="REPEATABLE READ")


def _any(t: _Figures) -> bool:
    return any(acc.n for acc in t.folded.values())


def _hour_of_week(period: Period, weekday: int, hour: int) -> Any:
    """The facts of the period at one local weekday and hour (a heatmap's cell): its ranges."""
    starts, local_hours = _hours(period)
    ends = (*starts[1:], period.end)
    ranges = [and_(FACTS.c.at >= lo, FACTS.c.at < hi)
              for lo, hi, (_, wd, h) in zip(starts, ends, local_hours) if (wd, h) == (weekday, hour)]
    return or_(*ranges) if ranges else false()


def hour_of_week(q: Mapping[str, str]) -> tuple[int, int] | None:
    """A heatmap cell asked for: ``weekday`` (0 = Monday) and ``hour`` (local, 0-23), both or
    neither; refused with the reason otherwise."""
    weekday, hour = q.get("weekday"), q.get("hour")
    if weekday is None and hour is None:
        return None
    if weekday not in {str(d) for d in range(7)} or hour not in {str(h) for h in range(24)}:
        raise Invalid("weekday and hour: together, 0-6 (0 = Monday) and 0-23", "invalid_hour")
    return int(weekday), int(hour)

def drill(conn: Connection, period: Period, metric: str, *, group: str | None = None, key: Any = None,
          hour_of_week: tuple[int, int] | None = None, after: int = 0, limit: int = DRILL_PAGE) -> dict[str, Any]:
    """The facts behind one figure (``metric``, and with ``group`` one group's ``key``; key
    None: the facts with no value there; with ``hour_of_week`` (weekday 0 = Monday, local
    hour) a heatmap cell's), oldest first, ``limit`` a page after fact id ``after``: each with
    its conversation, cycle, time and value. ``total`` is the figure."""
    kinds, outcomes = ((Kind.sla, None) if metric in ("sla_met", "sla_missed") else _COUNTED[metric])
    by_label = group == "label" and key is not None
    if by_label and conn.dialect.name == "sqlite":
        # The label's conversations' facts (an index on the conversation), not every fact of
        # the kind in the period each looked up in the labels: "+kind" keeps SQLite off the
        # kind's index, which it prefers otherwise.
        where = [literal_column("+report_fact.kind") == kinds, FACTS.c.at >= period.start, FACTS.c.at < period.end]
    else:
        where = [_where(period, [kinds])]
    if hour_of_week is not None:
        where.append(_hour_of_week(period, *hour_of_week))
    if outcomes is not None:
        where.append(FACTS.c.outcome.in_(outcomes))
    if metric in ("sla_met", "sla_missed"):
        where.append(FACTS.c.outcome.like("%:met" if metric == "sla_met" else "%:missed"))
    source: Any = FACTS
    if group is not None:
        column = _GROUP_COLUMN[group]
        if by_label:
            where.append(FACTS.c.conversation_id.in_(select(CONVERSATION_LABELS.c.conversation_id)
                                                     .where(CONVERSATION_LABELS.c.label_id == key)))
        elif group == "label":
            source = FACTS.outerjoin(CONVERSATION_LABELS, CONVERSATION_LABELS.c.conversation_id
                                     == FACTS.c.conversation_id)
            where.append(column.is_(None))
        else:
            where.append(column.is_(None) if key is None else column == key)
    if hour_of_week is None:  # the figure as the overview counts it: from the rollups
        _one_snapshot(conn)
        name = "resolution" if metric == "resolved" else metric
        figures = _figures(conn, period, group, False, rollup_q.upto(conn), name)
        match = next((f for k, f in figures.items() if (k is None) == (key is None) and str(k) == str(key)), None)
        total = match.folded[name].n if match is not None and name in match.folded else 0
    else:
        total = conn.execute(select(func.count()).select_from(source).where(*where)).scalar_one()
    # The page's ids first, from the index (which holds the id on SQLite, as the rowid), then
    # those facts with their contacts: joined first, every fact of the period would be visited.
    page = list(conn.execute(select(FACTS.c.id).select_from(source).where(*where, FACTS.c.id > after)
                             .order_by(FACTS.c.id).limit(limit)).scalars())
    rows = conn.execute(
        select(FACTS.c.id, FACTS.c.conversation_id, FACTS.c.cycle, FACTS.c.at, FACTS.c.seconds,
               FACTS.c.business_seconds, FACTS.c.agent_id, FACTS.c.team_id, FACTS.c.inbox_id, FACTS.c.channel,
               FACTS.c.outcome, FACTS.c.score, CONTACTS.c.name.label("contact_name"))
        .select_from(FACTS.join(CONVERSATIONS, CONVERSATIONS.c.id == FACTS.c.conversation_id)
                     .join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id))
        .where(FACTS.c.id.in_(page)).order_by(FACTS.c.id)).all() if page else []
    items = [{"fact_id": r.id, "conversation_id": r.conversation_id, "cycle": r.cycle,
              "at": as_utc(r.at).isoformat(), "seconds": r.seconds, "business_seconds": r.business_seconds,
              "agent_id": r.agent_id, "team_id": r.team_id, "inbox_id": r.inbox_id, "channel": r.channel,
              "outcome": r.outcome, "score": r.score, "contact_name": r.contact_name} for r in rows]
    return {"metric": metric, "total": total, "items": items,
            "next_after": items[-1]["fact_id"] if len(items) == limit else None}


CYCLE_COLUMNS = (
    "conversation_id", "cycle", "contact_name", "began", "began_at", "channel", "inbox_id", "team_id", "agent_id",
    "messages_in", "messages_out", "first_response_seconds", "first_response_business_seconds",
    "first_response_agent_id", "replies", "reply_seconds_total", "reply_business_seconds_total",
    "resolved_at", "resolution_seconds", "resolution_business_seconds", "resolution_agent_id",
    "sla_met", "sla_missed", "csat_score", "calendar_id", "calendar_version")


_CYCLE_FACTS = Prepared(
    select(FACTS.c.conversation_id, FACTS.c.cycle, FACTS.c.kind, FACTS.c.at, FACTS.c.channel, FACTS.c.inbox_id,
           FACTS.c.team_id, FACTS.c.agent_id, FACTS.c.seconds, FACTS.c.business_seconds, FACTS.c.outcome,
           FACTS.c.score, FACTS.c.calendar_id, FACTS.c.calendar_version)
    .where(FACTS.c.at >= bindparam("start"), FACTS.c.at < bindparam("end")).order_by(FACTS.c.id))
_NAMES_BATCH = 5000


def cycles(conn: Connection, period: Period) -> list[dict[str, Any]]:
    """One row per conversation cycle with a fact in the period, with each metric of its facts
    in the period (so a column's rows add up to the overview's figure), by conversation and
    cycle. The dimensions are those of its latest fact in the period."""
    # Facts in the order they were written (a scan, not a sort of the period's facts); the
    # contacts' names afterwards, once per conversation.
    out: dict[tuple[int, int], dict[str, Any]] = {}
    cursor = _CYCLE_FACTS.execute(conn, {"start": period.start, "end": period.end})
    for (conversation_id, cycle, kind, at, channel, inbox_id, team_id, agent_id, seconds, business_seconds,
         outcome, score, calendar_id, calendar_version) in cursor:
        row = out.get((conversation_id, cycle))
        if row is None:
            row = out[(conversation_id, cycle)] = {c: None for c in CYCLE_COLUMNS} | {
                "conversation_id": conversation_id, "cycle": cycle,
                "messages_in": 0, "messages_out": 0, "replies": 0, "reply_seconds_total": 0.0,
                "reply_business_seconds_total": 0.0, "sla_met": 0, "sla_missed": 0}
        row["channel"], row["inbox_id"], row["team_id"] = channel, inbox_id, team_id
        if kind == Kind.message_in:
            row["messages_in"] += 1
        elif kind == Kind.message_out:
            row["messages_out"] += 1
        elif kind == Kind.reply:
            row["replies"] += 1
            row["reply_seconds_total"] += seconds
            row["reply_business_seconds_total"] += business_seconds
        elif kind == Kind.cycle:
            row.update(began=outcome, began_at=as_utc(at).isoformat())
        elif kind == Kind.first_response:
            row.update(first_response_seconds=seconds, first_response_business_seconds=business_seconds,
                       first_response_agent_id=agent_id)
        elif kind == Kind.resolution:
            row.update(resolved_at=as_utc(at).isoformat(), resolution_seconds=seconds,
                       resolution_business_seconds=business_seconds, resolution_agent_id=agent_id,
                       agent_id=agent_id)
        elif kind == Kind.sla:
            row["sla_met" if str(outcome).endswith(":met") else "sla_missed"] += 1
        elif kind == Kind.csat:
            row["csat_score"] = score
        if calendar_id is not None and kind in TIMED:
            row["calendar_id"], row["calendar_version"] = calendar_id, calendar_version
        if agent_id is not None and kind != Kind.resolution and row["resolution_agent_id"] is None:
            row["agent_id"] = agent_id
    ids = sorted({cid for cid, _ in out})
    names: dict[int, str | None] = {}
    for i in range(0, len(ids), _NAMES_BATCH):
        names.update((cid, name) for cid, name in conn.execute(
            select(CONVERSATIONS.c.id, CONTACTS.c.name)
            .select_from(CONVERSATIONS.join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id))
            .where(CONVERSATIONS.c.id.in_(ids[i:i + _NAMES_BATCH]))))
    for (cid, _), row in out.items():
        row["contact_name"] = names.get(cid)
    return [out[key] for key in sorted(out) if key[0] in names]
