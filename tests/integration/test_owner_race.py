"""The last-owner rule under concurrency on PostgreSQL: owners changed at once never leave an org ownerless,
and account deletions touching the same orgs in different orders do not deadlock."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from app.container import Container
from app.credentials.principal import Principal
from app.db import transaction
from app.orgs.models import Membership
from tests.member_factories import add_person
from tests.support import run_together as race

PLATFORM = Principal("platform", "key_test", "tests")
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_container(pg_container: Container) -> Container:
    with transaction(pg_container.session_factory) as session:
        # As in any deployment, a platform key exists (and with it the platform audit chain's head).
        pg_container.services(session).credentials.create_api_key(org_id=None, name="race")
    return pg_container


def new_org(container: Container, name: str) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create(name).id


def run_together(container: Container, calls: list[Callable[[Container], None]]) -> Counter[str]:
    return race([functools.partial(call, container) for call in calls])


def active_owners(container: Container, org_id: str) -> int:
    with container.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.org_id == org_id, Membership.role == "owner", Membership.status == "active")
            )
            or 0
        )


def demote(org_id: str, member_id: str) -> Callable[[Container], None]:
    def call(container: Container) -> None:
        with transaction(container.session_factory) as session:
            container.services(session).members.update(org_id, member_id, PLATFORM, role="admin")

    return call


def delete_account(user_id: str) -> Callable[[Container], None]:
    def call(container: Container) -> None:
        with transaction(container.session_factory) as session:
            container.services(session).accounts.delete(user_id, initiated_by="platform")

    return call


def test_owners_demoted_at_once_leave_exactly_one(pg_container: Container) -> None:
    org_id = new_org(pg_container, "Race Inc")
    owners = [add_person(pg_container, org_id, f"o{i}@race.test", role="owner") for i in range(8)]
    outcome = run_together(pg_container, [demote(org_id, o.member_id) for o in owners])
    assert outcome == Counter({"ok": 7, "last_owner": 1})
    assert active_owners(pg_container, org_id) == 1


def test_owners_deleting_their_accounts_at_once_leave_one(pg_container: Container) -> None:
    org_id = new_org(pg_container, "Race Inc")
    owners = [add_person(pg_container, org_id, f"o{i}@race.test", role="owner") for i in range(4)]
    outcome = run_together(pg_container, [delete_account(o.user_id) for o in owners])
    assert outcome == Counter({"ok": 3, "last_owner": 1})
    assert active_owners(pg_container, org_id) == 1


def test_deletions_across_the_same_orgs_do_not_deadlock(pg_container: Container) -> None:
    orgs = [new_org(pg_container, f"Org {i}") for i in range(3)]
    for org_id in orgs:
        add_person(pg_container, org_id, f"owner@{org_id}.test", role="owner")
    users = []
    for i in range(6):
        # Each person joins the orgs in a different order, so the order they were joined in differs.
        order = orgs[i % 3 :] + orgs[: i % 3]
        users.append([add_person(pg_container, org_id, f"p{i}@race.test") for org_id in order][0].user_id)
    outcome = run_together(pg_container, [delete_account(user_id) for user_id in users])
    assert outcome == Counter({"ok": 6})
    for org_id in orgs:
        assert active_owners(pg_container, org_id) == 1
    with pg_container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Membership)) == 3
