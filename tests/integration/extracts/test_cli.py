"""``tenantry extracts …`` as the real console script: create and run with a progress bar, show, list,
download with checksums checked, cancel and resume; refusals exit 1 with the reason."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.container import Container
from tests.integration.extracts.conftest import seed_days

TENANTRY = Path(sys.executable).parent / "tenantry"


def tenantry(container: Container, *args: str) -> subprocess.CompletedProcess[str]:
    settings = container.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATABASE_URL=settings.resolved_database_url(),
        TENANTRY_INSTANCE_PATH=str(settings.instance_path),
        TENANTRY_EXTRACT_DIR=str(settings.extract_dir),
        TENANTRY_EXTRACT_PART_ROWS="4",
        TENANTRY_LOG_LEVEL="WARNING",
    )
    return subprocess.run(  # noqa: S603 - our own console script
        [str(TENANTRY), "extracts", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_extracts_commands(container: Container, org: dict[str, Any], tmp_path: Path) -> None:
    seed_days(container, org["id"], [6, 5])
    span = ["--org", org["id"], "--from", "2026-03-01", "--to", "2026-03-03"]
    too_long = tenantry(container, "create", "--org", org["id"], "--from", "2026-03-01", "--to", "2026-04-02")
    assert too_long.returncode == 1 and "31 days" in too_long.stderr

    made = tenantry(container, "create", *span, "--run", "--json")
    assert made.returncode == 0, made.stderr
    job = json.loads(made.stdout)
    assert job["status"] == "succeeded" and job["progress"]["rows_written"] == 11
    progress = [line for line in made.stderr.splitlines() if line.startswith(f"{job['id']}: ")]
    assert progress[0] == f"{job['id']}: 4/11 rows (36.4%)"
    assert progress[-1] == f"{job['id']}: 11/11 rows (100%)"

    shown = tenantry(container, "show", job["id"], "--org", org["id"])
    assert shown.returncode == 0 and "succeeded" in shown.stdout and "rows 11/11" in shown.stdout
    listed = tenantry(container, "list", "--org", org["id"], "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job["id"]]

    out = tmp_path / "download"
    fetched = tenantry(container, "download", job["id"], str(out), "--org", org["id"])
    assert fetched.returncode == 0, fetched.stderr
    assert "2 files, 11 rows, checksums match" in fetched.stdout
    rows = gzip.decompress((out / "audit_logs-2026-03-01.jsonl.gz").read_bytes()).decode().splitlines()
    assert len(rows) == 6

    queued = json.loads(tenantry(container, "create", *span, "--json").stdout)
    cancelled = tenantry(container, "cancel", queued["id"], "--org", org["id"], "--json")
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    resumed = tenantry(container, "resume", queued["id"], "--org", org["id"], "--json")
    assert json.loads(resumed.stdout)["status"] == "queued"
    again = tenantry(container, "resume", queued["id"], "--org", org["id"])
    assert again.returncode == 1 and "only a cancelled or failed one resumes" in again.stderr
