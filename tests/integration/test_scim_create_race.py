"""SCIM creates at once on PostgreSQL. A create links its events into the org's chain only when its writes are
done (``AuditRecorder.linked_at_end``), so creates no longer queue on the chain lock for the whole request:
the chain must stay gapless, verifiable and in time order, and what the lock used to settle (two creates of
one userName, or of one email) is settled by the unique indexes, as a SCIM 409 ``uniqueness``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import Membership, User
from tests.integration.audit_helpers import intact_chain
from tests.integration.scim_client import Scim, make_scim_token
from tests.support import container_on, run_together

pytestmark = pytest.mark.postgres
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
RACERS = 8


@pytest.fixture
def racing(pg_database: str, tmp_path: Path) -> Iterator[tuple[Container, Flask, str, str]]:
    container = container_on(pg_database, tmp_path, pool_size=RACERS + 2)
    try:
        with transaction(container.session_factory) as session:
            org_id = container.services(session).orgs.create("Race").id
        app = create_app(container.settings, container)
        yield container, app, org_id, make_scim_token(container, org_id)
    finally:
        container.engine.dispose()


def _user(user_name: str, email: str) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "emails": [{"value": email, "type": "work", "primary": True}],
        "externalId": "ext-" + user_name,
        "active": True,
    }


def _creates(app: Flask, token: str, bodies: list[dict[str, Any]]) -> Counter[str]:
    def create(body: dict[str, Any]) -> str:
        resp = Scim(app.test_client(), token).post("/Users", body)
        if resp.status_code == 409:
            assert resp.json["scimType"] == "uniqueness", resp.json
            assert resp.json["status"] == "409"
        return str(resp.status_code)

    return run_together([lambda b=b: create(b) for b in bodies])  # type: ignore[misc]


def _org_chain(container: Container, org_id: str) -> list[AuditEvent]:
    with container.session_factory() as session:
        return intact_chain(session, org_id)


def test_distinct_creates_at_once_all_land_in_one_intact_chain(
    racing: tuple[Container, Flask, str, str],
) -> None:
    container, app, org_id, token = racing
    before = len(_org_chain(container, org_id))
    bodies = [_user(f"racer{i}@acme.example", f"racer{i}@acme.example") for i in range(RACERS)]
    assert _creates(app, token, bodies) == Counter({"201": RACERS})
    events = _org_chain(container, org_id)[before:]
    # each create: the account, the membership, the provisioning; the three of one create are consecutive
    assert Counter(e.action for e in events) == Counter(
        {"user.created": RACERS, "member.added": RACERS, "scim_user.provisioned": RACERS}
    )
    for i in range(0, len(events), 3):  # one create's events are linked together, in the order recorded
        created, added, provisioned = events[i : i + 3]
        assert [created.action, added.action, provisioned.action] == [
            "user.created",
            "member.added",
            "scim_user.provisioned",
        ]
        assert created.targets[0]["id"] == added.data["user_id"] == provisioned.data["user_id"]


def test_one_user_name_created_at_once_is_one_member_and_409s(
    racing: tuple[Container, Flask, str, str],
) -> None:
    container, app, org_id, token = racing
    before = len(_org_chain(container, org_id))
    # one userName, different emails: the member's unique userName decides
    bodies = [_user("same@acme.example", f"mail{i}@acme.example") for i in range(RACERS)]
    assert _creates(app, token, bodies) == Counter({"201": 1, "409": RACERS - 1})
    with container.session_factory() as session:
        members = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.org_id == org_id, Membership.source == "scim")
        )
    assert members == 1
    assert len(_org_chain(container, org_id)) - before == 3  # the losers left no event behind


def test_one_email_created_at_once_is_one_account_and_409s(
    racing: tuple[Container, Flask, str, str],
) -> None:
    container, app, org_id, token = racing
    # different userNames, one email: the account's unique email decides (or, once it is committed, the
    # membership of that account)
    bodies = [_user(f"name{i}", "shared@acme.example") for i in range(RACERS)]
    assert _creates(app, token, bodies) == Counter({"201": 1, "409": RACERS - 1})
    with container.session_factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(User).where(User.email == "shared@acme.example"))
            == 1
        )
    _org_chain(container, org_id)
