"""Erasure (issue 13): after an account is deleted, its email and name are on no read path of the audit log
(API list and search, CSV and JSON Lines export, an extract's files), while every chain verifies and the
checkpoints signed before still verify."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app.audit.catalogue import AuditAction
from app.audit.integrity import AuditIntegrity
from app.audit.models import AuditEvent, AuditSubjectKey
from app.audit.recorder import Actor, AuditRecorder, RequestContext, Target
from app.audit.verify_export import load_public_key, verify_export
from app.container import Container
from app.db import transaction
from tests.conftest import Api
from tests.member_factories import add_person, session_token

EMAIL, NAME = "dana.dubois@example.com", "Dana Dubois"


def legacy_event(container: Container, org_id: str, user_id: str) -> str:
    """An event as recorded before sealing existed (revision 0009): the name and email in clear, hashed."""
    with transaction(container.session_factory) as session:
        rec = AuditRecorder(session, container.clock, Actor("user", user_id, NAME), RequestContext())
        event = rec.record(
            AuditAction.MEMBER_ROLE_CHANGED,
            org_id=org_id,
            targets=[Target("member", "mem_legacy"), Target("user", user_id, EMAIL)],
            changes={"role": {"before": "member", "after": "admin"}},
            data={"user_id": user_id},
        )
        return event.id


def read_paths(admin: Api, org_id: str) -> dict[str, str]:
    """Everything an admin can read of the org's audit log, as text."""
    base = f"/v1/orgs/{org_id}/audit-logs"
    out = {
        "list": admin.get(f"{base}?limit=1000").data.decode(),
        "search": admin.get(f"{base}?action=member.*&limit=1000").data.decode(),
        "csv": admin.get(f"{base}/export?format=csv").data.decode(),
        "jsonl": admin.get(f"{base}/export?format=jsonl").data.decode(),
    }
    return out


def extract_text(container: Container, admin: Api, org_id: str, fmt: str) -> str:
    now = container.clock.now()
    resp = admin.post(
        f"/v1/orgs/{org_id}/extracts",
        {
            "source": "audit_logs",
            "from": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": (now + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "format": fmt,
            "compression": "gzip",
        },
    )
    assert resp.status_code == 202, resp.json
    job = resp.json
    assert container.extract_runner().run_pending() == {job["id"]: "succeeded"}
    base = f"/v1/orgs/{org_id}/extracts/{job['id']}/download"
    manifest = admin.get(base)
    files = [
        gzip.decompress(admin.get(f"{base}?file={f['name']}").data).decode() for f in manifest.json["files"]
    ]
    assert files, "the extract wrote no file"
    return "".join(files) + manifest.data.decode()


def test_a_deleted_account_is_gone_from_every_read_path_and_every_chain_verifies(
    container: Container, client: FlaskClient, admin: Api, org: dict[str, Any]
) -> None:
    org_id = org["id"]
    # An invitation to Dana's address before her account exists: sealed under the address, not a user id.
    invitation = {"email": EMAIL, "role": "member"}
    assert admin.post(f"/v1/orgs/{org_id}/invitations", invitation).status_code == 201
    dana = add_person(container, org_id, EMAIL, name=NAME, role="admin")
    other = add_person(container, org_id, "eve@example.com", name="Eve Example")
    legacy_event(container, org_id, dana.user_id)
    as_dana = Api(client, session_token(container, dana.user_id, org_id))
    assert (
        as_dana.post(
            f"/v1/orgs/{org_id}/invitations", {"email": "zed@example.com", "role": "member"}
        ).status_code
        == 201
    )
    assert as_dana.patch(f"/v1/orgs/{org_id}/members/{other.member_id}", {"role": "admin"}).status_code == 200
    # An invitation to Dana's address, before her account existed, names only the email.
    assert (
        admin.post(
            f"/v1/orgs/{org_id}/invitations", {"email": "zed2@example.com", "role": "member"}
        ).status_code
        == 201
    )

    before = read_paths(admin, org_id)
    assert NAME in before["list"] and EMAIL in before["jsonl"] and NAME in before["csv"]
    with transaction(container.session_factory) as session:
        integrity = AuditIntegrity(session, container.clock, container.audit_signer)
        old = {c: cp for c in integrity.chains() if (cp := integrity.checkpoint(c)) is not None}
        old_cps = {c: (cp.seq, cp.hash, cp.signature) for c, cp in old.items()}
    old_export = before["jsonl"]

    resp = as_dana.delete("/v1/me")
    assert resp.status_code == 204, resp.json

    after = read_paths(admin, org_id)
    after["extract_jsonl"] = extract_text(container, admin, org_id, "jsonl")
    after["extract_csv"] = extract_text(container, admin, org_id, "csv")
    for where, body in after.items():
        assert EMAIL not in body and NAME not in body, where
        assert "Dana" not in body, where
    assert "[erased]" in after["list"] and "eve@example.com" in after["list"]  # others stay readable
    # Nothing readable is left in the table either: sealed values under destroyed keys, legacy ones erased.
    with container.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_events")))
    assert EMAIL not in dump and NAME not in dump
    with transaction(container.session_factory) as session:
        keys = session.scalars(select(AuditSubjectKey).where(AuditSubjectKey.subject == dana.user_id)).all()
        assert keys and all(k.wrapped is None and k.erased_at is not None for k in keys)

    # Every chain verifies; checkpoints signed before the deletion still verify and still match the chain.
    with transaction(container.session_factory) as session:
        integrity = AuditIntegrity(session, container.clock, container.audit_signer)
        for chain in integrity.chains():
            result = integrity.verify(chain)
            assert result.ok, result.as_dict()
        for chain, cp in old.items():
            assert integrity.checkpoint_is_valid(cp)
            row = session.scalars(
                select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == cp.seq)
            ).one()
            assert (row.seq, row.hash) == old_cps[chain][:2]

    # Offline: the export taken before and one taken after both verify with the customer's verifier.
    key = load_public_key(container.audit_signer.public_key_document()["public_key"])
    for body in (old_export, after["jsonl"]):
        verdict = verify_export(body.splitlines(keepends=True), key)
        assert verdict.ok and verdict.anchored, verdict
    assert verify_export(after["jsonl"].splitlines(), key).erased_in_place == 1  # the legacy event

    with container.engine.connect() as conn:  # SQL NULL where nothing is sealed or erased (not JSON null)
        erased = conn.execute(text("SELECT count(*) FROM audit_events WHERE redacted IS NOT NULL"))
        assert erased.scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE sealed IS NULL")).scalar()
    # Editing an erased-in-place event is still caught.
    with container.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'edited' WHERE redacted IS NOT NULL"))
    with transaction(container.session_factory) as session:
        result = AuditIntegrity(session, container.clock, container.audit_signer).verify(org_id)
        assert not result.ok and result.broken and "attested erasure" in result.broken["reason"]


