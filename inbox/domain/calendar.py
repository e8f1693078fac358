"""Business hours: one calendar object that out-of-office replies, SLA clocks, routing and
reports all read, and the business-time arithmetic in one place.

A calendar is an IANA time zone, weekly opening intervals (several a day; an interval whose
end is not after its start runs past midnight, so Fri 22:00-06:00 closes on Saturday
morning, and 00:00-00:00 is the whole day) and dated exceptions: a date closed all day, or
with its own intervals instead of the week's (a public holiday, Christmas Eve's short day).
An interval belongs to the day it starts on: a holiday on Saturday does not cut short
Friday's night shift.

Local times become instants through the zone's rules (``zoneinfo``): on the spring-forward
day an interval across 02:00-03:00 is an hour shorter, on the fall-back day an hour longer.
A time is the instant the clocks first show it: a time they show twice (02:30 on the
fall-back day) is its first occurrence, and a time they skip (02:30 on the spring-forward
day) is the instant they skip it, 03:00 summer time. So a night shift to 02:30 ends when
the clocks jump, not an hour after (as ``fold=0`` alone would read it), and an interval
inside the skipped hour is not open that day.

Everything here is pure: instants in and out are aware UTC datetimes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS = 70  # a week's intervals, all days together
MAX_DAY_INTERVALS = 10  # an exception's
MAX_EXCEPTIONS = 1000  # several years of public holidays
MAX_NAME_CHARS = 200
# How far ahead to look for an opening: past it, a calendar that never opens again is closed for good.
HORIZON = timedelta(days=3 * 366)

Interval = tuple[int, int]  # minutes after local midnight: (start, end); end <= start runs past midnight


class CalendarError(ValueError):
    """A calendar that cannot be: the message names the field."""


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted: what an admin picks from."""
    return sorted(_zones())


def zone(name: object) -> ZoneInfo:
    """The IANA zone of that name, or CalendarError."""
    if not isinstance(name, str) or name not in _zones():
        raise CalendarError(f"timezone: {name!r} is not an IANA time zone, such as Europe/Berlin")
    return ZoneInfo(name)


