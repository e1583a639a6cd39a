"""A SCIM create on PostgreSQL is one statement that commits itself (``OneStatement.execute``'s ``alone``):
its checks are read ahead of the transaction (``PrebuiltRead.on``'s ``ahead``, in autocommit), so the closing
block's statement is the transaction's first and only one, and goes out without ``BEGIN`` and ``COMMIT``.
What that must not change: a failure before it (the caller's rendering) writes nothing; a transaction that
had already begun keeps its atomicity (the statement then runs in it, and only the commit makes the user
visible); and nothing can be written after it in the same transaction, where it would commit apart
(``app.db.wrote_alone``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.audit import recorder as recorder_module
from app.audit.models import AuditEvent
from app.container import Container
from app.credentials.principal import Principal
from app.db import WriteAfterAlone, transaction
from app.errors import Conflict
from app.orgs.models import Membership, Organization
from app.scim.resources import UserRow
from app.scim.service import ScimService

pytestmark = pytest.mark.postgres
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def org_id(pg_container: Container) -> str:
    with transaction(pg_container.session_factory) as session:
        return pg_container.services(session).orgs.create("Alone").id


@pytest.fixture
def session(pg_container: Container) -> Iterator[Session]:
    with pg_container.session_factory() as s:
        yield s


def _scim(container: Container, session: Session) -> ScimService:
    return container.services(session).scim


def _principal(org_id: str) -> Principal:
    return Principal("scim", "tok_alone", "Alone IdP", org_id=org_id)


def _user(name: str) -> dict[str, Any]:
    return {"schemas": [USER], "userName": name, "active": True}


def _committed(container: Container, org_id: str) -> tuple[int, int]:
    """Members and provisioning events, as another connection sees them (committed rows only)."""
    with container.engine.connect() as conn:
        members = conn.scalar(select(func.count()).select_from(Membership).where(Membership.org_id == org_id))
        events = conn.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.org_id == org_id, AuditEvent.action == "scim_user.provisioned")
        )
    return int(members or 0), int(events or 0)


def _driver(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def test_a_create_commits_itself_in_one_statement(
    pg_container: Container, org_id: str, session: Session
) -> None:
    row = _scim(pg_container, session).create_user(org_id, _user("ann@example.com"), _principal(org_id))
    assert row.user_name == "ann@example.com"
    driver = _driver(session)
    # No transaction is open on the server, and another connection already sees the user and its event.
    assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not driver.autocommit  # (given back as the pool hands connections out)
    assert _committed(pg_container, org_id) == (1, 1)
    session.commit()  # nothing left to send
    assert _committed(pg_container, org_id) == (1, 1)


def test_a_create_in_a_begun_transaction_commits_with_it(
    pg_container: Container, org_id: str, session: Session
) -> None:
    session.execute(text("SELECT 1"))  # the transaction has begun on the server
    _scim(pg_container, session).create_user(org_id, _user("bob@example.com"), _principal(org_id))
    assert _driver(session).info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert _committed(pg_container, org_id) == (0, 0)  # not before the commit
    session.commit()
    assert _committed(pg_container, org_id) == (1, 1)


def test_a_rollback_after_a_begun_transactions_create_leaves_nothing(
    pg_container: Container, org_id: str, session: Session
) -> None:
    session.execute(text("SELECT 1"))
    _scim(pg_container, session).create_user(org_id, _user("cy@example.com"), _principal(org_id))
    session.rollback()
    assert _committed(pg_container, org_id) == (0, 0)


def test_a_failure_in_then_writes_nothing(pg_container: Container, org_id: str, session: Session) -> None:
    seen: list[UserRow] = []

    def broken(row: UserRow) -> None:
        seen.append(row)
        raise RuntimeError("rendering went wrong")

    with pytest.raises(RuntimeError, match="rendering"):
        _scim(pg_container, session).create_user(org_id, _user("di@example.com"), _principal(org_id), broken)
    session.rollback()
    assert [r.user_name for r in seen] == ["di@example.com"]
    assert _committed(pg_container, org_id) == (0, 0)
    # and the same create then goes through
    _scim(pg_container, session).create_user(org_id, _user("di@example.com"), _principal(org_id))
    session.commit()
    assert _committed(pg_container, org_id) == (1, 1)


def test_a_write_after_the_statement_is_refused_until_the_transaction_ends(
    pg_container: Container, org_id: str, session: Session
) -> None:
    _scim(pg_container, session).create_user(org_id, _user("ed@example.com"), _principal(org_id))
    org = session.get(Organization, org_id)  # reads may follow
    assert org is not None
    org.name = "Renamed"
    with pytest.raises(WriteAfterAlone, match="commit on its own"):
        session.flush()
    with pytest.raises(WriteAfterAlone):
        session.execute(update(Organization).where(Organization.id == org_id).values(name="Again"))
    session.rollback()  # the create stays (it committed itself); the rename never went out
    assert _committed(pg_container, org_id) == (1, 1)
    with pg_container.engine.connect() as conn:
        assert conn.scalar(select(Organization.name).where(Organization.id == org_id)) == "Alone"
    # the next transaction writes as usual
    renamed = session.get(Organization, org_id)
    assert renamed is not None
    renamed.name = "Renamed"
    session.commit()
    with pg_container.engine.connect() as conn:
        assert conn.scalar(select(Organization.name).where(Organization.id == org_id)) == "Renamed"


def test_a_duplicate_found_by_the_statement_writes_nothing(
    pg_container: Container, org_id: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A race the checks cannot see (here they are told that the name is free and the email has no
    account, as if both were created meanwhile): the unique index refuses the statement, which went out
    alone and wrote nothing, and the create is a 409."""
    scim = _scim(pg_container, session)
    scim.create_user(org_id, _user("fay@example.com"), _principal(org_id))
    session.commit()
    read = scim._create_checks

    def stale(params: dict[str, Any]) -> Any:
        setting, _, _ = read(params)
        return (setting, False, None)

    monkeypatch.setattr(scim, "_create_checks", stale)
    alone: list[bool] = []
    monkeypatch.setattr(recorder_module, "wrote_alone", lambda _s: alone.append(True))
    with pytest.raises(Conflict, match="created meanwhile"):
        scim.create_user(org_id, _user("FAY@example.com"), _principal(org_id))
    assert _driver(session).info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert alone == []  # (the statement failed: nothing to guard)
    session.rollback()
    assert _committed(pg_container, org_id) == (1, 1)
