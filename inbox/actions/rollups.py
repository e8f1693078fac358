"""Keeping the report rollups (docs/performance.md, "Reports (issue 16)"): off the hot path,
the rollup worker folds the facts above the mark into ``report_rollup`` a batch at a time
and moves the mark; reports fold the facts above it themselves, so they are exact whatever
the worker's lag.

Every change of what is folded takes the state row first (FOR UPDATE on PostgreSQL; SQLite
runs one write at a time): a fold, a conversation's labels changed (its label rows are
corrected: its folded facts out of the old labels' rows, into the new ones'), a rebuild
replacing facts (the folded ones it deletes are taken out). ``inbox reports rebuild``
clears the rollups and pauses the worker first, and folds every fact once at its end.

Fact ids on PostgreSQL come from a sequence, and a transaction may commit fact 11 after
another committed fact 12: a mark moved to 12 would skip 11 for ever. So the worker folds
only up to ``safe_bound``, read under a SHARE lock of the fact table, which waits for every
transaction writing facts then to end (and holds new ones back for that while).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, text, update

from inbox.domain.rollups import Acc, Fact, Folded, fold
from inbox.domain.tables import CONVERSATION_LABELS, FACTS, ROLLUP_STATE, ROLLUPS
from inbox.queries.rollups import FACT_COLUMNS, newest_fact, to_fact
from inbox.storage.db import Database, Tx

# Facts folded a transaction: on SQLite the writer is the event loop, so a fold stays short.
# A backlog from before the rollups (after the upgrade: every fact) is folded by ``refold``
# instead, in memory on a thread, and written at once.
BATCH = 5_000
REFOLD_READ = 50_000  # facts read a statement, after a rebuild
_CHUNK = 200  # rollup rows read or deleted a statement


def safe_bound(conn: Connection) -> int:
    """The largest fact id below which no fact will appear any more (read on its own
    connection: on PostgreSQL it waits for the transactions writing facts)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE report_fact IN SHARE MODE"))
    return newest_fact(conn)


def _state(conn: Connection) -> tuple[int, bool]:
    """The mark and whether paused, the state row locked until the commit."""
    row = conn.execute(select(ROLLUP_STATE.c.upto, ROLLUP_STATE.c.paused).where(ROLLUP_STATE.c.id == 1)
                       .with_for_update()).first()
    if row is None:
        conn.execute(insert(ROLLUP_STATE).values(id=1, upto=0, paused=False))
        return 0, False
    return int(row[0]), bool(row[1])


def state(conn: Connection) -> tuple[int, bool]:
    """The mark and whether paused, as committed."""
    row = conn.execute(select(ROLLUP_STATE.c.upto, ROLLUP_STATE.c.paused).where(ROLLUP_STATE.c.id == 1)).first()
    return (int(row[0]), bool(row[1])) if row is not None else (0, False)


