"""Relay benchmark: outbox → JetStream on PostgreSQL against raw nats-py ``publish_async`` of the same
payloads in the same run, and commit-to-ack latency with the after-commit wakeup.

    .venv/bin/python bench/relay.py [--rows 50000] [--rate 100] [--seconds 10]

Needs PostgreSQL (TENANTRY_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/postgres; a scratch
database is created and dropped) and NATS (TENANTRY_BENCH_NATS, default nats://127.0.0.1:4222; scratch
streams are created and deleted). Targets (issue 3): relay ≥ 50% of raw and ≥ 10k events/s; p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats  # noqa: E402
from sqlalchemy import Text, cast, create_engine, insert, select, text  # noqa: E402

from app import migrate  # noqa: E402
from app.audit.bus.cloudevents import subject_for, to_cloudevent  # noqa: E402
from app.audit.bus.jetstream import JetStreamPublisher, StreamSpec  # noqa: E402
from app.audit.bus.models import OutboxEvent  # noqa: E402
from app.audit.bus.relay import Relay  # noqa: E402
from app.audit.catalogue import AuditAction  # noqa: E402
from app.audit.models import AuditEvent  # noqa: E402
from app.audit.recorder import Target  # noqa: E402
from app.config import Settings  # noqa: E402
from app.container import Container  # noqa: E402
from app.db import make_engine, make_session_factory, transaction  # noqa: E402
from app.ids import new_uuid7  # noqa: E402

PG = os.environ.get("TENANTRY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("TENANTRY_BENCH_NATS", "nats://127.0.0.1:4222")
PENDING = 1000
ROOT = Path(__file__).resolve().parent.parent


def scratch_database() -> str:
    name = f"tenantry_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    engine = create_engine(
        (server + "/postgres").replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def stream_spec(label: str) -> StreamSpec:
    tag = uuid.uuid4().hex[:8]
    return StreamSpec(name=f"BENCH_{label}_{tag}".upper(), subject_prefix=f"bench{tag}.v1")


async def delete_streams(names: list[str]) -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for name in names:
        try:
            await js.delete_stream(name)
        except Exception:  # noqa: BLE001, S110 - best effort cleanup
            pass
    await nc.close()


def fill_outbox(url: str, rows: int, prefix: str) -> None:
    """``rows`` outbox rows with realistic CloudEvents (a seat.assigned each, across 50 orgs)."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(rows):
            org = f"org_{i % 50:032x}"
            event = AuditEvent(
                id=str(new_uuid7()), chain=org, org_id=org, seq=i // 50 + 1,
                action=AuditAction.SEAT_ASSIGNED.value, occurred_at=now, actor_type="api_key",
                actor_id="key_0192f1c3a4b57c6d8e9f0a1b2c3d4e5f", actor_name="billing sync",
                targets=[{"type": "member", "id": f"mem_{i:032x}"}, {"type": "user", "id": f"usr_{i:032x}"}],
                context={"ip": "203.0.113.7", "user_agent": "bench/1.0", "request_id": uuid.uuid4().hex},
                outcome="success", reason=None,
                changes={"seat_type": {"before": None, "after": "pro"}},
                data={"seat_type": "pro", "member_id": f"mem_{i:032x}", "user_id": f"usr_{i:032x}",
                      "reason": "assigned", "used": 3, "limit": 10},
                prev_hash="0" * 64, hash="f" * 64,
            )  # fmt: skip
            batch.append(
                {
                    "event_id": event.id,
                    "subject": subject_for(prefix, event),
                    "payload": to_cloudevent(event),
                    "created_at": now,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(OutboxEvent), batch)
                batch = []
        if batch:
            conn.execute(insert(OutboxEvent), batch)
    engine.dispose()


def outbox_messages(url: str) -> list[tuple[str, str, bytes]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.event_id, OutboxEvent.subject, cast(OutboxEvent.payload, Text)).order_by(
                OutboxEvent.id
            )
        ).all()
    engine.dispose()
    return [(r[0], r[1], r[2].encode()) for r in rows]


async def raw_publish(spec: StreamSpec, messages: list[tuple[str, str, bytes]]) -> float:
    """The baseline: nats-py publish_async of the same payloads, same pending bound, every ack awaited."""
    publisher = JetStreamPublisher(NATS_URL, spec, max_pending=PENDING)
    await publisher.open()  # creates the stream the same way
    js = publisher.client.jetstream(publish_async_max_pending=PENDING)  # type: ignore[union-attr]
    started = time.perf_counter()
    futures = []
    for event_id, subject, payload in messages:
        futures.append(await js.publish_async(subject, payload, headers={"Nats-Msg-Id": event_id}))
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await publisher.close()
    return len(messages) / elapsed


def relay_throughput(url: str, spec: StreamSpec, rows: int) -> tuple[float, int]:
    engine = make_engine(url)
    relay = Relay(
        make_session_factory(engine),
        JetStreamPublisher(NATS_URL, spec, max_pending=2 * PENDING),
        batch_size=1000,
    )

    async def _run() -> tuple[float, int]:
        await relay.publisher.open()
        started = time.perf_counter()
        published = await relay.drain()
        elapsed = time.perf_counter() - started
        await relay.publisher.close()
        return published / elapsed, published

    try:
        return asyncio.run(_run())
    finally:
        engine.dispose()


