"""The outbox seen from the app process: the relay wakeup, and the lag on ``/readyz`` and ``/metrics``.

Without a bus (``TENANTRY_BUS_URL`` unset) nothing here is installed: the recorder writes no outbox rows, so
there is no lag to report and nothing to wake.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.audit.bus.jetstream import StreamSpec
from app.audit.bus.models import OutboxEvent
from app.audit.bus.wakeup import RelayWaker, install_after_commit_hook
from app.clock import Clock, as_utc

if TYPE_CHECKING:
    from app.container import Container

# /readyz says "lagging" past this age but stays ready: leaving rotation would not drain the outbox.
LAG_WARNING_SECONDS = 60.0


@dataclass(frozen=True)
class OutboxLag:
    rows: int
    oldest_age_seconds: float


def outbox_lag(engine: Engine, clock: Clock) -> OutboxLag:
    with engine.connect() as conn:
        rows, oldest = conn.execute(select(func.count(), func.min(OutboxEvent.created_at))).one()
    age = 0.0
    if oldest is not None:
        created: datetime = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
        age = max((clock.now() - as_utc(created)).total_seconds(), 0.0)
    return OutboxLag(int(rows), age)


class OutboxProbe:
    """A ``container.readiness`` probe: ``(status, healthy)``."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    def __call__(self) -> tuple[str, bool]:
        try:
            lag = outbox_lag(self.engine, self.clock)
        except Exception as exc:  # noqa: BLE001 - reported, the database check says the rest
            return f"error: {type(exc).__name__}", False
        state = "lagging" if lag.oldest_age_seconds > LAG_WARNING_SECONDS else "ok"
        return f"{state}: {lag.rows} rows, oldest {lag.oldest_age_seconds:.1f} s", True


class BusProbe:
    """Whether the broker accepts connections. Informational: while it is away the API keeps working and
    events wait in the outbox, so an unreachable bus does not make the app unready."""

    def __init__(self, url: str, timeout: float = 0.3) -> None:
        parsed = urlparse(url)
        self.address = (parsed.hostname or "127.0.0.1", parsed.port or 4222)
        self.timeout = timeout

    def __call__(self) -> tuple[str, bool]:
        try:
            with socket.create_connection(self.address, timeout=self.timeout):
                return "ok", True
        except OSError:
            return "unreachable: events wait in the outbox", True


class OutboxCollector:
    """Prometheus gauges read from the table on each scrape (no state kept in the process)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            lag = outbox_lag(self.engine, self.clock)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is down
            return
        yield GaugeMetricFamily("tenantry_outbox_rows", "Events waiting in the outbox", value=lag.rows)
        yield GaugeMetricFamily(
            "tenantry_outbox_oldest_age_seconds",
            "Age of the oldest event waiting in the outbox",
            value=lag.oldest_age_seconds,
        )


def install(container: Container) -> None:
    """Wire the outbox into an app container when a bus is configured."""
    settings = container.settings
    if not container.outbox.enabled:
        return
    waker = RelayWaker(settings.bus_url, StreamSpec.from_settings(settings).wake_subject)
    container.outbox.wake.append(waker)
    install_after_commit_hook(container.session_factory, container.outbox.wake)
    container.relay_waker = waker
    container.readiness["outbox"] = OutboxProbe(container.engine, container.clock)
    container.readiness["bus"] = BusProbe(settings.bus_url)
    container.metrics.append(OutboxCollector(container.engine, container.clock))
