"""A linked block's audit rows as one PostgreSQL statement: its new subject keys, the events, their target
index rows and outbox rows inserted by data-modifying CTEs, and the chains' heads moved by the statement
itself.

Executing a statement costs about as much CPU in SQLAlchemy and psycopg as the database spends on it; a SCIM
create's block (a new subject key, three events, five target rows, one head) went out as four statements,
two of them ``executemany`` batches (psycopg's pipeline mode). One statement with bound parameters does the
same work: ``WITH`` sub-statements run exactly once and to completion whatever the primary statement reads,
and foreign keys are checked at the statement's end, when every row is in. The SQL text depends only on the
batch's shape (rows per table, heads), so it is built once per shape and psycopg prepares it like any
repeated statement. Values go through each column type's own bind processor (JSONB, the UTC datetime type),
exactly as in a Core ``INSERT``.

The text carries PostgreSQL's own ``$n`` placeholders and goes out through psycopg's ``RawCursor``. psycopg
turns ``%s`` into ``$n`` by parsing the query, and caches that only for queries of at most 50 parameters
and 4,096 bytes (a create's block has about a hundred parameters): it parsed the same text on every
request, about 130 µs of CPU, 4% of a SCIM create.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg
from sqlalchemy import Table
from sqlalchemy.engine import Connection

from app.prebuilt_insert import MARKS, PrebuiltInsert, whole_row
from app.rbac import versioning

# PostgreSQL accepts at most 65,535 parameters per statement; past this many a batch goes out as it did before
# (one executemany per table), and so does a shape too large to be worth keeping its SQL text.
MAX_PARAMETERS: Final = 20_000
MAX_CACHED_ROWS: Final = 64


class OneStatement:
    """The single-statement writer for one set of tables: ``(table, columns)`` in insert order, then the head
    table (``key`` column, and the two columns a move sets)."""

    def __init__(
        self,
        inserts: Sequence[tuple[Table, Sequence[str]]],
        heads: Table,
        head_key: str,
        head_values: tuple[str, str],
    ) -> None:
        self.inserts = [(table, tuple(columns)) for table, columns in inserts]
        self.heads = heads
        self.head_key = head_key
        self.head_values = head_values
        self._sql: dict[tuple[tuple[str, ...], tuple[int, ...]], str] = {}
        self._prebuilt = [PrebuiltInsert(table, columns) for table, columns in self.inserts]

    def fits(
        self,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: int,
        bumps: int = 0,
        held: Sequence[tuple[Table, Mapping[str, Any]]] = (),
    ) -> bool:
        count = sum(
            len(rows) * len(columns) for rows, (_, columns) in zip(batches, self.inserts, strict=True)
        ) + sum(len(row) for _, row in held)
        return heads > 0 and count + 3 * heads + bumps + 2 <= MAX_PARAMETERS  # (+2: the bump's time, channel)

    def execute(
        self,
        conn: Connection,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: Sequence[tuple[str, int, str]],
        bump: Sequence[str] = (),
        now: float = 0.0,
        held: Sequence[tuple[Table, Mapping[str, Any]]] = (),
    ) -> dict[str, int]:
        """Insert ``batches`` (one list of row mappings per table, in ``inserts`` order) and move each head
        ``(key, seq, hash)``, in one statement; with ``bump`` (org ids in bump order, the transaction's
        ``versioning.touched``), the same statement bumps their authorization versions (at ``now``)
        and notifies them, and their new versions are returned. ``held``: rows of other tables to insert
        with them (``app.db.holding_inserts``: a row of every column). The caller has checked ``fits``."""
        shape = (*(len(rows) for rows in batches), len(heads), len(bump))
        tables = tuple(table for table, _ in held)
        params: list[Any] = []
        for table, row in held:
            whole = whole_row(table)  # (a held row has every column)
            params.extend(whole.bound(row, whole.processors(conn.dialect)))
        for rows, prebuilt in zip(batches, self._prebuilt, strict=True):
            processors = prebuilt.processors(conn.dialect)
            for row in rows:
                params.extend(prebuilt.bound(row, processors))
        for key, seq, digest in heads:
            params += (key, seq, digest)
        if bump:
            params += (*bump, now, versioning.CHANNEL)
        # Through SQLAlchemy (its events, its exception types: a unique violation is still IntegrityError),
        # on a RawCursor: the connection's cursor factory is swapped for this one statement.
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection), "the one statement is PostgreSQL's, over psycopg"
        factory = driver.cursor_factory
        driver.cursor_factory = psycopg.RawCursor
        try:
            result = conn.exec_driver_sql(self.sql(shape, tables), tuple(params))
            return {str(org): int(version) for org, version, _ in result} if bump else {}
        finally:
            driver.cursor_factory = factory

    def execute_each(
        self,
        conn: Connection,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: Sequence[tuple[str, int, str]],
    ) -> None:
        """Where the one statement does not go (SQLite; a batch past ``fits``): an INSERT per table, as one
        ``executemany`` of its rows, and an UPDATE per head, all prebuilt and bound as the one statement
        binds, through SQLAlchemy's driver-level execution (its events and exception types). On SQLite,
        in process, a Core ``insert()`` spent more of its time keying and binding than in the database."""
        for rows, prebuilt in zip(batches, self._prebuilt, strict=True):
            prebuilt.execute(conn, rows)
        mark = MARKS[conn.dialect.paramstyle]
        key, (seq, digest) = self.head_key, self.head_values
        move = f"UPDATE {self.heads.name} SET {seq} = {mark}, {digest} = {mark} WHERE {key} = {mark}"  # noqa: S608
        for chain, to_seq, to_hash in heads:
            conn.exec_driver_sql(move, (to_seq, to_hash, chain))

    def sql(self, shape: tuple[int, ...], held: tuple[Table, ...] = ()) -> str:
        """The text for ``shape`` (rows per table, heads, orgs bumped) after a row of each ``held`` table."""
        key = (tuple(table.name for table in held), shape)
        text = self._sql.get(key)
        if text is None:
            text = self._build(shape, held)
            if sum(shape) + len(held) <= MAX_CACHED_ROWS:
                self._sql[key] = text
        return text

    def _build(self, shape: tuple[int, ...], held: tuple[Table, ...]) -> str:
        # Table and column names are the models' own (never input); every value is a bound parameter.
        numbers = iter(range(1, MAX_PARAMETERS + 1))

        def row(casts: Sequence[str]) -> str:
            return "(" + ", ".join(f"${next(numbers)}{cast}" for cast in casts) + ")"

        ctes = []
        for i, held_table in enumerate(held):  # (foreign keys are checked at the statement's end)
            names = [c.key for c in held_table.columns]
            values = row([""] * len(names))
            ctes.append(f"h{i} AS (INSERT INTO {held_table.name} ({', '.join(names)}) VALUES {values})")  # noqa: S608
        for i, ((table, columns), count) in enumerate(zip(self.inserts, shape, strict=False)):
            if count == 0:
                continue
            rows = ", ".join(row([""] * len(columns)) for _ in range(count))
            ctes.append(f"i{i} AS (INSERT INTO {table.name} ({', '.join(columns)}) VALUES {rows})")  # noqa: S608
        key, (seq, digest) = self.head_key, self.head_values
        moves = ", ".join(row(["::varchar", "::bigint", "::varchar"]) for _ in range(shape[-2]))
        update = (
            f"UPDATE {self.heads.name} AS h SET {seq} = m.{seq}, {digest} = m.{digest} "  # noqa: S608
            f"FROM (VALUES {moves}) AS m({key}, {seq}, {digest}) WHERE h.{key} = m.{key}"
        )
        if shape[-1]:  # the authorization bump: the orgs, then the time and the channel
            orgs = [f"${next(numbers)}::varchar" for _ in range(shape[-1])]
            now, channel = f"${next(numbers)}::float8", f"${next(numbers)}::text"
            bumped = versioning.upsert_sql(", ".join(f"({org}, 1, {now})" for org in orgs))
            ctes += [f"moved AS ({update})", f"bumped AS ({bumped})"]
            update = versioning.notify_sql("bumped", channel)
        return (f"WITH {', '.join(ctes)} " if ctes else "") + update
