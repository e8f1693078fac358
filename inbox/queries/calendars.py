"""Business-hours calendars: the admin's list, one calendar, what points at one, and the
``Calendar`` a calendar id stands for, which out-of-office replies, SLA clocks and routing
compute with (docs/calendars.md).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, distinct, func, select

from inbox.domain.calendar import Calendar
from inbox.domain.records import BusinessCalendar, Dict
from inbox.domain.serialize import calendar_dict
from inbox.domain.tables import CALENDARS, INBOXES, SLA_POLICIES, SLA_TARGETS, TEAMS
from inbox.storage.prepared import Prepared, as_json


def list_calendars(conn: Connection) -> list[BusinessCalendar]:
    """Every calendar, by name (they are few: an admin defines them)."""
    rows = conn.execute(select(CALENDARS).order_by(CALENDARS.c.name, CALENDARS.c.id))
    return [calendar_dict(r) for r in rows]


def get_calendar(conn: Connection, calendar_id: int) -> BusinessCalendar | None:
    row = conn.execute(select(CALENDARS).where(CALENDARS.c.id == calendar_id)).first()
    return calendar_dict(row) if row is not None else None


_CALENDAR = Prepared(select(CALENDARS.c.timezone, CALENDARS.c.intervals, CALENDARS.c.exceptions, CALENDARS.c.version)
                     .where(CALENDARS.c.id == bindparam("id")))


def calendar_version(conn: Connection, calendar_id: int | None) -> tuple[Calendar, int] | None:
    """The calendar to compute with and its version (which a figure computed in it
    records); None for no id or no such calendar. One compiled read by primary key (SLA
    clocks read it in ingest's transaction); the stored form was checked when written, so
    reading it back is a parse of a few dozen intervals (microseconds)."""
    if calendar_id is None:
        return None
    row = _CALENDAR.first(conn, {"id": calendar_id})
    if row is None:
        return None
    timezone, intervals, exceptions, version = row
    return Calendar.parse(timezone, as_json(intervals), as_json(exceptions)), int(version)


def calendar_of(conn: Connection, calendar_id: int | None) -> Calendar | None:
    """The calendar to compute with, or None (no id, or no such calendar: calendar time,
    or open around the clock, as the caller's rule says)."""
    found = calendar_version(conn, calendar_id)
    return found[0] if found is not None else None


def calendar_users(conn: Connection, calendar_id: int) -> list[str]:
    """What points at a calendar, in words ("inbox Support line", "team Billing", "SLA
    policy Gold", "the SLA history of 3 conversations": targets computed in it keep it);
    empty when nothing does. Deleted inboxes do not count."""
    found: list[str] = []
    for kind, table, live in (("inbox", INBOXES, INBOXES.c.deleted_at.is_(None)), ("team", TEAMS, None),
                              ("SLA policy", SLA_POLICIES, None)):
        query = select(table.c.name).where(table.c.calendar_id == calendar_id).order_by(table.c.name)
        found += [f"{kind} {name}" for name in conn.execute(query if live is None else query.where(live)).scalars()]
    kept = conn.execute(select(func.count(distinct(SLA_TARGETS.c.conversation_id)))
                        .where(SLA_TARGETS.c.calendar_id == calendar_id)).scalar_one()
    if kept:
        found.append(f"the SLA history of {kept} conversation{'' if kept == 1 else 's'}")
    return found


def calendar_choices(conn: Connection) -> list[Dict]:
    """Every calendar's id, name and zone, by name: what an inbox or an SLA policy may point at."""
    return [dict(r._mapping) for r in conn.execute(
        select(CALENDARS.c.id, CALENDARS.c.name, CALENDARS.c.timezone).order_by(CALENDARS.c.name, CALENDARS.c.id))]
