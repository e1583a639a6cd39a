"""Extract tests: a frozen clock, a Mailbox, small parts (many checkpoints over few rows), and an org whose
audit log is seeded over several days."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.catalogue import AuditAction
from app.audit.export import export_columns, jsonl_line
from app.audit.models import AuditEvent
from app.audit.recorder import Actor, AuditRecorder, RequestContext, Target
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.extracts.runner import ExtractRunner
from tests.conftest import Api, _truncate
from tests.mailbox import Mailbox

START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # the seeded events begin here
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the clock the app and workers read


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"extract_part_rows": 7, "extract_lease_seconds": 60, "extract_dir": tmp_path / "extracts"}
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def container(settings: Settings, clock: FrozenClock) -> Iterator[Container]:
    c = Container.build(settings, clock=clock, mailer=Mailbox())
    yield c
    _truncate(c)
    c.engine.dispose()


def seed_days(container: Container, org_id: str, per_day: list[int], start: datetime = START) -> None:
    """``per_day[i]`` events on day ``i`` after ``start``, spread over the day (a transaction per day)."""
    for day, count in enumerate(per_day):
        with transaction(container.session_factory) as session:
            for i in range(count):
                at = start + timedelta(days=day, minutes=7 + i * (1380 // max(count, 1)))
                rec = AuditRecorder(
                    session,
                    FrozenClock(at),
                    Actor("user", "usr_seed", "Séed Ünïcode"),
                    RequestContext(ip="203.0.113.9"),
                )
                rec.record(
                    AuditAction.MEMBER_ROLE_CHANGED,
                    org_id=org_id,
                    targets=[Target("member", f"mem_{i % 3}")],
                    changes={"role": {"before": "member", "after": "=admin"}},
                    data={"day": day, "i": i},
                )


def source_lines(container: Container, org_id: str, since: datetime, until: datetime) -> list[str]:
    """The export's JSON line of every org event in ``[since, until)``, in chain order: what an extract
    of that span must hold."""
    with container.session_factory() as session:
        rows = (
            session.connection()
            .execute(
                select(*export_columns())
                .where(
                    AuditEvent.org_id == org_id,
                    AuditEvent.occurred_at >= since,
                    AuditEvent.occurred_at < until,
                )
                .order_by(AuditEvent.seq)
            )
            .all()
        )
    return [jsonl_line(r) for r in rows]


def runner(container: Container, owner: str = "w1", **kw: Any) -> ExtractRunner:
    r = container.extract_runner(owner=owner)
    for key, value in kw.items():
        setattr(r, key, value)
    return r


def extract_dir(container: Container) -> Path:
    path = container.settings.extract_dir
    assert path is not None
    return path


def stored(container: Container, job: dict[str, Any], name: str) -> bytes:
    return (extract_dir(container) / job["org_id"] / job["id"] / name).read_bytes()


def manifest_of(container: Container, job: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stored(container, job, "manifest.json"))
    return data


def extracted_lines(container: Container, job: dict[str, Any]) -> list[str]:
    """Every line of every day file, in manifest order, after checking each file's SHA-256."""
    lines: list[str] = []
    for entry in manifest_of(container, job)["files"]:
        raw = stored(container, job, entry["name"])
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        assert len(raw) == entry["bytes"]
        text = (gzip.decompress(raw) if entry["name"].endswith(".gz") else raw).decode()
        file_lines = text.splitlines(keepends=True)
        assert len(file_lines) == entry["rows"]
        lines.extend(file_lines)
    return lines


def create(api: Api, org_id: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    payload = {"source": "audit_logs", "from": "2026-03-01T00:00:00Z", "to": "2026-03-05T00:00:00Z"}
    payload.update(body or {})
    headers = {"Authorization": f"Bearer {api.key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post(f"/v1/orgs/{org_id}/extracts", json=payload, headers=headers)
