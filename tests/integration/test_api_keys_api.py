from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.container import Container
from app.credentials.models import ApiKey, ScimToken
from app.credentials.secrets import hash_secret
from tests.conftest import Api


def test_org_key_created_once_listed_without_secret_and_revoked(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    created = admin.post(f"/v1/orgs/{org['id']}/api-keys", {"name": "ci", "role": "admin"})
    assert created.status_code == 201
    secret = created.json["key"]
    assert secret.startswith("tnt_ok_") and created.json["prefix"] == secret[: len(created.json["prefix"])]

    listed = admin.get(f"/v1/orgs/{org['id']}/api-keys")
    assert listed.status_code == 200
    assert all("key" not in k for k in listed.json["data"])
    assert secret not in listed.get_data(as_text=True)

    with container.session_factory() as session:  # only the hash is stored
        row = session.get(ApiKey, created.json["id"])
        assert row is not None and row.key_hash == hash_secret(secret)
        assert secret not in (row.prefix, row.name, row.key_hash)

    new_key = admin.as_key(secret)
    assert new_key.get(f"/v1/orgs/{org['id']}").status_code == 200
    with container.session_factory() as session:
        row = session.get(ApiKey, created.json["id"])
        assert row is not None and row.last_used_at is not None

    assert admin.delete(f"/v1/orgs/{org['id']}/api-keys/{created.json['id']}").status_code == 204
    assert new_key.get(f"/v1/orgs/{org['id']}").status_code == 401
    assert admin.delete(f"/v1/orgs/{org['id']}/api-keys/{created.json['id']}").status_code == 404


def test_only_owners_create_owner_keys(admin: Api, owner: Api, org: dict[str, Any]) -> None:
    path = f"/v1/orgs/{org['id']}/api-keys"
    assert admin.post(path, {"role": "owner"}).status_code == 403
    assert owner.post(path, {"role": "owner"}).status_code == 201
    assert owner.post(path, {"role": "superuser"}).status_code == 422


def test_keys_of_another_org_are_invisible(admin: Api, platform: Api) -> None:
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    other_key = platform.post(f"/v1/orgs/{other['id']}/api-keys", {"name": "x"}).json
    assert admin.get(f"/v1/orgs/{other['id']}/api-keys").status_code == 404
    assert admin.delete(f"/v1/orgs/{other['id']}/api-keys/{other_key['id']}").status_code == 404


def test_platform_keys_and_scim_tokens(
    platform: Api, admin: Api, org: dict[str, Any], container: Container
) -> None:
    created = platform.post("/v1/api-keys", {"name": "billing"})
    assert created.status_code == 201 and created.json["key"].startswith("tnt_pk_")
    assert admin.post("/v1/api-keys", {"name": "x"}).status_code == 403
    assert platform.delete(f"/v1/api-keys/{created.json['id']}").status_code == 204
    assert platform.as_key(created.json["key"]).get(f"/v1/orgs/{org['id']}").status_code == 401

    token = admin.post(f"/v1/orgs/{org['id']}/scim-tokens", {"name": "okta"})
    assert token.status_code == 201 and token.json["token"].startswith("tnt_scim_")
    assert token.json["token"] not in admin.get(f"/v1/orgs/{org['id']}/scim-tokens").get_data(as_text=True)
    with container.session_factory() as session:
        stored = session.scalars(select(ScimToken).where(ScimToken.id == token.json["id"])).one()
        assert stored.token_hash == hash_secret(token.json["token"])
    assert admin.delete(f"/v1/orgs/{org['id']}/scim-tokens/{token.json['id']}").status_code == 204
    listed = admin.get(f"/v1/orgs/{org['id']}/scim-tokens?include_revoked=true").json["data"]
    assert [t["revoked_at"] is not None for t in listed] == [True]
    # A SCIM token is not an API key.
    assert admin.as_key(token.json["token"]).get(f"/v1/orgs/{org['id']}").status_code == 401


def test_credential_changes_are_audited(admin: Api, org: dict[str, Any], container: Container) -> None:
    from app.audit.models import AuditEvent

    key = admin.post(f"/v1/orgs/{org['id']}/api-keys", {"name": "audited"}).json
    admin.delete(f"/v1/orgs/{org['id']}/api-keys/{key['id']}")
    with container.session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.org_id == org["id"]).order_by(AuditEvent.seq)
        ).all()
        payloads = session.scalars(select(AuditEvent.data).where(AuditEvent.org_id == org["id"])).all()
    assert actions[-2:] == ["api_key.created", "api_key.revoked"]
    assert key["key"] not in str(payloads)
