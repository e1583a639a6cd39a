"""Engine, sessions and the declarative base.

The request owns the session: services only ``flush()``; the boundary (request, CLI command, worker job)
commits or rolls back.
"""

from __future__ import annotations

import functools
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator

from app.prebuilt_insert import whole_row
from app.sqlite_writer import GatedConnection, attach

READ_ONLY = "tenantry_read_only"  # an execution option: see begin_read_only
# A pooled PostgreSQL connection idle for longer than this is pinged before use (see _ping_when_idle).
PING_AFTER_IDLE = 2.0

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL, JSON text elsewhere.
JsonType = JSON().with_variant(postgresql.JSONB(), "postgresql")
# The same column type, where Python's None is SQL NULL (not JSON null): optional JSON values that are set on
# every row, so a batch of rows with and without one is one INSERT.
JsonOrNull = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JsonType,
        list[dict[str, Any]]: JsonType,
    }


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned per backend: SQLite in WAL mode with write transactions taken up front."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30}
            | ({} if memory else {"factory": GatedConnection}),
            poolclass=StaticPool if memory else QueuePool,
            **kwargs,
        )
        _configure_sqlite(engine)
        return _fork_safe(engine)
    ping_after_idle = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    return _fork_safe(engine)


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it has sat in the pool for ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip, and a statement for the server, on
    each request (an IdP's lookup is then two statements instead of one). A connection given back moments ago
    is as alive as one just pinged, so under traffic none is pinged; one that has waited (a quiet spell, a
    server restart, a dropped idle connection) is pinged, and a dead one is replaced before the request sees
    it. A server that drops a connection within ``idle_seconds`` of its use still fails that request's
    first statement (503, retry); SQLAlchemy then invalidates the pool's older connections as well.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or back in the pool moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # the pool closes this connection and checks out a fresh one
            raise DisconnectionError("a pooled connection was found dead after an idle spell") from exc


def _fork_safe(engine: Engine) -> Engine:
    """A forked child (gunicorn ``--preload`` workers) starts with an empty pool: it never uses a connection
    its parent opened. SQLite files are pooled too (a new connection per request costs its pragmas, and
    closing the last one checkpoints the WAL: twice the time of the request's own work)."""
    ref = weakref.ref(engine)

    def _in_child() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_in_child)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (below) instead of pysqlite's implicit, late BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        if engine.url.database:
            attach(dbapi_connection, engine.url.database, 30.0)  # writers queue (app/sqlite_writer.py)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction (count seats, then
        # assign) cannot interleave with another writer: SQLite's stand-in for SELECT ... FOR UPDATE.
        # A transaction begun by ``begin_read_only`` only reads: a deferred BEGIN reads a snapshot (WAL)
        # without waiting for, or holding up, the writers.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        elif isinstance(raw := connection.connection.dbapi_connection, GatedConnection):
            raw.begin_immediate()  # waits its turn among the writers, then BEGIN IMMEDIATE
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_read_only(session: Session) -> None:
    """Begin ``session``'s work as reads only, when it has not begun yet (otherwise nothing changes). On
    SQLite a deferred ``BEGIN``: a WAL snapshot, no write lock. On PostgreSQL no transaction at all
    (autocommit): under READ COMMITTED each statement reads its own snapshot either way, and the ``BEGIN`` and
    ``ROLLBACK`` round trips are saved (an IdP's lookup is then one statement on the wire). Call this only
    where the request reads and nothing else (an IdP's lookups): a write would commit at once on PostgreSQL,
    and may fail as busy under concurrent writers on SQLite."""
    if session.in_transaction():
        return
    session.connection(execution_options=read_only_options(session.get_bind().dialect.name))


def read_only_options(dialect_name: str) -> dict[str, Any]:
    """The execution options of a connection that only reads (see ``begin_read_only``): a deferred
    ``BEGIN`` on SQLite, autocommit on PostgreSQL (reset when the connection goes back to the pool)."""
    options: dict[str, Any] = {READ_ONLY: True}
    if dialect_name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return options


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work outside a request (CLI, worker): commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Called with (session, obj) for each object ``insert_now`` writes (app/rbac/versioning.py notes its org).
INSERTED_NOW: list[Callable[[Session, Any], None]] = []


