"""A transaction's last write bumps the authorization versions itself (PostgreSQL): a SCIM create's audit
statement (``AuditRecorder.linked_at_end(closing=True)``) also writes the block's account and membership and
bumps and notifies the orgs the transaction touched, so its commit runs no bump statement of its own. The
versions, the notification and what the request reads back (``committed_versions``) are what the commit's
own bump gave; a savepoint never bumps (not in its block, whose rollback would undo a bump the outer
transaction needs, nor at its release: the real commit bumps once, and tells this process's listeners
after it), a rollback undoes the bump, and an org touched after the last write is still bumped at commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from app import create_app
from app.audit.catalogue import AuditAction
from app.audit.recorder import SYSTEM, AuditRecorder, RequestContext
from app.clock import SystemClock
from app.container import Container
from app.db import transaction
from app.orgs.models import Organization
from app.rbac import versioning
from app.rbac.models import AuthzVersion
from tests.integration.scim_client import Scim, make_scim_token
from tests.support import statements_run

pytestmark = pytest.mark.postgres
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _version(container: Container, org_id: str) -> int | None:
    with container.session_factory() as session:
        return session.scalar(select(AuthzVersion.version).where(AuthzVersion.org_id == org_id))


def _bumps(statements: list[str]) -> list[str]:
    return [s for s in statements if "authz_versions" in s]


@pytest.fixture
def listening(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(pg_database, autocommit=True)
    conn.execute(f"LISTEN {versioning.CHANNEL}")
    yield conn
    conn.close()


def test_a_scim_create_bumps_in_its_audit_statement_and_notifies_at_commit(
    pg_container: Container, listening: psycopg.Connection[Any]
) -> None:
    with transaction(pg_container.session_factory) as session:
        org_id = pg_container.services(session).orgs.create("Bump").id
    before = _version(pg_container, org_id)
    assert before is not None
    list(listening.notifies(timeout=0.2))  # the org's creation
    app = create_app(pg_container.settings, pg_container)
    client = Scim(app.test_client(), make_scim_token(pg_container, org_id))
    assert client.get('/Users?filter=userName eq "ann@example.com"').json["totalResults"] == 0  # (as Okta)
    seen: list[str] = []
    event.listen(pg_container.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    resp = client.post("/Users", {"schemas": [USER], "userName": "ann@example.com", "active": True})
    assert resp.status_code == 201, resp.json
    # One statement through SQLAlchemy (the create's checks are a prebuilt read on the driver's cursor,
    # app/prebuilt_read.py, which no execution event sees): the account and the membership (held back by
    # insert_now: app.db.holding_inserts), the chain head's lock, the events linked, the head's move and
    # the bump.
    (last,) = seen
    for write in (
        "INSERT INTO users",
        "INSERT INTO memberships",
        "FROM audit_chain_heads WHERE chain = $1::varchar FOR UPDATE",
        "INSERT INTO audit_events",
        "INSERT INTO audit_chain_heads",
        "authz_versions",
    ):
        assert write in last
    assert last.startswith("WITH") and _bumps(seen) == [last]
    assert _version(pg_container, org_id) == before + 1
    notes = [n.payload for n in listening.notifies(timeout=2, stop_after=1)]
    assert notes == [f"{org_id}:{before + 1}"]


def _audited_org(container: Container) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create("Closing").id


def _touch(session: Session, org_id: str) -> None:
    org = session.get(Organization, org_id)
    assert org is not None
    versioning._note(session, org, dirty=False)  # as the flush of a new membership of the org notes it


def _closing_block(container: Container, session: Session, org_id: str, nested: bool) -> None:
    """Touch the org's authorization and end the transaction's writes with a closing block."""
    _touch(session, org_id)
    audit = AuditRecorder(session, SystemClock(), SYSTEM, RequestContext(), container.outbox)
    scope: AbstractContextManager[Any] = session.begin_nested() if nested else nullcontext()
    with scope, audit.linked_at_end(closing=True):
        audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"n": 1})


@pytest.mark.parametrize("nested", [False, True], ids=["top level", "in a savepoint"])
def test_the_commit_bumps_only_what_the_last_write_did_not(pg_container: Container, nested: bool) -> None:
    org_id = _audited_org(pg_container)
    before = _version(pg_container, org_id)
    assert before is not None
    with pg_container.session_factory() as session:
        seen = statements_run(session)
        _closing_block(pg_container, session, org_id, nested)
        folded = [s for s in _bumps(seen) if "INSERT INTO audit_events" in s]
        assert len(folded) == (0 if nested else 1)
        session.commit()
        assert len(_bumps(seen)) == 1  # never twice: folded, or the commit's own
        assert versioning.committed_versions(session) == {org_id: before + 1}
    assert _version(pg_container, org_id) == before + 1


def test_an_org_touched_after_the_last_write_is_still_bumped_at_commit(pg_container: Container) -> None:
    org_id, other = _audited_org(pg_container), _audited_org(pg_container)
    versions = [_version(pg_container, org_id) or 0, _version(pg_container, other) or 0]
    with pg_container.session_factory() as session:
        seen = statements_run(session)
        _closing_block(pg_container, session, org_id, nested=False)
        _touch(session, other)
        session.commit()
        assert [s.startswith("WITH") for s in _bumps(seen)] == [True, True]  # the folded one, the commit's
        assert versioning.committed_versions(session) == {org_id: versions[0] + 1, other: versions[1] + 1}


def test_a_rollback_undoes_the_folded_bump(
    pg_container: Container, listening: psycopg.Connection[Any]
) -> None:
    org_id = _audited_org(pg_container)
    before = _version(pg_container, org_id)
    list(listening.notifies(timeout=0.2))
    with pg_container.session_factory() as session:
        _closing_block(pg_container, session, org_id, nested=False)
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()  # nothing touched is left: no bump
        assert versioning.committed_versions(session) == {}
    assert _version(pg_container, org_id) == before
    assert list(listening.notifies(timeout=0.5)) == []