def latency(url: str, spec: StreamSpec, rate: float, seconds: float, *, wake: bool) -> list[float]:
    """Single-event transactions at ``rate``/s from this process (the app side, with its waker), a
    ``tenantry relay`` child process, and a core-NATS subscriber here on the stream's subjects: milliseconds
    from COMMIT returning to the message arriving from the broker, which stores it and sends the relay
    its ack at that same point."""
    settings = Settings(
        env="test", database_url=url, secret_key="x" * 32, bus_url=NATS_URL, bus_stream=spec.name,
        bus_subject_prefix=spec.subject_prefix, log_level="WARNING", log_json=False,
    )  # fmt: skip
    container = Container.build(settings)
    if not wake:
        container.outbox.wake.clear()  # the after-commit hook then has nobody to call: poll only
    env = {
        **os.environ, "TENANTRY_DATABASE_URL": url, "TENANTRY_BUS_URL": NATS_URL,
        "TENANTRY_BUS_STREAM": spec.name, "TENANTRY_BUS_SUBJECT_PREFIX": spec.subject_prefix,
        "TENANTRY_SECRET_KEY": "x" * 32, "TENANTRY_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    relay = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "app.cli", "relay", "--poll-interval", "1.0"], env=env, cwd=ROOT
    )
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    loop = asyncio.new_event_loop()
    done = asyncio.Event()

    async def listen() -> None:
        nc = await nats.connect(NATS_URL)

        async def on_message(msg: Any) -> None:
            arrived[json.loads(msg.data)["id"]] = time.time()

        await nc.subscribe(f"{spec.subject_prefix}.>", cb=on_message)
        await done.wait()
        await nc.close()

    listener = threading.Thread(target=loop.run_until_complete, args=(listen(),), daemon=True)
    listener.start()
    try:
        with transaction(container.session_factory) as session:
            org_id = container.services(session).orgs.create("Bench").id
        time.sleep(4)  # the relay started, created the stream, and sleeps
        interval = 1.0 / rate
        next_at = time.perf_counter()
        end = next_at + seconds
        while time.perf_counter() < end:
            with transaction(container.session_factory) as session:
                event = container.services(session).audit.record(
                    AuditAction.ORG_UPDATED, org_id=org_id, targets=[Target("org", org_id)]
                )
            committed[event.id] = time.time()
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.time() + 10
        while not set(committed) <= set(arrived) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        relay.terminate()
        relay.wait(10)
        loop.call_soon_threadsafe(done.set)
        listener.join(10)
        loop.close()
        assert container.relay_waker is not None
        container.relay_waker.close()
        container.engine.dispose()
    return [(arrived[i] - t) * 1000 for i, t in committed.items() if i in arrived]


def retarget(
    messages: list[tuple[str, str, bytes]], source: StreamSpec, target: StreamSpec
) -> list[tuple[str, str, bytes]]:
    return [(i, s.replace(source.subject_prefix, target.subject_prefix, 1), p) for i, s, p in messages]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    url = scratch_database()
    streams = [
        stream_spec("raw"),
        stream_spec("relay"),
        stream_spec("raw2"),
        stream_spec("lat"),
        stream_spec("poll"),
    ]
    raw, relay_spec, raw2, lat_spec, poll_spec = streams
    try:
        migrate.upgrade(url)
        fill_outbox(url, args.rows, relay_spec.subject_prefix)
        messages = outbox_messages(url)
        raw_rate = asyncio.run(raw_publish(raw, retarget(messages, relay_spec, raw)))
        relay_rate, published = relay_throughput(url, relay_spec, args.rows)
        raw_rate2 = asyncio.run(raw_publish(raw2, retarget(messages, relay_spec, raw2)))
        assert published == args.rows, published
        best_raw = max(raw_rate, raw_rate2)
        ratio = relay_rate / best_raw
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"relay throughput: {args.rows} outbox rows on PostgreSQL, batches of 1000 (load average {load})"
        )
        print(
            f"  raw nats-py publish_async, {PENDING} pending: {raw_rate:,.0f} and {raw_rate2:,.0f} events/s"
        )
        print(f"  tenantry relay, 2 batches in flight (as `tenantry relay`): {relay_rate:,.0f} events/s")
        print(f"  ratio to the better raw run: {ratio:.0%}  target >= 50%: {verdict(ratio >= 0.5)}")
        print(f"  absolute target >= 10,000 events/s: {verdict(relay_rate >= 10_000)}")

        with_wake = latency(url, lat_spec, args.rate, args.seconds, wake=True)
        achieved = len(with_wake) / args.seconds
        p99 = pct(with_wake, 0.99)
        print(
            "commit-to-ack latency with the wakeup: app process writing, `tenantry relay` process (poll 1 s),"
        )
        print(f"  one event per transaction, {args.rate:.0f}/s asked, {achieved:.0f}/s done:")
        print(f"  p50 {statistics.median(with_wake):.1f} ms, p99 {p99:.1f} ms, max {max(with_wake):.1f} ms")
        print(f"  target p99 <= 50 ms: {verdict(p99 <= 50)}")
        no_wake = latency(url, poll_spec, 20, 5, wake=False)
        print(
            f"  baseline, same relay without the wakeup (1 s poll, 20/s for 5 s): p50 "
            f"{statistics.median(no_wake):.0f} ms, p99 {pct(no_wake, 0.99):.0f} ms"
        )
    finally:
        asyncio.run(delete_streams([s.name for s in streams]))
        drop_database(url)


if __name__ == "__main__":
    main()
