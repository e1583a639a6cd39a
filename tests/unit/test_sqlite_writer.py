"""SQLite writers queue at the gate (app/sqlite_writer.py) instead of sleeping in SQLite's busy handler: the
next writer, in this process or another, begins as soon as the one before it ends."""

from __future__ import annotations

import fcntl
import gc
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.db import make_engine, make_session_factory
from app.sqlite_writer import AUTOCHECKPOINT_PAGES, CHECKPOINT_EVERY, GatedConnection, gate_for


def _table(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    engine.dispose()


def test_a_waiting_writer_begins_as_soon_as_the_holder_commits(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    engine = make_engine(f"sqlite:///{db}")
    factory = make_session_factory(engine)
    holder = factory()
    holder.execute(text("INSERT INTO t VALUES (1)"))  # BEGIN IMMEDIATE through the gate: held
    began = threading.Event()
    waited: list[float] = []

    def writer() -> None:
        with factory() as session:
            started = time.perf_counter()
            session.execute(text("INSERT INTO t VALUES (2)"))
            waited.append(time.perf_counter() - started)
            began.set()
            session.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not began.wait(0.3)  # queued behind the holder
    released = time.perf_counter()
    holder.commit()
    assert began.wait(5)
    thread.join()
    holder.close()
    assert waited[0] >= 0.3  # it really waited for the holder
    assert time.perf_counter() - released < 2  # and went on when the holder committed
    with factory() as session:
        assert session.scalars(text("SELECT v FROM t ORDER BY v")).all() == [1, 2]
    engine.dispose()


def test_rollback_and_close_let_go(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    engine = make_engine(f"sqlite:///{db}")
    factory = make_session_factory(engine)
    for end in ("rollback", "close"):
        session = factory()
        session.execute(text("INSERT INTO t VALUES (1)"))
        getattr(session, end)()
        other = factory()
        other.execute(text("INSERT INTO t VALUES (2)"))  # would wait forever if the gate were still held
        other.commit()
        other.close()
    # A failed statement inside the transaction, then rollback: the gate is open again.
    session = factory()
    session.execute(text("INSERT INTO t VALUES (3)"))
    with pytest.raises(Exception, match="no such table"):
        session.execute(text("INSERT INTO missing VALUES (1)"))
    session.rollback()
    session.close()
    with factory() as other:
        other.execute(text("INSERT INTO t VALUES (4)"))
        other.commit()
    with factory() as session:
        assert session.scalars(text("SELECT v FROM t ORDER BY v")).all() == [2, 2, 4]
    engine.dispose()


def test_a_thread_waits_at_most_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    gate = gate_for(str(db.resolve()))
    gate.acquire(1)
    try:
        failed: list[BaseException] = []

        def other() -> None:
            try:
                gate.acquire(0.2)
            except sqlite3.OperationalError as exc:
                failed.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
        assert failed and "locked" in str(failed[0])
    finally:
        gate.release()


def _hold_in_child(path: str, ready: object, go: object) -> None:
    conn = sqlite3.connect(path, factory=GatedConnection, isolation_level=None)
    conn.gate = gate_for(path)
    conn.begin_immediate()
    conn.execute("INSERT INTO t VALUES (10)")
    ready.set()  # type: ignore[attr-defined]
    go.wait(10)  # type: ignore[attr-defined]
    conn.commit()
    conn.close()


@contextmanager
def _held_by_another_process(db: Path) -> Iterator[Any]:
    """Another process holds the gate (a write transaction) of ``db``; ``.set()`` the yielded event to let it
    commit. On leaving, it has committed and exited cleanly."""
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_in_child, args=(str(db.resolve()), ready, go))
    child.start()
    try:
        assert ready.wait(30)
        yield go
    finally:
        go.set()
        child.join(10)
    assert child.exitcode == 0


def test_writers_in_two_processes_queue_on_the_file(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    with _held_by_another_process(db) as go:
        engine = make_engine(f"sqlite:///{db}")
        factory = make_session_factory(engine)
        began = threading.Event()

        def writer() -> None:
            with factory() as session:
                session.execute(text("INSERT INTO t VALUES (11)"))
                began.set()
                session.commit()

        thread = threading.Thread(target=writer)
        thread.start()
        assert not began.wait(0.3)  # the other process holds the gate
        go.set()
        assert began.wait(5)
        thread.join()
        with factory() as session:
            assert session.scalars(text("SELECT v FROM t ORDER BY v")).all() == [10, 11]
        engine.dispose()


def test_commits_checkpoint_the_log_after_letting_go(tmp_path: Path) -> None:
    """SQLite's own checkpoint would run inside a commit, gate shut, every 1000 pages; ours runs once the gate
    is open, every CHECKPOINT_EVERY commits, so the database file takes the rows long before 1000 pages."""
    db = tmp_path / "db.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (b BLOB)"))
    factory = make_session_factory(engine)
    with factory() as session:
        assert session.scalar(text("PRAGMA wal_autocheckpoint")) == AUTOCHECKPOINT_PAGES
    before = db.stat().st_size
    for _ in range(2 * CHECKPOINT_EVERY):
        with factory() as session:
            session.execute(text("INSERT INTO blobs VALUES (randomblob(8000))"))  # 2 to 3 pages each
            session.commit()
    # About 150 pages in all, far under SQLite's backstop: only our checkpoints moved them into the file.
    assert db.stat().st_size >= before + CHECKPOINT_EVERY * 8000
    engine.dispose()


def test_a_connection_dropped_without_close_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    gate = gate_for(str(db.resolve()))
    conn = sqlite3.connect(str(db), factory=GatedConnection, isolation_level=None)
    conn.gate = gate
    conn.begin_immediate()
    conn.execute("INSERT INTO t VALUES (1)")
    del conn  # no commit, rollback or close: SQLite rolls back as the handle goes, and the gate opens
    gc.collect()  # (a connection may sit in a reference cycle until the collector runs)
    gate.acquire(1)  # would raise "database is locked" if the gate were still shut
    gate.release()


def test_a_writer_in_another_process_waits_at_most_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    gate = gate_for(str(db.resolve()))
    with _held_by_another_process(db):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            gate.acquire(0.3)
        assert 0.3 <= time.monotonic() - started < 5
    gate.acquire(5)  # the holder committed: free again
    gate.release()


def _child_drops_inherited(conn: GatedConnection, path: str, result: object) -> None:
    conn._let_go()  # as when the inherited connection is dropped in the child
    fd = os.open(path + "-writer", os.O_RDWR)  # a description of the child's own
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result.value = 0  # type: ignore[attr-defined]  # free: the child unlocked the parent's gate
    except BlockingIOError:
        result.value = 1  # type: ignore[attr-defined]  # still the parent's
    finally:
        os.close(fd)


def test_a_forked_child_never_unlocks_the_parents_gate(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _table(db)
    conn = sqlite3.connect(str(db), factory=GatedConnection, isolation_level=None, check_same_thread=False)
    conn.gate = gate_for(str(db.resolve()))
    conn.begin_immediate()  # the parent holds the gate while it forks
    ctx = multiprocessing.get_context("fork")
    result = ctx.Value("i", -1)
    child = ctx.Process(target=_child_drops_inherited, args=(conn, str(db.resolve()), result))
    child.start()
    child.join(30)
    conn.rollback()
    conn.close()
    assert child.exitcode == 0 and result.value == 1
