"""REST changes reach a real JetStream as CloudEvents, once; the relay wakes after commits, and a dead
broker makes it back off instead of hanging."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.bus.jetstream import BusUnavailable, JetStreamPublisher, OutgoingMessage, StreamSpec
from app.audit.bus.models import OutboxEvent
from app.audit.bus.relay import Backoff, Relay
from app.audit.models import AuditEvent
from app.config import Settings
from app.container import Container
from tests.conftest import Api
from tests.integration.bus_support import delete_stream, drain_outbox, read_stream, unique_stream

pytestmark = pytest.mark.nats


@pytest.fixture
def stream(nats_url: str) -> Iterator[StreamSpec]:
    spec = unique_stream()
    yield spec
    delete_stream(nats_url, spec.name)


@pytest.fixture
def settings(settings: Settings, stream: StreamSpec, nats_url: str) -> Settings:
    """The suite's settings with the bus on: every recorded event also writes an outbox row."""
    return settings.model_copy(
        update={"bus_url": nats_url, "bus_stream": stream.name, "bus_subject_prefix": stream.subject_prefix}
    )


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    waker = container.relay_waker
    if waker is not None:
        waker.close()


def _audit_ids(container: Container) -> set[str]:
    with container.session_factory() as session:
        return set(session.scalars(select(AuditEvent.id)))


def _outbox_count(container: Container) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


def test_rest_changes_reach_the_stream_once_as_cloudevents(
    container: Container, admin: Api, org: dict[str, Any], stream: StreamSpec, nats_url: str
) -> None:
    assert admin.patch(f"/v1/orgs/{org['id']}", {"name": "Acme Renamed"}).status_code == 200
    assert _outbox_count(container) == len(_audit_ids(container)) > 0
    checks = admin.get("/readyz").json["checks"]
    assert checks["bus"] == "ok" and checks["outbox"].startswith(f"ok: {_outbox_count(container)} rows")

    relay = drain_outbox(container, stream, nats_url)

    assert _outbox_count(container) == 0
    messages = read_stream(nats_url, stream)
    assert {m.event["id"] for m in messages} == _audit_ids(container)
    assert len(messages) == relay.stats.published == len(_audit_ids(container))
    for message in messages:
        event = message.event
        assert message.msg_id == event["id"]  # the broker deduplicates on it
        assert event["specversion"] == "1.0"
        assert event["type"].startswith("tenantry.") and event["type"].endswith(".v1")
        org_part = event["source"].removeprefix("/orgs/")
        aggregate, verb = event["type"].split(".")[1:3]
        assert message.subject == f"{stream.subject_prefix}.{org_part}.{aggregate}.{verb}"
    for message in messages:  # what arrived is valid against the published contract
        assert_matches_contract(message.event)
    updated = [m.event for m in messages if m.event["type"] == "tenantry.org.updated.v1"]
    assert len(updated) == 1
    assert updated[0]["source"] == f"/orgs/{org['id']}"
    assert updated[0]["data"]["changes"]["name"] == {"before": "Acme", "after": "Acme Renamed"}
    assert updated[0]["data"]["context"]["request_id"]


def test_a_republished_event_is_dropped_by_the_broker(
    container: Container, admin: Api, org: dict[str, Any], stream: StreamSpec, nats_url: str
) -> None:
    with container.session_factory() as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        messages = [OutgoingMessage(r.event_id, r.subject, _json(r.payload)) for r in rows]
    drain_outbox(container, stream, nats_url)
    before = len(read_stream(nats_url, stream))

    async def _again() -> Any:
        publisher = JetStreamPublisher(nats_url, stream)
        try:
            return await publisher.publish_batch(messages)
        finally:
            await publisher.close()

    result = asyncio.run(_again())
    assert result.duplicates == len(messages) and result.stored == 0
    assert len(read_stream(nats_url, stream)) == before


