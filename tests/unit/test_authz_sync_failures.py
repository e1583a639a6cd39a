"""How the authz sync thread reports a failed round: a database error by its message alone (no traceback is
formatted off the main thread: on CPython 3.11 that parses source and can race another thread's ``ast`` use
into "AST constructor recursion depth mismatch", CPython #106905), anything else with its traceback, and
nothing at all once the engine is stopped (its connections going away at shutdown is no failure). The
failures are injected into the round (the database stays up); the thread, loop and logging are real."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.credentials.principal import Principal
from app.rbac.engine import AuthzEngine
from tests.support import wait_until

PRINCIPAL = Principal("platform", "key_test", "tests")


@pytest.fixture
def bind() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


def _failures(caplog: pytest.LogCaptureFixture, authz: AuthzEngine) -> list[logging.LogRecord]:
    """The failures ``authz``'s own sync thread reported (not another engine's left running here)."""
    thread = authz._thread
    return [
        r
        for r in caplog.records
        if r.getMessage().startswith("authz sync failed") and thread is not None and r.thread == thread.ident
    ]


def _start(authz: AuthzEngine) -> None:
    authz.remember_key("0" * 64, PRINCIPAL)  # the first cached key starts the sync thread


def _first_failure(bind: Engine, caplog: pytest.LogCaptureFixture, error: Exception) -> logging.LogRecord:
    """Start a sync thread whose every round raises ``error``; the first failure it reports."""
    authz = AuthzEngine(bind, poll_interval=0.01)

    def fail(since: float, cur: object = None) -> None:
        raise error

    authz.poll_once = fail  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="tenantry.authz"):
        _start(authz)
        assert wait_until(lambda: _failures(caplog, authz))
        authz.stop()
    return _failures(caplog, authz)[0]


def test_a_database_error_is_one_line_without_traceback(
    bind: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    error = OperationalError("SELECT 1", {}, Exception('database "gone" does not exist\nDETAIL: more'))
    record = _first_failure(bind, caplog, error)
    assert record.exc_info is None
    assert 'database "gone" does not exist' in record.getMessage() and "DETAIL" not in record.getMessage()


def test_another_error_keeps_its_traceback(bind: Engine, caplog: pytest.LogCaptureFixture) -> None:
    record = _first_failure(bind, caplog, RuntimeError("a bug in a round"))
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_failure_after_stop_is_not_reported(bind: Engine, caplog: pytest.LogCaptureFixture) -> None:
    authz = AuthzEngine(bind, poll_interval=0.01)
    in_round, stopped = threading.Event(), threading.Event()

    def fail_once_stopped(since: float, cur: object = None) -> None:
        in_round.set()
        stopped.wait(10)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    authz.poll_once = fail_once_stopped  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="tenantry.authz"):
        _start(authz)
        assert in_round.wait(10)
        thread = authz._thread
        authz.stop(timeout=0)  # as disposing the database engine does: stop is set, nobody waits
        stopped.set()
        assert thread is not None
        thread.join(10)
        assert not thread.is_alive()
    assert _failures(caplog, authz) == []
