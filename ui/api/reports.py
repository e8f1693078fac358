"""/api/reports: the figures leads and admins read (docs/api.md, "Reports"; the definitions
in docs/metrics.md): the overview of a period, its breakdowns, the facts behind a figure,
one CSV row per conversation cycle, and the campaigns started in the period (as JSON and a
CSV row each)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid
from inbox.domain.models import Role
from inbox.queries import campaigns as campaign_reads
from inbox.queries import csat as surveys
from inbox.queries import reports
from ui.api.openapi import takes
from ui.auth import requires
from ui.http import ctx_of

MAX_DAYS = 366
_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_DAYS: dict[str, dict[str, Any]] = {"from": _DATE, "to": _DATE, "tz": {"type": "string"}}
_PERIOD: dict[str, dict[str, Any]] = {**_DAYS, "hours": {"enum": ["calendar", "business"]}}
_GROUP: dict[str, dict[str, Any]] = {"group": {"enum": list(reports.GROUPS)}}


def period(request: Request) -> reports.Period:
    """The period asked (``from`` and ``to``, days included, in ``tz``); default the last 30
    days to today in UTC. 400 with the reason for a bad date, zone or order."""
    q = request.query_params
    try:
        zone = ZoneInfo(q.get("tz") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("tz: not a time zone (an IANA name such as Europe/Berlin)", "invalid_period") from None
    today = ctx_of(request).clock.now().astimezone(zone).date()
    try:
        last = date.fromisoformat(q["to"]) if q.get("to") else today
        first = date.fromisoformat(q["from"]) if q.get("from") else last - timedelta(days=29)
    except ValueError:
        raise Invalid("from, to: dates as YYYY-MM-DD", "invalid_period") from None
    if first > last:
        raise Invalid("from is after to", "invalid_period")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"a period is at most {MAX_DAYS} days", "invalid_period")
    return reports.Period.of(first, last, zone)


def _group(request: Request) -> str | None:
    group = request.query_params.get("group") or None
    if group is not None and group not in reports.GROUPS:
        raise Invalid(f"group: one of {', '.join(reports.GROUPS)}", "invalid_group")
    return group


@takes(query={**_PERIOD, **_GROUP})
@requires(Role.lead)
async def overview(request: Request, viewer: Viewer) -> Response:
    """The period's figures against the previous period, by day, the heatmap, and per group."""
    chosen, group = period(request), _group(request)
    business = request.query_params.get("hours") == "business"
    return JSONResponse(await ctx_of(request).db.read(
        lambda conn: reports.overview(conn, chosen, group=group, business=business)))


@takes(query={**_PERIOD, **_GROUP, "metric": {"enum": list(reports.METRICS)},
              "key": {"type": "string"}, "weekday": {"type": "integer", "minimum": 0, "maximum": 6},
              "hour": {"type": "integer", "minimum": 0, "maximum": 23},
              "after": {"type": "integer", "minimum": 0}})
@requires(Role.lead)
async def conversations(request: Request, viewer: Viewer) -> Response:
    """The facts behind one figure, with their conversations; ``total`` is the figure."""
    chosen, group = period(request), _group(request)
    q = request.query_params
    metric = q.get("metric") or ""
    if metric not in reports.METRICS:
        raise Invalid(f"metric: one of {', '.join(reports.METRICS)}", "invalid_metric")
    key: Any = q.get("key") or None
    if key is not None and group in ("inbox", "team", "agent", "label"):
        if not key.isdigit() or len(key) > 18:
            raise Invalid("key: the id of the group", "invalid_key")
        key = int(key)
    after = q.get("after") or "0"
    if not after.isdigit() or len(after) > 18:
        raise Invalid("after: a fact id", "invalid_cursor")
    cell = reports.hour_of_week(q)
    return JSONResponse(await ctx_of(request).db.read(
        lambda conn: reports.drill(conn, chosen, metric, group=group, key=key, hour_of_week=cell, after=int(after))))



