"""/api/calendars: business-hours calendars (docs/api.md, "Calendars"). Admins write, any
signed-in user reads, and asks whether one is open at a time and when that changes.
Its ROUTES join the API's route table in ui/api/rest.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain.access import Viewer
from inbox.domain.calendar import DAYS, Calendar
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.models import Role
from inbox.domain.serialize import iso
from ui.api.openapi import STRING, body, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, path_id

JSON_LIMIT = 256 * 1024  # a thousand exceptions fit in a tenth of it
# An instant the arithmetic can look three years past without leaving datetime's range.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)

HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-4]):[0-5][0-9]$"}
SPAN = body(("start", "end"), start=HHMM, end=HHMM)
INTERVALS = {"type": "array", "maxItems": 70, "items": body(("day", "start", "end"), day={"enum": list(DAYS)},
                                                               start=HHMM, end=HHMM)}
EXCEPTION = body(("date",), date={"type": "string", "format": "date"}, name={"type": "string", "maxLength": 200},
                 intervals={"type": "array", "items": SPAN, "maxItems": 10})
EXCEPTION["properties"]["closed"] = {"type": "boolean"}  # not as body()'s keyword: that is its own
CALENDAR: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100}, "timezone": STRING, "intervals": INTERVALS,
    "exceptions": {"type": "array", "maxItems": 1000, "items": EXCEPTION}}
CREATE, PATCH = body(("name", "timezone", "intervals"), closed=True), body(closed=True)
CREATE["properties"] = PATCH["properties"] = CALENDAR


def _instant(value: str | None, now: datetime) -> datetime:
    """``?at=``: an ISO 8601 time (UTC when it names no offset), or now."""
    if not value:
        return now
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        at = at.astimezone(timezone.utc) if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise Invalid("at must be an ISO 8601 time, such as 2027-03-15T09:30:00Z", "invalid_field") from None
    if not EARLIEST <= at < LATEST:
        raise Invalid("at must be between the years 1900 and 9000", "invalid_field")
    return at


@requires()
async def list_calendars(request: Request, viewer: Viewer) -> Response:
    """Every calendar, by name."""
    return JSONResponse({"items": await ctx_of(request).db.read(queries.list_calendars)})


@requires()
async def get_calendar(request: Request, viewer: Viewer) -> Response:
    cid = path_id(request, "calendar")
    calendar = await ctx_of(request).db.read(lambda c: queries.get_calendar(c, cid))
    if calendar is None:
        raise NotFound("no such calendar")
    return JSONResponse(calendar)


@takes(CREATE)
@requires(Role.admin)
async def create_calendar(request: Request, viewer: Viewer) -> Response:
    """Create a calendar: a name, an IANA time zone, weekly intervals, dated exceptions."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.create_calendar(ctx_of(request), viewer, data), status_code=201)


@takes(PATCH)
@requires(Role.admin)
async def patch_calendar(request: Request, viewer: Viewer) -> Response:
    """Change a calendar's fields (each given whole); a change bumps its version."""
    data = await json_body(request, JSON_LIMIT)
    return JSONResponse(await actions.update_calendar(ctx_of(request), viewer, path_id(request, "calendar"), data))


@requires(Role.admin)
async def delete_calendar(request: Request, viewer: Viewer) -> Response:
    """Delete a calendar no inbox, team or SLA policy points at (409 otherwise)."""
    await actions.delete_calendar(ctx_of(request), viewer, path_id(request, "calendar"))
    return Response(status_code=204)


@takes(query={"at": {"type": "string", "format": "date-time"}})
@requires()
async def calendar_open(request: Request, viewer: Viewer) -> Response:
    """Whether a calendar is open at a time (default now), and when it next closes or opens."""
    ctx, cid = ctx_of(request), path_id(request, "calendar")
    at = _instant(request.query_params.get("at"), ctx.clock.now())
    calendar = await ctx.db.read(lambda c: queries.calendar_of(c, cid))
    if calendar is None:
        raise NotFound("no such calendar")
    return JSONResponse(open_state(calendar, at))


def open_state(calendar: Calendar, at: datetime) -> dict[str, Any]:
    """{"open", "next_change"} of ``calendar`` at ``at``: the endpoint's answer, and the admin page's."""
    return {"open": calendar.is_open(at), "next_change": iso(calendar.next_change(at))}


ROUTES = [
    Route("/api/calendars", list_calendars),
    Route("/api/calendars", create_calendar, methods=["POST"]),
    Route("/api/calendars/{id}", get_calendar),
    Route("/api/calendars/{id}", patch_calendar, methods=["PATCH"]),
    Route("/api/calendars/{id}", delete_calendar, methods=["DELETE"]),
    Route("/api/calendars/{id}/open", calendar_open),
]
