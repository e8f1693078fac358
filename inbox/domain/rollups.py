"""Folding report facts together (docs/performance.md, "Reports (issue 16)"): one function
turns facts into figures per key, the same for the rollup worker (which folds facts by time
bucket into ``report_rollup``) and for a report (which folds the facts no rollup holds yet:
those above the worker's mark, and those in the partial buckets at a period's edges).

A figure (``Acc``) is a count, the sums of its seconds and business seconds, and a
histogram of each: logarithmic bins 1% wide (bin i holds values in [1.01^i, 1.01^(i+1)),
"z" holds zeros), so a median or 90th percentile read from it is within half a bin (0.5%)
of the exact one (docs/metrics.md). A satisfaction answer's figure counts its scores in the
histogram and sums them. Counts and sums are exact.

Buckets are ``width`` seconds from an epoch multiple of ``width``: a quarter hour (the
total's series figures only) and an hour (the total's: the series, the heatmap and the
hours at a period's edges), a day, and blocks of 2, 4, ... 64 days, so that a 90-day period
is a few dozen buckets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

HOUR, DAY = 3600, 86400
QUARTER = 900
BLOCKS = tuple(DAY * 2 ** k for k in range(1, 7))  # 2 .. 64 days
TOTAL_WIDTHS = (QUARTER, HOUR, DAY, *BLOCKS)  # the total's buckets ("" group)
GROUP_WIDTHS = (DAY, *BLOCKS)  # each group's
ALL_WIDTHS = TOTAL_WIDTHS  # each width a multiple of the one before; a group's start at DAY
GROUPS = ("channel", "inbox", "team", "agent", "label")
# The figures of the series (by local day, and the heatmap's messages by local hour): the
# total's quarter hours hold these alone (a zone's hours may start at :30 or :45 UTC).
SERIES = ("conversations_created", "conversations_reopened", "messages_in", "messages_out", "resolution")
VALUED = ("first_response", "reply", "resolution")
_LOG = math.log(1.01)


def bin_of(value: float) -> str:
    return "z" if value <= 0 else str(math.floor(math.log(value) / _LOG))


def bin_value(key: str) -> float:
    """A bin's value: 0 for zeros, else the geometric middle of its range (within 0.5% of
    every value in it)."""
    return 0.0 if key == "z" else math.exp((int(key) + 0.5) * _LOG)


@dataclass(slots=True)
class Acc:
    """One figure folded: count, sums, and histograms (calendar and business seconds; a
    satisfaction answer's scores in ``hist``)."""

    n: int = 0
    total: float = 0.0
    btotal: float = 0.0
    hist: dict[str, int] = field(default_factory=dict)
    bhist: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Acc, sign: int = 1) -> None:
        self.n += sign * other.n
        self.total += sign * other.total
        self.btotal += sign * other.btotal
        for mine, theirs in ((self.hist, other.hist), (self.bhist, other.bhist)):
            for k, c in theirs.items():
                left = mine.get(k, 0) + sign * c
                if left:
                    mine[k] = left
                else:
                    mine.pop(k, None)

    def copy(self, sign: int = 1) -> Acc:
        if sign == 1:
            return Acc(self.n, self.total, self.btotal, dict(self.hist), dict(self.bhist))
        return Acc(-self.n, -self.total, -self.btotal, {k: -c for k, c in self.hist.items()},
                   {k: -c for k, c in self.bhist.items()})

    def encode(self) -> tuple[str, str]:
        return (json.dumps(self.hist, separators=(",", ":")) if self.hist else "",
                json.dumps(self.bhist, separators=(",", ":")) if self.bhist else "")

    @classmethod
    def decode(cls, n: int, total: float, btotal: float, hist: str, bhist: str) -> Acc:
        return cls(n, total, btotal, json.loads(hist) if hist else {}, json.loads(bhist) if bhist else {})


def name_of(kind: str, outcome: str | None) -> str:
    """The figure a fact counts in."""
    if kind == "sla":
        return "sla_met" if str(outcome).endswith(":met") else "sla_missed"
    if kind == "cycle":
        return "conversations_created" if outcome == "created" else "conversations_reopened"
    if kind in ("message_in", "message_out"):
        return kind.replace("message_", "messages_")
    return kind  # first_response, reply, resolution, csat


def add(acc: Acc, name: str, seconds: float | None, business: float | None, score: int | None) -> None:
    """Fold one fact of figure ``name`` into ``acc``."""
    acc.n += 1
    if name in VALUED:
        s, b = seconds or 0.0, business or 0.0
        acc.total += s
        acc.btotal += b
        k = bin_of(s)
        acc.hist[k] = acc.hist.get(k, 0) + 1
        k = bin_of(b)
        acc.bhist[k] = acc.bhist.get(k, 0) + 1
    elif name == "csat" and score is not None:
        acc.total += score
        k = str(score)
        acc.hist[k] = acc.hist.get(k, 0) + 1


