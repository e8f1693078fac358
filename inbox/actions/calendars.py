"""Business-hours calendars (docs/calendars.md): an admin creates, edits and deletes them,
and points teams (and inboxes) at one.

A calendar is stored in the form ``Calendar`` writes it (days in order, each day's
intervals by start, exceptions by date), so what is read back is what any later parse
gives. Every edit that changes something bumps its ``version``: a figure computed in its
business time (an SLA due time) records the version it used, and can tell it is stale.
A calendar something points at cannot be deleted (the pointers carry no foreign key).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update

from inbox import queries
from inbox.actions import sla
from inbox.actions.context import Context
from inbox.domain.access import Viewer
from inbox.domain.calendar import Calendar, CalendarError
from inbox.domain.errors import Conflict, Forbidden, Invalid, NotFound
from inbox.domain.models import Role
from inbox.domain.records import BusinessCalendar
from inbox.domain.tables import CALENDAR_VERSIONS, CALENDARS, INBOX_CALENDARS, INBOXES, TEAMS
from inbox.storage.db import Tx

FIELDS = ("name", "timezone", "intervals", "exceptions")
NAME_CHARS = 100
SHOWN_USERS = 5  # what a refused delete names, at most


def _admin(viewer: Viewer) -> None:
    if viewer.role != Role.admin:
        raise Forbidden("only an admin manages calendars")


def check_calendar(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A whole calendar's fields, checked and in their stored form; Invalid
    ``invalid_calendar`` names the first field that is wrong (``unknown_field`` for a
    field a calendar does not have)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise Invalid(f"unknown calendar fields: {', '.join(sorted(unknown))}", "unknown_field")
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name: a calendar needs a name", "invalid_calendar")
    name = name.strip()
    if len(name) > NAME_CHARS or not name.isprintable():
        raise Invalid(f"name: at most {NAME_CHARS} characters, none of them control characters", "invalid_calendar")
    try:
        calendar = Calendar.parse(fields.get("timezone"), fields.get("intervals"), fields.get("exceptions"))
    except CalendarError as exc:
        raise Invalid(str(exc), "invalid_calendar") from None
    return {"name": name, "timezone": calendar.timezone, "intervals": calendar.intervals_json(),
            "exceptions": calendar.exceptions_json()}


def _unique(tx: Tx, name: str, calendar_id: int | None) -> None:
    other = tx.conn.execute(select(CALENDARS.c.id).where(CALENDARS.c.name == name)).scalar()
    if other is not None and other != calendar_id:
        raise Conflict(f"a calendar named {name} exists", "calendar_exists")


async def create_calendar(ctx: Context, viewer: Viewer, fields: Mapping[str, Any]) -> BusinessCalendar:
    _admin(viewer)
    values = check_calendar(fields)

    def job(tx: Tx) -> BusinessCalendar:
        _unique(tx, values["name"], None)
        now = ctx.clock.now()
        calendar_id = tx.conn.execute(insert(CALENDARS).values(**values, version=1, created_at=now, updated_at=now)
                                      ).inserted_primary_key[0]  # type: ignore[index]
        _keep_version(tx, calendar_id, 1, values, now)
        calendar = queries.get_calendar(tx.conn, calendar_id)
        assert calendar is not None
        return calendar
    return await ctx.db.write(job)


def _keep_version(tx: Tx, calendar_id: int, version: int, values: Mapping[str, Any], now: Any) -> None:
    """Keep this version's hours, valid from now: reports rebuilt later compute each figure
    in the version that was valid when it happened (a rename is a version too: the figures
    name the version they used)."""
    tx.conn.execute(insert(CALENDAR_VERSIONS).values(
        calendar_id=calendar_id, version=version, timezone=values["timezone"], intervals=values["intervals"],
        exceptions=values["exceptions"], valid_from=now))


async def update_calendar(ctx: Context, viewer: Viewer, calendar_id: int,
                          changes: Mapping[str, Any]) -> BusinessCalendar:
    """Change the fields given (each whole: ``intervals`` replaces the week's); the
    calendar is checked as it will be. A change bumps ``version``; no change is none."""
    _admin(viewer)

    def job(tx: Tx) -> BusinessCalendar:
        current = queries.get_calendar(tx.conn, calendar_id)
        if current is None:
            raise NotFound("no such calendar")
        stored = {key: current[key] for key in FIELDS}  # type: ignore[literal-required]
        values = check_calendar({**stored, **changes})
        if values == stored:
            return current
        _unique(tx, values["name"], calendar_id)
        now = ctx.clock.now()
        tx.conn.execute(update(CALENDARS).where(CALENDARS.c.id == calendar_id).values(
            **values, version=CALENDARS.c.version + 1, updated_at=now))
        _keep_version(tx, calendar_id, current["version"] + 1, values, now)
        calendar = queries.get_calendar(tx.conn, calendar_id)
        assert calendar is not None
        return calendar
    before = await ctx.db.read(lambda c: queries.get_calendar(c, calendar_id))
    calendar = await ctx.db.write(job)
    if before is not None and calendar["version"] != before["version"]:
        await sla.replan_calendar(ctx, calendar_id)  # SLA due times in its business time move with it
    return calendar


async def delete_calendar(ctx: Context, viewer: Viewer, calendar_id: int) -> None:
    """Delete a calendar nothing points at (409 ``calendar_in_use`` naming what does)."""
    _admin(viewer)

    def job(tx: Tx) -> None:
        calendar = queries.get_calendar(tx.conn, calendar_id)
        if calendar is None:
            raise NotFound("no such calendar")
        users = queries.calendar_users(tx.conn, calendar_id)
        if users:
            named = users[:SHOWN_USERS] + ([f"{len(users) - SHOWN_USERS} more"] if len(users) > SHOWN_USERS else [])
            listed = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
            raise Conflict(f"calendar {calendar['name']} is in use by {listed}: point them at another calendar "
                           "first", "calendar_in_use")
        tx.conn.execute(CALENDARS.delete().where(CALENDARS.c.id == calendar_id))
    await ctx.db.write(job)


def calendar_ref(value: Any) -> int | None:
    """A calendar id as a body gives it: an integer, or null for none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise Invalid("calendar_id must be a calendar's id or null", "invalid_field")
    return value


def set_calendar(tx: Tx, kind: Literal["team", "inbox"], target_id: int, calendar_id: int | None,
                 now: datetime) -> None:
    """Point a team or an inbox at a calendar (None: at none). An unknown calendar is
    refused (422 ``unknown_calendar``); an unknown or deleted target is not found. An
    inbox's change is kept with its time (reports rebuilt later compute in the calendar the
    inbox had then)."""
    if calendar_id is not None and queries.get_calendar(tx.conn, calendar_id) is None:
        raise Invalid(f"no such calendar: {calendar_id}", "unknown_calendar")
    table = TEAMS if kind == "team" else INBOXES
    where = [table.c.id == target_id] + ([INBOXES.c.deleted_at.is_(None)] if kind == "inbox" else [])
    before = tx.conn.execute(select(table.c.calendar_id).where(*where)).first()
    if before is None:
        raise NotFound(f"no such {kind}")
    tx.conn.execute(update(table).where(*where).values(calendar_id=calendar_id))
    if kind == "inbox" and before[0] != calendar_id:
        tx.conn.execute(delete(INBOX_CALENDARS).where(INBOX_CALENDARS.c.inbox_id == target_id,
                                                      INBOX_CALENDARS.c.valid_from == now))
        tx.conn.execute(insert(INBOX_CALENDARS).values(inbox_id=target_id, valid_from=now, calendar_id=calendar_id))
