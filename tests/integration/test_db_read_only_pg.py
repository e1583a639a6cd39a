"""On PostgreSQL a read-only unit of work (an IdP's lookups) runs without a transaction: no BEGIN and no
ROLLBACK on the wire; the pooled connection is a transactional one again for the next request."""

from __future__ import annotations

from sqlalchemy import text

from app.db import begin_read_only, make_engine, make_session_factory


def test_read_only_work_runs_in_autocommit_and_the_pool_gets_a_transactional_connection_back(
    pg_database: str,
) -> None:
    engine = make_engine(pg_database, pool_size=1, max_overflow=0)  # one connection: the same one comes back
    factory = make_session_factory(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))

    reader = factory()
    begin_read_only(reader)
    raw = reader.connection().connection.dbapi_connection
    assert raw is not None and raw.autocommit is True
    assert reader.scalars(text("SELECT v FROM t")).all() == [1]
    assert raw.info.transaction_status.name == "IDLE"  # no transaction was opened for the read
    reader.close()

    writer = factory()
    writer.execute(text("INSERT INTO t VALUES (2)"))
    again = writer.connection().connection.dbapi_connection
    assert again is raw and again.autocommit is False  # the same connection, transactional again
    writer.rollback()  # and the rollback undoes the write
    writer.close()
    with factory() as session:
        assert session.scalars(text("SELECT v FROM t ORDER BY v")).all() == [1]
    engine.dispose()
