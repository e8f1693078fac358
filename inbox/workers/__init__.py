"""Background loops: delivery, routing, the timers (SLA, snooze wake-up, pruning) and the
automation rules. Each sleeps with ``nap`` until its next due time or until woken.
"""

from __future__ import annotations

import asyncio


async def nap(wake: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` (none when negative), or until ``wake`` is set."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        pass
