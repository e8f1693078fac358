"""Schema migrations (alembic, inbox/storage/migrations/, shipped inside the package): ``inbox db upgrade``,
and every serving process on start.

Several processes may start at once (``inbox serve --workers N``, or several hosts), so
the upgrade runs in one transaction that first takes a lock: a transaction-level advisory
lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite. The first process migrates; the others
wait, then find the database at head and do nothing. PostgreSQL's DDL is transactional,
so a failed upgrade leaves the schema as it was.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from inbox.queries import search  # noqa: F401 - models registers the tables on SQLModel.metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = 0x1B0C_5C4E  # any constant shared by every process of the app
INITIAL = "0001"


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect().execution_options(immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        now = MigrationContext.configure(conn).get_current_revision()
        if revision == "head" and now is not None and now == head():
            return  # at head already, as most starts find it: no need to load every migration
        cfg = config(conn)
        if now is None and inspect(conn).has_table("message"):
            # Made by create_all before there were migrations: that schema is the initial revision.
            command.stamp(cfg, INITIAL)
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def head() -> str | None:
    """The newest migration shipped (read once: the files do not change under a process)."""
    return ScriptDirectory.from_config(config()).get_current_head()


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Leave the search index out of schema comparisons: the models do not describe it."""
    return not search.is_index_object(name, type_)


def differences(engine: Engine) -> list[Any]:
    """What the database's schema lacks or has beyond the models: empty when in step."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        return list(compare_metadata(context, SQLModel.metadata))
