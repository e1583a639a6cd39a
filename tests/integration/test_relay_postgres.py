"""Two relays on PostgreSQL claim disjoint batches (FOR UPDATE SKIP LOCKED): no row is published twice."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.audit.bus.jetstream import JetStreamPublisher, StreamSpec
from app.audit.bus.relay import Relay
from app.audit.catalogue import AuditAction
from app.audit.recorder import Target
from app.config import Settings
from app.container import Container
from app.db import transaction
from tests.integration.bus_support import delete_stream, read_stream, unique_stream

pytestmark = [pytest.mark.postgres, pytest.mark.nats]
EVENTS = 3000


@pytest.fixture
def stream(nats_url: str) -> Iterator[StreamSpec]:
    spec = unique_stream()
    yield spec
    delete_stream(nats_url, spec.name)


@pytest.fixture
def pg_container(pg_database: str, nats_url: str, stream: StreamSpec, tmp_path: Path) -> Iterator[Container]:
    settings = Settings(
        env="test", database_url=pg_database, instance_path=tmp_path, secret_key="x" * 32,
        bus_url=nats_url, bus_stream=stream.name, bus_subject_prefix=stream.subject_prefix,
    )  # fmt: skip
    container = Container.build(settings)
    yield container
    assert container.relay_waker is not None
    container.relay_waker.close()
    container.engine.dispose()


def test_two_relays_never_publish_a_row_twice(
    pg_container: Container, stream: StreamSpec, nats_url: str
) -> None:
    with transaction(pg_container.session_factory) as session:
        orgs = [pg_container.services(session).orgs.create(f"Org {i}").id for i in range(4)]
    for chunk in range(EVENTS // 500):
        with transaction(pg_container.session_factory) as session:
            audit = pg_container.services(session).audit
            for i in range(500):
                org_id = orgs[(chunk + i) % 4]
                audit.record(AuditAction.ORG_UPDATED, org_id=org_id, targets=[Target("org", org_id)])
    expected = EVENTS + len(orgs)

    relays = [
        Relay(pg_container.session_factory, JetStreamPublisher(nats_url, stream), batch_size=100)
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def run(relay: Relay) -> None:
        async def _drain() -> None:
            try:
                await relay.drain()
            finally:
                await relay.publisher.close()

        try:
            asyncio.run(_drain())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    # A row published twice would show up as a duplicate ack (or a second stored copy).
    assert sum(r.stats.duplicates for r in relays) == 0
    assert sum(r.stats.published for r in relays) == expected
    assert all(r.stats.published > 0 for r in relays), [r.stats for r in relays]
    ids = [m.event["id"] for m in read_stream(nats_url, stream)]
    assert len(ids) == len(set(ids)) == expected
