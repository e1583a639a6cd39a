"""A SELECT built once and run on the driver's cursor, for the hottest reads (an IdP's existence check).

SQLAlchemy's Core execution of a one-row read (its cache key, the compiled statement's lookup, the building
of parameters, an execution context, the result's metadata) cost more CPU than the driver's execution of the
same text: about 245 µs against 116 µs on PostgreSQL, with the connection's checkout (bench/scim.py's
import runs one per user). A ``PrebuiltRead`` keeps, per dialect, the compiled text, its parameters'
defaults and each result column's processor (the UTC datetime type, as a Core execution applies it), and
runs the text on a DB-API cursor.

What it leaves out, it leaves out on purpose: SQLAlchemy's execution events (nothing listens for reads) and
its exception types, which it restores: a driver error is raised as the ``DBAPIError`` subclass SQLAlchemy
would raise (``OperationalError`` for a lost server, mapped to 503 as before), and a pooled connection found
dead is invalidated. Only statements with named parameters (psycopg's ``%(name)s``; not SQLite's ``?``)
and none expanding (``IN`` lists) are prebuilt: the callers keep Core's execution on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeGuard

import psycopg
from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]


class PrebuiltRead:
    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._built: dict[str, tuple[str, dict[str, Any], list[tuple[int, Processor]]]] = {}

    def on_pool(self, engine: Engine, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows, read on a connection of the engine's pool in autocommit, outside any transaction (no
        ``BEGIN``, one round trip: the statement is its own snapshot). PostgreSQL's (psycopg)."""
        self._for(engine.dialect)  # (refused before a connection is taken)
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert driver is not None, "a connection just checked out"
            with autocommit(driver):  # given back out of autocommit, as the pool hands connections out
                return self._run(pooled, engine.dialect, params, pooled.invalidate)
        finally:
            pooled.close()

    def on(
        self, conn: Connection, params: Mapping[str, Any], *, ahead: bool = False
    ) -> list[tuple[Any, ...]]:
        """The rows, read on ``conn``'s driver connection, in its transaction. Without one, ``conn`` begins
        it first, as SQLAlchemy's execution would (its ``rollback`` then reaches the driver's transaction,
        which psycopg begins with the read).

        ``ahead``: a read that may go ahead of the transaction. If psycopg has not begun it yet (nothing has
        gone to the server since the last commit), the read goes out in autocommit, as its own snapshot
        (no ``BEGIN``), and the transaction begins with the next statement, which may then be its only
        one (``OneStatement.execute``'s ``alone``). Under READ COMMITTED, a read in the transaction would
        see the same rows: each statement reads its own snapshot either way."""
        if not conn.in_transaction():
            conn.begin()
        dbapi = conn.connection
        driver = dbapi.driver_connection
        if not ahead or not unbegun(driver):
            return self._run(dbapi, conn.dialect, params, conn.invalidate)
        with autocommit(driver):
            return self._run(dbapi, conn.dialect, params, conn.invalidate)

    def _run(
        self,
        dbapi: Any,
        dialect: Dialect,
        params: Mapping[str, Any],
        invalidate: Callable[[], None],
    ) -> list[tuple[Any, ...]]:
        text, defaults, processors = self._for(dialect)
        bound = defaults | dict(params)
        cursor = dbapi.cursor()
        try:
            cursor.execute(text, bound)
            rows: Sequence[Sequence[Any]] = cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            raise as_sqlalchemy_error(exc, text, bound, dialect, dbapi, cursor, invalidate) from exc
        finally:
            cursor.close()
        if not processors:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def _for(self, dialect: Dialect) -> tuple[str, dict[str, Any], list[tuple[int, Processor]]]:
        built = self._built.get(dialect.name)
        if built is None:
            compiled = self.stmt.compile(dialect=dialect)
            if compiled.positional or any(b.expanding for b in compiled.binds.values()):
                raise ValueError(f"a prebuilt read takes named, non-expanding parameters ({dialect.name})")
            processors: list[tuple[int, Processor]] = []
            for i, column in enumerate(self.stmt.selected_columns):
                process = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if process is not None:
                    processors.append((i, process))
            built = (compiled.string, dict(compiled.params), processors)
            self._built[dialect.name] = built
        return built


def unbegun(driver: Any) -> TypeGuard[psycopg.Connection[Any]]:
    """Whether ``driver`` is a psycopg connection whose transaction has not begun: not in autocommit, and
    nothing sent to the server since its last commit or rollback (psycopg sends ``BEGIN`` with the first
    statement)."""
    return (
        isinstance(driver, psycopg.Connection)
        and not driver.autocommit
        and driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    )


@contextmanager
def autocommit(driver: Any) -> Iterator[None]:
    """``driver`` (psycopg) in autocommit inside, out of it after unless the connection died meanwhile
    (psycopg: a flag, no round trip)."""
    driver.autocommit = True
    try:
        yield
    finally:
        if not driver.closed:
            driver.autocommit = False


def as_sqlalchemy_error(
    exc: Exception,
    text: str,
    params: Any,
    dialect: Dialect,
    dbapi: Any,
    cursor: Any,
    invalidate: Callable[[], None],
) -> DBAPIError:
    """The exception SQLAlchemy would raise for the driver's ``exc`` (its ``DBAPIError`` subclass: an
    ``IntegrityError`` for a unique violation, an ``OperationalError`` for a lost server), after invalidating
    the connection if the server is gone."""
    lost = dialect.is_disconnect(exc, dbapi, cursor)  # type: ignore[arg-type]  # (the driver's Error)
    if lost:
        invalidate()
    error = DBAPIError.instance(
        text, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )
    assert isinstance(error, DBAPIError)
    return error
