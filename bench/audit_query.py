"""Audit log query and export benchmark on PostgreSQL (issue 3).

    .venv/bin/python bench/audit_query.py                  # 1M events in the big org + 4 small orgs
    .venv/bin/python bench/audit_query.py --events 200000  # smaller
    .venv/bin/python bench/audit_query.py --keep           # keep the database (prints its URL)
    .venv/bin/python bench/audit_query.py --database URL   # reuse a database loaded by --keep

Targets: p95 of filtered queries through the service (AuditLogSearch.page: every filter, combinations,
deep pages by cursor) <= 50 ms; export of the big org (1M rows) through the HTTP endpoint with memory growth
<= 50 MB. The baseline printed beside each figure is the unfiltered first page, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.audit.chain import format_time  # noqa: E402
from app.audit.integrity import AuditIntegrity  # noqa: E402
from app.audit.models import AuditEvent  # noqa: E402
from app.audit.search import AuditFilter, AuditLogSearch, keyset_query  # noqa: E402
from app.config import Settings  # noqa: E402
from app.container import Container  # noqa: E402
from app.db import transaction  # noqa: E402
from bench.audit_data import create_database, drop_database, load  # noqa: E402

PG_SERVER = os.environ.get("TENANTRY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def sample_values(c: Container, org_id: str, rng: random.Random) -> dict[str, list[Any]]:
    """Real values from the big org to filter on (actors, targets, ips, times)."""
    with transaction(c.session_factory) as s:
        ev = AuditEvent
        rows = s.execute(
            select(ev.actor_id, ev.ip, ev.targets, ev.occurred_at)
            .where(ev.org_id == org_id)
            .order_by(func.random())
            .limit(200)
        ).all()
        lo, hi = s.execute(
            select(func.min(ev.occurred_at), func.max(ev.occurred_at)).where(ev.org_id == org_id)
        ).one()
    return {
        "actor": [r.actor_id for r in rows if r.actor_id],
        "ip": [r.ip for r in rows],
        "target": [r.targets[0]["id"] for r in rows if r.targets],
        "time": [r.occurred_at for r in rows],
        "range": [lo, hi],
    }


SERVER: dict[str, float] = {}
CPU: dict[str, float] = {}  # this process's CPU time per query: its wall time on an idle machine


def server_ms(session: Any, query: Any) -> float:
    """PostgreSQL's own execution time for the query (EXPLAIN ANALYZE), without Python or network."""
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    plan = session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar_one()
    return float(plan[0]["Execution Time"])


def query_mix(c: Container, org_id: str, reps: int, seed: int = 11) -> dict[str, list[float]]:
    rng = random.Random(seed)
    v = sample_values(c, org_id, rng)
    lo, hi = v["range"]

    def pick(key: str) -> Any:
        return rng.choice(v[key])

    def day_window() -> AuditFilter:
        t = pick("time")
        return AuditFilter(since=t - timedelta(hours=12), until=t + timedelta(hours=12))

    cases: dict[str, Callable[[], AuditFilter]] = {
        "baseline: no filter": lambda: AuditFilter(),
        "action exact (common)": lambda: AuditFilter(action="seat.assigned"),
        "action exact (rare)": lambda: AuditFilter(action="scim_token.created"),
        "action prefix member.*": lambda: AuditFilter(action="member.*"),
        "action prefix api_key.": lambda: AuditFilter(action="api_key."),
        "actor": lambda: AuditFilter(actor=pick("actor")),
        "actor_type system (2%)": lambda: AuditFilter(actor_type="system"),
        "actor_type scim_token": lambda: AuditFilter(actor_type="scim_token"),
        "target": lambda: AuditFilter(target=pick("target")),
        "target_type seat": lambda: AuditFilter(target_type="seat"),
        "target_type api_key (rare)": lambda: AuditFilter(target_type="api_key"),
        "outcome failure": lambda: AuditFilter(outcome="failure"),
        "ip": lambda: AuditFilter(ip=pick("ip")),
        "since/until one day": day_window,
        "until a year ago+30d": lambda: AuditFilter(until=lo + timedelta(days=30)),
        "combo action* + actor_type + outcome": lambda: AuditFilter(
            action="member.*", actor_type="api_key", outcome="success"
        ),
        "combo target + since 90d": lambda: AuditFilter(target=pick("target"), since=hi - timedelta(days=90)),
        "combo ip + action*": lambda: AuditFilter(ip=pick("ip"), action="seat.*"),
        "combo actor + outcome failure": lambda: AuditFilter(actor=pick("actor"), outcome="failure"),
        "combo day window + action exact": lambda: AuditFilter(
            since=day_window().since, until=day_window().since + timedelta(hours=24), action="member.invited"
        ),
    }
    timings: dict[str, list[float]] = {}
    with transaction(c.session_factory) as session:
        search = AuditLogSearch(session)
        for name, make in cases.items():
            samples, server = [], []
            cpu = []
            for i in range(reps):
                f = make()
                t0, c0 = time.perf_counter(), time.process_time()
                search.page(org_id, f, cursor=None, limit=100)
                samples.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                session.rollback()
                if i < 5:
                    server.append(server_ms(session, keyset_query(org_id, f, after=None, limit=101)))
                    session.rollback()
            timings[name] = samples
            SERVER[name] = statistics.median(server)
            CPU[name] = pct(cpu, 0.95)
        for name, make in {
            "deep pages (no filter)": lambda: AuditFilter(),
            "deep pages (action member.*)": lambda: AuditFilter(action="member.*"),
            "deep pages (actor_type api_key)": lambda: AuditFilter(actor_type="api_key"),
        }.items():
            samples, cursor = [], None
            f = make()
            for _ in range(200):  # 200 pages of 100 = 20k events deep
                t0 = time.perf_counter()
                _, cursor = search.page(org_id, f, cursor=cursor, limit=100)
                samples.append((time.perf_counter() - t0) * 1000)
                session.rollback()
                if cursor is None:
                    break
            timings[name] = samples
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            search.page(org_id, AuditFilter(), cursor=None, limit=1000)
            samples.append((time.perf_counter() - t0) * 1000)
            session.rollback()
        timings["limit 1000, no filter"] = samples
    return timings


