"""A worker killed mid-job (a real process, SIGKILL by pid): its lease keeps others off the job while it
could still be alive, then another worker takes the job over and completes it with exactly the rows."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.container import Container
from app.extracts.models import ExtractJob
from tests.conftest import Api
from tests.integration.extracts.conftest import (
    START,
    create,
    extract_dir,
    extracted_lines,
    runner,
    seed_days,
    source_lines,
)

REPO = Path(__file__).resolve().parents[3]


class _Lines:
    """The worker's output lines, read by a thread. Not ``select()`` on the pipe: the first ``readline()`` of
    the buffered stream can take both checkpoints' lines out of the pipe at once, and a second ``select()``
    then waits for output that has already arrived (it failed CI runs that way when the test was slow to
    read)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stdout: Iterable[str]) -> None:
        for line in stdout:
            self._queue.put(line)

    def next(self, seconds: float = 60) -> str:
        try:
            return self._queue.get(timeout=seconds)  # a safety net for a hung child, not a timing assumption
        except queue.Empty:
            raise AssertionError("the worker process printed nothing") from None


def test_a_killed_worker_s_job_is_taken_over_after_its_lease_and_completes_exactly(
    admin: Api, org: dict[str, Any], container: Container, clock: FrozenClock
) -> None:
    seed_days(container, org["id"], [12, 9, 14])
    job = create(admin, org["id"]).json
    settings = container.settings
    command = [
        sys.executable, "-m", "tests.integration.extracts.worker_process", settings.resolved_database_url(),
        str(settings.instance_path), str(extract_dir(container)), "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    pipe = subprocess.PIPE
    with subprocess.Popen(command, cwd=REPO, env=env, text=True, stdin=pipe, stdout=pipe) as proc:
        try:
            lines = _Lines(proc)
            assert lines.next() == "checkpoint 5\n"
            assert lines.next() == "checkpoint 10\n"
            # Alive (as far as anyone can tell) and holding its lease: no other worker takes the job.
            clock.advance(datetime.now(UTC) - clock.now())
            assert runner(container, owner="rescuer").claim() is None
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with container.session_factory() as session:
        held = session.get(ExtractJob, job["id"])
        assert held is not None and held.status == "running" and held.lease_owner == "doomed"
        assert held.rows_written == 10 and held.lease_expires_at is not None
        expires = held.lease_expires_at
    clock.advance(expires - clock.now() + timedelta(seconds=1))
    rescuer = runner(container, owner="rescuer")
    assert rescuer.claim() == job["id"]
    assert rescuer.run(job["id"]) == "succeeded"

    assert extracted_lines(container, job) == source_lines(
        container, org["id"], START, START + timedelta(days=4)
    )
    with container.session_factory() as session:
        done = session.get(ExtractJob, job["id"])
        assert done is not None and (done.attempts, done.rows_written, done.rows_total) == (2, 35, 35)
        started = session.scalars(
            select(AuditEvent.data).where(AuditEvent.action == "extract.started").order_by(AuditEvent.seq)
        ).all()
    assert [(d["worker"], d["takeover"], d["rows_written"]) for d in started] == [
        ("doomed", False, 0),
        ("rescuer", True, 10),
    ]


def test_of_workers_claiming_at_once_exactly_one_takes_the_job(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    seed_days(container, org["id"], [3])
    job = create(admin, org["id"]).json
    create(admin, org["id"])  # a second job of the same org must keep waiting
    workers = [runner(container, owner=f"w{i}") for i in range(4)]
    barrier = threading.Barrier(len(workers))

    def claim(worker: Any) -> str | None:
        barrier.wait()
        result: str | None = worker.claim()
        return result

    with ThreadPoolExecutor(len(workers)) as pool:
        claimed = list(pool.map(claim, workers))
    assert [c for c in claimed if c is not None] == [job["id"]] and claimed.count(None) == 3
    with container.session_factory() as session:
        held = session.get(ExtractJob, job["id"])
        assert held is not None and held.attempts == 1 and held.lease_owner == f"w{claimed.index(job['id'])}"
