"""A pooled PostgreSQL connection is pinged before use only after an idle spell: a connection given back
moments ago goes straight to work (no extra statement on the wire), and one that died while idle is
replaced before the request sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.db import make_engine


def _pid(conn: Any) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_back_moments_ago_is_not_pinged(pg_database: str) -> None:
    engine = make_engine(pg_database, pool_size=1, max_overflow=0, ping_after_idle=60.0)
    pings: list[str] = []
    with engine.connect() as conn:
        _pid(conn)
    raw_conn = engine.raw_connection()
    dbapi = raw_conn.dbapi_connection
    raw_conn.close()
    # the ping goes through do_ping, which runs the dialect's one-statement probe on a raw cursor
    original = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append("ping")
        return original(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection is dbapi
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert pings == []
    engine.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(pg_database: str) -> None:
    engine = make_engine(pg_database, pool_size=1, max_overflow=0, ping_after_idle=0.0)
    with engine.connect() as conn:
        first = _pid(conn)
    killer = make_engine(pg_database, pool_size=1, max_overflow=0)
    with killer.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one() is True
    killer.dispose()
    with engine.connect() as conn:  # no error: the dead connection was found by the ping and replaced
        second = _pid(conn)
    assert second != first  # (with a longer idle_seconds the same statement fails: AdminShutdown)
    engine.dispose()


def test_an_explicit_pre_ping_is_still_honoured(pg_database: str) -> None:
    engine = make_engine(pg_database, pool_size=1, max_overflow=0, pool_pre_ping=True)
    with engine.connect() as conn:
        first = _pid(conn)
    killer = make_engine(pg_database, pool_size=1, max_overflow=0)
    with killer.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    killer.dispose()
    with engine.connect() as conn:
        assert _pid(conn) != first
    engine.dispose()