def _labels(conn: Connection, conversation_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = sorted(set(conversation_ids))
    out: dict[int, list[int]] = {}
    for i in range(0, len(ids), 5000):
        for cid, label in conn.execute(select(CONVERSATION_LABELS.c.conversation_id, CONVERSATION_LABELS.c.label_id)
                                       .where(CONVERSATION_LABELS.c.conversation_id.in_(ids[i:i + 5000]))):
            out.setdefault(cid, []).append(label)
    return out


def write(conn: Connection, folded: Folded, *, empty: bool = False) -> None:
    """Add the folded figures to their rows (a figure folded out, to nothing: the row goes);
    ``empty``: there are no rows to add to."""
    r = ROLLUPS.c
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for grp, width, start, _, _ in folded:
        lo, hi = spans.get((grp, width), (start, start))
        spans[(grp, width)] = (min(lo, start), max(hi, start))
    merged = folded if empty else {key: a.copy() for key, a in folded.items()}
    stale: list[tuple[str, int, int, str, str]] = []
    # The rows there are, a range of the primary key per group and width: new facts are
    # recent, so a few buckets each. (Looking each row up by its key costs SQLAlchemy more
    # than SQLite; a row-value IN list is a scan on SQLite.)
    for (grp, width), (lo, hi) in ({} if empty else spans).items():
        for row in conn.execute(select(r.grp, r.width, r.start, r.name, r.key, r.n, r.total, r.btotal, r.hist,
                                       r.bhist).where(r.grp == grp, r.width == width, r.start >= lo, r.start <= hi)):
            key = (row[0], row[1], row[2], row[3], row[4])
            acc = merged.get(key)
            if acc is not None:
                acc.merge(Acc.decode(row[5], row[6], row[7], row[8], row[9]))
                stale.append(key)
    columns = (r.grp, r.width, r.start, r.name, r.key)
    for i in range(0, len(stale), _CHUNK):
        conn.execute(delete(ROLLUPS).where(or_(*(and_(*(c == v for c, v in zip(columns, key)))
                                                 for key in stale[i:i + _CHUNK]))))
    new = [{"grp": k[0], "width": k[1], "start": k[2], "name": k[3], "key": k[4], "n": a.n, "total": a.total,
            "btotal": a.btotal, "hist": h, "bhist": b}
           for k, a in merged.items() if a.n or a.hist or a.bhist for h, b in (a.encode(),)]
    for i in range(0, len(new), 5000):
        conn.execute(insert(ROLLUPS), new[i:i + 5000])


def fold_next(tx: Tx, bound: int, limit: int = BATCH, *, force: bool = False) -> tuple[int, bool, bool]:
    """Fold the next ``limit`` facts above the mark, up to ``bound``, and move the mark:
    (the mark, whether there are more, whether paused). Nothing while a rebuild runs,
    unless ``force``."""
    conn = tx.conn
    mark, paused = _state(conn)
    if (paused and not force) or mark >= bound:
        return mark, False, paused
    found = [to_fact(row) for row in conn.execute(select(*FACT_COLUMNS).where(FACTS.c.id > mark, FACTS.c.id <= bound)
                                                  .order_by(FACTS.c.id).limit(limit))]
    if not found:
        conn.execute(update(ROLLUP_STATE).where(ROLLUP_STATE.c.id == 1).values(upto=bound))
        return bound, False, paused
    folded: Folded = {}
    fold(folded, found, _labels(conn, (f.conversation_id for f in found)))
    write(conn, folded)
    done = bound if len(found) < limit else found[-1].id
    conn.execute(update(ROLLUP_STATE).where(ROLLUP_STATE.c.id == 1).values(upto=done))
    return done, done < bound, paused


def _folded_facts(conn: Connection, mark: int, conversation_ids: list[int]) -> list[Fact]:
    out: list[Fact] = []
    for i in range(0, len(conversation_ids), 5000):
        out += [to_fact(row) for row in conn.execute(
            select(*FACT_COLUMNS).where(FACTS.c.conversation_id.in_(conversation_ids[i:i + 5000]),
                                        FACTS.c.id <= mark))]
    return out


def relabel(conn: Connection, changes: Mapping[int, tuple[Iterable[int], Iterable[int]]]) -> None:
    """Conversations' labels changed ({id: (labels before, labels after)}): their folded
    facts move from the old labels' rows to the new ones' ("no label" for none)."""
    mark, _ = _state(conn)
    if not changes or not mark:
        return
    found = _folded_facts(conn, mark, sorted(changes))
    if not found:
        return
    folded: Folded = {}
    fold(folded, found, {cid: list(before) for cid, (before, _) in changes.items()}, -1, only_labels=True)
    fold(folded, found, {cid: list(after) for cid, (_, after) in changes.items()}, 1, only_labels=True)
    write(conn, {k: a for k, a in folded.items() if a.n or a.hist or a.bhist or a.total or a.btotal})


def label_deleted(conn: Connection, label_id: int) -> None:
    """Before a label's conversations lose it."""
    ids = list(conn.execute(select(CONVERSATION_LABELS.c.conversation_id)
                            .where(CONVERSATION_LABELS.c.label_id == label_id)).scalars())
    labels = _labels(conn, ids)
    relabel(conn, {cid: (labels.get(cid, []), [x for x in labels.get(cid, []) if x != label_id]) for cid in ids})


def facts_replaced(conn: Connection, conversation_ids: list[int]) -> None:
    """Before a rebuild deletes these conversations' facts: the folded ones come out."""
    mark, _ = _state(conn)
    if not mark:
        return
    found = _folded_facts(conn, mark, conversation_ids)
    if found:
        folded: Folded = {}
        fold(folded, found, _labels(conn, conversation_ids), -1)
        write(conn, folded)


def next_fact_id(conn: Connection) -> int:
    """SQLite: the id a rebuild's first new fact takes. SQLite gives a new row the largest id
    there is plus one, so after the facts with the largest ids were deleted it would hand out
    ids at or below the mark, as if folded already."""
    return max(newest_fact(conn), _state(conn)[0]) + 1


def settle(conn: Connection) -> None:
    """After a rebuild replaced facts: a mark above the newest fact (its facts deleted, none
    written after them) comes down to it, or SQLite's next fact would be taken as folded."""
    mark, _ = _state(conn)
    newest = newest_fact(conn)
    if newest < mark:
        conn.execute(update(ROLLUP_STATE).where(ROLLUP_STATE.c.id == 1).values(upto=newest))


def refold(db: Database, progress: Callable[[str], None] | None = None, *, rebuilding: bool = True) -> int:
    """While nothing is folded (after a rebuild cleared the rollups and paused the worker, or
    after the upgrade that added them): every fact up to the safe bound folded at once, read
    a batch at a time, written in one transaction; the mark. Refused (RuntimeError) when
    something was folded meanwhile, or (not ``rebuilding``) a rebuild began."""
    bound = db.read_sync(safe_bound)
    folded: Folded = {}
    after = 0
    while True:
        def read(conn: Connection, after: int = after) -> tuple[list[Fact], dict[int, list[int]]]:
            found = [to_fact(row) for row in conn.execute(
                select(*FACT_COLUMNS).where(FACTS.c.id > after, FACTS.c.id <= bound).order_by(FACTS.c.id)
                .limit(REFOLD_READ))]
            return found, _labels(conn, (f.conversation_id for f in found))
        found, labels = db.read_sync(read)
        if not found:
            break
        fold(folded, found, labels)
        after = found[-1].id
        if progress is not None:
            progress(f"reports: rollups folded up to fact {after} of {bound}")

    def store(tx: Tx) -> None:
        mark, paused = _state(tx.conn)
        if mark or paused != rebuilding:
            raise RuntimeError("the rollups changed during the fold")
        write(tx.conn, folded, empty=True)  # (cleared when the rebuild began, paused since)
        tx.conn.execute(update(ROLLUP_STATE).where(ROLLUP_STATE.c.id == 1).values(upto=bound, paused=False))
    db.write_sync(store)
    return bound


def clear(tx: Tx) -> None:
    """A rebuild begins: no rollups, the worker paused until it ends."""
    _state(tx.conn)
    tx.conn.execute(delete(ROLLUPS))
    tx.conn.execute(update(ROLLUP_STATE).where(ROLLUP_STATE.c.id == 1).values(upto=0, paused=True))


def counts(conn: Connection) -> dict[str, Any]:
    """How far the rollups are: the mark, the newest fact, the rows."""
    return {"upto": int(conn.execute(select(ROLLUP_STATE.c.upto)).scalar() or 0), "newest": newest_fact(conn),
            "rows": int(conn.execute(select(func.count()).select_from(ROLLUPS)).scalar_one())}
