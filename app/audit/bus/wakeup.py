"""Waking the relay right after a commit that wrote outbox rows.

Why this design: ``pg_notify`` in every writing transaction would wake the relay for free, but NOTIFY takes
a database-wide lock at commit and cost 30 to 40% of write throughput when measured (FIELD-NOTES), and
SQLite has no equivalent. Instead a SQLAlchemy ``after_commit`` hook fires only after a commit that really
wrote outbox rows (the recorder sets ``session.info["outbox_written"]``) and pokes :class:`RelayWaker`,
which publishes an empty core-NATS message on the stream's wake subject (``tenantry._relay.wake.<stream>``,
outside the stream's subjects, so nothing is stored) from one background thread per process. Every relay
subscribes to it.

The hook never blocks and never fails a request: it only sets an event on the waker's loop; wakes pile up
into one message, and while NATS is down they are dropped, since the relay polls every ``poll_interval``
anyway. A wake cannot overtake its commit: the hook runs after COMMIT returned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from app.audit.bus.jetstream import BusUnavailable, connect

log = logging.getLogger("tenantry.relay.wakeup")

OUTBOX_WRITTEN = "outbox_written"


def install_after_commit_hook(factory: sessionmaker[Session], wakers: list[Callable[[], None]]) -> None:
    """Call every waker after a commit whose transaction wrote outbox rows; forget the flag on rollback."""

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN, False):
            for wake in wakers:
                wake()

    @event.listens_for(factory, "after_soft_rollback")
    def _after_rollback(session: Session, _previous: Any) -> None:
        session.info.pop(OUTBOX_WRITTEN, None)


class RelayWaker:
    """Publishes coalesced wake pings from a daemon thread; started lazily (and again after a fork)."""

    def __init__(self, url: str, subject: str, *, connect_timeout: float = 2.0) -> None:
        self.url = url
        self.subject = subject
        self.connect_timeout = connect_timeout
        self.sent = 0
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.Event | None = None
        self._stopping = False
        self._wanted_before_start = False

    def __call__(self) -> None:
        loop, pending = self._running()
        if loop is None or pending is None:
            self._wanted_before_start = True
            return
        try:
            loop.call_soon_threadsafe(pending.set)
        except RuntimeError:  # the loop closed under us (process exit)
            pass

    def _running(self) -> tuple[asyncio.AbstractEventLoop | None, asyncio.Event | None]:
        with self._lock:
            if self._pid != os.getpid():  # first use, or we are a forked gunicorn worker
                self._pid, self._loop, self._pending = os.getpid(), None, None
                threading.Thread(target=self._thread, name="tenantry-relay-waker", daemon=True).start()
            return self._loop, self._pending

    def _thread(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        pending = asyncio.Event()
        with self._lock:
            self._loop, self._pending = asyncio.get_running_loop(), pending
        if self._wanted_before_start:
            pending.set()
        client: Any = None
        while not self._stopping:
            if client is None:
                try:
                    client = await connect(self.url, timeout=self.connect_timeout, name="tenantry-waker")
                except BusUnavailable:
                    pending.clear()  # the relay's poll covers what we could not announce
                    await asyncio.sleep(1.0)
                    continue
            await pending.wait()
            pending.clear()
            if self._stopping:
                break
            try:
                await client.publish(self.subject, b"")
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - a lost wake only delays the relay to its next poll
                log.debug("relay wake not sent", extra={"error": repr(exc)})
        if client is not None:
            await client.close()

    def close(self) -> None:
        """Stop the thread (tests, shutdown); safe to call when it never started."""
        self._stopping = True
        loop, pending = self._loop, self._pending
        if loop is not None and pending is not None and self._pid == os.getpid():
            try:
                loop.call_soon_threadsafe(pending.set)
            except RuntimeError:
                pass
