"""Two first SSO logins of the same new person at once, on PostgreSQL: both sign in, with one account and one
membership per org. Through one connection the org's chain lock orders them (the second finds what the first
created); through two orgs' connections nothing orders them but the account's unique email, and the login that
loses the insert retries once and finds the account."""

from __future__ import annotations

import functools

import pytest
from sqlalchemy import func, select

from app.container import Container
from app.credentials.principal import Principal
from app.db import transaction
from app.orgs.models import Membership, User
from app.sso.attributes import AssertedIdentity
from app.sso.connections import ConnectionInput, generate_keys
from app.sso.idp_config import from_fields
from app.sso.models import SsoConnection
from tests.integration.sso.helpers import idp_cert
from tests.support import run_together

PLATFORM = Principal("platform", "key_test", "tests")


def _connection(container: Container) -> str:
    idp = from_fields("https://idp.example.com/metadata", "https://idp.example.com/sso", [idp_cert()])
    keys = generate_keys("race", container.clock.now())
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        org = svc.orgs.create("Race SSO Inc")
        conn = svc.sso_connections.create(
            org.id, ConnectionInput(idp=idp, require_verified_domain=False), keys, PLATFORM
        )
        return conn.id


def _login(container: Container, connection_id: str, email: str, n: int) -> str:
    identity = AssertedIdentity(connection_id, f"name-id-{email}", email, "New", "Person", None, f"idx-{n}")
    with transaction(container.session_factory) as session:
        conn = session.get(SsoConnection, connection_id)
        assert conn is not None
        result = container.services(session).sso_logins.login(conn, identity, "sp_initiated")
        return "jit" if result.jit else "existing"


def _accounts_and_memberships(container: Container, email: str) -> tuple[int, list[int]]:
    with transaction(container.session_factory) as session:
        users = session.scalars(select(User.id).where(User.email == email)).all()
        per_org = session.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.user_id.in_(users))
            .group_by(Membership.org_id)
        ).scalars()
        return len(users), sorted(per_org)


@pytest.mark.postgres
def test_two_first_logins_through_one_connection_both_succeed(pg_container: Container) -> None:
    connection_id = _connection(pg_container)
    email = "same.org@example.com"
    outcomes = run_together(
        [functools.partial(_login, pg_container, connection_id, email, n) for n in range(2)]
    )
    assert outcomes == {"jit": 1, "existing": 1}
    assert _accounts_and_memberships(pg_container, email) == (1, [1])


@pytest.mark.postgres
def test_two_first_logins_through_two_orgs_both_succeed_with_one_account(pg_container: Container) -> None:
    for attempt in range(3):  # the inserts collide in most rounds; every round must end the same
        email = f"two.orgs.{attempt}@example.com"
        connections = [_connection(pg_container), _connection(pg_container)]
        outcomes = run_together(
            [functools.partial(_login, pg_container, cid, email, n) for n, cid in enumerate(connections)]
        )
        assert outcomes == {"jit": 2}, outcomes
        assert _accounts_and_memberships(pg_container, email) == (1, [1, 1])
