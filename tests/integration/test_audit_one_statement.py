"""A linked block's audit rows in one statement on PostgreSQL (app/audit/one_statement.py): the events, their
target index rows, their outbox rows and every chain head the block moved, written by one ``WITH … UPDATE``,
with the same stored values as the per-table path (SQLite's, and PostgreSQL's past the parameter limit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import app.audit.recorder as recorder_module
from app.audit.bus.models import OutboxEvent
from app.audit.catalogue import AuditAction
from app.audit.models import PLATFORM_CHAIN, AuditChainHead, AuditEvent, AuditEventTarget
from app.audit.one_statement import OneStatement
from app.audit.recorder import SYSTEM, AuditRecorder, OutboxConfig, RequestContext, Target
from app.clock import SystemClock
from app.container import Container
from app.db import transaction
from app.ids import new_id
from tests.integration.audit_helpers import intact_chain
from tests.support import statements_run

_WRITES = (
    "WITH I0 AS (INSERT INTO AUDIT_SUBJECT_KEYS",
    "INSERT INTO AUDIT_SUBJECT_KEYS ",
    "INSERT INTO AUDIT_EVENTS ",
    "INSERT INTO AUDIT_EVENT_TARGETS ",
    "INSERT INTO OUTBOX_EVENTS ",
    "UPDATE AUDIT_CHAIN_HEADS ",
)


def _org(container: Container, name: str) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create(name).id


def _block(container: Container, session: Session, org_id: str, user_id: str) -> list[AuditEvent]:
    """Two events of the org (one with personal values, one with two targets) and one platform event, linked
    at the block's end with outbox rows."""
    outbox = OutboxConfig(enabled=True, keyring=container.outbox.keyring)
    audit = AuditRecorder(session, SystemClock(), SYSTEM, RequestContext(ip="192.0.2.7"), outbox)
    with audit.linked_at_end():
        made = [
            audit.record(
                AuditAction.ORG_UPDATED,
                org_id=org_id,
                targets=[Target("organization", org_id, "Acme"), Target("user", user_id, "Ann")],
                changes={"name": {"before": "A", "after": "B"}},
                data={"nested": {"list": [1, 2.5, None, "é"]}},
            ),
            audit.record(
                AuditAction.USER_CREATED,
                org_id=org_id,
                targets=[Target("user", user_id, "ann@example.com")],
                data={"email": "ann@example.com"},
            ),
            audit.record(AuditAction.ORG_UPDATED, org_id=None, data={"platform": True}),
        ]
        assert all(e.seq is None for e in made)  # linked when the block ends
    return made


def _stored(session: Session, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """What a block left, without what differs between two runs (ids, times, places in the chain)."""
    ids = [e.id for e in events]
    rows = session.scalars(select(AuditEvent).where(AuditEvent.id.in_(ids)).order_by(AuditEvent.id)).all()
    out = []
    for row in rows:
        targets = session.scalars(
            select(AuditEventTarget)
            .where(AuditEventTarget.event_id == row.id)
            .order_by(AuditEventTarget.position)
        ).all()
        box = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == row.id)).one()
        out.append(
            {
                "action": row.action,
                "chain": row.chain == PLATFORM_CHAIN,
                "actor": (row.actor_type, row.actor_id, row.actor_name is None),
                "targets": [{k: v for k, v in t.items() if k != "name"} for t in row.targets],
                "context": row.context,
                "ip": row.ip,
                "outcome": row.outcome,
                "changes": row.changes,
                "data_keys": sorted(row.data),
                "sealed": sorted(row.sealed or {}),
                "occurred_at": row.occurred_at.tzinfo is not None,
                "index": [(t.position, t.target_type, t.occurred_at == row.occurred_at) for t in targets],
                "outbox": (box.subject, box.payload["type"], box.payload["data"].get("changes")),
            }
        )
    return out


