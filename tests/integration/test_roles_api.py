"""Custom roles, effective permissions, authorization versions, and member sessions judged by the engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.container import Container
from app.rbac.models import AuthzVersion, CasbinRule
from tests.conftest import Api
from tests.mailbox import mailed_token
from tests.member_factories import add_person, session_token
from tests.support import authz_check as check


def version(container: Container, org_id: str) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(AuthzVersion.version).where(AuthzVersion.org_id == org_id)) or 0)


def test_custom_role_lifecycle(container: Container, admin: Api, platform: Api, org: dict[str, Any]) -> None:
    base = f"/v1/orgs/{org['id']}/roles"
    created = admin.post(base, {"name": "auditor", "description": "Reads logs", "permissions": [
        "audit_logs:read", "members:read", "org:read"]})  # fmt: skip
    assert created.status_code == 201, created.json.get("errors")
    assert created.json == {
        "name": "auditor", "description": "Reads logs", "builtin": False,
        "permissions": ["audit_logs:read", "members:read", "org:read"],
    }  # fmt: skip
    with container.session_factory() as session:  # stored as Casbin p rules in the org's domain
        rules = session.execute(
            select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.domain, CasbinRule.v1)
        ).all()
    assert sorted(rules) == [("p", "role:auditor", org["id"], p) for p in
                             ("audit_logs:read", "members:read", "org:read")]  # fmt: skip
    names = [r["name"] for r in admin.get(base).json["data"]]
    assert names == ["owner", "admin", "billing", "member", "auditor"]

    carol = add_person(container, org["id"], "carol@acme.test", role="auditor")
    assert check(platform, org["id"], carol.user_id, "audit_logs:read")["allowed"] is True
    assert check(platform, org["id"], carol.user_id, "members:update")["reason"] == "not_granted"

    edited = admin.patch(f"{base}/auditor", {"permissions": ["audit_logs:read", "seats:read"]})
    assert edited.status_code == 200 and edited.json["permissions"] == ["audit_logs:read", "seats:read"]
    assert check(platform, org["id"], carol.user_id, "seats:read")["allowed"] is True
    assert check(platform, org["id"], carol.user_id, "members:read")["allowed"] is False

    perms = admin.get(f"/v1/orgs/{org['id']}/members/{carol.member_id}/permissions").json
    assert perms["role"] == "auditor" and perms["permissions"] == ["audit_logs:read", "seats:read"]

    in_use = admin.delete(f"{base}/auditor")
    assert in_use.status_code == 409 and in_use.json["reason"] == "role_in_use"
    admin.patch(f"/v1/orgs/{org['id']}/members/{carol.member_id}", {"role": "member"})
    assert admin.delete(f"{base}/auditor").status_code == 204
    assert admin.get(f"{base}/auditor").status_code == 404


def test_builtin_roles_cannot_be_changed(admin: Api, org: dict[str, Any]) -> None:
    base = f"/v1/orgs/{org['id']}/roles"
    assert admin.get(f"{base}/admin").json["builtin"] is True
    for resp in (
        admin.patch(f"{base}/admin", {"description": "mine now"}),
        admin.delete(f"{base}/member"),
        admin.post(base, {"name": "owner", "permissions": []}),
    ):
        assert resp.status_code == 409 and resp.json["reason"] == "builtin_role"


def test_custom_role_permissions_are_checked(admin: Api, owner: Api, org: dict[str, Any]) -> None:
    base = f"/v1/orgs/{org['id']}/roles"
    unknown = admin.post(base, {"name": "x1", "permissions": ["org:read", "rockets:launch"]})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "permissions.1"
    seat = admin.post(base, {"name": "x2", "permissions": ["chat:pro_features"]})
    assert seat.status_code == 422  # seat permissions come only from seats
    owner_only = owner.post(base, {"name": "x3", "permissions": ["org:delete"]})
    assert owner_only.status_code == 422
    escalation = admin.post(base, {"name": "x4", "permissions": ["billing:manage"]})
    assert escalation.status_code == 403  # admins do not hold billing:manage
    assert owner.post(base, {"name": "finance", "permissions": ["billing:manage"]}).status_code == 201
    dup = owner.post(base, {"name": "finance", "permissions": []})
    assert dup.status_code == 409
    bad_name = admin.post(base, {"name": "Bad Name", "permissions": []})
    assert bad_name.status_code == 422


def test_member_cannot_manage_roles(container: Container, client: Any, org: dict[str, Any]) -> None:
    alice = add_person(container, org["id"], "alice@acme.test", role="member")
    api = Api(client, session_token(container, alice.user_id, org["id"]))
    assert api.get(f"/v1/orgs/{org['id']}/roles").status_code == 403
    assert api.post(f"/v1/orgs/{org['id']}/roles", {"name": "x", "permissions": []}).status_code == 403


def test_version_bumps_on_role_seat_and_member_changes(
    container: Container, owner: Api, platform: Api, org: dict[str, Any]
) -> None:
    org_id = org["id"]
    v0 = version(container, org_id)
    bob = add_person(container, org_id, "bob@acme.test", role="member")
    v1 = version(container, org_id)
    assert v1 > v0
    resp = owner.patch(f"/v1/orgs/{org_id}/members/{bob.member_id}", {"role": "admin"})
    assert resp.status_code == 200
    v2 = version(container, org_id)
    assert v2 == v1 + 1  # once per transaction, not per row
    assert resp.headers["Tenantry-Authz-Version"] == f"{org_id}={v2}"
    platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 5})
    v3 = version(container, org_id)
    assert v3 > v2
    assert (
        owner.put(f"/v1/orgs/{org_id}/members/{bob.member_id}/seat", {"seat_type": "pro"}).status_code == 200
    )
    v4 = version(container, org_id)
    assert v4 > v3
    answer = check(platform, org_id, bob.user_id, "chat:pro_features", min_version=v4)
    assert answer == {"allowed": True, "version": v4, "reason": "granted_by_seat"}
    owner.post(f"/v1/orgs/{org_id}/roles", {"name": "viewer", "permissions": ["org:read"]})
    v5 = version(container, org_id)
    assert v5 > v4
    unrelated = owner.patch(f"/v1/orgs/{org_id}", {"name": "Acme 2"})
    assert unrelated.status_code == 200 and version(container, org_id) == v5


def test_member_session_sees_its_new_role_at_once(
    container: Container, client: Any, owner: Api, org: dict[str, Any]
) -> None:
    """A member session is judged from the org's committed version, never an older snapshot."""
    org_id = org["id"]
    dave = add_person(container, org_id, "dave@acme.test", role="member")
    api = Api(client, session_token(container, dave.user_id, org_id))
    assert api.get(f"/v1/orgs/{org_id}/roles").status_code == 403  # snapshot now cached with dave=member
    assert owner.patch(f"/v1/orgs/{org_id}/members/{dave.member_id}", {"role": "admin"}).status_code == 200
    assert api.get(f"/v1/orgs/{org_id}/roles").status_code == 200
    assert owner.patch(f"/v1/orgs/{org_id}/members/{dave.member_id}", {"role": "member"}).status_code == 200
    assert api.get(f"/v1/orgs/{org_id}/roles").status_code == 403


