"""The business-hours calendar (inbox/domain/calendar.py) against cases computed by hand.

Every expected instant below was worked out on paper from the calendar's rules, not by
running the code: the comment beside it says how. Dates are 2027: 2027-03-15 is a Monday,
2027-03-12/19/26 are Fridays, 2027-03-14/28 and 2027-10-31 and 2027-11-07 are Sundays.
Offsets: Europe/Berlin is UTC+1 (CET) in winter and UTC+2 (CEST) in summer, changing at
01:00Z on 2027-03-28 (02:00 -> 03:00) and 2027-10-31 (03:00 -> 02:00); America/New_York is
UTC-5 (EST) and UTC-4 (EDT), changing at 07:00Z on 2027-03-14 (02:00 -> 03:00) and 06:00Z on
2027-11-07 (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from inbox.domain.calendar import DAYS, Calendar, CalendarError, add_time, hours_text, parse_hours, time_between


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, year: int = 2027) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def week(**days: str) -> list[dict[str, str]]:
    """week(mon="09:00-12:00 13:00-17:00", fri="22:00-06:00") in the API's form."""
    out = []
    for day, text in days.items():
        for part in text.split():
            start, end = part.split("-")
            out.append({"day": day, "start": start, "end": end})
    return out


OFFICE = week(mon="09:00-12:00 13:00-17:00", tue="09:00-12:00 13:00-17:00", wed="09:00-12:00 13:00-17:00",
              thu="09:00-12:00 13:00-17:00", fri="09:00-12:00 22:00-06:00", sat="10:00-14:00")
HOLIDAYS = [
    {"date": "2027-03-17", "closed": True, "name": "St Patrick's Day"},  # a Wednesday
    {"date": "2027-03-19", "intervals": [{"start": "10:00", "end": "11:00"}], "name": "Short Friday"},
    {"date": "2027-03-27", "closed": True, "name": "Closed Saturday"},  # the day Friday 26's night shift ends
]
# UTC, so the arithmetic's instants are the wall clock's: several intervals a day, a night
# shift from Friday into Saturday, a holiday, special hours, a holiday the night shift runs into.
office = Calendar.parse("UTC", OFFICE, HOLIDAYS)


# -- is it open, and when does that change ----------------------------------------------

@pytest.mark.parametrize(("at", "is_open", "change"), [
    # Monday 15: 09-12 and 13-17. Open from the first instant of an interval to the last before its end.
    (utc(3, 15, 8, 59, 59), False, utc(3, 15, 9)),
    (utc(3, 15, 9), True, utc(3, 15, 12)),
    (utc(3, 15, 9, 0, 1), True, utc(3, 15, 12)),
    (utc(3, 15, 11, 59, 59), True, utc(3, 15, 12)),
    (utc(3, 15, 12), False, utc(3, 15, 13)),  # the lunch break
    (utc(3, 15, 12, 0, 1), False, utc(3, 15, 13)),
    (utc(3, 15, 16, 59, 59), True, utc(3, 15, 17)),
    (utc(3, 15, 17), False, utc(3, 16, 9)),  # to Tuesday morning
    # Tuesday 16 closes at 17:00; Wednesday 17 is St Patrick's Day: next Thursday 18 09:00.
    (utc(3, 16, 17), False, utc(3, 18, 9)),
    (utc(3, 17, 10), False, utc(3, 18, 9)),
    # Friday 12: the night shift from 22:00 to Saturday 06:00, then Saturday's own 10-14.
    (utc(3, 12, 21, 59, 59), False, utc(3, 12, 22)),
    (utc(3, 12, 22), True, utc(3, 13, 6)),
    (utc(3, 13, 0), True, utc(3, 13, 6)),  # midnight: still Friday's interval
    (utc(3, 13, 5, 59, 59), True, utc(3, 13, 6)),
    (utc(3, 13, 6), False, utc(3, 13, 10)),
    (utc(3, 13, 14), False, utc(3, 15, 9)),  # Sunday has nothing: Monday 09:00
    # Friday 19 has special hours 10-11 instead of the week's (so no night shift that night).
    (utc(3, 18, 17), False, utc(3, 19, 10)),
    (utc(3, 19, 9, 30), False, utc(3, 19, 10)),
    (utc(3, 19, 10, 30), True, utc(3, 19, 11)),
    (utc(3, 19, 23), False, utc(3, 20, 10)),
    # Saturday 27 is closed, but Friday 26's night shift belongs to Friday: open to 06:00.
    (utc(3, 26, 23), True, utc(3, 27, 6)),
    (utc(3, 27, 3), True, utc(3, 27, 6)),
    (utc(3, 27, 6), False, utc(3, 29, 9)),  # no Saturday 10-14 that day, nothing Sunday
    (utc(3, 27, 11), False, utc(3, 29, 9)),
])
def test_open_and_next_change_at_and_around_boundaries(at: datetime, is_open: bool, change: datetime) -> None:
    assert office.is_open(at) is is_open
    assert office.next_change(at) == change
    assert office.next_open(at) == (at if is_open else change)


