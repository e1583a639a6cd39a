"""Member sessions end at their TTL: the container's clock is moved past it, nobody sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from tests.conftest import Api, _truncate
from tests.member_factories import add_person, session_token

TTL = 3600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"session_ttl": TTL})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def container(settings: Settings, clock: FrozenClock) -> Iterator[Container]:
    """The suite's container, built with a clock the test moves."""
    c = Container.build(settings, clock=clock)
    yield c
    _truncate(c)
    c.engine.dispose()


def test_session_works_until_its_ttl_and_not_a_second_longer(
    container: Container, clock: FrozenClock, client: FlaskClient, org: dict[str, Any]
) -> None:
    person = add_person(container, org["id"], "bob@acme.test")
    session = Api(client, session_token(container, person.user_id, org["id"]))
    path = f"/v1/orgs/{org['id']}/members"  # any session-authenticated call
    assert session.get(path).status_code == 200

    clock.advance(timedelta(seconds=TTL - 1))
    assert session.get(path).status_code == 200  # the last second of its life

    clock.advance(timedelta(seconds=1))
    expired = session.get(path)
    assert expired.status_code == 401, expired.json
    assert expired.headers["Content-Type"] == "application/problem+json"

    clock.advance(timedelta(days=30))
    assert session.get(path).status_code == 401  # and it stays ended


def test_a_new_session_after_expiry_works(
    container: Container, clock: FrozenClock, client: FlaskClient, org: dict[str, Any]
) -> None:
    """Expiry ends that session only: the member can log in again (the refusal is not about the member)."""
    alice = add_person(container, org["id"], "alice@acme.test")
    old = Api(client, session_token(container, alice.user_id, org["id"]))
    clock.advance(timedelta(seconds=TTL))
    new = Api(client, session_token(container, alice.user_id, org["id"]))
    path = f"/v1/orgs/{org['id']}/members"
    assert old.get(path).status_code == 401
    assert new.get(path).status_code == 200
