"""The admin's Calendars section (ui/templates/admin_calendars.html), and a team's calendar
on the Teams section: what each form shows, reading a posted form into a calendar's API
fields (in the form's words when it is wrong), and the forms' acts. ui/pages/admin.py
wraps the acts into routes, as every admin form's (``admin_action``); a refused calendar
form is shown again with what was typed (``redraw``), not lost in a redirect.

The week is one text field a day ("09:00-12:00, 13:00-17:00"; an end before its start
runs past midnight) and the exceptions are rows of date, name and hours (blank: closed
all day), a few blank rows to add more: plain fields that post without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request

from inbox import actions, queries
from inbox.domain.access import Viewer
from inbox.domain.calendar import DAYS, Calendar, CalendarError, hours_text, parse_hours, zone_names
from inbox.domain.errors import Invalid
from inbox.domain.records import BusinessCalendar
from inbox.domain.serialize import iso
from ui.http import form_id
from ui.pages.agent import TEMPLATES

DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BLANK_ROWS = 3  # exception rows to fill in, below a calendar's own
NEW_WEEK = {d: "09:00-17:00" if d not in ("sat", "sun") else "" for d in DAYS}  # what a new calendar starts from


@dataclass(frozen=True)
class CalendarForm:
    """What a calendar's form shows: a stored calendar, or what was posted back."""

    calendar_id: int | None = None
    name: str = ""
    timezone: str = ""
    days: Mapping[str, str] = field(default_factory=lambda: NEW_WEEK)
    exceptions: list[dict[str, str]] = field(default_factory=list)  # rows of "date", "name", "hours"

    def rows(self) -> list[dict[str, str]]:
        """The exception rows to show: its own, then blank ones to add."""
        return self.exceptions + [{"date": "", "name": "", "hours": ""}] * BLANK_ROWS


def form_of(calendar: BusinessCalendar) -> CalendarForm:
    days = {d: hours_text([i for i in calendar["intervals"] if i["day"] == d]) for d in DAYS}
    rows = [{"date": e["date"], "name": e.get("name", ""), "hours": hours_text(e.get("intervals", []))}
            for e in calendar["exceptions"]]
    return CalendarForm(calendar["id"], calendar["name"], calendar["timezone"], days, rows)


def draft_of(form: Mapping[str, str]) -> CalendarForm:
    """The form as posted: the day fields ``day-mon``..., the rows ``exc-<n>-date``,
    ``exc-<n>-name``, ``exc-<n>-hours`` (and ``exc-<n>-remove``), in row order; rows left
    blank or ticked to remove are dropped. Only the rows posted are read, however they
    are numbered."""
    numbered: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        prefix, _, rest = key.partition("-")
        number, _, part = rest.partition("-")
        if prefix == "exc" and number.isdecimal() and len(number) <= 6 and part in ("date", "name", "hours", "remove"):
            numbered.setdefault(int(number), {"date": "", "name": "", "hours": ""})[part] = value.strip()
    rows = [row for _, row in sorted(numbered.items())
            if not row.pop("remove", "") and any(row.values())]
    calendar_id = form_id(form["calendar_id"], "calendar_id") if form.get("calendar_id") else None
    return CalendarForm(calendar_id, form.get("name", ""), form.get("timezone", "").strip(),
                        {d: form.get(f"day-{d}", "").strip() for d in DAYS}, rows)


def fields_of(draft: CalendarForm) -> dict[str, Any]:
    """The API's fields of a posted form; Invalid in the form's words ("Monday: ...",
    "Exception row 2: ...") when a part is wrong."""
    try:
        intervals = [{"day": d, **i} for d in DAYS for i in parse_hours(draft.days.get(d, ""), DAY_NAMES[d])]
        exceptions: list[dict[str, Any]] = []
        for n, row in enumerate(draft.exceptions, 1):
            hours = parse_hours(row["hours"], f"Hours of exception row {n}")
            exceptions.append({"date": row["date"], "name": row["name"],
                               **({"intervals": hours} if hours else {"closed": True})})
    except CalendarError as exc:
        raise Invalid(str(exc), "invalid_calendar") from None
    fields = {"name": draft.name, "timezone": draft.timezone, "intervals": intervals, "exceptions": exceptions}
    try:
        return actions.check_calendar(fields)
    except Invalid as exc:
        raise Invalid(_plain(exc.message, len(exceptions)), exc.code) from None


