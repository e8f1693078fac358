"""The app's one reading of "now".

Whatever time decides (reply windows, snoozes, reopening a resolved conversation, retry
backoff, pruning, link expiry) reads ``ctx.clock.now()``, never the system time itself, so
that a test can move time instead of rewriting timestamps in the database.

Timers compute their waits from ``now()``; when a clock jumps, those waits are wrong, so
the clock calls back whoever registered with ``on_moved`` (the snooze timer, the delivery
worker), who then look again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time: an aware datetime in UTC."""
        ...

    def on_moved(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop, without arguments) whenever the clock jumps."""
        ...


class SystemClock:
    """The machine's clock: the one a serving process uses."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def on_moved(self, callback: Callable[[], None]) -> None:
        """The system clock never jumps (as far as the app can tell): nothing to call."""


class MovableClock:
    """The machine's clock plus an offset that a test moves forward with ``advance``. It
    keeps running meanwhile, so what waits on real seconds (retry backoff, leases) still
    falls due as it would under the system clock."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self._moved: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def on_moved(self, callback: Callable[[], None]) -> None:
        self._moved.append(callback)

    def advance(self, by: timedelta) -> None:
        """Jump ``by`` ahead, and wake the timers so they look at the new time."""
        if by < timedelta():
            raise ValueError("time only moves forward")
        self.offset += by
        for callback in self._moved:
            callback()