def test_the_relay_is_woken_right_after_a_commit(
    container: Container, admin: Api, org: dict[str, Any], stream: StreamSpec, nats_url: str
) -> None:
    """The relay polls only every 60 s here, so an event arriving within seconds came from the wakeup."""
    drain_outbox(container, stream, nats_url)
    published_before = len(read_stream(nats_url, stream))
    relay = Relay(container.session_factory, JetStreamPublisher(nats_url, stream), poll_interval=60.0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(relay.run(),), daemon=True)
    thread.start()
    try:
        _wait_for(lambda: relay.stats.batches >= 0 and relay._wake_client is not None, 10)
        time.sleep(0.2)  # let the relay finish its first (empty) round and go to sleep
        assert admin.patch(f"/v1/orgs/{org['id']}", {"name": "Woken"}).status_code == 200
        _wait_for(lambda: _outbox_count(container) == 0, 10)
        assert container.relay_waker is not None and container.relay_waker.sent >= 1
        assert len(read_stream(nats_url, stream)) == published_before + 1
    finally:
        loop.call_soon_threadsafe(relay.stop.set)
        thread.join(10)
        loop.close()
    assert not thread.is_alive()


def _silent_listener() -> tuple[socket.socket, int]:
    """A TCP port that accepts connections and never says a word: a hung broker."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, listener.getsockname()[1]


def test_a_dead_broker_times_out_instead_of_hanging(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    listener, port = _silent_listener()
    spec = unique_stream()
    try:
        publisher = JetStreamPublisher(f"nats://127.0.0.1:{port}", spec, timeout=0.5)
        relay = Relay(container.session_factory, publisher, backoff=Backoff(base=0.05, cap=0.2))
        started = time.monotonic()
        with pytest.raises(BusUnavailable):
            asyncio.run(relay.drain())
        assert time.monotonic() - started < 5  # bounded by the timeout, not by the broker

        async def _run_briefly() -> None:
            task = asyncio.ensure_future(relay.run())
            await asyncio.sleep(2.5)
            relay.stop.set()
            await asyncio.wait_for(task, 5)

        asyncio.run(_run_briefly())
        assert relay.stats.errors >= 2  # it kept retrying, with backoff, and stopped when asked
        assert relay.stats.published == 0
        assert _outbox_count(container) > 0  # nothing lost while the broker was away
    finally:
        listener.close()


def assert_matches_contract(event: dict[str, Any]) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schemas = Path(__file__).resolve().parents[2] / "docs" / "events" / "schemas"
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    envelope = json.loads((schemas / "cloudevent.json").read_text())
    jsonschema.Draft202012Validator(envelope, format_checker=checker).validate(event)
    data = json.loads((schemas / f"{event['type']}.json").read_text())
    jsonschema.Draft202012Validator(data, format_checker=checker).validate(event["data"])


def _json(payload: Any) -> bytes:
    import json

    return json.dumps(payload).encode()


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_relay_command_once_publishes_and_reports(
    container: Container, admin: Api, org: dict[str, Any], stream: StreamSpec, nats_url: str
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    waiting = _outbox_count(container)
    env = {
        "TENANTRY_DATABASE_URL": container.settings.database_url,
        "TENANTRY_BUS_URL": nats_url,
        "TENANTRY_BUS_STREAM": stream.name,
        "TENANTRY_BUS_SUBJECT_PREFIX": stream.subject_prefix,
        "TENANTRY_LOG_JSON": "false",
    }
    result = CliRunner().invoke(main, ["relay", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert f"published {waiting} events" in result.output
    assert _outbox_count(container) == 0
    unset = CliRunner().invoke(main, ["relay", "--once"], env={**env, "TENANTRY_BUS_URL": ""})
    assert unset.exit_code == 2 and "TENANTRY_BUS_URL" in unset.output


def test_a_relay_dying_between_ack_and_commit_republishes_and_the_broker_drops_the_copies(
    container: Container, admin: Api, org: dict[str, Any], stream: StreamSpec, nats_url: str
) -> None:
    waiting = _outbox_count(container)

    def crash(_ids: Any, _at: float) -> None:
        raise RuntimeError("killed after the acks, before the commit")

    dying = Relay(container.session_factory, JetStreamPublisher(nats_url, stream), on_acked=crash)

    async def _die() -> None:
        try:
            await dying.drain()
        finally:
            await dying.publisher.close()

    with pytest.raises(RuntimeError):
        asyncio.run(_die())
    assert _outbox_count(container) == waiting  # nothing deleted: the rows are still owed
    assert len(read_stream(nats_url, stream)) == waiting  # but the broker has them

    again = drain_outbox(container, stream, nats_url)
    assert again.stats.duplicates == waiting and again.stats.published == 0
    assert _outbox_count(container) == 0
    assert len(read_stream(nats_url, stream)) == waiting  # still exactly once
