"""Checkpoint key rotation (issue 13): key ids, old and new checkpoints verify with the key that signed them,
the public key set names a revoked key, and the customer's verifier picks the key by id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.audit.catalogue import AuditAction
from app.audit.integrity import AuditIntegrity
from app.audit.keyring import SigningKeyring
from app.audit.models import AuditEvent
from app.audit.verify_export import load_key_set, verify_export
from app.cli import main
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.errors import Conflict
from tests.conftest import Api
from tests.integration.audit_helpers import seed


def checkpoint(container: Container, chain: str) -> Any:
    with transaction(container.session_factory) as session:
        cp = AuditIntegrity(session, container.clock, container.audit_signer).checkpoint(chain)
        assert cp is not None
        session.expunge(cp)
        return cp


def export(admin: Api, org_id: str) -> list[str]:
    resp = admin.get(f"/v1/orgs/{org_id}/audit-logs/export?format=jsonl")
    assert resp.status_code == 200
    lines: list[str] = resp.data.decode().splitlines(keepends=True)
    return lines


def test_rotation_keeps_old_checkpoints_verifiable_and_revocation_is_named(
    container: Container, admin: Api, org: dict[str, Any], client: Any
) -> None:
    org_id = org["id"]
    seed(container, org_id, 5)
    first = checkpoint(container, org_id)
    base_kid = container.audit_signer.key_id
    assert first.key_id == base_kid  # the configured key is the first key, its id from its public key
    before = export(admin, org_id)

    with transaction(container.session_factory) as session:
        row = SigningKeyring(session, container.clock, container.audit_signer).rotate(
            container.services(session).audit
        )
        new_kid = row.kid
    assert new_kid != base_kid
    seed(container, org_id, 3)
    second = checkpoint(container, org_id)
    assert second.key_id == new_kid and second.seq > first.seq
    after = export(admin, org_id)
    assert json.loads(after[-1])["checkpoint"]["key_id"] == new_kid
    assert json.loads(after[-1])["key"]["key_id"] == new_kid  # the signing key travels with the export

    keys = client.get("/v1/audit-keys").json
    assert keys["active"] == new_kid
    assert {k["key_id"]: k["status"] for k in keys["keys"]} == {base_kid: "retired", new_kid: "active"}
    assert client.get("/v1/audit/public-key").json["key_id"] == new_kid
    key_set = load_key_set(json.dumps(keys))
    for lines in (before, after):  # each checkpoint verifies with the key that signed it
        verdict = verify_export(lines, key_set)
        assert verdict.ok and verdict.anchored, verdict
    with transaction(container.session_factory) as session:
        integrity = AuditIntegrity(session, container.clock, container.audit_signer)
        assert integrity.checkpoint_is_valid(first) and integrity.checkpoint_is_valid(second)
        assert integrity.verify(org_id).ok
        assert integrity.verify(org_id).checkpoint["key_id"] == new_kid  # type: ignore[index]

    # Revoking: not the key that signs; a retired one is named as revoked, its checkpoints prove nothing.
    with transaction(container.session_factory) as session:
        ring = SigningKeyring(session, container.clock, container.audit_signer)
        with pytest.raises(Conflict):
            ring.revoke(container.services(session).audit, new_kid, "test")
    with transaction(container.session_factory) as session:
        ring = SigningKeyring(session, container.clock, container.audit_signer)
        ring.revoke(container.services(session).audit, base_kid, "leaked in a test")
    keys = client.get("/v1/audit-keys").json
    revoked = next(k for k in keys["keys"] if k["key_id"] == base_kid)
    assert revoked["status"] == "revoked" and revoked["revoked_reason"] == "leaked in a test"
    verdict = verify_export(before, load_key_set(json.dumps(keys)))
    assert not verdict.ok and "revoked" in (verdict.error or "")
    assert verify_export(after, load_key_set(json.dumps(keys))).ok
    with transaction(container.session_factory) as session:
        integrity = AuditIntegrity(session, container.clock, container.audit_signer)
        assert not integrity.checkpoint_is_valid(first)
        assert integrity.verify(org_id).ok  # the newest trusted checkpoint anchors the chain
        platform = list(session.scalars(select(AuditEvent.action).where(AuditEvent.org_id.is_(None))))
    assert AuditAction.AUDIT_KEY_ROTATED.value in platform and AuditAction.AUDIT_KEY_REVOKED.value in platform


def test_keys_commands_rotate_list_and_revoke(
    container: Container, settings: Settings, admin: Api, org: dict[str, Any]
) -> None:
    env = {
        "TENANTRY_DATABASE_URL": settings.database_url,
        "TENANTRY_INSTANCE_PATH": str(settings.instance_path),
        "TENANTRY_SECRET_KEY": settings.secret_key,
        "TENANTRY_ENV": "test",
    }

    def cli(*args: str) -> Any:
        return CliRunner().invoke(main, ["audit", "keys", *args], env=env, catch_exceptions=False)

    seed(container, org["id"], 3)
    base_kid = container.audit_signer.key_id
    listed = json.loads(cli("list", "--json").output)
    assert listed["active"] == base_kid
    rotated = cli("rotate")
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.output.split()[0]
    out = cli("list").output
    assert f"{base_kid}  retired" in out and f"{new_kid}  active" in out
    refused = cli("revoke", new_kid)
    assert refused.exit_code == 1 and "rotate first" in refused.output
    assert cli("revoke", "nosuchkey").exit_code == 1
    assert cli("revoke", base_kid, "--reason", "lost laptop").exit_code == 0
    assert f"{base_kid}  revoked" in cli("list").output
    # The app (same secret key) signs with the key the CLI made.
    assert checkpoint(container, org["id"]).key_id == new_kid
