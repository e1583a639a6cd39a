"""A prebuilt read (app/prebuilt_read.py) gives what Core's execution of the same SELECT gives (UTC times,
JSON, booleans, NULLs), leaves a pooled connection as the pool hands it out, reads inside the caller's
transaction when given one, and raises SQLAlchemy's exception types, on PostgreSQL (the only driver it is
built for; SQLite's ``?`` parameters are refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.container import Container
from app.db import transaction
from app.orgs.models import Membership, Organization, User
from app.prebuilt_read import PrebuiltRead
from app.scim.listing import _LOOKUPS
from app.scim.service import _CREATE_CHECKS

_MEMBER = (
    select(Membership.id, Membership.attributes, Membership.created_at, Membership.seat_type, User.email)
    .join(User, User.id == Membership.user_id)
    .where(Membership.org_id == bindparam("org_id"))
    .order_by(Membership.id)
)


def _org_with_member(container: Container, attributes: dict[str, Any]) -> str:
    with transaction(container.session_factory) as session:
        services = container.services(session)
        org = services.orgs.create("Prebuilt read")
        user = services.accounts.create("reader@example.com", "Reader", org_id=org.id)
        member = services.members.add(org.id, user, "member", source="scim", new_account=True)
        member.attributes = attributes
        member.created_at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
        return org.id


def test_the_rows_are_cores_rows(pg_container: Container) -> None:
    attributes = {"name": {"givenName": "Ada"}, "phoneNumbers": [{"value": "+1", "type": "mobile"}]}
    org_id = _org_with_member(pg_container, attributes)
    read = PrebuiltRead(_MEMBER)
    got = read.on_pool(pg_container.engine, {"org_id": org_id})
    with pg_container.engine.connect() as conn:
        core = [tuple(row) for row in conn.execute(_MEMBER, {"org_id": org_id})]
    assert got == core and len(got) == 1
    member_id, stored, created, seat, email = got[0]
    assert stored == attributes and seat is None and email == "reader@example.com"
    assert created == datetime(2026, 1, 1, 22, 4, 5, 678901, tzinfo=UTC) and created.tzinfo == UTC
    assert read.on_pool(pg_container.engine, {"org_id": "org_missing"}) == []


def test_the_checks_of_a_create_read_as_core_reads_them(pg_container: Container) -> None:
    org_id = _org_with_member(pg_container, {})
    read = PrebuiltRead(_CREATE_CHECKS)
    cases = [
        {"org_id": org_id, "user_name": "reader@example.com", "email": "reader@example.com"},
        {"org_id": org_id, "user_name": "nobody@example.com", "email": "nobody@example.com"},
        {"org_id": "org_missing", "user_name": "x", "email": "x"},
    ]
    with pg_container.engine.connect() as conn:
        for params in cases:
            assert read.on(conn, params) == [tuple(r) for r in conn.execute(_CREATE_CHECKS, params)]
    taken = read.on_pool(pg_container.engine, cases[0])[0]
    assert taken[0] == "accept" and taken[1] is True and taken[2].startswith("usr_")


def test_a_pooled_connection_goes_back_as_the_pool_hands_it_out(pg_container: Container) -> None:
    engine = create_engine(pg_container.engine.url, pool_size=1, max_overflow=0)
    try:
        read = PrebuiltRead(_LOOKUPS["username"])
        assert read.on_pool(engine, {"org_id": "org_x", "value": "a@example.com", "count": 10}) == []
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert isinstance(driver, psycopg.Connection)
            assert driver.autocommit is False  # transactions as usual for the pool's next user
            assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        finally:
            pooled.close()
    finally:
        engine.dispose()


def test_on_a_connection_it_reads_in_that_transaction(pg_container: Container) -> None:
    org_id = _org_with_member(pg_container, {})
    read = PrebuiltRead(_MEMBER)
    with pg_container.engine.connect() as conn:
        conn.execute(text("UPDATE memberships SET seat_type = 'pro' WHERE org_id = :o"), {"o": org_id})
        assert [row[3] for row in read.on(conn, {"org_id": org_id})] == ["pro"]  # its own uncommitted write
        assert [row[3] for row in read.on_pool(pg_container.engine, {"org_id": org_id})] == [None]
        conn.rollback()


def test_on_a_connection_without_a_transaction_it_begins_one_for_sqlalchemy(pg_container: Container) -> None:
    """As SQLAlchemy's own execution autobegins: its commit and rollback then reach the driver's transaction
    (a failed read would otherwise leave the connection aborted under a rollback that does nothing)."""
    missing = PrebuiltRead(select(text("x")).select_from(text("no_such_table")).where(text("1 = 1")))
    with pg_container.engine.connect() as conn:
        assert not conn.in_transaction()
        with pytest.raises(ProgrammingError):
            missing.on(conn, {})
        assert conn.in_transaction()
        conn.rollback()
        assert conn.execute(text("SELECT 7")).scalar() == 7


def _status(conn: Any) -> psycopg.pq.TransactionStatus:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection) and not driver.autocommit
    return driver.info.transaction_status


def test_ahead_of_a_transaction_not_begun_it_reads_in_autocommit(pg_container: Container) -> None:
    """``ahead``: nothing sent yet, so the read goes out alone (no ``BEGIN``) and leaves the driver as it was,
    outside a transaction and out of autocommit; the next statement begins the transaction as usual."""
    org_id = _org_with_member(pg_container, {})
    read = PrebuiltRead(_MEMBER)
    with pg_container.engine.connect() as conn:
        assert len(read.on(conn, {"org_id": org_id}, ahead=True)) == 1
        assert _status(conn) == psycopg.pq.TransactionStatus.IDLE
        conn.execute(text("UPDATE memberships SET seat_type = 'pro' WHERE org_id = :o"), {"o": org_id})
        assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS
        # once begun, an ``ahead`` read reads in the transaction (its own uncommitted write)
        assert [row[3] for row in read.on(conn, {"org_id": org_id}, ahead=True)] == ["pro"]
        conn.rollback()
        assert [row[3] for row in read.on(conn, {"org_id": org_id}, ahead=True)] == [None]
    with pg_container.engine.connect() as conn:  # without ``ahead``, the read begins the transaction
        read.on(conn, {"org_id": org_id})
        assert _status(conn) == psycopg.pq.TransactionStatus.INTRANS
        conn.rollback()


def test_a_failed_read_ahead_leaves_no_aborted_transaction(pg_container: Container) -> None:
    missing = PrebuiltRead(select(text("x")).select_from(text("no_such_table")).where(text("1 = 1")))
    with pg_container.engine.connect() as conn:
        with pytest.raises(ProgrammingError):
            missing.on(conn, {}, ahead=True)
        assert _status(conn) == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute(text("SELECT 7")).scalar() == 7  # no rollback needed
        conn.rollback()


def test_driver_errors_are_sqlalchemys(pg_container: Container) -> None:
    missing = PrebuiltRead(select(text("x")).select_from(text("no_such_table")).where(text("1 = 1")))
    with pytest.raises(ProgrammingError) as refused:
        missing.on_pool(pg_container.engine, {})
    assert isinstance(refused.value.orig, psycopg.errors.UndefinedTable)
    assert refused.value.connection_invalidated is False
    # The server goes away under a pooled connection: OperationalError (mapped to 503), connection dropped.
    engine = create_engine(pg_container.engine.url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        read = PrebuiltRead(select(Organization.id).where(Organization.id == bindparam("org_id")))
        read.on_pool(engine, {"org_id": "org_x"})
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pg_container.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as lost:
            read.on_pool(engine, {"org_id": "org_x"})
        assert lost.value.connection_invalidated is True
        assert read.on_pool(engine, {"org_id": "org_x"}) == []  # a new connection in its place
    finally:
        engine.dispose()


def test_sqlite_parameters_are_refused() -> None:
    engine = create_engine("sqlite://")
    try:
        with pytest.raises(ValueError, match="named, non-expanding"):
            PrebuiltRead(_MEMBER).on_pool(engine, {"org_id": "org_x"})
    finally:
        engine.dispose()