def _plain(message: str, rows: int) -> str:
    """A check's message in the form's words: its fields are named as the API names them."""
    for n in range(rows):
        message = message.replace(f"exceptions[{n}].date", f"Date of exception row {n + 1}")
        message = message.replace(f"exceptions[{n}].name", f"Name of exception row {n + 1}")
        message = message.replace(f"exceptions[{n}]", f"Exception row {n + 1}")
    for api, words in (("timezone:", "Time zone:"), ("name:", "Name:"), ("intervals:", "Opening hours:"),
                       ("exceptions:", "Exceptions:")):
        if message.startswith(api):
            message = words + message[len(api):]
    return message


def redraw(form: Mapping[str, str]) -> dict[str, Any]:
    """The section's extra context when a calendar form is refused: the form as it was posted."""
    return {"draft": draft_of(form)}


# -- reading the section -----------------------------------------------------------------

def read_calendars(c: Any, registry: Any) -> dict[str, Any]:
    calendars = [{**record, "calendar": Calendar.from_row(record), "users": queries.calendar_users(c, record["id"]),
                  "form": form_of(record)} for record in queries.list_calendars(c)]
    return {"calendars": calendars, "zones": zone_names(), "new_form": CalendarForm()}


def _when(at: datetime, calendar: Calendar) -> str:
    """"Mon 15 Mar, 17:00" in the calendar's zone."""
    local = at.astimezone(calendar.zone)
    return f"{DAY_NAMES[DAYS[local.weekday()]][:3]} {local.day} {MONTHS[local.month - 1]}, {local:%H:%M}"


def open_status(calendar: Calendar, now: datetime) -> dict[str, Any]:
    """Open now or not, and the next change in words, for the calendar's card."""
    is_open, change = calendar.is_open(now), calendar.next_change(now)
    if change is None:
        text = "Open around the clock" if is_open else "Closed, with no opening ahead"
    else:
        text = f"{'Open now, until' if is_open else 'Closed now, opens'} {_when(change, calendar)}"
    return {"open": is_open, "text": text, "at": iso(change)}


TEMPLATES.filters["open_status"] = open_status
TEMPLATES.globals["day_names"] = DAY_NAMES


# -- the forms' acts (ui/pages/admin.py makes them routes) --------------------------------------

async def create_calendar(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    made = await actions.create_calendar(request.app.state.ctx, viewer, fields_of(draft_of(form)))
    return f"Calendar {made['name']} created"


async def update_calendar(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    draft = draft_of(form)
    if draft.calendar_id is None:
        raise Invalid("calendar_id is required", "invalid_id")
    saved = await actions.update_calendar(request.app.state.ctx, viewer, draft.calendar_id, fields_of(draft))
    return f"Calendar {saved['name']} saved"


async def delete_calendar(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    await actions.delete_calendar(request.app.state.ctx, viewer, form_id(form.get("calendar_id"), "calendar_id"))
    return "Calendar deleted"


async def set_team_calendar(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, tid = request.app.state.ctx, form_id(form.get("team_id"), "team_id")
    cid = form_id(form["calendar_id"], "calendar_id") if form.get("calendar_id") else None

    def job(tx: Any) -> tuple[str, str]:
        actions.set_calendar(tx, "team", tid, cid, request.app.state.ctx.clock.now())
        team, calendar = queries.get_team(tx.conn, tid), queries.get_calendar(tx.conn, cid) if cid else None
        assert team is not None
        return team["name"], calendar["name"] if calendar else "none (its inboxes')"
    team, calendar = await ctx.db.write(job)
    return f"Business hours of {team}: {calendar}"
