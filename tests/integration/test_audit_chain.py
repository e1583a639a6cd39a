"""Tamper evidence on stored chains: edits, deletions and rewrites are caught and named; retention keeps
the retained part verifiable; the CLI and the endpoint report the same."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import text

from app.audit import chain
from app.audit.catalogue import AuditAction
from app.audit.integrity import AuditIntegrity
from app.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPurgeHorizon
from app.audit.recorder import hashed_fields
from app.audit.retention import RetentionPurge
from app.audit.signing import KEY_FILE, load_signer
from app.cli import main
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.worker import Worker
from tests.conftest import Api, _truncate
from tests.integration.audit_helpers import T0, record, seed


def _verify(container: Container, org_id: str) -> dict[str, Any]:
    with transaction(container.session_factory) as session:
        return AuditIntegrity(session, container.clock, container.audit_signer).verify(org_id).as_dict()


def _sql(container: Container, statement: str, **params: Any) -> None:
    with container.engine.begin() as conn:
        conn.execute(text(statement), params)


def _event_at(container: Container, org_id: str, seq: int) -> AuditEvent:
    with transaction(container.session_factory) as session:
        event = session.query(AuditEvent).filter_by(chain=org_id, seq=seq).one()
        session.expunge(event)
        return event


def _cli(settings: Settings, *args: str) -> Any:
    env = {
        "TENANTRY_DATABASE_URL": settings.database_url,
        "TENANTRY_INSTANCE_PATH": str(settings.instance_path),
        "TENANTRY_ENV": "test",
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_intact_chain_verifies_by_endpoint_and_cli(
    container: Container, settings: Settings, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 10)
    resp = admin.get(f"/v1/orgs/{org['id']}/audit-logs/verify")
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["ok"] is True and body["broken"] is None and body["first_seq"] == 1
    assert body["head"]["seq"] == body["checked"] >= 10
    out = _cli(settings, "audit", "verify", "--org", org["id"])
    assert out.exit_code == 0 and out.output.startswith("ok ")


def test_edited_row_is_named_by_seq(
    container: Container, settings: Settings, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 10)
    victim = _event_at(container, org["id"], 7)
    _sql(
        container,
        "UPDATE audit_events SET changes = :c WHERE id = :id",
        c=json.dumps({"role": {"before": "member", "after": "owner"}}),
        id=victim.id,
    )
    body = admin.get(f"/v1/orgs/{org['id']}/audit-logs/verify").json
    assert body["ok"] is False
    assert body["broken"] == {
        "seq": 7,
        "event_id": victim.id,
        "reason": "hash does not match the event's content",
    }
    out = _cli(settings, "audit", "verify", "--org", org["id"])
    assert out.exit_code == 1 and f"seq 7 (event {victim.id})" in out.output
    everything = _cli(settings, "audit", "verify", "--json")
    results = [json.loads(line) for line in everything.output.splitlines()]
    assert everything.exit_code == 1
    assert {r["chain"]: r["ok"] for r in results}[org["id"]] is False


def test_deleted_rows_are_caught(container: Container, org: dict[str, Any]) -> None:
    seed(container, org["id"], 8)
    middle = _event_at(container, org["id"], 4)
    _sql(container, "DELETE FROM audit_events WHERE id = :id", id=middle.id)
    broken = _verify(container, org["id"])["broken"]
    assert broken["seq"] == 5 and "gap" in broken["reason"]


def test_deleted_newest_rows_are_caught_by_the_head(container: Container, org: dict[str, Any]) -> None:
    seed(container, org["id"], 8)
    with transaction(container.session_factory) as session:
        head = session.get(AuditChainHead, org["id"])
        assert head is not None
        last = head.seq
    _sql(container, "DELETE FROM audit_events WHERE chain = :c AND seq = :s", c=org["id"], s=last)
    broken = _verify(container, org["id"])["broken"]
    assert broken["seq"] == last and "head" in broken["reason"]


def test_a_recomputed_chain_is_caught_by_the_signed_checkpoint(
    container: Container, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 6)
    with transaction(container.session_factory) as session:
        cp = AuditIntegrity(session, container.clock, container.audit_signer).checkpoint(org["id"])
        assert cp is not None
    # An attacker with database access edits seq 3 and recomputes every later hash and the head.
    with transaction(container.session_factory) as session:
        events = session.query(AuditEvent).filter_by(chain=org["id"]).order_by(AuditEvent.seq).all()
        prev = chain.GENESIS
        for e in events:
            if e.seq == 3:
                e.changes = {"forged": True}
            e.prev_hash = prev
            e.hash = chain.link(prev, hashed_fields(e))
            prev = e.hash
        head = session.get(AuditChainHead, org["id"])
        assert head is not None
        head.hash = prev
    result = _verify(container, org["id"])
    assert result["ok"] is False
    assert result["broken"]["seq"] == cp.seq and "checkpoint" in result["broken"]["reason"]


def test_checkpoints_are_signed_and_published(
    container: Container, settings: Settings, client: Any, org: dict[str, Any]
) -> None:
    out = _cli(settings, "audit", "checkpoint")
    assert out.exit_code == 0 and org["id"] in out.output
    again = _cli(settings, "audit", "checkpoint")  # nothing moved: no new checkpoint
    with transaction(container.session_factory) as session:
        cps = session.query(AuditCheckpoint).filter_by(chain=org["id"]).all()
        assert len(cps) == 1 and again.exit_code == 0
        integrity = AuditIntegrity(session, container.clock, container.audit_signer)
        assert integrity.checkpoint_is_valid(cps[0])
        key_id = cps[0].key_id
        cps[0].hash = "0" * 64
        assert not integrity.checkpoint_is_valid(cps[0])
        session.rollback()
    key = client.get("/v1/audit/public-key")
    assert key.status_code == 200
    assert key.json["algorithm"] == "Ed25519" and key.json["key_id"] == key_id
    assert key.json["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_the_signer_is_loaded_on_first_use_and_once(settings: Settings) -> None:
    key_file = settings.instance_path / KEY_FILE
    c = Container.build(settings)
    try:
        assert not key_file.exists()  # building a container (any command) writes no key
        signer = c.audit_signer
        assert key_file.exists() and c.audit_signer is signer
        assert load_signer(settings).key_id == signer.key_id  # the same key for the next process
    finally:
        c.engine.dispose()


def test_retention_purges_a_prefix_and_the_rest_still_verifies(settings: Settings) -> None:
    clock = FrozenClock(T0)
    c = Container.build(settings, clock=clock)
    try:
        with transaction(c.session_factory) as session:
            org = c.services(session).orgs.create("Retained", None)
            org.audit_retention_days = 30
            org_id = org.id
        for _ in range(60):  # one event a day for 60 days
            clock.advance(timedelta(days=1))
            record(c, org_id, AuditAction.MEMBER_ADDED, at=clock.now())
        before = _verify(c, org_id)
        assert before["ok"] and before["first_seq"] == 1
        # Nothing is older than 30 days yet from the point of view of day 30.
        early = RetentionPurge(c.session_factory, FrozenClock(T0 + timedelta(days=30))).purge_org(org_id, 30)
        assert early.purged == 0
        result = Worker(c).run_once()  # day 60: events of days <30 go, in batches
        assert result["audit.retention"] == {org_id: 30}
        after = _verify(c, org_id)
        assert after["ok"] is True, after
        assert after["first_seq"] == 31 and after["start"]["seq"] == 30
        with transaction(c.session_factory) as session:
            horizon = session.get(AuditPurgeHorizon, org_id)
            assert horizon is not None and horizon.seq == 30 and horizon.purged_total == 30
            assert session.query(AuditEvent).filter_by(chain=org_id).count() == 31
        # Another purge later moves the horizon on; small batches give the same result.
        clock.advance(timedelta(days=10))
        later = RetentionPurge(c.session_factory, clock, batch=3).purge_org(org_id, 30)
        assert later.purged == 10 and later.horizon_seq == 40
        assert _verify(c, org_id)["ok"] is True
        # Tampering with the first retained event's link to the horizon is caught.
        _sql(c, "UPDATE audit_purge_horizons SET hash = :h WHERE chain = :c", h="f" * 64, c=org_id)
        assert _verify(c, org_id)["broken"]["seq"] == 41
    finally:
        _truncate(c)  # rows this container wrote would otherwise meet the tests after it
        c.engine.dispose()
