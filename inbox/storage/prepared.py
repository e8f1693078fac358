"""Core statements compiled once, executed on the raw DB-API cursor.

For the ingest hot path only. SQLAlchemy writes the SQL for the engine's dialect and
supplies its bind processors (datetimes, JSON), so this stays portable across SQLite and
PostgreSQL; what it skips is SQLAlchemy's per-execution machinery, which costs about 25
microseconds a statement here against 1-4 for the driver itself (bench/ingest.py).
Rows come back as plain tuples in the order of the statement's columns, without result
processing: select ints, strings and booleans through it, and read a datetime with
``as_utc`` (SQLite hands back text, PostgreSQL a datetime).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, Callable[[Mapping[str, Any]], Any]]:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler), compiled  # a statement, not DDL
        # values of literal binds, e.g. the 1 of "unread_count + 1"
        defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        # (a sequence of processors is for a tuple bind, which no prepared statement has)
        processors = {name: p for name, p in compiled._bind_processors.items() if callable(p)}
        if compiled.positional:
            order = list(compiled.positiontup or ())

            def params(values: Mapping[str, Any]) -> Any:
                out = []
                for name in order:
                    v = values[name] if name in values else defaults[name]
                    p = processors.get(name)
                    out.append(p(v) if p is not None and v is not None else v)
                return out
        else:
            def params(values: Mapping[str, Any]) -> Any:
                merged = {**defaults, **values}
                return {k: (processors[k](v) if k in processors and v is not None else v) for k, v in merged.items()}
        entry = (compiled.string, params)
        self._compiled[dialect.name] = entry
        return entry

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Run on the connection's current transaction; returns the DB-API cursor."""
        sql, params = self._compiled.get(conn.dialect.name) or self._compile(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, params(values))
        return cursor

    def first(self, conn: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        return self.execute(conn, values).fetchone()  # type: ignore[no-any-return]

    def all(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.execute(conn, values).fetchall()  # type: ignore[no-any-return]

    def scalar(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        row = self.first(conn, values)
        return row[0] if row is not None else None


def as_utc(value: str | datetime) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def as_json(value: Any) -> Any:
    """A JSON column read through the cursor: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value