def test_a_block_is_one_statement_on_postgresql_with_the_per_table_paths_rows(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, user_id = _org(container, "One statement"), new_id("usr")
    postgres = container.engine.dialect.name == "postgresql"
    stored: list[list[dict[str, Any]]] = []
    for one in (True, False):
        if not one:  # the per-table path: SQLite's always, and PostgreSQL's for a batch past the limit
            monkeypatch.setattr(recorder_module._ONE_STATEMENT, "fits", lambda *_: False)
        with container.session_factory() as session:
            seen = statements_run(session)
            made = _block(container, session, org_id, user_id)
            writes = [s for s in seen if s.lstrip().upper().startswith(_WRITES)]
            if postgres and one:
                assert len(writes) == 1 and writes[0].startswith("WITH")
                tables = ("audit_subject_keys", "audit_events", "audit_event_targets", "outbox_events")
                for table in (*tables, "audit_chain_heads"):  # the user's first key: made in this block
                    assert table in writes[0]
            else:  # keys (the first run makes the user's), events, targets, outbox: a batch each; a head
                # move per chain (the org's, the platform's)
                assert len(writes) == (6 if one else 5) and sum(s.startswith("UPDATE") for s in writes) == 2
            session.commit()
        with container.session_factory() as session:
            stored.append(_stored(session, made))
            # The hashes were computed from the values before they were written: the stored rows must give
            # them back (JSON, the UTC time, the nested values); the heads are at the new last links.
            org_events, platform_events = intact_chain(session, org_id), intact_chain(session, PLATFORM_CHAIN)
            assert {e.id for e in made} <= {e.id for e in org_events + platform_events}
            outbox_ids = session.scalars(
                select(OutboxEvent.id)
                .where(OutboxEvent.event_id.in_([e.id for e in made]))
                .order_by(OutboxEvent.event_id)
            ).all()
            assert list(outbox_ids) == sorted(outbox_ids)  # the relay publishes by id: the events' order
    assert stored[0] == stored[1] and len(stored[0]) == 3
    assert stored[0][0]["sealed"] or stored[0][1]["sealed"]  # personal values were sealed and stored


def test_past_the_parameter_limit_a_batch_goes_out_per_table(container: Container) -> None:
    writer = recorder_module._ONE_STATEMENT
    event_columns = len(writer.inserts[1][1])
    rows = [{}] * (20_000 // event_columns + 1)
    assert writer.fits([[], rows[:10], [], []], 1)
    assert not writer.fits([[], rows, [], []], 1)
    assert not writer.fits([[], rows[:1], [], []], 0)  # no head moved: nothing to write this way
    assert writer.fits([[], rows[:10], [], []], 0, linked=10)  # or the statement links its events
    assert not writer.fits([[], rows, [], []], 0, linked=len(rows))


def test_the_sql_is_built_once_per_shape_and_skips_empty_tables() -> None:
    writer = OneStatement(
        [
            (AuditEvent.__table__, ("id", "seq")),  # type: ignore[list-item]
            (AuditEventTarget.__table__, ("event_id", "position")),  # type: ignore[list-item]
        ],
        AuditChainHead.__table__,  # type: ignore[arg-type]
        "chain",
        ("seq", "hash", "occurred_at"),
    )
    sql = writer.sql((2, 0, 1, 0))  # rows per table, heads, orgs bumped
    assert sql == (
        "WITH i0 AS (INSERT INTO audit_events (id, seq) VALUES ($1, $2), ($3, $4)) "
        "UPDATE audit_chain_heads AS h SET seq = m.seq, hash = m.hash, occurred_at = m.occurred_at "
        "FROM (VALUES ($5::varchar, $6::bigint, $7::varchar, $8::timestamptz)) "
        "AS m(chain, seq, hash, occurred_at) WHERE h.chain = m.chain"
    )
    assert writer.sql((2, 0, 1, 0)) is sql  # cached
    two_heads = writer.sql((1, 3, 2, 0))
    assert (
        "i0 AS (INSERT INTO audit_events (id, seq) VALUES ($1, $2)), "
        "i1 AS (INSERT INTO audit_event_targets (event_id, position) VALUES ($3, $4), ($5, $6), ($7, $8))"
        in two_heads
    )
    assert (
        "(VALUES ($9::varchar, $10::bigint, $11::varchar, $12::timestamptz), "
        "($13::varchar, $14::bigint, $15::varchar, $16::timestamptz))" in two_heads
    )
    assert "%s" not in two_heads and "$17" not in two_heads
    with_held = writer.sql((1, 0, 1, 0), (AuditChainHead.__table__,))  # type: ignore[arg-type]
    assert with_held.startswith(  # a held row (``app.db.holding_inserts``) first, every column of its table
        "WITH h0 AS (INSERT INTO audit_chain_heads (chain, seq, hash, occurred_at) VALUES ($1, $2, $3, $4)), "
        "i0 AS (INSERT INTO audit_events (id, seq) VALUES ($5, $6)) "
    )
    bumping = writer.sql((1, 0, 1, 2))  # the transaction's last write bumps two orgs' authorization versions
    assert bumping == (
        "WITH i0 AS (INSERT INTO audit_events (id, seq) VALUES ($1, $2)), "
        "moved AS (UPDATE audit_chain_heads AS h SET seq = m.seq, hash = m.hash, occurred_at = m.occurred_at "
        "FROM (VALUES ($3::varchar, $4::bigint, $5::varchar, $6::timestamptz)) "
        "AS m(chain, seq, hash, occurred_at) WHERE h.chain = m.chain), "
        "bumped AS (INSERT INTO authz_versions (org_id, version, changed_at) "
        "VALUES ($7::varchar, 1, $9::float8), ($8::varchar, 1, $9::float8) "
        "ON CONFLICT (org_id) DO UPDATE SET version = authz_versions.version + 1, "
        "changed_at = excluded.changed_at RETURNING org_id, version) "
        "SELECT org_id, version, pg_notify($10::text, org_id || ':' || version) FROM bumped"
    )


@pytest.mark.postgres
def test_a_refused_statement_raises_sqlalchemys_error_and_leaves_the_cursor_factory(
    pg_container: Container,
) -> None:
    """The statement goes out on a psycopg RawCursor (``$n`` placeholders, no per-call parsing): a refusal
    still reaches the app as SQLAlchemy's IntegrityError (its error handlers map it to 409), and the pooled
    connection gets its own cursor factory back."""
    writer = recorder_module._ONE_STATEMENT
    target = {
        "event_id": new_id("evt"),  # no such event: the foreign key refuses it at the statement's end
        "position": 0,
        "org_id": None,
        "target_type": "user",
        "target_id": new_id("usr"),
        "occurred_at": datetime.now(UTC),
    }
    with pg_container.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        factory = driver.cursor_factory
        with pytest.raises(IntegrityError, match="audit_event_targets"):
            writer.execute(
                conn, [[], [], [target], []], [(PLATFORM_CHAIN, 1, "0" * 64, None)], [new_id("org")], 1.0
            )
        assert driver.cursor_factory is factory and factory is not psycopg.RawCursor
        conn.rollback()
        assert conn.exec_driver_sql("SELECT %s::int", (7,)).scalar() == 7  # %s placeholders work again


@pytest.mark.postgres
def test_a_statement_alone_commits_itself_or_writes_nothing(pg_container: Container) -> None:
    """``alone``: in autocommit, on a transaction psycopg has not begun (one round trip, no ``BEGIN`` or
    ``COMMIT``). A refused statement leaves nothing behind and no aborted transaction; one that goes through
    is committed before any commit; the driver is given back out of autocommit either way. On a begun
    transaction it is refused, before anything is sent."""
    writer = recorder_module._ONE_STATEMENT

    def target(event_id: str) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "position": 0,
            "org_id": None,
            "target_type": "user",
            "target_id": new_id("usr"),
            "occurred_at": datetime.now(UTC),
        }

    nowhere = [("no_such_chain", 1, "0" * 64, None)]  # (a head move that moves nothing)
    with pg_container.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with pytest.raises(IntegrityError, match="audit_event_targets"):  # (no such event)
            writer.execute(
                conn, [[], [], [target(new_id("evt"))], []], nowhere, [new_id("org")], 1.0, alone=True
            )
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not driver.autocommit
        conn.rollback()
        org_id = new_id("org")
        bumped, _ = writer.execute(conn, [[], [], [], []], nowhere, [org_id], 1.0, alone=True)
        assert bumped == {org_id: 1}
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not driver.autocommit
        with pg_container.engine.connect() as other:  # committed already
            assert (
                other.exec_driver_sql(
                    "SELECT version FROM authz_versions WHERE org_id = %s", (org_id,)
                ).scalar()
                == 1
            )
        conn.rollback()  # (nothing to undo)
        conn.exec_driver_sql("SELECT 1")
        with pytest.raises(ValueError, match="has not begun"):
            writer.execute(conn, [[], [], [], []], nowhere, [new_id("org")], 1.0, alone=True)
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.rollback()


@pytest.mark.postgres
def test_a_lost_server_is_sqlalchemys_operational_error_and_the_connection_is_dropped(
    pg_container: Container,
) -> None:
    """The statement runs on the driver's cursor, not through SQLAlchemy's execution: a server gone under it
    is still SQLAlchemy's OperationalError (mapped to 503), and the connection is invalidated, so the pool
    replaces it; the cursor events saw the statement go out."""
    writer = recorder_module._ONE_STATEMENT
    engine = create_engine(pg_container.engine.url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    nowhere = [("no_such_chain", 1, "0" * 64, None)]
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.commit()
            with pg_container.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            seen: list[str] = []
            event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
            with pytest.raises(OperationalError) as lost:
                writer.execute(conn, [[], [], [], []], nowhere, [new_id("org")], 1.0)
            assert lost.value.connection_invalidated is True and conn.invalidated
            assert len(seen) == 1 and "authz_versions" in seen[0]
        with engine.connect() as conn:  # a new connection in its place
            assert conn.execute(text("SELECT 7")).scalar() == 7
    finally:
        engine.dispose()


def test_a_linking_statement_locks_the_head_then_links_each_event_after_the_one_before() -> None:
    """Two events (one target row, of the second; an outbox row each): ``hd`` locks the head (materialized:
    never folded into the outer join that starts a new chain), ``l1`` follows it and ``l2`` follows ``l1``;
    each row takes its own event's values, each outbox payload its own bound value; the head moves to
    ``l2``."""
    writer = recorder_module._ONE_STATEMENT
    events = len(writer.inserts[1][1])
    sql = writer.sql((0, 2, 1, 2, 0, 0), (), ((), (0, 1), (1,), (0, 1)), 2)
    assert sql.startswith(
        "WITH hd AS MATERIALIZED (SELECT seq AS seq, hash AS hash, occurred_at AS at FROM audit_chain_heads "
        "WHERE chain = $1::varchar FOR UPDATE), l1 AS (SELECT r.seq, r.prev, r.at, r.t, "
        "encode(sha256(convert_to(r.prev, 'UTF8') || $3::bytea || convert_to(r.t, 'UTF8') || $4::bytea || "
        "convert_to(r.seq::text, 'UTF8') || $5::bytea), 'hex') AS hash "
    )
    assert "GREATEST($2::timestamptz, b.at + interval '1 microsecond')" in sql
    assert "FROM (SELECT 1) AS one LEFT JOIN hd ON TRUE) AS b" in sql  # a chain's first event: from genesis
    assert "FROM l1 AS b) AS p) AS r), " in sql and "$8::bytea), 'hex') AS hash" in sql  # l2 after l1
    assert sql.count("(SELECT l.seq FROM l1 AS l)") == 1 and sql.count("(SELECT l.seq FROM l2 AS l)") == 1
    assert "(SELECT l.at FROM l2 AS l))" in sql  # the target row: its event's time
    assert sql.count("jsonb_set(jsonb_set(jsonb_set(jsonb_set($") == 2  # each outbox row binds its payload
    # Each event row binds all but its four linked columns: 8 parameters so far, then the rows.
    assert f"${8 + 2 * (events - 4) + 1}," in sql and f"${8 + 2 * (events - 4) + 3}" in sql
    assert (
        "moved AS (INSERT INTO audit_chain_heads (chain, seq, hash, occurred_at) "
        "SELECT $1::varchar, seq, hash, at FROM l2 ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, "
        "hash = excluded.hash, occurred_at = excluded.occurred_at) "
    ) in sql
    assert sql.endswith(
        "SELECT seq, prev, hash, at, NULL::varchar, NULL::bigint FROM l1 UNION ALL "
        "SELECT seq, prev, hash, at, NULL::varchar, NULL::bigint FROM l2"
    )