def insert_now(session: Session, obj: Any) -> None:
    """Write the new mapped object ``obj`` as one INSERT now, without the unit of work, and make it
    persistent in ``session`` as if loaded: what ``session.add`` and a flush would do, for the hot paths
    where the flush's bookkeeping costs more than the statement (a SCIM create's account, membership and
    audit key). Column defaults are applied as the flush applies them (Python-side only: a column with a
    server default must be set); the statement is built once per table. The caller orders statements by
    foreign key itself, and reads its unique-violation as from a flush (``IntegrityError``). Unlike a
    flushed object, a savepoint rolled back after the insert does not expunge it: it stays in the session,
    expired, and reading it then fails loudly (``ObjectDeletedError``). Inside ``holding_inserts`` the row
    is held for the caller's own statement instead of written at once."""
    state = inspect(obj)
    if not state.transient:
        raise ValueError(f"insert_now writes new objects only, not {obj!r}")
    mapper = state.mapper
    row: dict[str, Any] = {}
    for column, key in _columns(mapper):
        if key not in state.dict:
            default = column.default
            if default is None and column.server_default is not None:
                raise TypeError(f"insert_now needs {column} set: its default is the server's")
            if default is None:
                value = None
            elif default.is_callable:
                value = default.arg(None)  # SQLAlchemy's wrapper of a callable default takes a context
            elif default.is_scalar:
                value = default.arg
            else:  # a SQL expression or a sequence: the flush's business
                raise TypeError(f"insert_now cannot apply the default of {column}")
            setattr(obj, key, value)
        row[column.key] = state.dict[key]
    held: list[Held] | None = session.info.get(_HELD)
    if held is not None:
        held.append((mapper.local_table, row))
    else:
        whole_row(mapper.local_table).execute(session.connection(), (row,))
    make_transient_to_detached(obj)
    session.add(obj)
    for hook in INSERTED_NOW:
        hook(session, obj)


# An INSERT held back by ``insert_now`` inside ``holding_inserts``: the table and the row (every column).
Held = tuple[Any, dict[str, Any]]
_HELD = "tenantry_inserts_held"
# An execution option: the ORM statement reads no table whose rows may be held (``holding_inserts``).
READS_NO_HELD_ROWS = "tenantry_reads_no_held_rows"


@contextmanager
def holding_inserts(session: Session) -> Iterator[None]:
    """Inside, ``insert_now`` holds its rows back for a caller that writes them in a statement of its own (a
    SCIM create's closing audit block: its one statement inserts the account and the membership along with
    the events; app/audit/recorder.py), taking them with ``take_held``. Until then the database has not got
    them, so whatever could refer to or read them writes them first: a flush with changes, an ORM
    statement (unless it carries ``READS_NO_HELD_ROWS``). A Core statement on the session's connection is
    not watched: inside, it must not read a held row's table. What is still held when the block ends
    without an error is written then; after an error it is dropped with the transaction."""
    if _HELD in session.info:
        yield  # nested: the outer block holds
        return
    session.info[_HELD] = []
    try:
        yield
    except BaseException:
        session.info.pop(_HELD, None)
        raise
    write_held(session)
    session.info.pop(_HELD, None)


def take_held(session: Session) -> list[Held]:
    """The rows held so far (now the caller's to write); holding goes on for the rest of the block."""
    held: list[Held] = session.info.get(_HELD) or []
    if held:
        session.info[_HELD] = []
    return held


def write_held(session: Session) -> None:
    """Write the held rows now, in the order ``insert_now`` took them (foreign keys before their users)."""
    held = take_held(session)
    if held:
        insert_held(session.connection(), held)


def insert_held(conn: Connection, held: list[Held]) -> None:
    """Insert rows ``take_held`` gave, in their order, one prebuilt INSERT each."""
    for table, row in held:
        whole_row(table).execute(conn, (row,))


# Set on a session whose transaction was one statement that committed itself (``wrote_alone``).
_WROTE_ALONE = "tenantry_wrote_alone"


class WriteAfterAlone(RuntimeError):
    """A write after a transaction's only statement, which committed itself: it would commit apart."""


def wrote_alone(session: Session) -> None:
    """``session``'s transaction went out as one statement in autocommit, which committed itself
    (``OneStatement.execute``'s ``alone``: a SCIM create's closing block). Until the transaction ends, a
    flush with changes or an ORM write raises ``WriteAfterAlone``: it would go out in a transaction of its
    own, and the two would not be one unit of work. Reads are free to follow."""
    session.info[_WROTE_ALONE] = True


def _refuse_after_alone(session: Session) -> None:
    if session.info.get(_WROTE_ALONE):
        raise WriteAfterAlone(
            "this transaction's only statement has committed it (wrote_alone); a write after it would "
            "commit on its own: write it before the closing block, or in a new transaction"
        )


@event.listens_for(Session, "before_flush")
def _flush_writes_held(session: Session, _context: Any, _instances: Any) -> None:
    _refuse_after_alone(session)
    if session.info.get(_HELD):
        write_held(session)


@event.listens_for(Session, "do_orm_execute")
def _query_writes_held(state: Any) -> None:
    info = state.session.info
    if info.get(_WROTE_ALONE) and not state.is_select:
        _refuse_after_alone(state.session)
    if info.get(_HELD) and not state.execution_options.get(READS_NO_HELD_ROWS):
        write_held(state.session)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE_ALONE, None)


@functools.cache
def _columns(mapper: Any) -> tuple[tuple[Any, str], ...]:
    return tuple((c, mapper.get_property_by_column(c).key) for c in mapper.local_table.columns)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def unique_violation(error: IntegrityError) -> str | None:
    """The table whose unique constraint ``error`` violated; None for any other integrity error."""
    orig = error.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg: SQLSTATE 23505 is unique_violation
        return diag.table_name if getattr(orig, "sqlstate", None) == "23505" else None
    message = str(orig)  # sqlite3: "UNIQUE constraint failed: table.column, …"
    prefix = "UNIQUE constraint failed: "
    if message.startswith(prefix):
        return message[len(prefix) :].split(".", 1)[0]
    return None
