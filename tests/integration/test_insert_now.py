"""``app.db.insert_now``: a new object written as one INSERT at once, without the unit of work, and then
persistent as if loaded (defaults applied as a flush applies them, nothing left for a flush to write), with
the authorization versioning told of a new membership as ``before_flush`` would be. The account, member
and audit-key services write their new rows this way (a SCIM create's hot path)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.catalogue import AuditAction
from app.audit.models import AuditEvent
from app.container import Container
from app.db import insert_now, transaction
from app.orgs.models import Membership, User
from app.rbac import versioning
from app.rbac.permissions import MEMBER
from tests.integration.audit_helpers import intact_chain
from tests.support import statements_run


def _now() -> datetime:
    return datetime.now(UTC)


def _new_org(container: Container) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create("Insert now").id


def test_the_row_is_written_at_once_with_the_flush_defaults_and_the_object_stays_clean(
    container: Container,
) -> None:
    org_id = _new_org(container)
    with container.session_factory() as session:
        user = User(email="now@example.com", name=None, created_at=_now(), updated_at=_now())
        insert_now(session, user)
        member = Membership(org_id=org_id, user_id=user.id, role=MEMBER, created_at=_now(), updated_at=_now())
        insert_now(session, member)
        # The defaults a flush would apply: the id, status, source, attributes; unset columns are NULL.
        assert member.id.startswith("mem_") and user.id.startswith("usr_")
        assert (member.status, member.source, member.attributes, member.seat_type) == (
            "active", "invitation", {}, None,
        )  # fmt: skip
        assert not session.new and not session.dirty and member in session and user in session
        seen = statements_run(session)
        assert session.get(Membership, member.id) is member  # from the identity map, no query
        assert member.external_id is None and user.deleted_at is None  # loaded, not expired
        session.flush()
        assert seen == []  # nothing left for the unit of work
        session.commit()
    with container.session_factory() as session:
        row = session.execute(
            select(Membership.status, Membership.source, Membership.attributes, User.email)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id == member.id)
        ).one()
    assert tuple(row) == ("active", "invitation", {}, "now@example.com")


def test_a_change_after_it_is_an_update_of_the_persistent_object(container: Container) -> None:
    with container.session_factory() as session:
        user = User(email="later@example.com", name=None, created_at=_now(), updated_at=_now())
        insert_now(session, user)
        user.name = "Later"
        assert user in session.dirty
        seen = statements_run(session)
        session.commit()
    assert [s.split()[0] for s in seen] == ["UPDATE"]
    with container.session_factory() as session:
        assert session.scalar(select(User.name).where(User.email == "later@example.com")) == "Later"


def test_a_unique_violation_is_the_integrity_error_a_flush_raises(container: Container) -> None:
    with transaction(container.session_factory) as session:
        insert_now(session, User(email="twice@example.com", created_at=_now(), updated_at=_now()))
    with container.session_factory() as session, pytest.raises(IntegrityError):
        insert_now(session, User(email="twice@example.com", created_at=_now(), updated_at=_now()))


def test_only_a_new_object(container: Container) -> None:
    with container.session_factory() as session:
        user = User(email="once@example.com", created_at=_now(), updated_at=_now())
        insert_now(session, user)
        with pytest.raises(ValueError, match="new objects only"):
            insert_now(session, user)


def test_a_membership_written_so_bumps_its_orgs_authorization_version(container: Container) -> None:
    org_id = _new_org(container)
    with container.session_factory() as session:
        user = User(email="bumped@example.com", created_at=_now(), updated_at=_now())
        insert_now(session, user)
        insert_now(
            session,
            Membership(org_id=org_id, user_id=user.id, role=MEMBER, created_at=_now(), updated_at=_now()),
        )
        session.commit()
        assert org_id in versioning.committed_versions(session)


def test_the_services_write_a_new_account_and_member_without_a_flush(container: Container) -> None:
    """The account service always writes a new account at once; the member service does when nothing else
    is pending (otherwise its org or account may be among the pending rows, and the flush orders them). A
    linked block's chain head is updated with its events, so the commit has nothing left to write."""
    org_id = _new_org(container)
    with container.session_factory() as session:
        services = container.services(session)
        with services.audit.linked_at_end():
            user = services.accounts.create("svc@example.com", org_id=org_id)
            member = services.members.add(org_id, user, MEMBER, source="scim", new_account=True)
            assert not session.new and member in session
        seen = statements_run(session)
        session.commit()
    # The authorization version bump (INSERT … ON CONFLICT DO UPDATE) and nothing else: no chain head
    # update, no account, key or membership left for the commit's flush.
    assert len(seen) == 1 and "authz_versions" in seen[0]
    with container.session_factory() as session:
        assert session.get(Membership, member.id) is not None
        assert len(intact_chain(session, org_id)) >= 3  # org created …, user created, member added


def test_an_event_after_a_linked_block_links_to_the_head_it_left(container: Container) -> None:
    org_id = _new_org(container)
    with container.session_factory() as session:
        services = container.services(session)
        with services.audit.linked_at_end():
            services.accounts.create("next@example.com", org_id=org_id)
        services.audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"after": True})
        with services.audit.linked_at_end():
            services.accounts.create("again@example.com", org_id=org_id)
        session.commit()
    with container.session_factory() as session:
        count = len(intact_chain(session, org_id))
        last = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.chain == org_id)
            .order_by(AuditEvent.seq.desc())
            .limit(3)
        ).all()
    assert count >= 4 and list(last) == ["user.created", "org.updated", "user.created"]
