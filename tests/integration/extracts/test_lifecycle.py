"""The lifecycle through the API and the worker: create, run, files and manifest, cancel and resume, the
span limit, idempotency, permissions, downloads, retention, one running job per org, events and mail."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.audit import verify_export as verify_export_module
from app.audit.models import AuditEvent
from app.audit.verify_export import load_public_key, verify_export
from app.clock import FrozenClock
from app.container import Container
from app.db import transaction
from app.extracts.models import ExtractJob
from app.extracts.runner import expire_files
from tests.conftest import Api, make_org_key
from tests.integration.extracts.conftest import (
    START,
    create,
    extract_dir,
    extracted_lines,
    manifest_of,
    runner,
    seed_days,
    source_lines,
)
from tests.mailbox import Mailbox

SPAN = (START, START + timedelta(days=4))


def actions(container: Container, org_id: str) -> list[str]:
    with container.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.org_id == org_id, AuditEvent.action.like("extract.%"))
                .order_by(AuditEvent.seq)
            )
        )


def test_an_extract_runs_to_success_with_one_file_per_day_and_a_verifiable_manifest(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    seed_days(container, org["id"], [9, 0, 15, 4, 6])  # day 1 empty; day 4 is outside the span
    resp = create(admin, org["id"], {"notify_email": "ops@acme.example"})
    assert resp.status_code == 202, resp.json
    job = resp.json
    assert job["status"] == "queued" and job["from"] == "2026-03-01T00:00:00Z"

    assert runner(container).run_pending() == {job["id"]: "succeeded"}
    done = admin.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}").json
    assert done["status"] == "succeeded"
    assert done["progress"] == {"rows_written": 28, "rows_total": 28, "percent": 100.0}

    manifest = manifest_of(container, job)
    assert [(f["name"], f["rows"]) for f in manifest["files"]] == [
        ("audit_logs-2026-03-01.jsonl.gz", 9),
        ("audit_logs-2026-03-03.jsonl.gz", 15),
        ("audit_logs-2026-03-04.jsonl.gz", 4),
    ]
    assert manifest["rows"] == 28
    lines = extracted_lines(container, job)  # checks every SHA-256 and row count
    assert lines == source_lines(container, org["id"], *SPAN)

    # Offline: the files' lines and the manifest's checkpoint, with the instance's public key.
    key = load_public_key(container.audit_signer.public_key_document()["public_key"])
    checkpoint = json.dumps({"checkpoint": manifest["checkpoint"]})
    verdict = verify_export([*lines, checkpoint], key)
    assert verdict.ok and verdict.anchored and verdict.events == 28
    assert manifest["checkpoint"]["seq"] == manifest["files"][-1]["last_seq"]

    assert actions(container, org["id"]) == ["extract.created", "extract.started", "extract.succeeded"]
    stored_names = sorted(p.name for p in (extract_dir(container) / org["id"] / job["id"]).iterdir())
    assert stored_names == sorted(["manifest.json", *(f["name"] for f in manifest["files"])])
    mail = container.mailer
    assert isinstance(mail, Mailbox)
    [message] = mail.to("ops@acme.example")
    assert job["id"] in message.body and "28 rows" in message.body


def test_cancel_then_resume_writes_exactly_the_rows_of_an_uninterrupted_run(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    seed_days(container, org["id"], [10, 20, 3, 12])
    interrupted = create(admin, org["id"], {"compression": "none"}).json
    checkpoints: list[int] = []

    def cancel_after_three(job: ExtractJob) -> None:
        checkpoints.append(job.rows_written)
        if len(checkpoints) == 3:
            assert admin.post(f"/v1/orgs/{org['id']}/extracts/{interrupted['id']}/cancel").status_code == 200

    assert runner(container, after_checkpoint=cancel_after_three).run_pending() == {
        interrupted["id"]: "cancelled"
    }
    cancelled = admin.get(f"/v1/orgs/{org['id']}/extracts/{interrupted['id']}").json
    assert cancelled["status"] == "cancelled"
    assert 0 < cancelled["progress"]["rows_written"] < 45
    assert admin.get(f"/v1/orgs/{org['id']}/extracts/{interrupted['id']}/download").status_code == 409

    resumed = admin.post(f"/v1/orgs/{org['id']}/extracts/{interrupted['id']}/resume")
    assert resumed.status_code == 202 and resumed.json["status"] == "queued"
    assert runner(container, owner="w2").run_pending() == {interrupted["id"]: "succeeded"}

    whole = create(admin, org["id"], {"compression": "none"}).json
    assert runner(container).run_pending() == {whole["id"]: "succeeded"}

    expected = source_lines(container, org["id"], *SPAN)
    assert len(expected) == 45
    assert extracted_lines(container, interrupted) == expected
    files = [(f["name"], f["rows"], f["sha256"]) for f in manifest_of(container, interrupted)["files"]]
    assert files == [(f["name"], f["rows"], f["sha256"]) for f in manifest_of(container, whole)["files"]]
    assert actions(container, org["id"]) == [
        "extract.created", "extract.started", "extract.cancel_requested", "extract.cancelled",
        "extract.resumed", "extract.started", "extract.succeeded",
        "extract.created", "extract.started", "extract.succeeded",
    ]  # fmt: skip


def test_a_queued_extract_cancels_at_once_and_a_finished_one_refuses(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    job = create(admin, org["id"]).json
    resp = admin.post(f"/v1/orgs/{org['id']}/extracts/{job['id']}/cancel")
    assert resp.status_code == 200 and resp.json["status"] == "cancelled"
    again = admin.post(f"/v1/orgs/{org['id']}/extracts/{job['id']}/cancel")
    assert again.status_code == 409 and again.json["code"] == "extract_not_cancellable"
    assert runner(container).run_pending() == {}
    fresh = create(admin, org["id"]).json
    runner(container).run_pending()
    assert (
        admin.post(f"/v1/orgs/{org['id']}/extracts/{fresh['id']}/resume").json["code"]
        == "extract_not_resumable"
    )


@pytest.mark.parametrize(
    ("span", "status", "code"),
    [
        (("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"), 202, None),  # 31 days exactly
        (("2026-03-01T00:00:00Z", "2026-04-01T00:00:01Z"), 422, "extract_span_too_long"),
        (("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z"), 422, "invalid_extract_span"),
        (("2026-03-01T00:00:00", "2026-03-02T00:00:00Z"), 422, "invalid_extract_span"),
        ((1772323200, "2026-03-02T00:00:00Z"), 422, "validation_failed"),  # a Unix time is not RFC 3339
    ],
)
def test_the_span_is_at_most_the_limit(
    admin: Api, org: dict[str, Any], span: tuple[Any, str], status: int, code: str | None
) -> None:
    resp = create(admin, org["id"], {"from": span[0], "to": span[1]})
    assert resp.status_code == status, resp.json
    if code is not None:
        assert resp.json["code"] == code
    if code == "extract_span_too_long":
        assert "31 days" in resp.json["detail"]


def test_an_idempotency_key_returns_the_same_job(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    first = create(admin, org["id"], key="retry-1")
    second = create(admin, org["id"], key="retry-1")
    assert first.status_code == second.status_code == 202
    assert first.json["id"] == second.json["id"]
    other = create(admin, org["id"], {"format": "csv"}, key="retry-1")
    assert other.status_code == 409 and other.json["code"] == "idempotency_key_reused"
    assert create(admin, org["id"], key="retry-2").json["id"] != first.json["id"]
    listed = admin.get(f"/v1/orgs/{org['id']}/extracts").json["data"]
    assert len(listed) == 2
    assert actions(container, org["id"]) == ["extract.created", "extract.created"]


def test_extracts_need_the_extracts_manage_permission(
    admin: Api, org: dict[str, Any], container: Container, platform: Api
) -> None:
    job = create(admin, org["id"]).json
    member = admin.as_key(make_org_key(container, org["id"], "member"))
    assert create(member, org["id"]).status_code == 403
    for path in ("", f"/{job['id']}", f"/{job['id']}/download"):
        assert member.get(f"/v1/orgs/{org['id']}/extracts{path}").status_code == 403
    assert member.post(f"/v1/orgs/{org['id']}/extracts/{job['id']}/cancel").status_code == 403
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    outsider = admin.as_key(make_org_key(container, other["id"], "admin"))
    assert outsider.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}").status_code == 404
    assert outsider.get(f"/v1/orgs/{other['id']}/extracts/{job['id']}").status_code == 404


def test_downloads_by_api_key_and_by_a_link_that_expires_in_ten_minutes(
    admin: Api, org: dict[str, Any], container: Container, clock: FrozenClock
) -> None:
    seed_days(container, org["id"], [5, 5])
    job = create(admin, org["id"], {"format": "csv"}).json
    runner(container).run_pending()
    manifest = admin.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}/download")
    assert manifest.status_code == 200 and manifest.json["rows"] == 10
    name = manifest.json["files"][0]["name"]
    assert name == "audit_logs-2026-03-01.csv.gz"
    by_key = admin.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}/download?file={name}")
    assert by_key.status_code == 200 and by_key.mimetype == "application/gzip"
    rows = gzip.decompress(by_key.data).decode().splitlines()
    assert rows[0].startswith("id,sequence,") and len(rows) == 6

    files = admin.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}").json["files"]
    link = next(f for f in files if f["name"] == name)
    anonymous = admin.as_key(None)
    assert anonymous.get(link["url"].removeprefix(container.settings.base_url)).data == by_key.data
    path = link["url"].removeprefix(container.settings.base_url)
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert anonymous.get(tampered).status_code == 404
    clock.advance(timedelta(minutes=10))
    assert anonymous.get(link["url"].removeprefix(container.settings.base_url)).status_code == 404

    clock.advance(timedelta(days=7))
    assert expire_files(container.session_factory, container.clock, container.extract_storage) == [job["id"]]
    gone = admin.get(f"/v1/orgs/{org['id']}/extracts/{job['id']}/download")
    assert gone.status_code == 410 and gone.json["code"] == "extract_expired"


def test_one_running_job_per_org_and_a_live_lease_is_never_taken(
    admin: Api, org: dict[str, Any], container: Container, clock: FrozenClock, platform: Api
) -> None:
    seed_days(container, org["id"], [20])
    first, second = create(admin, org["id"]).json, create(admin, org["id"]).json
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    elsewhere = create(admin.as_key(make_org_key(container, other["id"])), other["id"]).json
    a, b = runner(container, owner="a"), runner(container, owner="b")
    assert a.claim() == first["id"]
    assert b.claim() == elsewhere["id"]  # the other org's job, not this org's second one
    assert b.claim() is None
    clock.advance(timedelta(seconds=61))  # a's lease (60 s) expired without a checkpoint: presumed dead
    assert b.claim() == first["id"]
    assert a.run(first["id"]) == "lost"  # a wakes up: its lease is gone, it writes nothing
    assert b.run(first["id"]) == "succeeded"
    assert b.run(elsewhere["id"]) == "succeeded"
    assert b.run_pending() == {second["id"]: "succeeded"}
    with transaction(container.session_factory) as session:
        job = session.get(ExtractJob, first["id"])
        assert job is not None and job.attempts == 2 and job.rows_written == 20


def test_the_customer_verifier_checks_an_extract_offline(
    admin: Api, org: dict[str, Any], container: Container, tmp_path: Path
) -> None:
    seed_days(container, org["id"], [5, 0, 7])
    job = create(admin, org["id"]).json
    runner(container).run_pending()
    base = f"/v1/orgs/{org['id']}/extracts/{job['id']}/download"
    folder = tmp_path / "extract"
    folder.mkdir()
    manifest = admin.get(base).json
    (folder / "manifest.json").write_bytes(admin.get(base).data)
    for entry in manifest["files"]:
        (folder / entry["name"]).write_bytes(admin.get(f"{base}?file={entry['name']}").data)
    key = container.audit_signer.public_key_document()["public_key"]
    # The verifier alone, copied out of the checkout: it needs nothing of Tenantry.
    verifier = tmp_path / "verify_export.py"
    shutil.copy(Path(verify_export_module.__file__), verifier)

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the verifier we ship
            [sys.executable, str(verifier), str(folder / "manifest.json"), key],
            capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60,
        )  # fmt: skip

    ok = verify()
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 12 events"), ok.stdout + ok.stderr
    day = folder / "audit_logs-2026-03-03.jsonl.gz"
    lines = gzip.decompress(day.read_bytes()).decode().splitlines(keepends=True)
    day.write_bytes(gzip.compress("".join(lines[:-1]).encode()))  # the last row dropped
    assert verify().stdout.startswith("FAILED: audit_logs-2026-03-03.jsonl.gz: SHA-256")
    # Even with the manifest's checksum and counts made to agree, the chain no longer reaches the checkpoint.
    edited = json.loads((folder / "manifest.json").read_text())
    edited["files"][-1].update(sha256=sha256(day.read_bytes()).hexdigest(), bytes=day.stat().st_size, rows=6)
    (folder / "manifest.json").write_text(json.dumps(edited))
    assert "is not the signed head" in verify().stdout
