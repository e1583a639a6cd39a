"""JIT through a real IdP (saml-idp) with IdP groups mapped to roles and seats (the SCIM issue's group
mappings): the seat when there is room, a shortfall that does not block the login, groups left later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import Membership, User
from app.scim.models import ScimGroup
from tests.conftest import Api
from tests.idps.peers import TestUser, shared_keypair
from tests.idps.saml_idp import SamlIdp
from tests.integration.sso.e2e import create_connection, post_to_acs, start_login
from tests.support import free_port

pytestmark = pytest.mark.idp


def _group(container: Container, org_id: str, name: str) -> str:
    now = datetime.now(UTC)
    with transaction(container.session_factory) as session:
        group = ScimGroup(org_id=org_id, display_name=name, created_at=now, updated_at=now)
        session.add(group)
        session.flush()
        return group.id


def _member(container: Container, org_id: str, email: str) -> Membership:
    with transaction(container.session_factory) as session:
        return session.execute(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == org_id, User.email == email)
        ).scalar_one()


def test_group_mappings_grant_role_and_seat_within_the_pool(
    client: FlaskClient,
    app: Any,
    admin: Api,
    platform: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    org_id = org["id"]
    assert platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 1}).status_code == 200
    eng, admins = _group(container, org_id, "Engineering"), _group(container, org_id, "Admins")
    assert (
        admin.post(f"/v1/orgs/{org_id}/group-mappings", {"group_id": eng, "seat_type": "pro"}).status_code
        == 201
    )
    assert (
        admin.post(f"/v1/orgs/{org_id}/group-mappings", {"group_id": admins, "role": "admin"}).status_code
        == 201
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conn = create_connection(
        admin, org_id, idp_entity_id=f"{base}/metadata", idp_sso_url=f"{base}/saml/sso",
        idp_x509_cert=shared_keypair("saml-idp").cert_pem,
    )  # fmt: skip

    def login_as(user: TestUser) -> None:
        idp = saml_idp_factory(conn.service_provider(), user, port=port)
        browser_side = app.test_client()
        resp = post_to_acs(browser_side, idp.login(start_login(browser_side, f"org={org_id}")))
        assert resp.status_code == 302, resp.get_data(as_text=True)
        idp.process.stop()

    ada = TestUser(email="ada@example.com", groups=("Engineering", "Admins", "Unknown"))
    login_as(ada)
    first = _member(container, org_id, ada.email)
    assert (first.role, first.seat_type) == ("admin", "pro")
    bob = TestUser(email="bob@example.com", groups=("Engineering",))
    login_as(bob)
    second = _member(container, org_id, bob.email)
    assert (second.role, second.seat_type) == ("member", None)  # the pool is full: a shortfall, not a refusal
    # Ada is no longer in the mapped groups: the role and the seat they gave are taken back.
    login_as(TestUser(email="ada@example.com", groups=("Unknown",)))
    again = _member(container, org_id, ada.email)
    assert (again.role, again.seat_type) == ("member", None)
    with transaction(container.session_factory) as session:
        applied = [
            (e.data["change"], e.data["role_outcome"], e.data["seat_outcome"])
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.org_id == org_id, AuditEvent.action == "scim_group_mapping.applied")
                .order_by(AuditEvent.seq)
            )
        ]
    assert ("joined", "unchanged", "shortfall") in applied
    assert ("joined", "unchanged", "assigned") in applied and ("joined", "granted", "none") in applied
    assert ("left", "restored", "none") in applied and ("left", "unchanged", "released") in applied
