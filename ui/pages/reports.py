"""The reports pages, for leads and admins (docs/ui.md, "Reports"; what each figure counts:
docs/metrics.md): /reports, a period's overview against the period before it, a breakdown
by channel, inbox, team, agent or label, a day-by-day chart and an hour-by-weekday heatmap;
and /reports/conversations, the facts behind any number on it (the drill-down), paged.

The figures are inbox.queries.reports' (the same as GET /api/reports/*), read directly.
One figure the query does not give is read here: the median first response of each local
day (``daily_first_response``). The charts are SVG drawn on the server with every
coordinate in percent, so they stretch to any width while their text stays its size; each
has its numbers as a table beside it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from inbox import queries
from inbox.domain.errors import Invalid
from inbox.domain.metrics import Kind
from inbox.queries import campaigns as campaign_reads
from inbox.queries import reports
from ui.pages.agent import _channels, _render, _to_login, _viewer
from ui.pages.sla import duration

DEFAULT_DAYS = 7
MAX_DAYS = 366
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
GROUP_LABELS = {"channel": "Channel", "inbox": "Inbox", "team": "Team", "agent": "Agent", "label": "Label"}
NONE_LABELS = {"channel": "No channel", "inbox": "No inbox", "team": "No team", "agent": "Nobody",
               "label": "No label"}
METRIC_LABELS = {
    "conversations_created": "Conversations created", "conversations_reopened": "Conversations reopened",
    "messages_in": "Messages in", "messages_out": "Messages out", "resolved": "Resolved",
    "first_response": "First responses", "reply": "Replies", "resolution": "Resolutions",
    "sla_met": "SLA targets met", "sla_missed": "SLA targets missed", "csat": "Satisfaction answers"}
TIMED = {"first_response": "First response", "reply": "Reply time", "resolution": "Resolution time"}


@functools.cache
def zones() -> list[str]:
    """The IANA zones a lead may choose: the regions' (Europe/Berlin), and UTC."""
    return ["UTC", *sorted(z for z in available_timezones()
                          if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")))]


@dataclass(frozen=True, slots=True)
class Chosen:
    """What the lead asked for, as the form holds it; ``period`` None when it is refused."""

    first: str
    last: str
    tz: str
    business: bool
    group: str
    period: reports.Period | None
    error: str | None

    def query(self, **change: Any) -> dict[str, str]:
        """The address's parameters of this choice, changed by ``change`` (None drops one)."""
        q: dict[str, Any] = {"from": self.first, "to": self.last, "tz": self.tz}
        if self.business:
            q["hours"] = "business"
        if self.group:
            q["group"] = self.group
        q.update(change)
        return {k: str(v) for k, v in q.items() if v not in (None, "")}

    def href(self, path: str = "/reports", **change: Any) -> str:
        return path + "?" + urlencode(self.query(**change))


def choose(params: Mapping[str, str], default_zone: str, now: datetime) -> Chosen:
    """The period, zone, clock and breakdown of the address; a bad one is refused in words."""
    tz = params.get("tz") or default_zone
    business = params.get("hours") == "business"
    group = params.get("group") or ""
    first, last = params.get("from") or "", params.get("to") or ""
    error = None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone, error = ZoneInfo("UTC"), f"“{tz}” is not a time zone: choose one from the list."
    today = now.astimezone(zone).date()
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        end, start = today, today - timedelta(days=DEFAULT_DAYS - 1)
        error = error or "The dates are not dates: choose them in the date fields."
    if group not in reports.GROUPS:
        group = ""
    if error is None and start > end:
        error = "The period starts after it ends: choose a From date before the To date."
    if error is None and (end - start).days >= MAX_DAYS:
        error = f"A period is at most {MAX_DAYS} days: choose a shorter one."
    period = reports.Period.of(start, end, zone) if error is None else None
    return Chosen(first or start.isoformat(), last or end.isoformat(), tz, business, group, period, error)


def default_zone(conn: Connection) -> str:
    """The zone of the first inbox with a calendar, else UTC (the browser's own zone takes
    over in ui/static/reports.js when the address names none)."""
    calendars = {c["id"]: c["timezone"] for c in queries.calendar_choices(conn)}
    for inbox in queries.list_inboxes(conn):
        if inbox.get("calendar_id") in calendars:
            return str(calendars[inbox["calendar_id"]])
    return "UTC"


def daily_first_response(conn: Connection, period: reports.Period, business: bool) -> dict[date, float]:
    """The median first response (seconds) of each local day of the period that had one: the
    one daily figure inbox.queries.reports' series does not hold."""
    return reports.daily_medians(conn, period, Kind.first_response, business)


# -- Figures in words, and how each moved ------------------------------------------------------

def percent(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    text = f"{ratio * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def count(n: int) -> str:
    return f"{n:,}".replace(",", " ") if n >= 10_000 else str(n)


def time_text(seconds: float | None) -> str:
    return "–" if seconds is None else duration(seconds)


def delta(now: float | None, before: float | None, kind: str, good: str | None) -> dict[str, Any]:
    """How a figure moved against the previous period: ``text`` ("+12%", "3 min"),
    ``direction`` (up, down, flat, none), ``tone`` (good, bad or neutral: ``good`` says
    which way is good, None for a volume) and the sentence a screen reader hears."""
    word = {"count": count, "time": time_text, "ratio": percent, "score": lambda v: f"{v:.2f}".rstrip("0").rstrip(".")}
    show: Callable[[Any], str] = word[kind]
    if now is None:  # nothing measured now: the card says so, no comparison
        return {"direction": "none", "tone": "neutral", "text": "", "was": "", "spoken": ""}
    if before is None:
        return {"direction": "none", "tone": "neutral", "text": "no earlier figure", "was": "",
                "spoken": "nothing to compare with in the previous period"}
    diff = now - before
    if abs(diff) < 1e-9 or (kind == "time" and abs(diff) < 60):
        return {"direction": "flat", "tone": "neutral", "text": "no change", "was": show(before),
                "spoken": f"the same as the previous period, {show(before)}"}
    direction = "up" if diff > 0 else "down"
    if kind == "count":
        text = f"{round(abs(diff) / before * 100)}%" if before else "new"
    elif kind == "time":
        text = duration(abs(diff))
    elif kind == "ratio":
        text = f"{abs(diff) * 100:.1f}".removesuffix(".0") + " pts"
    else:
        text = f"{abs(diff):.2f}".rstrip("0").rstrip(".")
    tone = "neutral" if good is None else "good" if direction == good else "bad"
    verdict = {"good": ", better", "bad": ", worse", "neutral": ""}[tone]
    return {"direction": direction, "tone": tone, "text": text, "was": show(before),
            "spoken": f"{direction} {text} from {show(before)} in the previous period{verdict}"}


def cards(now: Mapping[str, Any], before: Mapping[str, Any], drill: Callable[..., str]) -> dict[str, Any]:
    """The overview's cards: volume, times, SLA and satisfaction, each figure with its
    delta and the address of the facts behind it."""
    volume = [{"label": METRIC_LABELS[m] if m != "conversations_created" else "Conversations",
               "value": count(now[m]), "href": drill(metric=m), "metric": m,
               "delta": delta(now[m], before[m], "count", None)}
              for m in ("conversations_created", "messages_in", "messages_out", "resolved")]
    volume[0]["note"] = {"text": f"{now['conversations_reopened']} reopened",
                         "href": drill(metric="conversations_reopened")}
    times = []
    for metric, label in TIMED.items():
        fig, was = now[metric], before[metric]
        times.append({"label": label, "metric": metric, "href": drill(metric=metric),
                      "median": time_text(fig["median"]), "p90": time_text(fig["p90"]), "count": fig["count"],
                      "delta": delta(fig["median"], was["median"], "time", "down"),
                      "p90_delta": delta(fig["p90"], was["p90"], "time", "down")})
    sla, sla_was = now["sla"], before["sla"]
    csat, csat_was = now["csat"], before["csat"]
    most = max([*csat["distribution"].values(), 1])
    return {
        "volume": volume, "times": times,
        "sla": {"value": percent(sla["attainment"]), "met": sla["met"], "missed": sla["missed"],
                "met_href": drill(metric="sla_met"), "missed_href": drill(metric="sla_missed"),
                "delta": delta(sla["attainment"], sla_was["attainment"], "ratio", "up")},
        "csat": {"average": "–" if csat["average"] is None else f"{csat['average']:.2f}".rstrip("0").rstrip("."),
                 "satisfied": percent(csat["satisfied"]), "responses": csat["responses"], "href": drill(metric="csat"),
                 "delta": delta(csat["average"], csat_was["average"], "score", "up"),
                 "satisfied_delta": delta(csat["satisfied"], csat_was["satisfied"], "ratio", "up"),
                 "distribution": [{"score": s, "n": csat["distribution"][str(s)],
                                   "width": round(100 * csat["distribution"][str(s)] / most)}
                                  for s in range(5, 0, -1)]},
    }


def row(metrics: Mapping[str, Any], drill: Callable[..., str]) -> dict[str, Any]:
    """A breakdown row's cells (the total's too): each figure and where it drills to."""
    cells = [{"text": count(metrics[m]), "n": metrics[m], "href": drill(metric=m), "metric": m}
             for m in ("conversations_created", "messages_in", "messages_out", "resolved")]
    for metric in TIMED:
        fig = metrics[metric]
        cells.append({"text": time_text(fig["median"]), "n": fig["count"], "href": drill(metric=metric),
                      "metric": metric, "title": f"p90 {time_text(fig['p90'])}, {fig['count']} measured"})
    sla = metrics["sla"]
    cells.append({"text": percent(sla["attainment"]), "n": sla["met"] + sla["missed"], "href": drill(metric="sla_met"),
                  "metric": "sla_met", "title": f"{sla['met']} met, {sla['missed']} missed"})
    csat = metrics["csat"]
    cells.append({"text": "–" if csat["average"] is None else f"{csat['average']:.2f}".rstrip("0").rstrip("."),
                  "n": csat["responses"], "href": drill(metric="csat"), "metric": "csat",
                  "title": f"{csat['responses']} answers"})
    return {"cells": cells}


COLUMNS = ("Conversations", "Messages in", "Messages out", "Resolved", "First response (median)",
           "Reply (median)", "Resolution (median)", "SLA attainment", "CSAT")


def _ticks(top: float, timed: bool) -> tuple[float, list[tuple[float, str]]]:
    """A rounded top for the axis and three gridlines (value, label) under it."""
    if top <= 0:
        return 1.0, []
    steps = ([60, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400]
             if timed else [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000])
    step = next((s for s in steps if s * 3 >= top), None) or (top / 3)
    ceiling = step * 3
    return ceiling, [(step * i, duration(step * i) if timed else count(int(step * i))) for i in (1, 2, 3)]


SERIES = (("conversations_created", "Conversations"), ("messages_in", "Messages in"),
          ("messages_out", "Messages out"))


def volume_chart(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Grouped bars, per day, of the three volumes; coordinates in percent of the plot."""
    top, ticks = _ticks(max([d[m] for d in series for m, _ in SERIES] or [0]), timed=False)
    slot = 100 / max(len(series), 1)
    bar = slot * 0.8 / len(SERIES)
    bars = []
    for i, day in enumerate(series):
        for j, (metric, _) in enumerate(SERIES):
            height = 100 * day[metric] / top
            bars.append({"x": round(i * slot + slot * 0.1 + j * bar, 3), "w": round(bar * 0.9, 3),
                         "y": round(100 - height, 3), "h": round(height, 3), "series": j,
                         "title": f"{day['date']}: {day[metric]} {dict(SERIES)[metric].lower()}"})
    return {"bars": bars, "ticks": [(round(100 - 100 * v / top, 3), text) for v, text in ticks],
            "labels": _day_labels(series), "legend": [label for _, label in SERIES]}


def response_chart(series: list[dict[str, Any]], medians: Mapping[date, float]) -> dict[str, Any]:
    """The median first response of each day: a dot per day with one, joined by lines."""
    values = [medians.get(date.fromisoformat(d["date"])) for d in series]
    top, ticks = _ticks(max([v for v in values if v is not None] or [0]), timed=True)
    slot = 100 / max(len(series), 1)
    points = [{"x": round(i * slot + slot / 2, 3), "y": round(100 - 100 * v / top, 3),
               "title": f"{series[i]['date']}: {duration(v)}"} for i, v in enumerate(values) if v is not None]
    lines = [(a, b) for a, b in zip(points, points[1:], strict=False)]
    return {"points": points, "lines": lines, "ticks": [(round(100 - 100 * v / top, 3), t) for v, t in ticks],
            "labels": _day_labels(series), "empty": not points}


def _day_labels(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Under the bars: every day of a week, else every few days (a phone shows the one of
    each ``wide`` only: data-wide)."""
    every = 1 if len(series) <= 14 else 7 if len(series) <= 62 else 30
    slot = 100 / max(len(series), 1)
    out = []
    for i, d in enumerate(series):
        if i % every:
            continue
        day = date.fromisoformat(d["date"])
        text = f"{WEEKDAYS[day.weekday()]} {day.day}" if every == 1 else f"{day.day} {day:%b}"
        out.append({"x": round(i * slot + slot / 2, 3), "text": text,
                    "narrow": len(series) > 4 and (i // every) % 2 == 1})
    return out


def hour_text(weekday: int, hour: int) -> str:
    return f"{WEEKDAYS[weekday]} {hour:02d}:00–{hour:02d}:59"


def heatmap(grid: list[list[int]], drill: Callable[..., str]) -> dict[str, Any]:
    """The cells of the hour-by-weekday chart, each linked to its messages when it has any."""
    most = max([max(r) for r in grid] + [0])
    cells = [{"x": round(h * 100 / 24, 3), "y": round(d * 100 / 7, 3), "n": n,
              "level": 0 if not n else 1 + min(4, int(4 * n / most)) if most else 0,
              "title": f"{hour_text(d, h)}: {n} messages in",
              "href": drill(metric="messages_in", weekday=d, hour=h) if n else None}
             for d, r in enumerate(grid) for h, n in enumerate(r)]
    return {"cells": cells, "most": most, "w": round(100 / 24, 3), "h": round(100 / 7, 3)}


# -- The pages ------------------------------------------------------------------------------------

async def _lead(request: Request) -> Any:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    if not viewer.sees_all:
        return HTMLResponse("<p>Reports are for team leads and admins.</p>", status_code=403)
    return viewer


def _names(conn: Connection) -> dict[str, dict[Any, str]]:
    return {"agent": {u["id"]: u["name"] for u in queries.list_users(conn)},
            "inbox": {i["id"]: i["name"] for i in queries.list_inboxes(conn, include_deleted=True)},
            "team": {t["id"]: t["name"] for t in queries.list_teams(conn)}}


async def reports_page(request: Request) -> Response:
    """/reports: the overview, the breakdown (?group=), the charts and the CSV link."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx = request.app.state.ctx
    zone = await ctx.db.read(default_zone)
    chosen = choose(request.query_params, zone, ctx.clock.now())
    chosen = dataclasses.replace(chosen, group=chosen.group or "channel")  # a breakdown is always shown
    channels = _channels(request)
    listed = zones() if chosen.tz in zones() or chosen.error else [chosen.tz, *zones()]  # a zone typed in the address
    context: dict[str, Any] = {"viewer": viewer, "chosen": chosen, "zones": listed, "groups": GROUP_LABELS,
                               "columns": COLUMNS, "weekdays": WEEKDAYS, "channels": channels,
                               "tz_named": bool(request.query_params.get("tz"))}
    period = chosen.period
    if period is None:
        return _render(request, "reports.html", **context, report=None)

    def read(c: Connection) -> dict[str, Any]:
        return {"overview": reports.overview(c, period, group=chosen.group or None, business=chosen.business),
                "medians": daily_first_response(c, period, chosen.business),
                "calendar_zones": sorted({cal["timezone"] for cal in queries.calendar_choices(c)}),
                "campaigns": campaign_reads.started_between(c, period.start, period.end)}
    got = await ctx.db.read(read)
    overview = got["overview"]

    def drill(**q: Any) -> str:
        return chosen.href("/reports/conversations", group=None, **q)
    figures, before = overview["metrics"], overview["previous"]["metrics"]
    rows = []
    if chosen.group:
        for g in overview["groups"]:
            key = g["key"]
            name = (NONE_LABELS[chosen.group] if key is None else
                    channels[key].label if chosen.group == "channel" and key in channels else g["name"] or str(key))

            def by(key: Any = key, **q: Any) -> str:
                return chosen.href("/reports/conversations", group=chosen.group, key=key, **q)
            rows.append({"name": name, "none": key is None, **row(g["metrics"], by)})
    days = []
    for d in overview["series"]:
        day = date.fromisoformat(d["date"])
        median = got["medians"].get(day)

        def on(day: date = day, **q: Any) -> str:
            return chosen.href("/reports/conversations", group=None, **{"from": day.isoformat(), "to": day.isoformat()},
                               **q)
        days.append({**d, "label": f"{WEEKDAYS[day.weekday()]} {day.day} {day:%b}", "median": time_text(median),
                     "href": {m: on(metric=m) for m in ("conversations_created", "conversations_reopened",
                                                        "messages_in", "messages_out", "resolved", "first_response")}})
    empty = not any(figures[m] for m in ("conversations_created", "conversations_reopened", "messages_in",
                                         "messages_out", "resolved")) and not figures["sla"]["met"] + \
        figures["sla"]["missed"] and not figures["csat"]["responses"]
    context.update(
        report=overview, empty=empty, cards=cards(figures, before, drill), rows=rows,
        total=row(figures, drill), days=days, volume=volume_chart(overview["series"]),
        response=response_chart(overview["series"], got["medians"]), heat=heatmap(overview["heatmap"], drill),
        calendar_zones=[z for z in got["calendar_zones"] if z in set(zones())], campaigns=got["campaigns"],
        csv=chosen.href("/api/reports/cycles.csv", group=None),
        campaigns_csv=chosen.href("/api/reports/campaigns.csv", group=None, hours=None),
        period_text=_period_text(period), previous_text=_period_text(period.previous()))
    return _render(request, "reports.html", **context)


def _period_text(period: reports.Period) -> str:
    a, b = period.first, period.last
    if a == b:
        return f"{a.day} {a:%b %Y}"
    if a.year != b.year:
        return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"


def _value(item: Mapping[str, Any], metric: str, business: bool) -> str:
    if metric in TIMED:
        seconds = item["business_seconds"] if business else item["seconds"]
        return time_text(seconds)
    if metric == "csat":
        return f"{item['score']} of 5" if item["score"] is not None else "–"
    if metric in ("sla_met", "sla_missed"):
        kind, _, outcome = str(item["outcome"] or "").partition(":")
        return f"{kind.replace('_', ' ').capitalize()} {outcome}".strip()
    return {"automatic": "Automatic", "echo": "Sent from the provider's app", "customer": "",
            "agent": "", "created": "", "reopened": "Reopened"}.get(str(item["outcome"] or ""), "")


async def drill_page(request: Request) -> Response:
    """/reports/conversations: the facts behind one number (the metric, and with ``group``
    one group's ``key``; none: the facts with no value there), oldest first, a page at a
    time; with htmx (``after``), only the next rows."""
    viewer = await _lead(request)
    if isinstance(viewer, Response):
        return viewer
    ctx = request.app.state.ctx
    q = request.query_params
    zone = await ctx.db.read(default_zone)
    chosen = choose(q, zone, ctx.clock.now())
    metric = q.get("metric") or ""
    raw_key = q.get("key")
    key: Any = raw_key or None
    if chosen.group in ("inbox", "team", "agent", "label") and key is not None:
        key = int(key) if key.isdigit() and len(key) <= 18 else -1
    after_raw = q.get("after") or "0"
    after = int(after_raw) if after_raw.isdigit() and len(after_raw) <= 18 else 0
    period = chosen.period
    try:
        cell = reports.hour_of_week(q)
    except Invalid:
        cell, period = None, None
    if metric not in reports.METRICS or period is None:
        return _render(request, "reports_drill.html", viewer=viewer, chosen=chosen, drill=None,
                       error=chosen.error or "Choose a figure on the report to see what is behind it.",
                       back=chosen.href())

    def read(c: Connection) -> dict[str, Any]:
        return {"drill": reports.drill(c, period, metric, group=chosen.group or None, key=key, hour_of_week=cell,
                                       after=after),
                "names": _names(c), "labels": {label["id"]: label["name"] for label in queries.list_labels(c)}}
    got = await ctx.db.read(read)
    names, channels = got["names"], _channels(request)
    items = []
    for item in got["drill"]["items"]:
        at = datetime.fromisoformat(item["at"]).astimezone(period.zone)
        items.append({**item, "when": f"{at.day} {at:%b %Y, %H:%M}", "when_iso": item["at"],
                      "value": _value(item, metric, chosen.business),
                      "agent": names["agent"].get(item["agent_id"], "") if item["agent_id"] else "",
                      "inbox": names["inbox"].get(item["inbox_id"], "") if item["inbox_id"] else "",
                      "href": f"/inbox?tab=all&c={item['conversation_id']}"})
    whose = ""
    if chosen.group:
        group_names = {**names, "label": got["labels"], "channel": {k: c.label for k, c in channels.items()}}
        whose = (NONE_LABELS[chosen.group] if key is None else
                 group_names.get(chosen.group, {}).get(key, str(raw_key)))
        whose = f"{GROUP_LABELS[chosen.group]}: {whose}" if key is not None else whose
    if cell is not None:
        whose = ", ".join(filter(None, [whose, hour_text(*cell)]))
    at_cell = {"weekday": cell[0], "hour": cell[1]} if cell is not None else {}
    nxt = got["drill"]["next_after"]
    more = chosen.href("/reports/conversations", metric=metric, key=raw_key, after=nxt, **at_cell) if nxt else None
    context = {"viewer": viewer, "chosen": chosen, "drill": got["drill"], "items": items, "more": more,
               "metric": metric, "metric_label": METRIC_LABELS[metric], "whose": whose, "channels": channels,
               "timed": metric in TIMED, "period_text": _period_text(period),
               "back": chosen.href(), "error": None}
    if request.headers.get("hx-request") == "true" and after:
        return _render(request, "reports_drill.html#rows", **context)
    return _render(request, "reports_drill.html", **context)


routes = [
    Route("/reports", reports_page),
    Route("/reports/conversations", drill_page),
]
