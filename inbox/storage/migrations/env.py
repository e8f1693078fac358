"""Alembic environment: the models' metadata is the target; the database comes from the
connection inbox/storage/migrate.py hands over, or else from INBOX_DATABASE_URL (the ``alembic``
command). ``render_as_batch`` lets later revisions alter SQLite tables (copy and rename)."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from inbox.config import Settings
from inbox.domain import models  # noqa: F401 - registers the tables on SQLModel.metadata
from inbox.storage.db import make_engine
from inbox.storage.migrate import include_name

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command: its own logging and engine
        if config.config_file_name is not None:
            fileConfig(config.config_file_name)
        engine = make_engine(Settings.from_env().database_url)
        with engine.begin() as conn:
            _migrate(conn)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
                      compare_type=True, render_item=_render_item, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write SQLModel's column types as the plain types they stand for, so revisions do not
    depend on SQLModel's internals."""
    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


run()
