"""``tenantry keys`` as the real console script, and the worker's rotation job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.clock import FrozenClock
from app.container import Container
from app.worker import Worker, default_jobs
from tests.member_factories import audit_events

TENANTRY = Path(sys.executable).parent / "tenantry"


def run(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATABASE_URL=database_url,
        TENANTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        TENANTRY_SECRET_KEY="test-secret-key-not-for-production",
        TENANTRY_LOG_LEVEL="WARNING",
    )
    return subprocess.run(  # noqa: S603 - our own console script
        [str(TENANTRY), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_rotate_list_and_revoke_from_the_command_line(
    database_url: str, tmp_path: Path, container: Container
) -> None:
    first = run(database_url, tmp_path, "keys", "rotate", "--json")
    assert first.returncode == 0, first.stderr
    key, upcoming = json.loads(first.stdout)
    assert (key["state"], upcoming["state"]) == ("current", "next") and key["alg"] == "ES256"
    second, third = json.loads(run(database_url, tmp_path, "keys", "rotate", "--json").stdout)
    assert second["kid"] == upcoming["kid"]  # the published next key is the one promoted
    listed = {
        k["kid"]: k["state"] for k in json.loads(run(database_url, tmp_path, "keys", "list", "--json").stdout)
    }
    assert listed == {key["kid"]: "previous", second["kid"]: "current", third["kid"]: "next"}
    revoked = run(database_url, tmp_path, "keys", "revoke", key["kid"], "--json")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)[0]["state"] == "revoked"
    again = run(database_url, tmp_path, "keys", "revoke", key["kid"])
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    reasons = [e.data["reason"] for e in audit_events(container, "signing_key.rotated")]
    assert reasons == ["manual", "manual"]
    [event] = audit_events(container, "signing_key.revoked")
    assert event.actor_type == "system" and event.chain == "_platform"


def test_the_worker_rotates_when_due_and_retires_keys_past_their_overlap(container: Container) -> None:
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    [job] = [j for j in default_jobs(container) if j.name == "tokens.signing_keys"]
    worker = Worker(container, [job])
    first: dict[str, Any] = worker.run_once()[job.name]
    assert first["rotated"] is not None and first["retired"] == []
    assert worker.run_once()[job.name] == {"rotated": None, "retired": []}
    clock.advance(timedelta(seconds=container.settings.signing_key_rotation_interval))
    second = worker.run_once()[job.name]
    assert second["rotated"] not in (None, first["rotated"]) and second["retired"] == []
    clock.advance(timedelta(seconds=container.settings.access_token_ttl + 61))
    assert worker.run_once()[job.name] == {"rotated": None, "retired": [first["rotated"]]}
