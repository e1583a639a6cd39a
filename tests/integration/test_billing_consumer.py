"""The billing reference consumer: seats in use per org and type from seat and member events, the same
whatever the order and however often an event is delivered; and over a real stream, acked after commit."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.bus.consumers.billing import BillingConsumer
from app.audit.bus.consumers.models import BillingInbox
from app.audit.bus.consumers.printer import PrintConsumer
from app.audit.bus.consumers.runner import run_consumer
from app.audit.bus.jetstream import StreamSpec
from app.audit.bus.models import OutboxEvent
from app.config import Settings
from app.container import Container
from tests.conftest import Api
from tests.integration import event_scenario
from tests.integration.bus_support import delete_stream, drain_outbox, unique_stream


@pytest.fixture
def stream() -> StreamSpec:
    return unique_stream()


@pytest.fixture
def settings(settings: Settings, stream: StreamSpec) -> Settings:
    return settings.model_copy(
        update={
            "bus_url": "nats://127.0.0.1:1",
            "bus_stream": stream.name,
            "bus_subject_prefix": stream.subject_prefix,
        }
    )


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    assert container.relay_waker is not None
    container.relay_waker.close()


def outbox_events(container: Container) -> list[dict[str, Any]]:
    with container.session_factory() as session:
        return [row.payload for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def inbox_count(container: Container) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(BillingInbox)) or 0)


def billing_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"].split(".")[1] in ("seat", "member") and e["data"]["org_id"]]


def test_seats_in_use_match_the_api_in_any_order_with_duplicates(
    container: Container, platform: Api, admin: Api, owner: Api, org: dict[str, Any]
) -> None:
    used = event_scenario.run(platform, admin, owner, org["id"])
    events = billing_events(outbox_events(container))
    consumer = BillingConsumer(container.session_factory)
    shuffled = events + random.Random(7).sample(events, len(events) // 2)  # noqa: S311 - test order
    random.Random(11).shuffle(shuffled)  # noqa: S311 - two relays may reorder one org's events
    applied = [consumer.handle(event) for event in shuffled]
    assert sum(applied) == len(events)  # each event once; redeliveries change nothing
    assert consumer.seats_in_use(org["id"]) == used
    assert used["pro"] == 2
    assert inbox_count(container) == len(events)


def test_the_limit_follows_the_newest_event(
    container: Container, platform: Api, admin: Api, org: dict[str, Any]
) -> None:
    for limit in (5, 9, 4):
        event_scenario.ok(platform.put(f"/v1/orgs/{org['id']}/seats/pro", {"limit": limit}))
    events = billing_events(outbox_events(container))
    consumer = BillingConsumer(container.session_factory)
    for event in reversed(events):  # newest first: older limits must not win
        consumer.handle(event)
    from app.audit.bus.consumers.models import BillingSeatUsage

    with container.session_factory() as session:
        usage = session.get_one(BillingSeatUsage, (org["id"], "pro"))
        assert usage.limit == 4


@pytest.mark.nats
def test_billing_and_print_consume_the_real_stream(
    container: Container,
    platform: Api,
    admin: Api,
    owner: Api,
    org: dict[str, Any],
    stream: StreamSpec,
    nats_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    used = event_scenario.run(platform, admin, owner, org["id"])
    events = outbox_events(container)
    expected_billing = len(billing_events(events))
    try:
        drain_outbox(container, stream, nats_url)
        billing = BillingConsumer(container.session_factory)
        printed: list[str] = []

        class Collect(PrintConsumer):
            def handle(self, event: dict[str, Any], subject: str = "") -> None:
                printed.append(event["id"])

        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        async def consume() -> None:
            await asyncio.gather(
                run_consumer(nats_url, stream, billing, durable="billing-test", stop=stop),
                run_consumer(nats_url, stream, Collect(None), durable=None, stop=stop),  # type: ignore[arg-type]
            )

        thread = threading.Thread(target=loop.run_until_complete, args=(consume(),), daemon=True)
        thread.start()
        try:
            deadline = 30.0
            while (inbox_count(container) < expected_billing or len(printed) < len(events)) and deadline > 0:
                threading.Event().wait(0.1)
                deadline -= 0.1
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(15)
            loop.close()
        assert inbox_count(container) == expected_billing
        assert sorted(printed) == sorted(e["id"] for e in events)
        assert billing.seats_in_use(org["id"]) == used
    finally:
        delete_stream(nats_url, stream.name)