def test_a_sealed_value_is_the_token_in_the_hash_and_the_bus_carries_the_clear_value(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    dana = add_person(container, org["id"], EMAIL, name=NAME)
    with transaction(container.session_factory) as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.sealed.is_not(None))).all()
        assert rows
        for row in rows:
            assert EMAIL not in json.dumps([row.actor_name, row.targets, row.data, row.changes])
            assert all(entry["t"].startswith("pii1.") for entry in (row.sealed or {}).values())
    page = admin.get(f"/v1/orgs/{org['id']}/audit-logs?target={dana.user_id}").json
    names = [t.get("name") for e in page["data"] for t in e["targets"] if t["type"] == "user"]
    assert EMAIL in names


def test_a_key_made_in_a_transaction_that_rolled_back_seals_nothing_after_it(container: Container) -> None:
    """One recorder can outlive a transaction (a SCIM bulk request commits or rolls back each operation): a
    subject key it made in a transaction that rolled back is gone with it, so the next value of that subject
    gets a key that is stored, never the vanished one (whose values nobody could read again)."""
    with transaction(container.session_factory) as session:
        org_id = container.services(session).orgs.create("Rolled back keys").id
    user_id = "usr_without_a_key"
    with container.session_factory() as session:
        audit = container.services(session).audit
        for outcome in ("rollback", "commit"):
            event = audit.record(
                AuditAction.MEMBER_ROLE_CHANGED,
                org_id=org_id,
                targets=[Target("member", "mem_x"), Target("user", user_id, EMAIL)],
                data={"user_id": user_id},
            )
            getattr(session, outcome)()
        sealed = event.sealed or {}
    assert sealed
    with container.session_factory() as session:
        stored = set(session.scalars(select(AuditSubjectKey.id).where(AuditSubjectKey.subject == user_id)))
    assert {entry["k"] for entry in sealed.values()} <= stored


def test_a_key_made_in_a_linked_block_that_failed_seals_nothing_after_it(container: Container) -> None:
    """A linked block writes its new subject keys with its events, at its end: when the block fails, those
    keys were never written, and the transaction's next value of the subject gets one that is."""
    with transaction(container.session_factory) as session:
        org_id = container.services(session).orgs.create("Failed block keys").id
    user_id = "usr_failed_block"
    with container.session_factory() as session:
        audit = container.services(session).audit

        def record() -> AuditEvent:
            return audit.record(
                AuditAction.MEMBER_ROLE_CHANGED,
                org_id=org_id,
                targets=[Target("member", "mem_y"), Target("user", user_id, EMAIL)],
                data={"user_id": user_id},
            )

        with pytest.raises(LookupError), audit.linked_at_end():
            record()
            raise LookupError("the block's work failed")
        event = record()
        session.commit()
        sealed = event.sealed or {}
    with container.session_factory() as session:
        stored = set(session.scalars(select(AuditSubjectKey.id).where(AuditSubjectKey.subject == user_id)))
    assert sealed and {entry["k"] for entry in sealed.values()} <= stored


def test_a_key_made_before_the_transactions_first_statement_ends_with_that_transaction(
    container: Container,
) -> None:
    """The first thing a session does is a linked block whose key lookup begins the transaction; that
    transaction rolls back: the key it made is not used by the next one."""
    with transaction(container.session_factory) as session:
        org_id = container.services(session).orgs.create("First statement keys").id
    user_id = "usr_first_statement"
    with container.session_factory() as session:
        audit = container.services(session).audit

        def record() -> AuditEvent:
            return audit.record(
                AuditAction.MEMBER_ROLE_CHANGED,
                org_id=org_id,
                targets=[Target("member", "mem_z"), Target("user", user_id, EMAIL)],
                data={"user_id": user_id},
            )

        assert session.get_transaction() is None
        with audit.linked_at_end():
            record()
        session.rollback()
        event = record()
        session.commit()
        sealed = event.sealed or {}
    with container.session_factory() as session:
        stored = set(session.scalars(select(AuditSubjectKey.id).where(AuditSubjectKey.subject == user_id)))
    assert sealed and {entry["k"] for entry in sealed.values()} <= stored