def report_queries(timings: dict[str, list[float]]) -> float:
    base = pct(timings["baseline: no filter"], 0.95)
    head = f"{'query (limit 100 unless said)':42} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    head += f" {'p95/base':>9}"
    print(head + f" {'server p50':>10} {'cpu p95':>8}")
    for name, s in timings.items():
        p95 = pct(s, 0.95)
        srv = f"{SERVER[name]:10.2f} {CPU[name]:8.2f}" if name in SERVER else ""
        print(
            f"{name:42} {len(s):4d} {statistics.median(s):8.2f} {p95:8.2f} {max(s):8.2f} "
            f"{p95 / base:9.2f} {srv}"
        )
    filtered = [x for name, s in timings.items() if not name.startswith("limit 1000") for x in s]
    overall = pct(filtered, 0.95)
    print(f"overall p95 of the limit-100 mix ({len(filtered)} queries): {overall:.2f} ms (target <= 50 ms)")
    worst = max(CPU[n] + SERVER[n] for n in CPU)
    print(
        f"worst filter's client CPU p95 + server p50: {worst:.2f} ms (the latency without other load; "
        f"wall times above include waiting for a core at load average {os.getloadavg()[0]:.1f})"
    )
    return overall


def export(
    c: Container, settings: Settings, org_id: str, fmt: str, trace: bool
) -> tuple[int, float, float, float]:
    """Stream the big org's export through the HTTP endpoint; (bytes, seconds, rss growth MB, traced MB)."""
    with transaction(c.session_factory) as session:
        key = c.services(session).credentials.create_api_key(org_id=org_id, role="admin", name="bench").secret
    client = create_app(settings, c).test_client()
    gc.collect()
    rss0, peak_rss = rss_mb(), 0.0
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    resp = client.get(
        f"/v1/orgs/{org_id}/audit-logs/export?format={fmt}",
        headers={"Authorization": f"Bearer {key}"},
        buffered=False,
    )
    assert resp.status_code == 200, resp.status_code
    size = 0
    for i, chunk in enumerate(resp.response):
        size += len(chunk)
        if i % 50 == 0:
            peak_rss = max(peak_rss, rss_mb())
    resp.close()
    seconds = time.perf_counter() - t0
    traced = 0.0
    if trace:
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return size, seconds, max(peak_rss, rss_mb()) - rss0, traced


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--events", type=int, default=1_200_000, help="total events (the big org gets all but 4x5%)"
    )
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--database", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument(
        "--verify", action="store_true", help="also time a full chain verification of the big org"
    )
    args = ap.parse_args()
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other work on the machine)"
    )

    url = args.database
    if url is None:
        url = create_database(PG_SERVER)
        t0 = time.perf_counter()
        specs = load(url, args.events)
        secs = time.perf_counter() - t0
        print(f"loaded {args.events:,} events ({specs[0].events:,} in the big org) by COPY in {secs:.1f} s")
    import tempfile

    settings = Settings(
        env="test",
        database_url=url,
        instance_path=Path(tempfile.mkdtemp()) / "instance",
        secret_key="bench",
        log_level="WARNING",
        log_json=False,
    )
    c = Container.build(settings)
    try:
        with transaction(c.session_factory) as s:
            counts = s.execute(
                select(AuditEvent.org_id, func.count())
                .group_by(AuditEvent.org_id)
                .order_by(func.count().desc())
            ).all()
        big, n_big = counts[0]
        print(f"orgs: {len(counts)}, big org {big}: {n_big:,} events; total {sum(n for _, n in counts):,}")
        timings = query_mix(c, big, args.reps)
        overall = report_queries(timings)
        if not args.skip_export:
            for fmt, trace in (("jsonl", False), ("csv", False), ("jsonl", True)):
                size, secs, rss, traced = export(c, settings, big, fmt, trace)
                how = f"tracemalloc peak {traced:.1f} MB" if trace else "no tracing"
                print(
                    f"export {fmt}: {n_big:,} rows, {size / 2**20:.0f} MB in {secs:.1f} s "
                    f"({n_big / secs:,.0f} rows/s); RSS growth {rss:.1f} MB; {how} (target <= 50 MB)"
                )
        if args.verify:
            t0 = time.perf_counter()
            with transaction(c.session_factory) as s:
                result = AuditIntegrity(s, c.clock, c.audit_signer).verify(big)
            secs = time.perf_counter() - t0
            print(
                f"verify: {result.checked:,} events ok={result.ok} in {secs:.1f} s "
                f"({result.checked / secs:,.0f}/s)"
            )
        busy = os.getloadavg()[0]
        print(
            f"summary: query p95 {overall:.2f} ms; load average at end {busy:.1f}; "
            f"{format_time(c.clock.now())}"
        )
    finally:
        c.engine.dispose()
        if args.keep:
            print(f"kept database: {url}")
        elif args.database is None:
            drop_database(url)


if __name__ == "__main__":
    main()
