"""Concurrent acceptance on PostgreSQL: a token is used once; seats taken by acceptance respect the limit."""

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
from tests.support import run_together as race

PLATFORM = Principal("platform", "key_test", "tests")


def setup_org(
    container: Container, emails: list[str], seat_type: str | None, limit: int
) -> tuple[str, list[str]]:
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        org = svc.orgs.create("Race Inc")
        svc.seats.set_limit(org.id, "pro", limit)
        tokens = [
            svc.invitations.create(PLATFORM, org.id, email, "member", seat_type=seat_type).token
            for email in emails
        ]
        return org.id, tokens


def run_together(container: Container, calls: list[Callable[[Container], None]]) -> Counter[str]:
    return race([functools.partial(call, container) for call in calls])


def accept(token: str) -> Callable[[Container], None]:
    def call(container: Container) -> None:
        with transaction(container.session_factory) as session:
            container.services(session).invitations.accept(token)

    return call


def members(container: Container, org_id: str) -> tuple[int, int]:
    with transaction(container.session_factory) as session:
        total = session.scalar(
            select(func.count()).select_from(Membership).where(Membership.org_id == org_id)
        )
        seated = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.org_id == org_id, Membership.seat_type == "pro")
        )
        return int(total or 0), int(seated or 0)


@pytest.mark.postgres
def test_one_token_accepted_concurrently_is_used_once(pg_container: Container) -> None:
    org_id, (token,) = setup_org(pg_container, ["once@example.com"], None, 0)
    outcomes = run_together(pg_container, [accept(token)] * 12)
    assert outcomes == Counter({"ok": 1, "invitation_used": 11})
    assert members(pg_container, org_id) == (1, 0)


@pytest.mark.postgres
def test_concurrent_acceptances_with_seats_stop_at_the_limit(pg_container: Container) -> None:
    emails = [f"p{n}@example.com" for n in range(16)]
    org_id, tokens = setup_org(pg_container, emails, "pro", 5)
    outcomes = run_together(pg_container, [accept(t) for t in tokens])
    assert outcomes == Counter({"ok": 5, "seat_limit_reached": 11})
    assert members(pg_container, org_id) == (5, 5)  # the refused ones left no membership behind
