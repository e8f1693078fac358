"""The SQLite writer's housekeeping: write-ahead-log checkpoints happen on a thread of
their own, never inside a commit on the event loop."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from inbox.db import Database


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
