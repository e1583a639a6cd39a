from __future__ import annotations

from typing import Any

from app.container import Container
from tests.conftest import Api, make_org_key
from tests.mailbox import mailed_token


def test_platform_key_creates_and_reads_org(platform: Api) -> None:
    resp = platform.post("/v1/orgs", {"name": "Globex Corp"})
    assert resp.status_code == 201
    body = resp.json
    assert body["id"].startswith("org_") and body["slug"] == "globex-corp"
    assert resp.headers["X-Request-ID"]
    again = platform.get(f"/v1/orgs/{body['id']}")
    assert again.status_code == 200 and again.json["name"] == "Globex Corp"


def test_org_key_cannot_create_orgs(admin: Api) -> None:
    resp = admin.post("/v1/orgs", {"name": "Nope"})
    assert resp.status_code == 403
    assert resp.headers["Content-Type"] == "application/problem+json"


def test_org_key_sees_only_its_org(admin: Api, platform: Api) -> None:
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    resp = admin.get(f"/v1/orgs/{other['id']}")
    assert resp.status_code == 404
    assert "Other" not in resp.get_data(as_text=True)


def test_update_settings_validates_fields(admin: Api, org: dict[str, Any]) -> None:
    ok = admin.patch(f"/v1/orgs/{org['id']}", {"audit_retention_days": 90, "name": "Acme Inc"})
    assert ok.status_code == 200 and ok.json["audit_retention_days"] == 90 and ok.json["name"] == "Acme Inc"
    bad = admin.patch(f"/v1/orgs/{org['id']}", {"audit_retention_days": 5})
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "audit_retention_days"
    unknown = admin.patch(f"/v1/orgs/{org['id']}", {"colour": "red"})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "colour"


def test_malformed_json_is_400(admin: Api, org: dict[str, Any]) -> None:
    resp = admin.client.patch(
        f"/v1/orgs/{org['id']}",
        data="{not json",
        headers={**admin._headers(), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and resp.json["code"] == "malformed_request"


def test_missing_unknown_and_malformed_keys_are_401(client: Any, org: dict[str, Any]) -> None:
    path = f"/v1/orgs/{org['id']}"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    fake = "tnt_ok_" + "A" * 43
    assert client.get(path, headers={"Authorization": f"Bearer {fake}"}).status_code == 401


def test_delete_org_revokes_its_keys(container: Container, owner: Api, org: dict[str, Any]) -> None:
    admin_key = make_org_key(container, org["id"], "admin")
    assert owner.as_key(admin_key).delete(f"/v1/orgs/{org['id']}").status_code == 403  # admins cannot
    assert owner.delete(f"/v1/orgs/{org['id']}").status_code == 204
    assert owner.get(f"/v1/orgs/{org['id']}").status_code == 401
    assert owner.as_key(admin_key).get(f"/v1/orgs/{org['id']}").status_code == 401


def test_delete_org_ends_members_frees_seats_and_revokes_invitations(
    container: Container, owner: Api, platform: Api, org: dict[str, Any]
) -> None:
    from sqlalchemy import select

    from app.audit.models import AuditEvent
    from app.db import transaction
    from app.orgs.models import Invitation, LoginSession, Membership

    o = org["id"]
    platform.put(f"/v1/orgs/{o}/seats/pro", {"limit": 3})
    owner.post(
        f"/v1/orgs/{o}/invitations", {"email": "ann@acme.example", "role": "member", "seat_type": "pro"}
    )
    accepted = (
        owner.as_key(None)
        .post("/v1/invitations/accept", {"token": mailed_token(owner, "ann@acme.example")})
        .json
    )
    owner.post(f"/v1/orgs/{o}/invitations", {"email": "bob@acme.example", "role": "member"})

    assert owner.delete(f"/v1/orgs/{o}").status_code == 204
    assert owner.as_key(accepted["session_token"]).get("/v1/me").status_code == 401
    with transaction(container.session_factory) as session:
        assert session.scalars(select(Membership).where(Membership.org_id == o)).all() == []
        statuses = session.scalars(select(Invitation.status).where(Invitation.org_id == o)).all()
        assert sorted(statuses) == ["accepted", "revoked"]
        live = session.scalars(
            select(LoginSession).where(LoginSession.org_id == o, LoginSession.revoked_at.is_(None))
        ).all()
        assert live == []
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.org_id == o).order_by(AuditEvent.seq)
        ).all()
    tail = actions[-3:]
    assert tail == ["seat.unassigned", "member.removed", "org.deleted"]


def test_a_new_org_has_a_pool_per_seat_type(container: Container, platform: Api) -> None:
    from sqlalchemy import select

    from app.orgs.models import SeatPool
    from app.orgs.seats import SEAT_TYPES

    org_id = platform.post("/v1/orgs", {"name": "Pooled"}).json["id"]
    with container.session_factory() as session:
        pools = session.execute(select(SeatPool.seat_type, SeatPool.limit).where(SeatPool.org_id == org_id))
        assert sorted(pools) == [(t, 0) for t in sorted(SEAT_TYPES)]