def test_custom_role_cannot_be_used_to_escalate(
    container: Container, admin: Api, owner: Api, org: dict[str, Any]
) -> None:
    base = f"/v1/orgs/{org['id']}"
    finance = {"name": "finance", "permissions": ["billing:manage"]}
    assert owner.post(f"{base}/roles", finance).status_code == 201
    hal = add_person(container, org["id"], "hal@acme.test", role="member")
    refused = admin.patch(f"{base}/members/{hal.member_id}", {"role": "finance"})
    assert refused.status_code == 403 and refused.json["reason"] == "escalation"
    assert owner.patch(f"{base}/members/{hal.member_id}", {"role": "finance"}).status_code == 200
    assert admin.patch(f"{base}/members/{hal.member_id}", {"role": "ghost"}).status_code == 422


def test_invitations_accept_custom_roles(admin: Api, owner: Api, platform: Api, org: dict[str, Any]) -> None:
    base = f"/v1/orgs/{org['id']}"
    assert (
        admin.post(f"{base}/roles", {"name": "auditor", "permissions": ["audit_logs:read"]}).status_code
        == 201
    )
    created = admin.post(f"{base}/invitations", {"email": "ivy@example.com", "role": "auditor"})
    assert created.status_code == 201, created.json.get("errors")
    accepted = admin.as_key(None).post(
        "/v1/invitations/accept", {"token": mailed_token(admin, "ivy@example.com")}
    )
    assert accepted.status_code in (200, 201), accepted.json
    member = admin.get(f"{base}/members?role=auditor").json["data"][0]
    assert member["email"] == "ivy@example.com"
    assert check(platform, org["id"], member["user_id"], "audit_logs:read")["allowed"] is True
    unknown = admin.post(f"{base}/invitations", {"email": "joe@example.com", "role": "ghost"})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "role"
    owner.post(f"{base}/roles", {"name": "finance", "permissions": ["billing:manage"]})
    escalation = admin.post(f"{base}/invitations", {"email": "kim@example.com", "role": "finance"})
    assert escalation.status_code == 403
