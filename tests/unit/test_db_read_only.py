"""SQLite transactions: a writer holds the write lock from BEGIN; one begun read-only neither waits for it nor
takes it (an IdP's lookups run beside the imports)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from app.db import begin_read_only, make_engine, make_session_factory


def test_a_read_only_transaction_reads_beside_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    factory = make_session_factory(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    writer = factory()
    writer.execute(text("INSERT INTO t VALUES (2)"))  # BEGIN IMMEDIATE: the write lock, held
    try:
        reader = factory()
        begin_read_only(reader)
        assert reader.scalars(text("SELECT v FROM t ORDER BY v")).all() == [1]  # the committed snapshot
        reader.rollback()
        reader.close()

        # An ordinary transaction waits for the writer (busy_timeout) until it commits.
        began = threading.Event()

        def other() -> None:
            with factory() as session:
                session.execute(text("SELECT 1"))
                began.set()
                session.rollback()

        thread = threading.Thread(target=other)
        thread.start()
        assert not began.wait(0.5)
        writer.commit()
        assert began.wait(10)
        thread.join()
    finally:
        writer.close()

    reader = factory()
    begin_read_only(reader)
    assert reader.scalars(text("SELECT v FROM t ORDER BY v")).all() == [1, 2]
    reader.close()
    # Marking a transaction already begun changes nothing (and does not fail).
    with factory() as session:
        session.execute(text("SELECT 1"))
        begin_read_only(session)
        session.execute(text("INSERT INTO t VALUES (3)"))
        session.commit()
    engine.dispose()