def test_whole_days_and_an_end_at_24_00() -> None:
    # Monday all day (00:00-00:00), Tuesday 18:00-24:00, Wednesday 00:00-06:00: Tuesday's
    # evening runs into Wednesday's morning as one opening.
    cal = Calendar.parse("UTC", week(mon="00:00-00:00", tue="18:00-24:00", wed="00:00-06:00"))
    assert not cal.is_open(utc(3, 14, 23, 59)) and cal.next_change(utc(3, 14, 23, 59)) == utc(3, 15, 0)
    assert cal.is_open(utc(3, 15, 0)) and cal.next_change(utc(3, 15, 0)) == utc(3, 16, 0)
    assert not cal.is_open(utc(3, 16, 0)) and cal.next_change(utc(3, 16, 0)) == utc(3, 16, 18)
    assert cal.is_open(utc(3, 16, 20)) and cal.next_change(utc(3, 16, 20)) == utc(3, 17, 6)  # merged at midnight
    assert cal.is_open(utc(3, 16, 23, 59, 59)) and cal.is_open(utc(3, 17, 0))
    # A week from Monday 00:00: 24 h + 6 h + 6 h.
    assert cal.between(utc(3, 15), utc(3, 22)) == hours(36)
    # Tuesday 23:00 + 2 h: one hour to midnight, one into Wednesday: 01:00.
    assert cal.add(utc(3, 16, 23), hours(2)) == utc(3, 17, 1)
    # 00:00-24:00 is the same whole day as 00:00-00:00.
    same = Calendar.parse("UTC", week(mon="00:00-24:00"))
    assert same.between(utc(3, 15), utc(3, 22)) == hours(24) and same.next_change(utc(3, 15, 12)) == utc(3, 16)


def test_open_around_the_clock_never_changes() -> None:
    always = Calendar.parse("Europe/Berlin", [{"day": d, "start": "00:00", "end": "00:00"} for d in DAYS])
    assert always.is_open(utc(3, 28, 1)) and always.next_change(utc(3, 28, 1)) is None
    assert always.add(utc(3, 15, 10), hours(30)) == utc(3, 16, 16)  # calendar time, across DST or not
    assert always.between(utc(3, 27), utc(3, 29)) == hours(48)
    # One holiday makes a change: Wednesday 17 in Berlin is 2027-03-16 23:00Z to 2027-03-17 23:00Z.
    closed = Calendar.parse("Europe/Berlin", [{"day": d, "start": "00:00", "end": "00:00"} for d in DAYS],
                            [{"date": "2027-03-17", "closed": True}])
    assert closed.next_change(utc(3, 15, 10)) == utc(3, 16, 23)
    assert closed.next_change(utc(3, 17, 12)) == utc(3, 17, 23)
    assert closed.between(utc(3, 15), utc(3, 22)) == hours(7 * 24 - 24)


