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

A block of one chain whose head the transaction does not hold yet is also *linked* by the statement
(``Link``): it locks the head (``FOR UPDATE``), numbers and times the events after it, and hashes each from
the canonical bytes Python prepared around its time and sequence (``app.audit.chain.pieces``), which is
``chain.link`` computed by PostgreSQL's ``sha256``. The lock is then taken inside the statement and held
for the rest of it and the commit: the head's read (a round trip) and the linking in Python are no longer
under it, and one org's writers queue on it that much less. The caller's time is taken before the lock,
so each event is at least a microsecond after the link before it (the head keeps that link's time): the
chain stays in time order, as when Python stamps its events under the lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from sqlalchemy import Table
from sqlalchemy.engine import Connection

from app.audit import chain
from app.prebuilt_insert import MARKS, PrebuiltInsert, whole_row
from app.prebuilt_read import as_sqlalchemy_error, autocommit, unbegun
from app.rbac import versioning

# PostgreSQL accepts at most 65,535 parameters per statement; past this many a batch goes out as it did before
# (one executemany per table), and so does a shape too large to be worth keeping its SQL text.
MAX_PARAMETERS: Final = 20_000
MAX_CACHED_ROWS: Final = 64


@dataclass(frozen=True)
class Link:
    """The events of one chain, linked by the statement: the chain, the caller's time (each event's is at
    least this), and each event's ``chain.pieces``, in order. ``owners``: per table of the batches, the
    event (its index in ``pieces``) each row belongs to, for the tables whose rows take values of their
    event's link (``OneStatement``'s ``linked``)."""

    chain: str
    now: datetime
    pieces: Sequence[tuple[bytes, bytes, bytes]]
    owners: Sequence[Sequence[int]]


# What a linking statement gave each event, in order: ``(seq, prev_hash, hash, occurred_at)``.
Linked = list[tuple[int, str, str, datetime]]


class OneStatement:
    """The single-statement writer for one set of tables: ``(table, columns)`` in insert order, then the head
    table (``key`` column, and the three columns a move sets: sequence, hash, time). ``linked``: per table,
    the columns that a linking statement (``Link``) fills from each row's event's link, as SQL over the
    link (``{l}``: its ``seq``, ``prev``, ``hash``, ``at`` and ``t``, the time's text) and the row's own
    value for the column (``{value}``, where the expression uses it)."""

    def __init__(
        self,
        inserts: Sequence[tuple[Table, Sequence[str]]],
        heads: Table,
        head_key: str,
        head_values: tuple[str, str, str],
        linked: Sequence[Mapping[str, str]] = (),
    ) -> None:
        self.inserts = [(table, tuple(columns)) for table, columns in inserts]
        self.heads = heads
        self.head_key = head_key
        self.head_values = head_values
        self.linked = [dict(columns) for columns in linked] or [{} for _ in self.inserts]
        self._sql: dict[Any, str] = {}
        self._prebuilt = [PrebuiltInsert(table, columns) for table, columns in self.inserts]
        # Per table, the positions of the row values a linking statement binds (the others come from links)
        self._bound = [
            [i for i, c in enumerate(columns) if c not in links or "{value}" in links[c]]
            for (_, columns), links in zip(self.inserts, self.linked, strict=True)
        ]

    def fits(
        self,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: int,
        bumps: int = 0,
        held: Sequence[tuple[Table, Mapping[str, Any]]] = (),
        linked: int = 0,
    ) -> bool:
        """Whether one statement can write these: ``heads`` moved, or ``linked`` events linked (``Link``)."""
        count = sum(
            len(rows) * len(columns) for rows, (_, columns) in zip(batches, self.inserts, strict=True)
        ) + sum(len(row) for _, row in held)
        # (a head move: 4 values; a link: its chain and time, and 3 pieces per event; a bump: an org each,
        # its time and channel)
        extra = 4 * heads + (2 + 3 * linked if linked else 0) + bumps + 2
        return (heads > 0 or linked > 0) and count + extra <= MAX_PARAMETERS

    def execute(
        self,
        conn: Connection,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: Sequence[tuple[str, int, str, datetime | None]],
        bump: Sequence[str] = (),
        now: float = 0.0,
        held: Sequence[tuple[Table, Mapping[str, Any]]] = (),
        link: Link | None = None,
        *,
        alone: bool = False,
    ) -> tuple[dict[str, int], Linked | None]:
        """Insert ``batches`` (one list of row mappings per table, in ``inserts`` order) and move each head
        ``(key, seq, hash, time)``, in one statement; with ``bump`` (org ids in bump order, the
        transaction's ``versioning.touched``), the same statement bumps their authorization versions (at
        ``now``) and notifies them, and their new versions are returned. ``held``: rows of other tables to
        insert with them (``app.db.holding_inserts``: a row of every column). With ``link`` (and no
        ``heads``), the statement links its chain's events and moves its head itself, and returns what it
        gave them. The caller has checked ``fits``.

        ``alone``: the statement is its transaction's only one, which psycopg has not begun (``unbegun``):
        it goes out in autocommit, one round trip where ``BEGIN``, the statement and ``COMMIT`` were three,
        and commits itself. psycopg's ``commit`` then has nothing to send, and a failed statement has
        written nothing. The caller writes nothing else in the transaction (``app.db.wrote_alone``)."""
        if link is not None and heads:
            raise ValueError("a linking statement moves its own chain's head, and no other")
        owners = tuple(tuple(o) for o in link.owners) if link is not None else None
        events = len(link.pieces) if link is not None else 0
        shape = (*(len(rows) for rows in batches), len(heads), len(bump))
        tables = tuple(table for table, _ in held)
        params: list[Any] = []
        if link is not None:
            params += (link.chain, link.now)
            for piece in link.pieces:
                params.extend(piece)
        for table, row in held:
            whole = whole_row(table)  # (a held row has every column)
            params.extend(whole.bound(row, whole.processors(conn.dialect)))
        for i, (rows, prebuilt) in enumerate(zip(batches, self._prebuilt, strict=True)):
            processors = prebuilt.processors(conn.dialect)
            if link is not None and self.linked[i]:
                positions = self._bound[i]
                for row in rows:
                    values = prebuilt.bound(row, processors)
                    params.extend(values[p] for p in positions)
                continue
            for row in rows:
                params.extend(prebuilt.bound(row, processors))
        for key, seq, digest, at in heads:
            params += (key, seq, digest, at)
        if bump:
            params += (*bump, now, versioning.CHANNEL)
        # On a psycopg RawCursor of the driver's connection (``$n`` placeholders: see the module's docstring),
        # with SQLAlchemy's cursor events told and its exception types raised (``_on_driver``).
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection), "the one statement is PostgreSQL's, over psycopg"
        if alone and not unbegun(driver):
            raise ValueError("a statement alone needs a transaction that has not begun")
        with autocommit(driver) if alone else nullcontext():
            got = _on_driver(conn, driver, self.sql(shape, tables, owners, events), tuple(params))
        if link is None:
            return ({str(org): int(version) for org, version, _ in got} if bump else {}), None
        linked: list[tuple[int, str, str, datetime]] = []
        bumped: dict[str, int] = {}
        for link_seq, prev, link_hash, link_at, org, version in got:
            if org is None:
                linked.append((int(link_seq), str(prev), str(link_hash), link_at))
            else:
                bumped[str(org)] = int(version)
        return bumped, sorted(linked)

    def execute_each(
        self,
        conn: Connection,
        batches: Sequence[Sequence[Mapping[str, Any]]],
        heads: Sequence[tuple[str, int, str, datetime | None]],
    ) -> None:
        """Where the one statement does not go (SQLite; a batch past ``fits``): an INSERT per table, as one
        ``executemany`` of its rows, and an UPDATE per head, all prebuilt and bound as the one statement
        binds, through SQLAlchemy's driver-level execution (its events and exception types). On SQLite,
        in process, a Core ``insert()`` spent more of its time keying and binding than in the database."""
        for rows, prebuilt in zip(batches, self._prebuilt, strict=True):
            prebuilt.execute(conn, rows)
        mark = MARKS[conn.dialect.paramstyle]
        key, (seq, digest, at) = self.head_key, self.head_values
        move = (
            f"UPDATE {self.heads.name} SET {seq} = {mark}, {digest} = {mark}, {at} = {mark} "  # noqa: S608
            f"WHERE {key} = {mark}"
        )
        time = self.heads.c[at].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for chain_key, to_seq, to_hash, to_at in heads:
            conn.exec_driver_sql(move, (to_seq, to_hash, time(to_at) if time else to_at, chain_key))

    def sql(
        self,
        shape: tuple[int, ...],
        held: tuple[Table, ...] = (),
        owners: tuple[tuple[int, ...], ...] | None = None,
        events: int = 0,
    ) -> str:
        """The text for ``shape`` (rows per table, heads, orgs bumped) after a row of each ``held`` table;
        with ``owners`` (``Link.owners``), the linking statement of ``events`` events."""
        key = (tuple(table.name for table in held), shape, owners, events)
        text = self._sql.get(key)
        if text is None:
            text = self._build(shape, held, owners, events)
            if sum(shape) + len(held) + events <= MAX_CACHED_ROWS:
                self._sql[key] = text
        return text

    def _build(
        self,
        shape: tuple[int, ...],
        held: tuple[Table, ...],
        owners: tuple[tuple[int, ...], ...] | None,
        events: int,
    ) -> str:
        # Table and column names are the models' own (never input); every value is a bound parameter.
        numbers = iter(range(1, MAX_PARAMETERS + 1))

        def row(casts: Sequence[str]) -> str:
            return "(" + ", ".join(f"${next(numbers)}{cast}" for cast in casts) + ")"

        key, (seq, digest, at) = self.head_key, self.head_values
        ctes, chain_param = self._links(numbers, events) if owners is not None else ([], "")
        for i, held_table in enumerate(held):  # (foreign keys are checked at the statement's end)
            names = [c.key for c in held_table.columns]
            values = row([""] * len(names))
            ctes.append(f"h{i} AS (INSERT INTO {held_table.name} ({', '.join(names)}) VALUES {values})")  # noqa: S608
        for i, ((table, columns), count) in enumerate(zip(self.inserts, shape, strict=False)):
            if count == 0:
                continue
            links = self.linked[i] if owners is not None else {}
            if links:
                assert owners is not None
                rows = ", ".join(self._linked_row(numbers, columns, links, owner) for owner in owners[i])
            else:
                rows = ", ".join(row([""] * len(columns)) for _ in range(count))
            ctes.append(f"i{i} AS (INSERT INTO {table.name} ({', '.join(columns)}) VALUES {rows})")  # noqa: S608
        if owners is not None:  # the chain's head moves to its last link (made, for a chain's first event)
            update = (
                f"INSERT INTO {self.heads.name} ({key}, {seq}, {digest}, {at}) "  # noqa: S608
                f"SELECT {chain_param}, seq, hash, at FROM l{events} "
                f"ON CONFLICT ({key}) DO UPDATE SET {seq} = excluded.{seq}, {digest} = excluded.{digest}, "
                f"{at} = excluded.{at}"
            )
        else:
            moves = ", ".join(
                row(["::varchar", "::bigint", "::varchar", "::timestamptz"]) for _ in range(shape[-2])
            )
            update = (
                f"UPDATE {self.heads.name} AS h SET {seq} = m.{seq}, {digest} = m.{digest}, "  # noqa: S608
                f"{at} = m.{at} FROM (VALUES {moves}) AS m({key}, {seq}, {digest}, {at}) "
                f"WHERE h.{key} = m.{key}"
            )
        notified = ""
        if shape[-1]:  # the authorization bump: the orgs, then the time and the channel
            orgs = [f"${next(numbers)}::varchar" for _ in range(shape[-1])]
            now, channel = f"${next(numbers)}::float8", f"${next(numbers)}::text"
            bumped = versioning.upsert_sql(", ".join(f"({org}, 1, {now})" for org in orgs))
            ctes += [f"moved AS ({update})", f"bumped AS ({bumped})"]
            update = notified = versioning.notify_sql("bumped", channel)
        if owners is not None:  # what the links were, and the bumped versions
            if not shape[-1]:
                ctes.append(f"moved AS ({update})")
            if notified:
                ctes.append(f"notified AS ({notified})")
            update = " UNION ALL ".join(
                [
                    *(
                        f"SELECT seq, prev, hash, at, NULL::varchar, NULL::bigint FROM l{n}"  # noqa: S608
                        for n in range(1, events + 1)
                    ),
                    *(["SELECT NULL, NULL, NULL, NULL, org_id, version FROM notified"] if notified else []),
                ]
            )
        return (f"WITH {', '.join(ctes)} " if ctes else "") + update

    def _links(self, numbers: Any, events: int) -> tuple[list[str], str]:
        """The linking statement's first CTEs: ``hd``, the chain's head locked (``$1``, the chain; ``$2``, the
        caller's time), and ``l1`` … ``ln``, each event's link after the one before it."""
        key, (seq, digest, at) = self.head_key, self.head_values
        chain_param, now = f"${next(numbers)}::varchar", f"${next(numbers)}::timestamptz"
        ctes = [
            f"hd AS MATERIALIZED (SELECT {seq} AS seq, {digest} AS hash, {at} AS at FROM {self.heads.name} "  # noqa: S608
            f"WHERE {key} = {chain_param} FOR UPDATE)"
        ]
        for n in range(1, events + 1):
            a, b, c = (f"${next(numbers)}::bytea" for _ in range(3))
            before = (
                f"(SELECT COALESCE(hd.seq, 0) AS seq, COALESCE(hd.hash, '{chain.GENESIS}') AS hash, hd.at "  # noqa: S608
                "FROM (SELECT 1) AS one LEFT JOIN hd ON TRUE)"
                if n == 1
                else f"l{n - 1}"
            )
            ctes.append(
                f"l{n} AS (SELECT r.seq, r.prev, r.at, r.t, "  # noqa: S608
                f"encode(sha256(convert_to(r.prev, 'UTF8') || {a} || convert_to(r.t, 'UTF8') || {b} || "
                f"convert_to(r.seq::text, 'UTF8') || {c}), 'hex') AS hash "
                f"FROM (SELECT p.*, {_time_text('p.at')} AS t FROM (SELECT b.seq + 1 AS seq, b.hash AS prev, "
                f"GREATEST({now}, b.at + interval '1 microsecond') AS at FROM {before} AS b) AS p) AS r)"
            )
        return ctes, chain_param

    @staticmethod
    def _linked_row(numbers: Any, columns: Sequence[str], links: Mapping[str, str], owner: int) -> str:
        values = []
        for column in columns:
            expression = links.get(column)
            if expression is None:
                values.append(f"${next(numbers)}")
            else:
                value = f"${next(numbers)}" if "{value}" in expression else ""
                expression = expression.replace("{l}", "l").replace("{value}", value)
                values.append(f"(SELECT {expression} FROM l{owner + 1} AS l)")  # noqa: S608
        return "(" + ", ".join(values) + ")"


def _time_text(at: str) -> str:
    """The text of a link's time ``at``, as ``chain.format_time`` writes it."""
    return f"""to_char({at} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _on_driver(
    conn: Connection, driver: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """``sql``'s rows, run on a RawCursor of ``driver`` (``conn``'s), as SQLAlchemy's ``exec_driver_sql``
    would run it but without its execution context and result object (about a quarter of this statement's
    CPU in the app): ``conn`` begins its transaction if it has none, the connection's and engine's
    ``before_cursor_execute`` and ``after_cursor_execute`` listeners are told (what watches the
    connection's statements sees this one), and a driver error is raised as SQLAlchemy's exception
    (``IntegrityError`` for a unique violation, mapped to 409), the connection invalidated if it is dead."""
    if not conn.in_transaction():
        conn.begin()
    dialect = conn.dialect
    cursor = psycopg.RawCursor(driver)
    try:
        for before in conn.dispatch.before_cursor_execute:
            sql, params = before(conn, cursor, sql, params, None, False)
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(
                exc, sql, params, dialect, conn.connection, cursor, conn.invalidate
            ) from exc
        for after in conn.dispatch.after_cursor_execute:
            after(conn, cursor, sql, params, None, False)
    finally:
        cursor.close()
    return rows
