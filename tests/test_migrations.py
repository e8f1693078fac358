"""Alembic migrations on both engines: an empty database upgraded to head has exactly the
models' schema, concurrent upgrades are safe, and `inbox db upgrade` works from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from inbox.queries import search
from inbox.storage import migrate
from inbox.storage.db import make_engine


def _tables(engine: Engine) -> set[str]:
    """The tables, but for the search index's (SQLite's FTS5 tables are tables too)."""
    return {t for t in inspect(engine).get_table_names() if not search.is_index_object(t, "table")}


def test_an_empty_database_upgraded_to_head_matches_the_models(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.head()
    assert _tables(empty_engine) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert migrate.differences(empty_engine) == []
    migrate.upgrade(empty_engine)  # at head already: nothing to do, nothing breaks
    assert migrate.current(empty_engine) == migrate.head()


def test_downgrade_to_base_removes_every_table(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        command.downgrade(migrate.config(conn), "base")
    assert _tables(empty_engine) <= {"alembic_version"}
    assert migrate.current(empty_engine) is None


def test_concurrent_upgrades_migrate_once(empty_engine: Engine) -> None:
    """Processes starting together (serve --workers N) each run the upgrade."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert migrate.differences(empty_engine) == []


def test_a_database_created_before_migrations_is_adopted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    # How every install made its schema before migrations: create_all of the models as they
    # were then, which is revision 0001 without alembic's version table.
    migrate.upgrade(engine, migrate.INITIAL)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert migrate.differences(engine) == []
    engine.dispose()


def test_inbox_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    out = subprocess.run([sys.executable, "-m", "inbox.cli", "db", "upgrade"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60,
                         env={**os.environ, "INBOX_DATABASE_URL": url, "INBOX_SECRET_KEY": "k"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == migrate.head()
    engine = make_engine(url)
    assert migrate.differences(engine) == []
    engine.dispose()