def test_a_calendar_that_never_opens() -> None:
    once = [{"date": "2027-01-04", "intervals": [{"start": "09:00", "end": "17:00"}]}]  # a date now past
    for never in (Calendar.parse("UTC", []), Calendar.parse("UTC", [], once)):
        at = utc(6, 1, 12)
        assert not never.is_open(at)
        assert never.next_change(at) is None and never.next_open(at) is None
        assert never.add(at, minutes(1)) is None
        assert never.add(at, timedelta()) == at  # nothing to add: now
        assert never.between(at, at + timedelta(days=400)) == timedelta()


# -- business-time arithmetic --------------------------------------------------------------

@pytest.mark.parametrize(("at", "amount", "expected"), [
    (utc(3, 15, 11), minutes(90), utc(3, 15, 13, 30)),  # 60 to lunch, 30 after
    (utc(3, 15, 12, 30), minutes(30), utc(3, 15, 13, 30)),  # from the lunch break
    (utc(3, 15, 7), minutes(180), utc(3, 15, 12)),  # ends on the closing instant
    (utc(3, 15, 16), minutes(120), utc(3, 16, 10)),  # 60 to 17:00, 60 on Tuesday from 09:00
    (utc(3, 16, 16, 30), minutes(60), utc(3, 18, 9, 30)),  # 30 Tuesday, Wednesday a holiday, 30 Thursday
    (utc(3, 12, 11), minutes(480), utc(3, 13, 5)),  # 60 Friday morning, 420 of the night shift from 22:00
    (utc(3, 12, 11), minutes(600), utc(3, 13, 11)),  # 60 + the whole night (480), 60 from Saturday 10:00
    (utc(3, 13, 13), minutes(120), utc(3, 15, 10)),  # 60 Saturday, Sunday none, 60 Monday
    (utc(3, 26, 23), minutes(480), utc(3, 29, 10)),  # 420 to Saturday 06:00; Saturday closed, Sunday none; 60 Monday
    (utc(3, 18, 16), minutes(120), utc(3, 19, 11)),  # 60 Thursday, 60 of Friday's special 10-11
    (utc(3, 18, 16), minutes(150), utc(3, 20, 10, 30)),  # and 30 more from Saturday 10:00 (no night shift)
    (utc(3, 17, 12), timedelta(), utc(3, 17, 12)),  # nothing: the instant itself, closed or not
])
def test_business_minutes_after(at: datetime, amount: timedelta, expected: datetime) -> None:
    assert office.add(at, amount) == expected
    assert add_time(office, at, amount) == expected


@pytest.mark.parametrize(("start", "end", "expected"), [
    (utc(3, 15, 11), utc(3, 15, 13, 30), minutes(90)),
    (utc(3, 15, 12), utc(3, 15, 13), timedelta()),  # all of the lunch break
    (utc(3, 12, 11), utc(3, 15, 10), minutes(60 + 480 + 240 + 60)),  # Friday, night, Saturday, Monday
    (utc(3, 16, 12), utc(3, 18, 12), minutes(240 + 0 + 180)),  # Tuesday afternoon, the holiday, Thursday morning
    (utc(3, 26, 12), utc(3, 29, 9), minutes(480)),  # the night shift only: Saturday 27 is closed
    (utc(3, 13, 3), utc(3, 13, 4), minutes(60)),  # inside the night shift
    (utc(3, 19, 0), utc(3, 20, 0), minutes(60)),  # the short Friday
    (utc(3, 15, 13, 30), utc(3, 15, 11), timedelta()),  # the wrong way round: nothing
])
def test_business_minutes_between(start: datetime, end: datetime, expected: timedelta) -> None:
    assert office.between(start, end) == expected
    assert time_between(office, start, end) == expected


def test_calendar_time_when_there_is_no_calendar() -> None:
    assert add_time(None, utc(3, 13, 13), minutes(120)) == utc(3, 13, 15)
    assert time_between(None, utc(3, 12, 11), utc(3, 15, 10)) == hours(71)
    assert time_between(None, utc(3, 15), utc(3, 14)) == timedelta()


# -- daylight saving time --------------------------------------------------------------------

