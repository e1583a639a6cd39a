"""The last-owner rule under concurrency on PostgreSQL: owners changed at once never leave an org ownerless,
and account deletions touching the same orgs in different orders do not deadlock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.container import Container
from app.credentials.principal import Principal
from app.db import transaction
from app.errors import AppError
from app.orgs.models import Membership
from tests.member_factories import add_person

PLATFORM = Principal("platform", "key_test", "tests")
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_container(pg_database: str, tmp_path: Path) -> Iterator[Container]:
    settings = Settings(
        env="test",
        database_url=pg_database,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
    )
    c = Container.build(settings)
    with transaction(c.session_factory) as session:
        # As in any deployment, a platform key exists (and with it the platform audit chain's head).
        c.services(session).credentials.create_api_key(org_id=None, name="race")
    yield c
    c.engine.dispose()


def new_org(container: Container, name: str) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create(name).id


def run_together(container: Container, calls: list[Callable[[Container], None]]) -> Counter[str]:
    barrier = Barrier(len(calls))

    def one(call: Callable[[Container], None]) -> str:
        barrier.wait()
        try:
            call(container)
        except AppError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(one, calls))


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
