"""Pull events from JetStream and hand each one to a consumer; ack only after the consumer is done.

A message is acknowledged after the consumer returned (for billing: after its own COMMIT), so a crash in
between redelivers it, and the consumer's inbox makes the second delivery a no-op. A message whose body is
not a CloudEvent is terminated (``term``) and logged rather than redelivered forever.

nats-server 2.9 has one filter subject per consumer, so a consumer interested in several subjects gets one
JetStream consumer per subject (``<durable>-1``, ``<durable>-2``, …).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from app.audit.bus.jetstream import BusUnavailable, StreamSpec, connect

log = logging.getLogger("tenantry.consumer")


class EventConsumer(Protocol):
    def filter_subjects(self, prefix: str) -> list[str]: ...

    def handle(self, event: dict[str, Any], subject: str = "") -> object:
        """Apply one CloudEvent; raise to have it redelivered."""


async def run_consumer(
    url: str,
    spec: StreamSpec,
    consumer: EventConsumer,
    *,
    durable: str | None,
    stop: asyncio.Event,
    deliver_all: bool = True,
    batch: int = 100,
) -> None:
    """Consume until ``stop`` is set, reconnecting with a pause while the broker is away."""
    while not stop.is_set():
        try:
            client = await connect(url, timeout=5.0, name=f"tenantry-consumer-{durable or 'ephemeral'}")
        except BusUnavailable as exc:
            log.warning("consumer cannot reach the broker", extra={"error": str(exc)})
            await _pause(stop, 2.0)
            continue
        try:
            js = client.jetstream()
            subs = []
            for index, subject in enumerate(consumer.filter_subjects(spec.subject_prefix), start=1):
                config = ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL if deliver_all else DeliverPolicy.NEW,
                    ack_wait=30,
                    max_ack_pending=batch * 10,
                )
                name = f"{durable}-{index}" if durable else None
                subs.append(await js.pull_subscribe(subject, durable=name, stream=spec.name, config=config))
            await asyncio.gather(*(_pull(sub, consumer, stop, batch) for sub in subs))
        except Exception as exc:  # noqa: BLE001 - log, pause, reconnect: a consumer should not die
            log.warning("consumer round failed", extra={"error": repr(exc)[:300]})
            await _pause(stop, 2.0)
        finally:
            await client.close()


async def _pull(sub: Any, consumer: EventConsumer, stop: asyncio.Event, batch: int) -> None:
    while not stop.is_set():
        try:
            messages = await sub.fetch(batch, timeout=1.0)
        except (NatsTimeoutError, TimeoutError):
            continue
        for msg in messages:
            try:
                event = json.loads(msg.data)
                if not isinstance(event, dict) or "id" not in event or "type" not in event:
                    raise ValueError("not a CloudEvent")
            except ValueError as exc:
                log.error(
                    "terminating a malformed message", extra={"subject": msg.subject, "error": str(exc)}
                )
                await msg.term()
                continue
            try:
                consumer.handle(event, msg.subject)  # serial on purpose: one event at a time, in order
            except Exception as exc:  # noqa: BLE001 - redelivered later; the inbox keeps it idempotent
                log.warning("event not applied; redelivering", extra={"id": event["id"], "error": repr(exc)})
                await msg.nak(delay=1.0)
                continue
            await msg.ack()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
