"""Reading report rollups and the facts folded with them (inbox/domain/rollups.py): the
worker's mark, a group's rows for whole buckets, and facts as folding reads them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, literal_column, or_, select

from inbox.domain.metrics import Kind
from inbox.domain.rollups import Acc, Fact
from inbox.domain.tables import CONVERSATION_LABELS, FACTS, ROLLUP_STATE, ROLLUPS
from inbox.storage.prepared import Prepared, as_utc

KINDS = [k.value for k in Kind]
FACT_COLUMNS = (FACTS.c.id, FACTS.c.at, FACTS.c.conversation_id, FACTS.c.kind, FACTS.c.outcome, FACTS.c.seconds,
                FACTS.c.business_seconds, FACTS.c.score, FACTS.c.channel, FACTS.c.inbox_id, FACTS.c.team_id,
                FACTS.c.agent_id)


def epoch(at: datetime) -> int:
    return int(as_utc(at).timestamp())


def instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def upto(conn: Connection) -> int:
    """The id of the last fact folded into the rollups (0: none)."""
    found = conn.execute(select(ROLLUP_STATE.c.upto).where(ROLLUP_STATE.c.id == 1)).scalar()
    return int(found or 0)


def newest_fact(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(FACTS.c.id), 0))).scalar_one())


def to_fact(row: Any) -> Fact:
    return Fact(row[0], int(as_utc(row[1]).timestamp()), *row[2:12])


def facts(conn: Connection, *where: Any, label: bool = False) -> Iterator[tuple[Any, Fact]]:
    """(label id or None, fact) of the facts matching ``where``; without ``label``, (None, fact)
    once per fact; with it, once per label of the fact's conversation (None: it has none)."""
    columns: list[Any] = list(FACT_COLUMNS)
    source: Any = FACTS
    if label:
        columns.append(CONVERSATION_LABELS.c.label_id)
        source = FACTS.outerjoin(CONVERSATION_LABELS, CONVERSATION_LABELS.c.conversation_id
                                 == FACTS.c.conversation_id)
    for row in conn.execute(select(*columns).select_from(source).where(*where)):
        yield (row[12] if label else None), to_fact(row)


def outside(mark: int, lo: datetime, hi: datetime, edges: Iterable[tuple[int, int]]) -> list[Any]:
    """The conditions of the facts of [lo, hi) no rollup read holds: those above the mark,
    and those at or below it in the edges (ranges of epoch seconds)."""
    ranges = [and_(FACTS.c.kind.in_(KINDS), FACTS.c.at >= instant(a), FACTS.c.at < instant(b), FACTS.c.id <= mark)
              for a, b in edges]
    return [or_(and_(FACTS.c.id > mark, FACTS.c.at >= lo, FACTS.c.at < hi), *ranges)]


@functools.cache
def _rows_statement(names: tuple[str, ...] | None, values: bool) -> Prepared:
    r = ROLLUPS.c
    columns: list[Any] = [r.key, r.name, r.width, r.start, r.n, r.total, r.btotal]
    if values:  # a satisfaction answer's scores are in ``hist`` whatever the hours
        columns += [r.hist, r.bhist]
    where = [r.grp == bindparam("grp"), r.width == bindparam("w"), r.start >= bindparam("a"),
             r.start < bindparam("b")]
    if names is not None:  # (our own figures' names, written into the statement)
        assert all(n.replace("_", "").isalpha() for n in names), names
        where.append(r.name.in_([literal_column(f"'{n}'") for n in names]))
    return Prepared(select(*columns).where(*where))


def rows(conn: Connection, grp: str, runs: list[tuple[int, int, int]], business: bool,
         names: Iterable[str] | None = None, values: bool = True) -> Iterator[tuple[str, str, int, int, Acc]]:
    """(key, name, width, start, figure) of a group's rollup rows in the runs of buckets
    ((width, first start, end)); the histogram of the hours asked only (``hist``, or
    business ``bhist``), none when not ``values``."""
    if not runs:
        return
    # A statement per run, each a range of the primary key (an OR of them is a scan on
    # SQLite), on the driver's cursor: a 90-day series is thousands of rows.
    statement = _rows_statement(None if names is None else tuple(names), values)
    found = (row for w, a, b in runs for row in statement.all(conn, {"grp": grp, "w": w, "a": a, "b": b}))
    for row in found:
        acc = Acc(row[4], row[5], row[6])
        if values:
            if business and row[8]:
                acc.bhist = json.loads(row[8])
            if (not business or row[1] == "csat") and row[7]:
                acc.hist = json.loads(row[7])
        yield row[0], row[1], row[2], row[3], acc