# A night shift Saturday 22:00-06:00 across the night of the change, and Sunday 10:00-12:00 after it.
NIGHT = week(sat="22:00-06:00", sun="10:00-12:00")
# Sunday 01:00-04:00: across the changed hour itself.
EARLY = week(sun="01:00-04:00")


def test_berlin_spring_forward() -> None:
    night = Calendar.parse("Europe/Berlin", NIGHT)
    # Saturday 27 22:00 CET = 21:00Z to Sunday 28 06:00 CEST = 04:00Z: 7 hours, not 8.
    assert night.next_change(utc(3, 27, 20)) == utc(3, 27, 21)
    assert night.next_change(utc(3, 27, 21)) == utc(3, 28, 4)
    assert night.is_open(utc(3, 28, 0, 59, 59)) and night.is_open(utc(3, 28, 1))  # 01:59:59 CET, 03:00 CEST
    assert night.between(utc(3, 27, 12), utc(3, 28, 6)) == hours(7)
    # Sunday 10:00 CEST = 08:00Z (a week earlier, CET, it was 09:00Z).
    assert night.next_change(utc(3, 28, 4)) == utc(3, 28, 8)
    assert not night.is_open(utc(3, 28, 7, 59)) and night.is_open(utc(3, 28, 8))
    assert night.next_change(utc(3, 20, 12)) == utc(3, 20, 21)  # the Saturday before: 22:00 CET
    assert night.next_change(utc(3, 21, 5)) == utc(3, 21, 9)
    # 8 hours from Saturday 21:00Z: the 7 of the shorter night, then 1 from Sunday 08:00Z.
    assert night.add(utc(3, 27, 21), hours(8)) == utc(3, 28, 9)

    early = Calendar.parse("Europe/Berlin", EARLY)
    # Sunday 01:00 CET = 00:00Z to 04:00 CEST = 02:00Z: 2 hours; the Sundays around it have 3.
    assert early.next_change(utc(3, 27, 12)) == utc(3, 28, 0)
    assert early.next_change(utc(3, 28, 0)) == utc(3, 28, 2)
    assert early.is_open(utc(3, 28, 1, 30))  # 03:30 CEST
    assert early.between(utc(3, 27), utc(3, 29)) == hours(2)
    assert early.between(utc(3, 20), utc(3, 22)) == hours(3)  # 00:00Z-03:00Z, CET
    assert early.between(utc(4, 3), utc(4, 5)) == hours(3)  # Saturday 23:00Z-02:00Z, CEST
    # 3 hours from Saturday 27 noon: the 2 of the 28th, then 1 from Sunday 4 April 01:00 CEST = Saturday 23:00Z.
    assert early.add(utc(3, 27, 12), hours(3)) == utc(4, 4, 0)


def test_berlin_fall_back() -> None:
    night = Calendar.parse("Europe/Berlin", NIGHT)
    # Saturday 30 22:00 CEST = 20:00Z to Sunday 31 06:00 CET = 05:00Z: 9 hours.
    assert night.next_change(utc(10, 30, 12)) == utc(10, 30, 20)
    assert night.next_change(utc(10, 30, 20)) == utc(10, 31, 5)
    assert night.between(utc(10, 30, 19), utc(10, 31, 12)) == hours(9 + 2)  # and Sunday 10-12 CET = 09:00Z-11:00Z
    assert night.next_change(utc(10, 31, 5)) == utc(10, 31, 9)
    assert night.add(utc(10, 30, 20), hours(9.5)) == utc(10, 31, 9, 30)

    early = Calendar.parse("Europe/Berlin", EARLY)
    # Sunday 31 01:00 CEST = Saturday 23:00Z to 04:00 CET = 03:00Z: 4 hours, through 02:00-03:00 twice.
    assert early.next_change(utc(10, 30, 12)) == utc(10, 30, 23)
    assert early.next_change(utc(10, 30, 23)) == utc(10, 31, 3)
    assert early.is_open(utc(10, 31, 0, 30)) and early.is_open(utc(10, 31, 1, 30))  # 02:30 CEST, 02:30 CET
    assert early.between(utc(10, 30), utc(11, 1)) == hours(4)


