"""The monthly schedule: the worker queues the previous month's extract once per month, with the schedule's
settings; setting and removing it are audited and need extracts:manage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.clock import FrozenClock
from app.container import Container
from app.worker import Worker, default_jobs
from tests.conftest import Api, make_org_key


def scheduled(container: Container) -> Any:
    worker = Worker(container, [j for j in default_jobs(container) if j.name == "extracts.schedule"])
    return worker.run_once()["extracts.schedule"]


def test_the_previous_month_is_queued_once_a_month(
    admin: Api, org: dict[str, Any], container: Container, clock: FrozenClock
) -> None:
    path = f"/v1/orgs/{org['id']}/extract-schedule"
    assert admin.get(path).status_code == 404
    put = admin.put(path, {"format": "csv", "notify_email": "ops@acme.example"})
    assert put.status_code == 200, put.json
    assert put.json["last_period"] is None and put.json["compression"] == "gzip"

    [first] = scheduled(container)  # the clock is 2026-03-10: February is queued
    assert scheduled(container) == []  # and only once
    job = admin.get(f"/v1/orgs/{org['id']}/extracts/{first}").json
    assert (job["from"], job["to"], job["format"]) == ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "csv")
    assert admin.get(path).json["last_period"] == "2026-02"

    clock.advance(timedelta(days=22))  # 2026-04-01
    assert clock.now() == datetime(2026, 4, 1, 12, tzinfo=UTC)
    [march] = scheduled(container)
    march_job = admin.get(f"/v1/orgs/{org['id']}/extracts/{march}").json
    assert (march_job["from"], march_job["to"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")

    member = admin.as_key(make_org_key(container, org["id"], "member"))
    assert member.put(path, {"format": "jsonl"}).status_code == 403
    assert admin.delete(path).status_code == 204
    clock.advance(timedelta(days=31))
    assert scheduled(container) == []
    log = admin.get(f"/v1/orgs/{org['id']}/audit-logs?action=extract.*&limit=50").json["data"]
    assert [e["action"] for e in reversed(log)] == [
        "extract.schedule_set", "extract.created", "extract.created", "extract.schedule_deleted",
    ]  # fmt: skip
