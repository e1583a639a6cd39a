"""Bounded verification (issue 13): each /verify call walks at most the cap, goes on from the point the last
one verified, and says what it covered; the full walk is the CLI's and the worker's, and is stored. The
platform chain follows retention too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from app.audit.catalogue import AuditAction
from app.audit.integrity import AuditIntegrity
from app.audit.models import PLATFORM_CHAIN, AuditEvent, AuditPurgeHorizon, AuditVerification
from app.audit.recorder import AuditRecorder, RequestContext, Target
from app.audit.retention import RetentionPurge
from app.cli import main
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.worker import Worker, default_jobs
from tests.conftest import Api, _truncate
from tests.integration.audit_helpers import T0, seed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"audit_verify_max_events": 10})


def verify(admin: Api, org_id: str, query: str = "") -> dict[str, Any]:
    resp = admin.get(f"/v1/orgs/{org_id}/audit-logs/verify{query}")
    assert resp.status_code == 200, resp.json
    body: dict[str, Any] = resp.json
    return body


def head_seq(container: Container, chain: str) -> int:
    with transaction(container.session_factory) as session:
        last = (
            select(AuditEvent.seq).where(AuditEvent.chain == chain).order_by(AuditEvent.seq.desc()).limit(1)
        )
        return int(session.scalar(last) or 0)


def test_each_call_covers_at_most_the_cap_and_goes_on_from_the_last_verified_point(
    container: Container, admin: Api, org: dict[str, Any], settings: Settings
) -> None:
    org_id = org["id"]
    seed(container, org_id, 22)
    with transaction(container.session_factory) as session:
        cp = AuditIntegrity(session, container.clock, container.audit_signer).checkpoint(org_id)
        assert cp is not None
        cp_seq = cp.seq
    head = head_seq(container, org_id)
    assert head > 20

    first = verify(admin, org_id)
    assert (first["ok"], first["from_seq"], first["to_seq"], first["complete"], first["resumed"]) == (
        True, 1, 10, False, False,
    )  # fmt: skip
    assert "seq 11" in first["next"]
    second = verify(admin, org_id)
    assert (second["from_seq"], second["to_seq"], second["resumed"]) == (11, 20, True)
    third = verify(admin, org_id)
    assert (third["from_seq"], third["to_seq"], third["complete"], third["next"]) == (21, head, True, None)
    assert cp_seq in first["checkpoints"] + second["checkpoints"] + third["checkpoints"]
    assert third["checkpoint"]["seq"] == cp_seq
    idle = verify(admin, org_id)
    assert idle["checked"] == 0 and idle["complete"] and "nothing new" in idle["next"]

    # New events are verified from the stored point; an edited one is named, and nothing is stored past it.
    seed(container, org_id, 5, start=T0 + timedelta(days=1))
    with container.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET reason = 'edited' WHERE chain = :c AND seq = :s"),
            {"c": org_id, "s": head + 2},
        )
    broken = verify(admin, org_id)
    assert broken["ok"] is False and broken["broken"]["seq"] == head + 2 and broken["from_seq"] is None
    again = verify(admin, org_id)
    assert again["ok"] is False and again["broken"]["seq"] == head + 2
    # restart starts over from the beginning (capped as ever).
    restarted = verify(admin, org_id, "?restart=true")
    assert (restarted["ok"], restarted["from_seq"], restarted["to_seq"]) == (True, 1, 10)
    assert admin.get(f"/v1/orgs/{org_id}/audit-logs/verify?restart=maybe").status_code == 422

    # The full verification from the CLI walks everything and stores its outcome.
    env = {
        "TENANTRY_DATABASE_URL": settings.database_url,
        "TENANTRY_INSTANCE_PATH": str(settings.instance_path),
        "TENANTRY_SECRET_KEY": settings.secret_key,
        "TENANTRY_ENV": "test",
    }
    out = CliRunner().invoke(main, ["audit", "verify", "--org", org_id], env=env, catch_exceptions=False)
    assert out.exit_code == 1 and f"seq {head + 2}" in out.output
    with transaction(container.session_factory) as session:
        state = session.get(AuditVerification, org_id)
        assert state is not None and state.full_ok is False and state.full_broken["seq"] == head + 2  # type: ignore[index]


def test_the_worker_runs_the_full_verification_and_a_bounded_call_goes_on_from_its_head(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 12)
    job = next(j for j in default_jobs(container) if j.name == "audit.verify")
    outcomes: dict[str, bool] = {}
    for _ in range(5):  # one chain per run, the least recently verified first
        done, outcome = Worker(container).run_job(job)
        assert done
        if not outcome:
            break
        assert len(outcome) == 1
        outcomes |= outcome
    assert outcomes[org["id"]] is True and not Worker(container).run_job(job)[1]  # all done for a day
    after = verify(admin, org["id"])
    assert after["resumed"] and after["checked"] == 0 and after["complete"]


def test_the_platform_chain_follows_retention(settings: Settings) -> None:
    clock = FrozenClock(T0)
    c = Container.build(settings.model_copy(update={"audit_platform_retention_days": 30}), clock=clock)
    try:
        for _ in range(40):  # a platform event a day
            clock.advance(timedelta(days=1))
            with transaction(c.session_factory) as session:
                AuditRecorder(session, clock, c.services(session).audit.actor, RequestContext()).record(
                    AuditAction.USER_CREATED, org_id=None, targets=[Target("user", "usr_x")]
                )
        result = Worker(c).run_once()
        assert result["audit.retention"] == {PLATFORM_CHAIN: 9}  # days 1..9 are older than 30 days
        with transaction(c.session_factory) as session:
            horizon = session.get(AuditPurgeHorizon, PLATFORM_CHAIN)
            assert horizon is not None and horizon.seq == 9
            assert AuditIntegrity(session, clock, c.audit_signer).verify(PLATFORM_CHAIN).ok
        assert RetentionPurge(c.session_factory, clock, platform_retention_days=30).run() == []
    finally:
        _truncate(c)
        c.engine.dispose()
