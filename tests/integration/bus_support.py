"""Helpers for the event-bus tests: a unique stream per test, reading it back, running the relay."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from app.audit.bus.jetstream import JetStreamPublisher, StreamSpec
from app.audit.bus.relay import Relay
from app.container import Container


def unique_stream() -> StreamSpec:
    """A stream name and subject prefix no other run uses (streams may not share subjects)."""
    tag = uuid.uuid4().hex[:10]
    return StreamSpec(name=f"TEST_EVENTS_{tag.upper()}", subject_prefix=f"t{tag}.v1")


async def _delete_stream(url: str, name: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        await nc.jetstream().delete_stream(name)
    except NotFoundError:
        pass
    finally:
        await nc.close()


def delete_stream(url: str, name: str) -> None:
    asyncio.run(_delete_stream(url, name))


@dataclass(frozen=True)
class StoredMessage:
    subject: str
    msg_id: str | None
    event: dict[str, Any]


async def _read_stream(url: str, spec: StreamSpec, timeout: float) -> list[StoredMessage]:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        js = nc.jetstream()
        info = await js.stream_info(spec.name)
        total = info.state.messages
        out: list[StoredMessage] = []
        if total == 0:
            return out
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        sub = await js.pull_subscribe(f"{spec.subject_prefix}.>", stream=spec.name, config=config)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < total and asyncio.get_running_loop().time() < deadline:
            try:
                batch = await sub.fetch(min(1000, total - len(out)), timeout=2)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                headers = msg.headers or {}
                out.append(StoredMessage(msg.subject, headers.get("Nats-Msg-Id"), json.loads(msg.data)))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def read_stream(url: str, spec: StreamSpec, timeout: float = 30.0) -> list[StoredMessage]:
    """Every message stored in the stream, in stream order."""
    return asyncio.run(_read_stream(url, spec, timeout))


def drain_outbox(container: Container, spec: StreamSpec, url: str, batch_size: int = 500) -> Relay:
    """``tenantry relay --once`` in process; returns the relay (its stats say what it published)."""
    relay = Relay(
        container.session_factory, JetStreamPublisher(url, spec, timeout=5.0), batch_size=batch_size
    )

    async def _run() -> None:
        try:
            await relay.drain()
        finally:
            await relay.publisher.close()

    asyncio.run(_run())
    return relay