def test_new_york_spring_forward() -> None:
    night = Calendar.parse("America/New_York", NIGHT)
    # Saturday 13 22:00 EST = Sunday 14 03:00Z to 06:00 EDT = 10:00Z: 7 hours.
    assert night.next_change(utc(3, 13, 12)) == utc(3, 14, 3)
    assert night.next_change(utc(3, 14, 3)) == utc(3, 14, 10)
    assert night.is_open(utc(3, 14, 6, 59, 59)) and night.is_open(utc(3, 14, 7))  # 01:59:59 EST, 03:00 EDT
    assert night.next_change(utc(3, 14, 10)) == utc(3, 14, 14)  # Sunday 10:00 EDT
    assert night.add(utc(3, 14, 3), hours(8)) == utc(3, 14, 15)  # 7 of the night, 1 from 14:00Z

    early = Calendar.parse("America/New_York", EARLY)
    # Sunday 14 01:00 EST = 06:00Z to 04:00 EDT = 08:00Z: 2 hours.
    assert early.next_change(utc(3, 13, 12)) == utc(3, 14, 6)
    assert early.next_change(utc(3, 14, 6)) == utc(3, 14, 8)
    assert early.between(utc(3, 13), utc(3, 15)) == hours(2)


def test_new_york_fall_back() -> None:
    night = Calendar.parse("America/New_York", NIGHT)
    # Saturday 6 22:00 EDT = Sunday 7 02:00Z to 06:00 EST = 11:00Z: 9 hours.
    assert night.next_change(utc(11, 6, 12)) == utc(11, 7, 2)
    assert night.next_change(utc(11, 7, 2)) == utc(11, 7, 11)
    assert night.next_change(utc(11, 7, 11)) == utc(11, 7, 15)  # Sunday 10:00 EST
    assert night.between(utc(11, 6, 12), utc(11, 7, 16)) == hours(9 + 1)

    early = Calendar.parse("America/New_York", EARLY)
    # 01:00 is shown twice that night: the interval starts at the first, 01:00 EDT = 05:00Z,
    # and runs to 04:00 EST = 09:00Z: 4 hours.
    assert early.next_change(utc(11, 6, 12)) == utc(11, 7, 5)
    assert early.next_change(utc(11, 7, 5)) == utc(11, 7, 9)
    assert early.between(utc(11, 6), utc(11, 8)) == hours(4)


def test_times_the_clocks_skip_are_the_instant_they_skip_them() -> None:
    # Berlin, 2027-03-28: the clocks go from 02:00 CET to 03:00 CEST at 01:00Z, so 02:30 is never shown.
    # A night shift to 02:30 ends when they jump (01:00Z), after 4 hours from 22:00 CET = 21:00Z.
    to_half_past = Calendar.parse("Europe/Berlin", week(sat="22:00-02:30"))
    assert to_half_past.next_change(utc(3, 27, 21)) == utc(3, 28, 1)
    assert to_half_past.between(utc(3, 27), utc(3, 29)) == hours(4)
    # 02:30-03:30 opens at the jump (01:00Z) and closes at 03:30 CEST = 01:30Z.
    from_half_past = Calendar.parse("Europe/Berlin", week(sun="02:30-03:30"))
    assert from_half_past.next_change(utc(3, 27, 12)) == utc(3, 28, 1)
    assert from_half_past.next_change(utc(3, 28, 1)) == utc(3, 28, 1, 30)
    # 02:00-03:00 is not there that day: the next opening is a week later, 02:00 CEST = 00:00Z.
    skipped = Calendar.parse("Europe/Berlin", week(sun="02:00-03:00"))
    assert skipped.next_change(utc(3, 27, 12)) == utc(4, 4, 0)
    assert skipped.between(utc(3, 27), utc(3, 29)) == timedelta()
    # New York, 2027-03-14: 02:30-03:30 opens at the jump, 07:00Z, to 03:30 EDT = 07:30Z.
    ny = Calendar.parse("America/New_York", week(sun="02:30-03:30"))
    assert ny.next_change(utc(3, 13, 12)) == utc(3, 14, 7)
    assert ny.next_change(utc(3, 14, 7)) == utc(3, 14, 7, 30)


