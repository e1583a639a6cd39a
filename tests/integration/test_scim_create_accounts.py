"""A SCIM create makes the account of an address that has none, and joins the live account of one that has
(whatever the case of the address): read with the create's own checks, recorded in its events."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.orgs.models import Membership, User
from app.scim.schema import USER
from tests.conftest import Api
from tests.integration.scim_client import Scim, make_scim_token


def _provisioned(container: Container, member_id: str) -> dict[str, Any]:
    with container.session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "scim_user.provisioned").order_by(AuditEvent.seq)
        ).all()
    (event,) = [e for e in events if {"type": "member", "id": member_id} in e.targets]
    return event.data


def test_the_second_org_joins_the_account_the_first_created(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    a, b = (platform.post("/v1/orgs", {"name": n}).json["id"] for n in ("A", "B"))
    scim_a, scim_b = Scim(client, make_scim_token(container, a)), Scim(client, make_scim_token(container, b))
    first = scim_a.post("/Users", {"schemas": [USER], "userName": "ada@example.com"})
    second = scim_b.post("/Users", {"schemas": [USER], "userName": "ADA@Example.com"})
    assert first.status_code == second.status_code == 201
    assert _provisioned(container, first.json["id"])["account_created"] is True
    assert _provisioned(container, second.json["id"])["account_created"] is False
    with container.session_factory() as session:
        users = session.scalars(select(User).where(User.email == "ada@example.com")).all()
        owners = session.scalars(
            select(Membership.user_id).where(Membership.id.in_([first.json["id"], second.json["id"]]))
        ).all()
        created = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.created")).all()
    assert len(users) == 1 and set(owners) == {users[0].id}
    assert [e.targets for e in created] == [[{"type": "user", "id": users[0].id}]]


def test_a_userName_taken_in_the_org_is_409_before_any_write(
    client: FlaskClient, container: Container, org: dict[str, Any]
) -> None:
    scim = Scim(client, make_scim_token(container, org["id"]))
    assert scim.post("/Users", {"schemas": [USER], "userName": "bob@example.com"}).status_code == 201
    again = scim.post(
        "/Users",
        {"schemas": [USER], "userName": "BOB@example.com", "emails": [{"value": "other@example.com"}]},
    )
    assert again.status_code == 409 and again.json["scimType"] == "uniqueness"
    with container.session_factory() as session:
        assert session.scalars(select(User).where(User.email == "other@example.com")).all() == []
