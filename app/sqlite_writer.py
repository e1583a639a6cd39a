"""One writer at a time on a SQLite file, handed over without sleeping.

SQLite lets one transaction write at a time. A second ``BEGIN IMMEDIATE`` is refused as busy, and the busy
handler then sleeps in growing steps (1, 2, 5, 10, … 100 ms) before it tries again: under concurrent writers
(an IdP's import through two workers of two threads each) more time went to those sleeps than to the work,
and one core stayed idle. Here writers queue before ``BEGIN IMMEDIATE`` instead: the threads of a process on
a lock, processes on an ``flock`` of a file beside the database (``<database>-writer``), which the next
process takes within a millisecond of the holder letting go. The connection lets go when its transaction
commits, rolls back or the connection closes (or is dropped); a process that dies lets go with it.

SQLite's automatic checkpoint (copying the write-ahead log back into the database, every 1000 pages) runs
inside the commit that crosses the threshold, so the gate would stay shut through it. Here the connection
checkpoints itself instead, passively, every ``CHECKPOINT_EVERY`` commits of the process, after it has let go
of the gate; SQLite's own stays as a backstop at ten times its default.

A writer waits at most the connection's busy timeout, for the process's lock and the file's together (then
"database is locked", as SQLite would say). Writers that are not Tenantry's (the ``sqlite3`` shell) are still
met by SQLite's own busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

CHECKPOINT_EVERY = 32  # commits of a process between its passive checkpoints
AUTOCHECKPOINT_PAGES = 10_000  # SQLite's own checkpoint, the backstop (its default is 1000)


class WriterGate:
    """The queue of writers on one database file, in this process."""

    def __init__(self, database: str) -> None:
        self.path = database + "-writer"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self.commits = 0  # counted under the gate
        self._disowned = False

    def checkpoint_due(self) -> bool:
        """Called under the gate, once per commit: whether this one should checkpoint after letting go."""
        self.commits += 1
        return self.commits % CHECKPOINT_EVERY == 0

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                weakref.finalize(self, os.close, self._fd)  # closed with the gate (no connection left)
            _flock_until(self._fd, deadline)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None and not self._disowned:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            if self._threads.locked():
                self._threads.release()

    def disown(self) -> None:
        """In a forked child: this gate is the parent's, and lets go of nothing."""
        self._disowned = True


def _flock_until(fd: int, deadline: float) -> None:
    """The file lock, waited for until ``deadline`` (then "database is locked", as SQLite's busy timeout would
    say): tried at once, then every 0.1 ms growing to 1 ms, so the next process goes on within a millisecond
    of the holder letting go, and a holder that never lets go (a process stopped in a debugger) costs a
    bounded wait, not a hang."""
    delay = 0.0001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked")
        time.sleep(delay)
        delay = min(delay * 2, 0.001)


# Held by the connections that use them: a database no connection is open on any more has no gate.
_gates: weakref.WeakValueDictionary[str, WriterGate] = weakref.WeakValueDictionary()
_gates_lock = threading.Lock()


def gate_for(database: str) -> WriterGate:
    """The gate of ``database`` (an absolute path) in this process."""
    with _gates_lock:
        gate = _gates.get(database)
        if gate is None:
            gate = _gates[database] = WriterGate(database)
        return gate


def _forget_gates() -> None:
    # A forked child starts with gates of its own: the parent's locks and open file are not its. The parent's
    # gates, still referenced by the connections the child inherited (and drops), must never unlock the
    # file: its open file description is the parent's too, and an unlock there would be the parent's.
    global _gates, _gates_lock
    for inherited in list(_gates.values()):
        inherited.disown()
    _gates = weakref.WeakValueDictionary()
    _gates_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_gates)


class GatedConnection(sqlite3.Connection):
    """A pysqlite connection (``sqlite3.connect(..., factory=GatedConnection)``) whose write transactions
    pass the gate of its file: ``begin_immediate()`` waits for the gate, and the end of the transaction
    (commit, rollback, close) opens it again."""

    gate: WriterGate | None = None
    wait: float = 30.0
    _holding: bool = False

    def begin_immediate(self) -> None:
        if self.gate is not None and not self._holding:
            self.gate.acquire(self.wait)
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._let_go()
            raise

    def _let_go(self) -> None:
        if self._holding:
            self._holding = False
            assert self.gate is not None
            self.gate.release()

    def commit(self) -> None:
        due = False
        try:
            super().commit()
        finally:
            if not self.in_transaction and self._holding:
                assert self.gate is not None
                due = self.gate.checkpoint_due()
                self._let_go()
        if due:
            try:
                self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # busy or interrupted: the next one, or SQLite's backstop, will do it
                pass

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def __del__(self) -> None:
        # Dropped without close() (a pool discarding a connection, a forked child's inherited pool): SQLite
        # ends the transaction as the handle goes; the gate must open with it.
        try:
            self._let_go()
        except Exception:  # noqa: S110 - interpreter shutdown: nothing left to let go to
            pass


def attach(dbapi_connection: Any, database: str, timeout: float) -> None:
    """Give a new connection (made with ``factory=GatedConnection``) the gate of its file."""
    if isinstance(dbapi_connection, GatedConnection):
        dbapi_connection.gate = gate_for(os.path.abspath(database))
        dbapi_connection.wait = timeout
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