def test_business_days_across_the_change() -> None:
    # Monday to Friday 09:00-17:00 in Berlin; the change falls on the weekend between.
    weekdays = Calendar.parse("Europe/Berlin", week(mon="09:00-17:00", tue="09:00-17:00", wed="09:00-17:00",
                                                    thu="09:00-17:00", fri="09:00-17:00"))
    # Friday 26 16:00 CET = 15:00Z, plus 2 h: 1 to 17:00 CET (16:00Z), 1 from Monday 29 09:00 CEST = 07:00Z.
    assert weekdays.add(utc(3, 26, 15), hours(2)) == utc(3, 29, 8)
    assert weekdays.next_change(utc(3, 26, 16)) == utc(3, 29, 7)
    # Friday 09:00 CET = 08:00Z to Monday 17:00 CEST = 15:00Z: 8 + 8 business hours (79 on the clock).
    assert weekdays.between(utc(3, 26, 8), utc(3, 29, 15)) == hours(16)
    # And back in October: Friday 29 17:00 CEST = 15:00Z, Monday 1 November 09:00 CET = 08:00Z.
    assert weekdays.next_change(utc(10, 29, 14)) == utc(10, 29, 15)
    assert weekdays.next_change(utc(10, 29, 15)) == utc(11, 1, 8)
    assert weekdays.add(utc(10, 29, 14), hours(2)) == utc(11, 1, 9)


# -- reading the API's form ------------------------------------------------------------------

def test_the_api_form_round_trips() -> None:
    assert office.intervals_json() == OFFICE  # already in day order, each day's by start
    assert office.exceptions_json() == HOLIDAYS
    assert Calendar.from_row({"timezone": "UTC", "intervals": OFFICE, "exceptions": HOLIDAYS}) == office
    unordered = Calendar.parse("UTC", week(tue="13:00-17:00", mon="09:00-12:00") + week(tue="09:00-12:00"),
                               [{"date": "2027-12-24", "intervals": [{"start": "09:00", "end": "12:00"}]}])
    assert unordered.intervals_json() == week(mon="09:00-12:00", tue="09:00-12:00 13:00-17:00")
    assert unordered.exceptions_json() == [{"date": "2027-12-24", "name": "",
                                            "intervals": [{"start": "09:00", "end": "12:00"}]}]
    assert Calendar.parse("UTC", [], None).exceptions == {}


def _interval(**fields: Any) -> list[dict[str, Any]]:
    return [{"day": "mon", "start": "09:00", "end": "17:00"},
            {"day": "tue", "start": "09:00", "end": "17:00", **fields}]


