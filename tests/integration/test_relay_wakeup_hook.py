"""The after-commit hook wakes the relay only after a commit that wrote outbox rows: not after a rollback,
not after a commit with no event, once per transaction however many events it recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.audit.catalogue import AuditAction
from app.audit.recorder import Target
from app.config import Settings
from app.container import Container
from app.db import transaction


@pytest.fixture
def bus_container(settings: Settings) -> Iterator[Container]:
    container = Container.build(settings.model_copy(update={"bus_url": "nats://127.0.0.1:1"}))
    yield container
    assert container.relay_waker is not None
    container.relay_waker.close()
    container.engine.dispose()


def test_wakes_once_per_commit_that_wrote_outbox_rows(bus_container: Container, container: Container) -> None:
    wakes: list[int] = []
    bus_container.outbox.wake[:] = [lambda: wakes.append(1)]  # replace the NATS waker by a counter
    with transaction(bus_container.session_factory) as session:
        org = bus_container.services(session).orgs.create("Acme")
    assert len(wakes) == 1

    with transaction(bus_container.session_factory) as session:
        audit = bus_container.services(session).audit
        for _ in range(3):
            audit.record(AuditAction.ORG_UPDATED, org_id=org.id, targets=[Target("org", org.id)])
    assert len(wakes) == 2  # three events, one commit, one wake

    with pytest.raises(RuntimeError), transaction(bus_container.session_factory) as session:
        bus_container.services(session).audit.record(AuditAction.ORG_UPDATED, org_id=org.id)
        raise RuntimeError("roll back")
    with transaction(bus_container.session_factory) as session:
        session.get(type(org), org.id)  # a read-only unit of work on a fresh session
    assert len(wakes) == 2

    session = bus_container.session_factory()
    try:  # the same session: a rolled-back write must not leave the flag for its next commit
        bus_container.services(session).audit.record(AuditAction.ORG_UPDATED, org_id=org.id)
        session.rollback()
        session.commit()
    finally:
        session.close()
    assert len(wakes) == 2


def test_no_hook_and_no_waker_without_a_bus(container: Container) -> None:
    assert not container.outbox.enabled and container.outbox.wake == []
    assert container.relay_waker is None
