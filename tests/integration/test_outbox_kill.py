"""Nothing lost, nothing invented: thousands of transactions (some rolled back on purpose) while two relay
processes are SIGKILLed and restarted and the broker is stopped and started; afterwards every committed
event is on the stream exactly once and no rolled-back event is.

Real PostgreSQL (``pg_database``) and an own ``nats-server -js`` on a free port with a temporary store,
started and stopped by this test by pid; the shared broker is not touched. Bounded: fails after 240 s.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.audit.bus.jetstream import StreamSpec
from app.audit.bus.models import OutboxEvent
from app.audit.catalogue import AuditAction
from app.audit.models import AuditEvent
from app.audit.recorder import Target
from app.config import Settings
from app.container import Container
from app.db import transaction
from tests.conftest import service_missing
from tests.integration.bus_support import read_stream, unique_stream
from tests.support import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

TRANSACTIONS = 2400
WRITERS = 6
ROLLBACK_SHARE = 0.1
DEADLINE_SECONDS = 240.0
ROOT = Path(__file__).resolve().parents[2]


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {seconds} s")


class OwnNatsServer:
    """A nats-server process this test owns: started, stopped and killed by its pid only."""

    def __init__(self, binary: str, store: Path, log: Path) -> None:
        self.binary, self.store, self.log = binary, store, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, 10)

    def stop(self) -> None:
        """A clean stop (SIGTERM): the broker shuts down and flushes its store."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class RelayProcess:
    """``tenantry relay`` as a child process, killed with SIGKILL (no chance to finish its batch)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [sys.executable, "-m", "app.cli", "relay", "--batch-size", "200", "--poll-interval", "0.3",
                 "--timeout", "2"],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.kills += 1
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def nats_binary() -> str:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.access(binary, os.X_OK):
        service_missing("the nats-server binary")
    return binary


@pytest.fixture
def broker(nats_binary: str, tmp_path: Path) -> Iterator[OwnNatsServer]:
    server = OwnNatsServer(nats_binary, tmp_path / "jetstream", tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


def write_events(
    container: Container,
    org_ids: list[str],
    count: int,
    seed: int,
    committed: list[str],
    rolled_back: list[str],
) -> None:
    """``count`` transactions of one to three events each; about one in ten rolled back on purpose."""
    rng = random.Random(seed)  # noqa: S311 - test data
    for i in range(count):
        org_id = rng.choice(org_ids)
        doomed = rng.random() < ROLLBACK_SHARE
        ids: list[str] = []
        try:
            with transaction(container.session_factory) as session:
                audit = container.services(session).audit
                for _ in range(rng.randint(1, 3)):
                    event = audit.record(
                        AuditAction.ORG_UPDATED,
                        org_id=org_id,
                        targets=[Target("org", org_id)],
                        changes={"name": {"before": f"n{i}", "after": f"n{i + 1}"}},
                    )
                    ids.append(event.id)
                if doomed:
                    raise _RollBack
        except _RollBack:
            rolled_back.extend(ids)
        else:
            committed.extend(ids)
        time.sleep(rng.uniform(0.0, 0.003))  # spread the load over the chaos below


class _RollBack(Exception):
    pass


def test_every_committed_event_reaches_the_stream_exactly_once(
    pg_database: str, broker: OwnNatsServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    spec: StreamSpec = unique_stream()
    settings = Settings(
        env="test", database_url=pg_database, instance_path=tmp_path / "instance", secret_key="x" * 32,
        bus_url=broker.url, bus_stream=spec.name, bus_subject_prefix=spec.subject_prefix,
        log_json=False, log_level="WARNING",
    )  # fmt: skip
    container = Container.build(settings)
    env = {
        **os.environ,
        "TENANTRY_DATABASE_URL": pg_database,
        "TENANTRY_BUS_URL": broker.url,
        "TENANTRY_BUS_STREAM": spec.name,
        "TENANTRY_BUS_SUBJECT_PREFIX": spec.subject_prefix,
        "TENANTRY_SECRET_KEY": "x" * 32,
        "TENANTRY_INSTANCE_PATH": str(tmp_path / "instance"),
        "TENANTRY_LOG_LEVEL": "INFO",
    }
    relays = [RelayProcess(env, tmp_path / f"relay{i}.log") for i in range(2)]
    committed: list[str] = []
    rolled_back: list[str] = []
    try:
        with transaction(container.session_factory) as session:
            orgs = [container.services(session).orgs.create(f"Org {i}") for i in range(8)]
            org_ids = [org.id for org in orgs]
        for relay in relays:
            relay.start()
        per_writer = TRANSACTIONS // WRITERS
        writers = [
            threading.Thread(
                target=write_events, args=(container, org_ids, per_writer, seed, committed, rolled_back)
            )
            for seed in range(WRITERS)
        ]
        for writer in writers:
            writer.start()

        # Chaos while the writers write: SIGKILL a relay and restart it; twice, stop and start the broker.
        rng = random.Random(42)  # noqa: S311 - test data
        broker_stops = 0
        step = 0
        while any(w.is_alive() for w in writers) or step < 6:
            assert time.monotonic() - started < DEADLINE_SECONDS, "writers did not finish in time"
            time.sleep(rng.uniform(2.0, 3.5))
            step += 1
            victim = relays[step % 2]
            assert victim.alive(), f"a relay exited on its own; see {victim.log}"  # only we end them
            victim.kill()
            victim.start()
            if step in (2, 5):
                broker.stop()
                broker_stops += 1
                time.sleep(rng.uniform(0.5, 1.5))
                broker.start()
        for writer in writers:
            writer.join()
        written_at = time.monotonic()
        assert sum(r.kills for r in relays) >= 4 and broker_stops == 2, "the chaos did not happen as planned"

        # Drain: the relays (restarted once more, for good measure) empty the outbox.
        for relay in relays:
            if not relay.alive():
                relay.start()
        while _outbox_rows(container) > 0:
            assert time.monotonic() - started < DEADLINE_SECONDS, (
                f"outbox not drained in time: {_outbox_rows(container)} rows left"
            )
            time.sleep(0.2)
        drained_at = time.monotonic()
        for relay in relays:
            relay.kill()
        dropped = sum(r.log.read_text().count("broker dropped re-published events") for r in relays)
        print(
            f"kill test: {len(committed)} committed, {len(rolled_back)} rolled back, "
            f"writing {written_at - started:.1f} s, drain {drained_at - written_at:.1f} s, "
            f"relay kills {sum(r.kills for r in relays)}, broker stops {broker_stops}, "
            f"batches with re-published events {dropped}"
        )

        messages = read_stream(broker.url, spec, timeout=30)
        stream_ids = [m.event["id"] for m in messages]
        assert all(m.msg_id == m.event["id"] for m in messages)
        assert len(committed) >= TRANSACTIONS and rolled_back, "the workload did not run as planned"
        in_database = _audit_ids(container)  # the writers' events plus the eight org.created
        assert set(committed) <= in_database and not set(rolled_back) & in_database
        assert len(in_database) == len(committed) + len(org_ids)
        duplicates = len(stream_ids) - len(set(stream_ids))
        lost = in_database - set(stream_ids)
        phantoms = set(stream_ids) - in_database
        assert (duplicates, len(lost), len(phantoms)) == (0, 0, 0)
        assert not set(rolled_back) & set(stream_ids)
        assert len(stream_ids) == len(in_database)
    finally:
        for relay in relays:
            relay.kill()
        waker = container.relay_waker
        if waker is not None:
            waker.close()
        container.engine.dispose()


def _outbox_rows(container: Container) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


def _audit_ids(container: Container) -> set[str]:
    with container.session_factory() as session:
        return set(session.scalars(select(AuditEvent.id)))