@pytest.mark.parametrize(("timezone_name", "intervals", "exceptions", "message"), [
    ("Mars/Olympus_Mons", [], [], "timezone: 'Mars/Olympus_Mons' is not an IANA time zone"),
    ("europe/berlin", [], [], "timezone: 'europe/berlin' is not an IANA time zone"),
    (None, [], [], "timezone: None is not an IANA time zone"),
    ("UTC", "mon 09-17", [], "intervals: a list"),
    ("UTC", [["mon", "09:00", "17:00"]], [], "intervals[0].day: one of mon, tue, wed, thu, fri, sat, sun"),
    ("UTC", _interval(day="monday"), [], "intervals[1].day: one of mon"),
    ("UTC", _interval(start="25:00"), [], "intervals[1].start: '25:00' is not a time of day"),
    ("UTC", _interval(start="24:00"), [], "intervals[1].start: '24:00' is not a time of day (24:00 only as an end)"),
    ("UTC", _interval(end="24:01"), [], "intervals[1].end: '24:01' is not a time of day"),
    ("UTC", _interval(end="17:60"), [], "intervals[1].end: '17:60' is not a time of day"),
    ("UTC", _interval(start="9:00"), [], "intervals[1].start: '9:00' is not a time as HH:MM"),
    ("UTC", _interval(start=900), [], "intervals[1].start: 900 is not a time as HH:MM"),
    ("UTC", _interval(end="١٧:٠٠"), [], "intervals[1].end: '١٧:٠٠' is not a time as HH:MM"),
    ("UTC", [{"day": "mon", "start": "09:00"}], [], "intervals[0].end: None is not a time as HH:MM"),
    ("UTC", [{"day": "mon", "start": "09:00", "end": "10:00"}] * 71, [], "intervals: at most 70"),
    ("UTC", [], {"date": "2027-03-17"}, "exceptions: a list"),
    ("UTC", [], ["2027-03-17"], "exceptions[0]: {\"date\": \"YYYY-MM-DD\""),
    ("UTC", [], [{"date": "2027-02-30", "closed": True}], "exceptions[0].date: '2027-02-30' is not a date"),
    ("UTC", [], [{"date": "20270317", "closed": True}], "exceptions[0].date: '20270317' is not a date as YYYY-MM-DD"),
    ("UTC", [], [{"date": "2027-W11-3", "closed": True}], "exceptions[0].date: '2027-W11-3' is not a date"),
    ("UTC", [], [{"closed": True}], "exceptions[0].date: None is not a date"),
    ("UTC", [], [{"date": "2027-03-17", "closed": True}, {"date": "2027-03-17", "closed": True}],
     "exceptions[1].date: 2027-03-17 is listed twice"),
    ("UTC", [], [{"date": "2027-03-17", "closed": True, "intervals": [{"start": "09:00", "end": "12:00"}]}],
     "exceptions[0]: closed all day, or intervals, not both"),
    ("UTC", [], [{"date": "2027-03-17"}], "exceptions[0]: \"closed\": true, or the day's \"intervals\""),
    ("UTC", [], [{"date": "2027-03-17", "intervals": []}], "exceptions[0]: \"closed\": true, or the day's"),
    ("UTC", [], [{"date": "2027-03-17", "closed": "yes"}], "exceptions[0].closed: true or false"),
    ("UTC", [], [{"date": "2027-03-17", "closed": True, "name": "x" * 201}], "exceptions[0].name: text of at most 200"),
    ("UTC", [], [{"date": "2027-03-17", "intervals": [{"start": "09:00", "end": "12:61"}]}],
     "exceptions[0].intervals[0].end: '12:61' is not a time of day"),
    ("UTC", [], [{"date": "2027-03-17", "intervals": ["09:00-12:00"]}], "exceptions[0].intervals[0]: an interval is"),
])
def test_parse_errors_name_the_field(timezone_name: Any, intervals: Any, exceptions: Any, message: str) -> None:
    with pytest.raises(CalendarError) as refused:
        Calendar.parse(timezone_name, intervals, exceptions)
    assert str(refused.value).startswith(message), str(refused.value)


def test_hours_as_a_person_writes_them() -> None:
    assert parse_hours("09:00-12:00, 13:00-17:00", "Monday") == [{"start": "09:00", "end": "12:00"},
                                                                  {"start": "13:00", "end": "17:00"}]
    assert parse_hours(" 9:00 – 12:00 ,, 22:00-06:00, ", "Friday") == [{"start": "09:00", "end": "12:00"},
                                                                        {"start": "22:00", "end": "06:00"}]
    assert parse_hours("", "Sunday") == [] and parse_hours(" , ", "Sunday") == []
    assert hours_text(parse_hours("09:00-12:00,13:00-24:00", "Monday")) == "09:00-12:00, 13:00-24:00"
    for text, message in (("9-17", "Monday: '9' is not a time as HH:MM"),
                          ("09:00", "Monday: '09:00' is not a time range as HH:MM-HH:MM"),
                          ("09:00-12:00-13:00", "Monday: '09:00-12:00-13:00' is not a time range"),
                          ("24:00-02:00", "Monday: '24:00' is not a time of day (24:00 only as an end)"),
                          (", ".join(["09:00-10:00"] * 11), "Monday: at most 10 intervals")):
        with pytest.raises(CalendarError) as refused:
            parse_hours(text, "Monday")
        assert str(refused.value).startswith(message), str(refused.value)
