"""``tenantry relay``: moves outbox rows to NATS JetStream, at least once, deduplicated by the broker.

One round on PostgreSQL, in one transaction: claim up to ``batch_size`` rows in id order with
``SELECT … FOR UPDATE SKIP LOCKED`` (a second relay skips them and takes the next ones), publish them all with
``Nats-Msg-Id`` = event id, wait for every ack (bounded), ``DELETE`` them, ``COMMIT``. A relay killed anywhere
before the commit leaves the rows locked only until its connection dies; they are published again and
JetStream drops the copies it has seen within the stream's duplicate window.

On SQLite (one relay only) the read and the delete are two short transactions, because every SQLite
transaction here takes the database's single write lock (``BEGIN IMMEDIATE``), which must not be held while
waiting for the broker.

Broker or database errors back off exponentially with full jitter; nothing waits without a deadline.
The relay sleeps until the app wakes it (see :mod:`app.audit.bus.wakeup`) or ``poll_interval`` passes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from sqlalchemy import Text, cast, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.bus.jetstream import BusUnavailable, JetStreamPublisher, OutgoingMessage
from app.audit.bus.models import OutboxEvent

log = logging.getLogger("tenantry.relay")

AckCallback = Callable[[Sequence[str], float], None]


@dataclass
class Backoff:
    """Exponential backoff with full jitter: a random wait in ``[0, min(cap, base * 2**n)]``."""

    base: float = 0.2
    cap: float = 10.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempts))
        self.attempts += 1
        return self.rng.uniform(ceiling / 10, ceiling)

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class RelayStats:
    published: int = 0
    duplicates: int = 0
    batches: int = 0
    errors: int = 0


class Relay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publisher: JetStreamPublisher,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
        on_acked: AckCallback | None = None,
        concurrency: int | None = None,
    ) -> None:
        if not 1 <= batch_size <= 5000:
            raise ValueError("batch_size must be between 1 and 5000")
        self.is_postgres = session_factory.kw["bind"].dialect.name == "postgresql"
        # Batches in flight at once: on PostgreSQL the next batch is claimed (SKIP LOCKED) while the
        # previous one waits for its acks; SQLite has one writer, so one batch.
        self.concurrency = (concurrency or 2) if self.is_postgres else 1
        self.session_factory = session_factory
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self.on_acked = on_acked
        self.stats = RelayStats()
        self.stop = asyncio.Event()
        self._woken = asyncio.Event()
        self._wake_client: Any = None

    # --- one round -----------------------------------------------------------------------------------------
    async def relay_batch(self) -> int:
        """Publish and remove one batch; returns how many rows it took (0: the outbox is empty)."""
        if self.is_postgres:
            return await self._relay_batch_locked()
        return await self._relay_batch_single()

    def _claim(self, session: Session) -> list[Any]:
        stmt = (
            select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.subject, cast(OutboxEvent.payload, Text))
            .order_by(OutboxEvent.id)
            .limit(self.batch_size)
        )
        if self.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list(session.execute(stmt).all())

    async def _publish(self, rows: Sequence[Any]) -> None:
        messages = [OutgoingMessage(row[1], row[2], row[3].encode()) for row in rows]
        result = await self.publisher.publish_batch(messages)
        acked_at = time.time()
        self.stats.published += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.batches += 1
        if result.duplicates:
            log.info("broker dropped re-published events", extra={"duplicates": result.duplicates})
        if self.on_acked is not None:
            self.on_acked([m.event_id for m in messages], acked_at)

    async def _relay_batch_locked(self) -> int:
        """Claim, publish, delete, commit: one transaction, its database calls run off the event loop so
        that acks of other batches keep flowing meanwhile."""
        session = self.session_factory()
        try:
            rows = await asyncio.to_thread(self._claim_by_deleting, session)
            if rows:
                await self._publish(rows)
                await asyncio.to_thread(session.commit)
            return len(rows)
        finally:
            await asyncio.to_thread(_discard, session)  # rolls back whatever was not committed

    def _claim_by_deleting(self, session: Session) -> list[Any]:
        """``DELETE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING …``: claim and delete
        in one statement; the rows come back if the transaction rolls back (broker error, crash)."""
        claimed = (
            select(OutboxEvent.id)
            .order_by(OutboxEvent.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            delete(OutboxEvent)
            .where(OutboxEvent.id.in_(claimed.scalar_subquery()))
            .returning(
                OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.subject, cast(OutboxEvent.payload, Text)
            )
        )
        return sorted(session.execute(stmt).all(), key=lambda row: int(row[0]))

    async def _relay_batch_single(self) -> int:
        with self.session_factory() as session, session.begin():
            rows = self._claim(session)
        if not rows:
            return 0
        await self._publish(rows)
        with self.session_factory() as session, session.begin():
            session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([row[0] for row in rows])))
        return len(rows)

    async def drain(self) -> int:
        """Publish until the outbox is empty (``tenantry relay --once``); raises on the first error."""
        await self._connect()
        return await self._drain_concurrently()

    async def _drain_concurrently(self) -> int:
        async def worker() -> int:
            total = 0
            while not self.stop.is_set() and (taken := await self.relay_batch()) > 0:
                total += taken
            return total

        # Every worker finishes its batch (commit or rollback) before an error is raised, so no batch is
        # left running in the background when the loop reconnects.
        results = await asyncio.gather(*(worker() for _ in range(self.concurrency)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    # --- the loop ------------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        await self.publisher.open()
        client = self.publisher.client
        if client is not None and client is not self._wake_client:

            async def _woken(_msg: Any) -> None:
                self._woken.set()

            try:
                await client.subscribe(self.publisher.stream.wake_subject, cb=_woken)
            except (nats.errors.Error, OSError) as exc:
                raise BusUnavailable(f"cannot subscribe to wakeups: {exc!r}") from exc
            self._wake_client = client

    async def run(self) -> None:
        """Relay until :attr:`stop` is set; survives broker and database outages."""
        log.info(
            "relay started",
            extra={"stream": self.publisher.stream.name, "batch_size": self.batch_size},
        )
        while not self.stop.is_set():
            try:
                await self._connect()
                self._woken.clear()  # before claiming: a wake during the round triggers another one
                await self._drain_concurrently()
                self.backoff.reset()
                await self._sleep(self.poll_interval, wakeable=True)
            except (BusUnavailable, SQLAlchemyError, OSError, nats.errors.Error) as exc:
                self.stats.errors += 1
                delay = self.backoff.next_delay()
                log.warning(
                    "relay round failed; backing off",
                    extra={"error": str(exc)[:300], "retry_in_s": round(delay, 2)},
                )
                if not isinstance(exc, SQLAlchemyError):
                    await self.publisher.close()
                    self._wake_client = None
                await self._sleep(delay, wakeable=False)
        await self.publisher.close()
        log.info("relay stopped", extra={"published": self.stats.published})

    async def _sleep(self, seconds: float, *, wakeable: bool) -> None:
        waits = [asyncio.ensure_future(self.stop.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._woken.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()


def _discard(session: Session) -> None:
    session.rollback()
    session.close()
