"""``tenantry relay`` and ``tenantry consume …``: the outbox relay and the reference consumers."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import click

from app.config import Settings, settings_for_service


def _settings_with_bus() -> Settings:
    from app.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if not settings.bus_url:
        click.echo("error: TENANTRY_BUS_URL is not set; without a bus there is nothing to relay", err=True)
        sys.exit(2)
    return settings


def _run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGTERM and SIGINT set ``stop`` so the current batch finishes cleanly."""

    async def _runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(_runner())


@click.command(help="Publish the outbox to NATS JetStream (TENANTRY_BUS_URL) until stopped.")
@click.option("--once", is_flag=True, help="Publish what is waiting now, then exit (non-zero on failure).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 5000))
@click.option("--poll-interval", default=1.0, show_default=True, type=float, help="Seconds between polls.")
@click.option("--timeout", default=5.0, show_default=True, type=float, help="Seconds to wait for the broker.")
def relay(once: bool, batch_size: int, poll_interval: float, timeout: float) -> None:
    from app.audit.bus.jetstream import BusUnavailable, JetStreamPublisher, StreamSpec
    from app.audit.bus.relay import Relay
    from app.db import make_engine, make_session_factory

    settings_for_service()  # the relay is one of the service's processes: same production rule
    settings = _settings_with_bus()
    engine = make_engine(settings.resolved_database_url())
    publisher = JetStreamPublisher(
        settings.bus_url, StreamSpec.from_settings(settings), timeout=timeout, max_pending=2 * batch_size
    )
    worker = Relay(
        make_session_factory(engine), publisher, batch_size=batch_size, poll_interval=poll_interval
    )

    async def _main(stop: asyncio.Event) -> None:
        if once:
            try:
                published = await worker.drain()
            except BusUnavailable as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            finally:
                await publisher.close()
            click.echo(f"published {published} events")
            return
        worker.stop = stop
        await worker.run()

    try:
        _run_until_signalled(_main)
    finally:
        engine.dispose()


@click.group(help="Reference consumers of the event stream.")
def consume() -> None:
    pass


@consume.command("billing", help="Keep seats in use per org and seat type (durable consumer, idempotent).")
@click.option("--durable", default="tenantry-billing", show_default=True, help="Durable consumer name.")
def consume_billing(durable: str) -> None:
    from app.audit.bus.consumers.billing import BillingConsumer
    from app.audit.bus.consumers.runner import run_consumer
    from app.audit.bus.jetstream import StreamSpec
    from app.db import make_engine, make_session_factory

    settings = _settings_with_bus()
    engine = make_engine(settings.resolved_database_url())
    consumer = BillingConsumer(make_session_factory(engine))
    spec = StreamSpec.from_settings(settings)

    async def _main(stop: asyncio.Event) -> None:
        await run_consumer(settings.bus_url, spec, consumer, durable=durable, stop=stop)

    try:
        _run_until_signalled(_main)
    finally:
        engine.dispose()


@consume.command("print", help="Print every event as one JSON line (for logging pipelines).")
@click.option("--durable", default=None, help="Durable name (default: ephemeral, from new events).")
@click.option("--all", "from_start", is_flag=True, help="Start from the first event in the stream.")
def consume_print(durable: str | None, from_start: bool) -> None:
    from app.audit.bus.consumers.printer import PrintConsumer
    from app.audit.bus.consumers.runner import run_consumer
    from app.audit.bus.jetstream import StreamSpec

    settings = _settings_with_bus()

    async def _main(stop: asyncio.Event) -> None:
        await run_consumer(
            settings.bus_url,
            StreamSpec.from_settings(settings),
            PrintConsumer(sys.stdout),
            durable=durable,
            stop=stop,
            deliver_all=from_start or durable is not None,
        )

    _run_until_signalled(_main)