@takes(query=_PERIOD)
@requires(Role.lead)
async def cycles_csv(request: Request, viewer: Viewer) -> Response:
    """One row per conversation cycle with every metric, calendar and business time."""
    chosen = period(request)
    rows = await ctx_of(request).db.read(lambda conn: reports.cycles(conn, chosen))
    return _attachment(_csv(rows, reports.CYCLE_COLUMNS, "contact_name"), "cycles", chosen)


@takes(query=_DAYS)
@requires(Role.lead)
async def campaigns(request: Request, viewer: Viewer) -> Response:
    """The campaigns started in the period, each with its totals, and ``total`` their sum."""
    chosen = period(request)
    items = await ctx_of(request).db.read(lambda conn: campaign_reads.started_between(conn, chosen.start, chosen.end))
    return JSONResponse({"from": chosen.first.isoformat(), "to": chosen.last.isoformat(), "tz": chosen.zone.key,
                         "start": chosen.start.isoformat(), "end": chosen.end.isoformat(), "items": items,
                         "total": campaign_reads.summed(c["totals"] for c in items)})


@takes(query=_DAYS)
@requires(Role.lead)
async def campaigns_csv(request: Request, viewer: Viewer) -> Response:
    """One row per campaign started in the period, with its recipients by result and skip reason."""
    chosen = period(request)
    items = await ctx_of(request).db.read(lambda conn: campaign_reads.started_between(conn, chosen.start, chosen.end))
    rows = [campaign_reads.report_row(c) for c in items]
    return _attachment(_csv(rows, campaign_reads.CAMPAIGN_COLUMNS, "name"), "campaigns", chosen)


def _attachment(chunks: Iterator[str], name: str, chosen: reports.Period) -> Response:
    filename = f"{name}-{chosen.first.isoformat()}-{chosen.last.isoformat()}.csv"
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


_CSV_CHUNK = 1000  # rows a chunk: a period's CSV has one row per cycle, 100,000 in a busy quarter


def _csv(rows: list[dict[str, Any]], columns: Sequence[str], *typed: str) -> Iterator[str]:
    """The CSV a chunk of rows at a time, so the whole text is never held. ``typed``: the
    columns people type (names), which a spreadsheet must not take for a formula."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for i in range(0, len(rows), _CSV_CHUNK):
        for row in rows[i:i + _CSV_CHUNK]:
            for column in typed:
                text = str(row[column] or "")
                row[column] = "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no formulas
            writer.writerow(row)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.tell():
        yield out.getvalue()


@takes(query={**_PERIOD, "comments": {"type": "boolean"}, "after": {"type": "integer", "minimum": 0}})
@requires(Role.lead)
async def csat_answers(request: Request, viewer: Viewer) -> Response:
    """The period's satisfaction answers, newest first, with their comments and the agent
    credited (docs/csat.md); ``?comments=true``: only those with a comment. 100 a page;
    ``next_after`` the next page's ``after``."""
    chosen = period(request)
    q = request.query_params
    after = q.get("after") or None
    if after is not None and (not after.isdigit() or len(after) > 18):
        raise Invalid("after: a survey id", "invalid_cursor")
    comments = (q.get("comments") or "").lower() in ("1", "true", "yes")
    items = await ctx_of(request).db.read(lambda conn: surveys.answers(
        conn, chosen.start, chosen.end, comments_only=comments, after=int(after) if after else None,
        limit=CSAT_PAGE + 1))
    more = len(items) > CSAT_PAGE
    items = items[:CSAT_PAGE]
    return JSONResponse({"items": items, "next_after": items[-1]["id"] if more else None})


CSAT_PAGE = 100

ROUTES = [
    Route("/api/reports/overview", overview),
    Route("/api/reports/csat", csat_answers),
    Route("/api/reports/conversations", conversations),
    Route("/api/reports/cycles.csv", cycles_csv),
    Route("/api/reports/campaigns", campaigns),
    Route("/api/reports/campaigns.csv", campaigns_csv),
]