def key_text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Fact:
    """What folding reads of a fact (``at`` in epoch seconds)."""

    id: int
    at: int
    conversation_id: int
    kind: str
    outcome: str | None
    seconds: float | None
    business: float | None
    score: int | None
    channel: str | None
    inbox_id: int | None
    team_id: int | None
    agent_id: int | None

    def key(self, group: str) -> str:
        return key_text({"channel": self.channel, "inbox": self.inbox_id, "team": self.team_id,
                          "agent": self.agent_id}[group])


Folded = dict[tuple[str, int, int, str, str], Acc]  # (grp, width, start, name, key) -> figure


def fold(out: Folded, facts: Iterable[Fact], labels: Mapping[int, Iterable[int]], sign: int = 1, *,
         only_labels: bool = False) -> None:
    """Fold facts into every bucket and group they count in: the total's buckets, each
    group's, and a label row for each label of its conversation (``labels``: by conversation
    id; a fact of one with none counts under "no label", key ""). ``sign`` -1 takes them out
    again; ``only_labels``: the label rows alone."""
    # Each fact into its smallest bucket of each row (a fact at a time is the costly part),
    # then each width's buckets into the next width's, up the chain.
    levels: dict[int, Folded] = {w: {} for w in ALL_WIDTHS}
    for f in facts:
        name = name_of(f.kind, f.outcome)
        hour, day = f.at - f.at % HOUR, f.at - f.at % DAY
        rows = [] if only_labels else [
            ("", QUARTER, f.at - f.at % QUARTER, "") if name in SERIES else ("", HOUR, hour, ""),
            ("channel", DAY, day, key_text(f.channel)), ("inbox", DAY, day, key_text(f.inbox_id)),
            ("team", DAY, day, key_text(f.team_id)), ("agent", DAY, day, key_text(f.agent_id))]
        found: list[int | None] = list(labels.get(f.conversation_id) or ()) or [None]
        rows += [("label", DAY, day, key_text(label)) for label in found]
        for grp, width, start, key in rows:
            bucket = (grp, width, start, name, key)
            level = levels[width]
            acc = level.get(bucket)
            if acc is None:
                acc = level[bucket] = Acc()
            add(acc, name, f.seconds, f.business, f.score)
    for width, after in zip(ALL_WIDTHS, (*ALL_WIDTHS[1:], None)):
        for (grp, _, start, name, key), acc in levels.pop(width).items():
            bucket = (grp, width, start, name, key)
            target = out.get(bucket)
            if target is None:
                out[bucket] = acc.copy(sign)
            else:
                target.merge(acc, sign)
            if after is not None:
                bucket = (grp, after, start - start % after, name, key)
                up = levels[after].get(bucket)
                if up is None:
                    levels[after][bucket] = acc.copy()
                else:
                    up.merge(acc)


def fold_flat(out: dict[tuple[str, str], Acc], facts: Iterable[tuple[str | None, Fact]]) -> None:
    """A report's fold of (key, fact): by key and figure only."""
    for key, f in facts:
        name = name_of(f.kind, f.outcome)
        bucket = (key_text(key), name)
        acc = out.get(bucket)
        if acc is None:
            acc = out[bucket] = Acc()
        add(acc, name, f.seconds, f.business, f.score)


def cover(lo: int, hi: int, widths: tuple[int, ...]) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """[lo, hi) as whole buckets of ``widths`` (each a multiple of the one before), fewest
    first: ([(width, first start, last start + width)], the ranges left over at the edges,
    shorter than the smallest width, to read from the facts)."""
    w0 = widths[0]
    a, b = -(-lo // w0) * w0, hi // w0 * w0
    if a >= b:
        return [], [(lo, hi)]
    raw = [r for r in ((lo, a), (b, hi)) if r[0] < r[1]]
    runs: list[tuple[int, int, int]] = []
    at = a
    while at < b:
        width = next(w for w in reversed(widths) if at % w == 0 and at + w <= b)
        if runs and runs[-1][0] == width and runs[-1][2] == at:
            runs[-1] = (width, runs[-1][1], at + width)
        else:
            runs.append((width, at, at + width))
        at += width
    return runs, raw


def percentile(hist: Mapping[str, int], p: float) -> float | None:
    """The inclusive percentile (PERCENTILE.INC) of the values a histogram holds, each value
    read as its bin's middle."""
    n = sum(hist.values())
    if n <= 0:
        return None
    h = (n - 1) * p
    lo = math.floor(h)
    frac = h - lo
    ordered = sorted((int(k), k, c) for k, c in hist.items() if k != "z")
    if "z" in hist:
        ordered.insert(0, (0, "z", hist["z"]))
    below, x_lo, x_hi = 0, None, None
    for _, k, c in ordered:
        if c <= 0:
            continue
        if x_lo is None and lo < below + c:
            x_lo = bin_value(k)
        if lo + 1 < below + c:
            x_hi = bin_value(k)
            break
        below += c
    assert x_lo is not None
    return x_lo if x_hi is None or frac == 0 else x_lo + frac * (x_hi - x_lo)
