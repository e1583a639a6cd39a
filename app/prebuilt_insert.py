"""An INSERT built once and bound as SQLAlchemy binds it, executed at the driver level.

A Core ``insert(table)`` executed with a row dict costs, on every call, a cache key, a lookup of the compiled
statement and the building of its parameters, about as much CPU as SQLite spends writing the row in process.
A ``PrebuiltInsert`` keeps the text (per dialect) and each column's bind processor (JSON, the UTC datetime
type, as a Core insert applies them), and hands the driver a tuple: through ``exec_driver_sql``, so
SQLAlchemy's events and exception types (a unique violation is ``IntegrityError``) are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect

Processor = Callable[[Any], Any] | None
# A positional parameter in the DB-API paramstyles of our drivers (pysqlite: qmark; psycopg: format).
MARKS: Final = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class PrebuiltInsert:
    """``INSERT INTO table (columns) VALUES (…)``: ``columns`` by key, every column of the table by default.
    A row is a mapping holding every one of them (a missing column is an error, not its default)."""

    def __init__(self, table: Table, columns: Sequence[str] | None = None) -> None:
        self.table = table
        self.columns = tuple(columns) if columns is not None else tuple(c.key for c in table.columns)
        self._built: dict[str, tuple[str, list[Processor]]] = {}

    def processors(self, dialect: Dialect) -> list[Processor]:
        """Each column's bind processor for ``dialect`` (None where the driver takes the value as is)."""
        return self._for(dialect)[1]

    def bound(self, row: Mapping[str, Any], processors: Sequence[Processor]) -> tuple[Any, ...]:
        """The row's values in column order, as the driver takes them."""
        return tuple(
            value if proc is None else proc(value)
            for value, proc in zip((row[c] for c in self.columns), processors, strict=True)
        )

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (one statement, or one ``executemany``)."""
        if not rows:
            return
        text, processors = self._for(conn.dialect)
        params = [self.bound(row, processors) for row in rows]
        conn.exec_driver_sql(text, params if len(params) > 1 else params[0])

    def _for(self, dialect: Dialect) -> tuple[str, list[Processor]]:
        found = self._built.get(dialect.name)
        if found is None:
            mark = MARKS[dialect.paramstyle]
            names = [self.table.c[c].name for c in self.columns]
            # Table and column names are the models' own (never input); every value is a bound parameter.
            marks = ", ".join(mark for _ in names)
            text = f"INSERT INTO {self.table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
            processors: list[Processor] = [
                self.table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns
            ]
            found = (text, processors)
            self._built[dialect.name] = found
        return found


@functools.cache
def whole_row(table: Table) -> PrebuiltInsert:
    """The INSERT of every column of ``table``, built once per table (``insert_now``'s rows, held or not)."""
    return PrebuiltInsert(table)
