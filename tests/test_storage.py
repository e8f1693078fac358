"""The SQLite writer's housekeeping: write-ahead-log checkpoints happen on a thread of
their own, never inside a commit on the event loop."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from inbox.queries import search
from inbox.storage.db import Database


async def test_checkpoints_run_off_the_event_loop_and_lose_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/inbox.db")
    db.migrate()
    db.start()
    assert db.checkpointer is not None
    wal = tmp_path / "inbox.db-wal"
    try:
        # Far more than SQLite's automatic checkpoint threshold (1,000 pages of 4 KiB).
        blob = "x" * 3000
        for batch in range(8):
            await db.write(lambda tx, b=batch: tx.conn.execute(
                text("INSERT INTO event (type, data, scopes, created_at) VALUES "
                     + ",".join(f"('bench', '{{\"b\": {b}, \"pad\": \"{blob}\"}}', '[]', '2026-01-01')"
                                for _ in range(600)))))
        setting = await db.read(lambda c: c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        assert setting == 0  # commits on the loop never checkpoint...
    finally:
        db.stop()
    # ...the checkpointer did, and on the way out it emptied the log into the database.
    assert not wal.exists() or wal.stat().st_size == 0
    check = Database(f"sqlite:///{tmp_path}/inbox.db")
    try:
        assert check.read_sync(lambda c: c.exec_driver_sql("SELECT count(*) FROM event WHERE type='bench'")
                               .scalar()) == 8 * 600
    finally:
        check.stop()


def test_merge_steps_bring_the_search_index_to_one_segment(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/inbox.db")
    db.migrate()
    try:
        for batch in range(300):  # messages stored a few at a time, as webhooks store them
            db.write_sync(lambda tx, b=batch: tx.conn.exec_driver_sql(
                "INSERT INTO message_search(rowid, text) VALUES " + ",".join(
                    f"({b * 10 + i}, 'order {b} item {i} refund word{b * 7 % 97}')" for i in range(10))))

        def segments() -> int:
            return int(db.read_sync(lambda c: c.exec_driver_sql(
                "SELECT count(DISTINCT segid) FROM message_search_idx").scalar()))
        assert segments() > 1
        for _ in range(10):
            db.write_sync(lambda tx: search.sqlite_merge_step(tx.conn))
        assert segments() == 1
        found = db.read_sync(lambda c: c.exec_driver_sql(
            "SELECT count(*) FROM message_search WHERE message_search MATCH 'refund'").scalar())
        assert found == 3000  # merged, nothing lost
    finally:
        db.stop()