def _minutes(value: object, where: str, *, end: bool) -> int:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":" \
            or not (value[:2].isdigit() and value[3:].isdigit()) or not value.isascii():
        raise CalendarError(f"{where}: {value!r} is not a time as HH:MM")
    hours, minutes = int(value[:2]), int(value[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise CalendarError(f"{where}: {value!r} is not a time of day (24:00 only as an end)")
    return hours * 60 + minutes


def _interval(raw: object, where: str) -> Interval:
    if not isinstance(raw, Mapping):
        raise CalendarError(f"{where}: an interval is {{\"start\": \"HH:MM\", \"end\": \"HH:MM\"}}")
    start = _minutes(raw.get("start"), f"{where}.start", end=False)
    end = _minutes(raw.get("end"), f"{where}.end", end=True)
    return start, end


def parse_hours(text: str, where: str) -> list[dict[str, str]]:
    """A day's intervals as a person writes them, "09:00-12:00, 13:00-17:00" (an en dash
    too, and 9:00 for 09:00), in the API's form; "" is none. CalendarError names ``where``
    (the admin form's "Monday")."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        times = [t.strip() for t in part.replace("\u2013", "-").split("-")]
        if len(times) != 2:
            raise CalendarError(f"{where}: {part.strip()!r} is not a time range as HH:MM-HH:MM")
        start, end = (f"0{t}" if len(t) == 4 and t[1] == ":" else t for t in times)
        _minutes(start, where, end=False)
        _minutes(end, where, end=True)
        out.append({"start": start, "end": end})
    if len(out) > MAX_DAY_INTERVALS:
        raise CalendarError(f"{where}: at most {MAX_DAY_INTERVALS} intervals")
    return out


def hours_text(intervals: Sequence[Mapping[str, str]]) -> str:
    """What ``parse_hours`` reads: "09:00-12:00, 13:00-17:00"."""
    return ", ".join(f"{i['start']}-{i['end']}" for i in intervals)


def _date(value: object, where: str) -> date:
    # Only YYYY-MM-DD: date.fromisoformat also reads 20270317 and 2027-W11-3 (Python 3.11).
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"{where}: {value!r} is not a date as YYYY-MM-DD")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Exception_:
    intervals: tuple[Interval, ...]  # () : closed all day
    name: str = ""


@dataclass(frozen=True)
class Calendar:
    timezone: str
    week: tuple[tuple[Interval, ...], ...]  # seven days, Monday first
    exceptions: Mapping[date, Exception_] = field(default_factory=dict)

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- reading and writing the API's form ------------------------------------------------

    @classmethod
    def parse(cls, timezone_name: object, intervals: object, exceptions: object = ()) -> Calendar:
        """From the REST API's form (docs/api.md), every part checked; CalendarError names
        the first part that is wrong."""
        zone(timezone_name)
        if not isinstance(intervals, Sequence) or isinstance(intervals, (str, bytes)):
            raise CalendarError("intervals: a list of {\"day\", \"start\", \"end\"}")
        if len(intervals) > MAX_INTERVALS:
            raise CalendarError(f"intervals: at most {MAX_INTERVALS}")
        week: list[list[Interval]] = [[] for _ in DAYS]
        for i, raw in enumerate(intervals):
            where = f"intervals[{i}]"
            day = raw.get("day") if isinstance(raw, Mapping) else None
            if day not in DAYS:
                raise CalendarError(f"{where}.day: one of {', '.join(DAYS)}")
            week[DAYS.index(str(day))].append(_interval(raw, where))
        if exceptions is None:
            exceptions = ()
        if not isinstance(exceptions, Sequence) or isinstance(exceptions, (str, bytes)):
            raise CalendarError("exceptions: a list of {\"date\", \"closed\" or \"intervals\", \"name\"}")
        if len(exceptions) > MAX_EXCEPTIONS:
            raise CalendarError(f"exceptions: at most {MAX_EXCEPTIONS}")
        dated: dict[date, Exception_] = {}
        for i, raw in enumerate(exceptions):
            where = f"exceptions[{i}]"
            if not isinstance(raw, Mapping):
                raise CalendarError(f"{where}: {{\"date\": \"YYYY-MM-DD\", ...}}")
            day_ = _date(raw.get("date"), f"{where}.date")
            if day_ in dated:
                raise CalendarError(f"{where}.date: {day_.isoformat()} is listed twice")
            name = raw.get("name") or ""
            if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
                raise CalendarError(f"{where}.name: text of at most {MAX_NAME_CHARS} characters")
            closed = raw.get("closed", False)
            own = raw.get("intervals")
            if closed is True:
                if own:
                    raise CalendarError(f"{where}: closed all day, or intervals, not both")
                dated[day_] = Exception_((), name)
                continue
            if closed is not False:
                raise CalendarError(f"{where}.closed: true or false")
            if not isinstance(own, Sequence) or isinstance(own, (str, bytes)) or not own:
                raise CalendarError(f"{where}: \"closed\": true, or the day's \"intervals\"")
            if len(own) > MAX_DAY_INTERVALS:
                raise CalendarError(f"{where}.intervals: at most {MAX_DAY_INTERVALS}")
            dated[day_] = Exception_(tuple(sorted(_interval(r, f"{where}.intervals[{j}]") for j, r in enumerate(own))),
                                     name)
        return cls(str(timezone_name), tuple(tuple(sorted(day)) for day in week), dated)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Calendar:
        """From a stored calendar (its ``timezone``, ``intervals``, ``exceptions`` columns)."""
        return cls.parse(row["timezone"], row["intervals"], row["exceptions"])

    def intervals_json(self) -> list[dict[str, str]]:
        return [{"day": DAYS[d], "start": _hhmm(s), "end": _hhmm(e)}
                for d, day in enumerate(self.week) for s, e in day]

    def exceptions_json(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for day_ in sorted(self.exceptions):
            exc = self.exceptions[day_]
            item: dict[str, Any] = {"date": day_.isoformat(), "name": exc.name}
            if exc.intervals:
                item["intervals"] = [{"start": _hhmm(s), "end": _hhmm(e)} for s, e in exc.intervals]
            else:
                item["closed"] = True
            out.append(item)
        return out

    # -- opening spans -------------------------------------------------------------------------

    def day_intervals(self, day_: date) -> tuple[Interval, ...]:
        """What the calendar says of that local date: its exception's, else its weekday's."""
        exc = self.exceptions.get(day_)
        return exc.intervals if exc is not None else self.week[day_.weekday()]

    def _local(self, day_: date, minutes: int) -> datetime:
        """The instant the zone's clocks first show ``minutes`` after that day's midnight."""
        wall = datetime.combine(day_ + timedelta(days=minutes // 1440), time(minutes % 1440 // 60, minutes % 60))
        first = wall.replace(tzinfo=self.zone).astimezone(timezone.utc)  # fold=0: the offset before a change
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(timezone.utc)
        if second >= first:  # shown once, or twice (first is the earlier)
            return first
        return self._skipped_at(second, first)

    def _skipped_at(self, before: datetime, after: datetime) -> datetime:
        """The instant of the change between ``before`` (old offset) and ``after`` (new),
        a skipped time's two readings: searched by the second (changes fall on whole
        seconds), a dozen steps for an hour's gap."""
        offset = after.astimezone(self.zone).utcoffset()
        low, high = 0, int((after - before).total_seconds())  # the change is in (low, high]
        while high - low > 1:
            mid = (low + high) // 2
            if (before + timedelta(seconds=mid)).astimezone(self.zone).utcoffset() == offset:
                high = mid
            else:
                low = mid
        return before + timedelta(seconds=high)

    def pieces(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open time after ``start`` as disjoint spans (UTC) in order, not merged where
        they touch, up to HORIZON ahead, the first cut at ``start``. What the
        arithmetic walks: it stops at the first piece it needs."""
        day_ = start.astimezone(self.zone).date() - timedelta(days=1)  # yesterday's night shift
        last = (start + HORIZON).astimezone(self.zone).date()
        reached = start
        while day_ <= last:
            for s, e in self.day_intervals(day_):
                begin, end = self._local(day_, s), self._local(day_, e if e > s else e + 1440)
                begin = max(begin, reached) if begin < reached < end else begin
                if end > reached and end > begin:
                    yield begin, end
                    reached = end
            day_ += timedelta(days=1)

    def spans(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open spans after ``start``, merged where they touch or overlap: each ends
        when the calendar closes (a calendar open around the clock is one span to HORIZON)."""
        pending: tuple[datetime, datetime] | None = None
        for span in self.pieces(start):
            if pending is not None and span[0] <= pending[1]:
                pending = (pending[0], max(pending[1], span[1]))
                continue
            if pending is not None:
                yield pending
            pending = span
        if pending is not None:
            yield pending

    def is_open(self, at: datetime) -> bool:
        for s, _e in self.pieces(at):
            return s <= at
        return False

    def next_change(self, at: datetime) -> datetime | None:
        """When it next closes (if open at ``at``) or opens (if closed); None if it never
        changes again within HORIZON (open around the clock, or never open again)."""
        for s, e in self.spans(at):
            if s > at:
                return s
            return None if e >= at + HORIZON - timedelta(days=2) else e  # open around the clock
        return None

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the next opening (None: never, within HORIZON)."""
        for s, _e in self.pieces(at):
            return max(s, at)
        return None

    def add(self, at: datetime, amount: timedelta) -> datetime | None:
        """The instant when ``amount`` of open time after ``at`` has passed (``at`` itself
        for nothing, if open or not); None if the calendar does not open enough within HORIZON."""
        left = amount
        if left <= timedelta():
            return at
        for s, e in self.pieces(at):
            s = max(s, at)
            if e - s >= left:
                return s + left
            left -= e - s
        return None

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from ``start`` to ``end`` (nothing if ``end`` is not after ``start``)."""
        total = timedelta()
        if end <= start:
            return total
        for s, e in self.pieces(start):
            if s >= end:
                break
            total += min(e, end) - max(s, start)
        return total


def add_time(calendar: Calendar | None, at: datetime, amount: timedelta) -> datetime | None:
    """``amount`` after ``at`` in business time of ``calendar``, or in calendar time (None)."""
    return at + amount if calendar is None else calendar.add(at, amount)


def time_between(calendar: Calendar | None, start: datetime, end: datetime) -> timedelta:
    """Time from ``start`` to ``end``: business time of ``calendar``, or calendar time (None)."""
    if calendar is None:
        return max(end - start, timedelta())
    return calendar.between(start, end)
