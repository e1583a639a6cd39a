"""The JetStream publisher the relay uses: connect, create or check the stream, publish a batch and wait for
every acknowledgement, with a deadline on each step.

nats-py's ``publish_async`` futures have no timeout of their own, and a first ``connect`` with unlimited
reconnects never returns while the broker is down; every wait here is wrapped in ``asyncio.wait_for`` so a
dead broker turns into :class:`BusUnavailable` within ``timeout`` seconds instead of a hung relay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from app.config import Settings

log = logging.getLogger("tenantry.bus")

MSG_ID_HEADER = "Nats-Msg-Id"


class BusUnavailable(Exception):
    """The broker did not answer in time, refused, or acknowledged into the wrong stream."""


class StreamMismatch(BusUnavailable):
    """The stream exists with a configuration the relay cannot publish into safely."""


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subject_prefix: str
    duplicate_window: float = 120.0  # seconds; a re-published row is dropped within it
    max_age: float = 0.0  # seconds; 0 keeps messages until the limits below (none by default)

    @property
    def subjects(self) -> list[str]:
        return [f"{self.subject_prefix}.>"]

    @property
    def wake_subject(self) -> str:
        """Core NATS subject the app pings after commits; outside the stream's subjects on purpose."""
        return f"tenantry._relay.wake.{self.name}"

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamSpec:
        return cls(name=settings.bus_stream, subject_prefix=settings.bus_subject_prefix)


@dataclass(frozen=True)
class OutgoingMessage:
    event_id: str
    subject: str
    payload: bytes


@dataclass(frozen=True)
class BatchResult:
    stored: int
    duplicates: int


async def connect(url: str, *, timeout: float, name: str) -> NatsClient:
    """A client that reconnects forever once connected, but whose first connection is bounded in time."""

    async def _quiet(exc: Exception) -> None:
        log.debug("nats connection error", extra={"error": repr(exc)})

    client = NatsClient()
    try:
        await asyncio.wait_for(
            client.connect(
                servers=[url],
                name=name,
                connect_timeout=max(1, int(timeout)),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                error_cb=_quiet,
            ),
            timeout,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await _close_quietly(client)
        raise BusUnavailable(f"cannot connect to NATS at {url}: {exc!r}") from exc
    return client


async def _close_quietly(client: NatsClient) -> None:
    try:
        await asyncio.wait_for(client.close(), 2.0)
    except Exception:  # noqa: BLE001, S110 - closing a broken client; nothing left to do
        pass


class JetStreamPublisher:
    def __init__(
        self,
        url: str,
        stream: StreamSpec,
        *,
        timeout: float = 5.0,
        max_pending: int = 1000,
        client_name: str = "tenantry-relay",
    ) -> None:
        self.url = url
        self.stream = stream
        self.timeout = timeout
        self.max_pending = max_pending
        self.client_name = client_name
        self.client: NatsClient | None = None
        self._js: Any = None

    async def open(self) -> None:
        if self.client is not None and self.client.is_connected:
            return
        await self.close()
        self.client = await connect(self.url, timeout=self.timeout, name=self.client_name)
        self._js = self.client.jetstream(timeout=self.timeout, publish_async_max_pending=self.max_pending)
        try:
            await self.ensure_stream()
        except BusUnavailable:
            raise
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise BusUnavailable(f"creating stream {self.stream.name} failed: {exc!r}") from exc

    async def close(self) -> None:
        if self.client is not None:
            await _close_quietly(self.client)
        self.client, self._js = None, None

    async def ensure_stream(self) -> None:
        """Create the stream, or check that the existing one takes our subjects into file storage with
        a duplicate window (the relay's exactly-once rests on it)."""
        spec = self.stream
        try:
            info = await asyncio.wait_for(self._js.stream_info(spec.name), self.timeout)
        except NotFoundError:
            config = StreamConfig(
                name=spec.name,
                subjects=spec.subjects,
                storage=StorageType.FILE,
                duplicate_window=spec.duplicate_window,
                max_age=spec.max_age or None,
            )
            await asyncio.wait_for(self._js.add_stream(config), self.timeout)
            log.info("created stream", extra={"stream": spec.name, "subjects": spec.subjects})
            return
        except (TimeoutError, nats.errors.Error) as exc:
            raise BusUnavailable(f"stream info for {spec.name} failed: {exc!r}") from exc
        config = info.config
        problems = []
        if not set(spec.subjects) <= set(config.subjects or []):
            problems.append(f"subjects {config.subjects} do not include {spec.subjects}")
        if config.storage != StorageType.FILE:
            problems.append(f"storage is {config.storage}, not file")
        if not config.duplicate_window:
            problems.append("no duplicate window")
        if problems:
            raise StreamMismatch(f"stream {spec.name}: " + "; ".join(problems))

    async def publish_batch(self, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Publish every message with ``Nats-Msg-Id`` = event id and wait for every ack (bounded)."""
        if self._js is None:
            await self.open()
        futures: list[asyncio.Future[Any]] = []
        try:
            acks = await asyncio.wait_for(self._publish_all(messages, futures), self.timeout)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise BusUnavailable(f"publishing {len(messages)} events failed: {exc!r}") from exc
        finally:
            for future in futures:  # frees nats-py's pending slots; a late ack then finds nothing
                if not future.done():
                    future.cancel()
        duplicates = 0
        for ack in acks:
            if ack.stream != self.stream.name:
                raise BusUnavailable(f"acknowledged by stream {ack.stream}, expected {self.stream.name}")
            duplicates += bool(ack.duplicate)
        return BatchResult(stored=len(acks) - duplicates, duplicates=duplicates)

    async def _publish_all(
        self, messages: Sequence[OutgoingMessage], futures: list[asyncio.Future[Any]]
    ) -> list[Any]:
        for message in messages:
            # No wait_stall: with one, nats-py wraps each publish in a task and the loop flushes the socket
            # after every message (measured: a third of the throughput). The batch's deadline bounds it.
            future = await self._js.publish_async(
                message.subject, message.payload, headers={MSG_ID_HEADER: message.event_id}
            )
            futures.append(future)
        return list(await asyncio.gather(*futures))
