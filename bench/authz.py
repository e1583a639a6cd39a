"""Authorization benchmarks: compiled engine vs stock pycasbin, memory and cold loads, HTTP throughput.

    .venv/bin/python bench/authz.py                 # everything (needs PostgreSQL and wrk for the last parts)
    .venv/bin/python bench/authz.py inprocess       # 10k orgs, 100k users, 150k assignments vs Enforcer
    .venv/bin/python bench/authz.py memory          # 1M assignments in PostgreSQL: working set, cold org
    .venv/bin/python bench/authz.py http            # gunicorn: check vs bare Flask, batch of 100

Every ratio is measured side by side in the same run. Targets (issue 4): compiled >= 100x faster than
``Enforcer.enforce`` with 0 mismatches over 10k checks; <= 250 MB for 1M loaded assignments; first check of a
cold org < 5 ms; check requests/s >= 85% of a bare Flask endpoint; batch of 100 >= 50k decisions/s.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import casbin  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from app.rbac.compiled import compile_org, missing_org  # noqa: E402
from app.rbac.engine import AuthzEngine  # noqa: E402
from app.rbac.policy import MODEL_PATH  # noqa: E402
from bench.authz_data import (  # noqa: E402
    create_database,
    drop_database,
    generate,
    load_postgres,
    random_checks,
)

PG_SERVER = os.environ.get("TENANTRY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def inprocess(
    n_orgs: int = 10_000,
    n_users: int = 100_000,
    n_assign: int = 150_000,
    n_checks: int = 10_000,
    custom: float = 0.0,
) -> None:
    print(
        f"== in-process: {n_orgs} orgs, {n_users} users, {n_assign} assignments, {n_checks} random checks, "
        f"{custom:.0%} of orgs with a custom role"
    )
    data = generate(n_orgs, n_users, n_assign, custom=custom)
    p, g, g2 = data.rules()
    t0 = time.perf_counter()
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    enforcer.add_named_policies("p", [list(r) for r in p])
    enforcer.add_named_grouping_policies("g", [list(r) for r in g])
    enforcer.add_named_grouping_policies("g2", [list(r) for r in g2])
    print(
        f"stock Enforcer built in {time.perf_counter() - t0:.1f} s "
        f"({len(p)} p, {len(g)} g, {len(g2)} g2 rules)"
    )

    t0 = time.perf_counter()
    engine = AuthzEngine(create_engine("sqlite://"), sync=False, capacity=2 * n_orgs)
    by_org: dict[str, tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]] = {
        o: ([], []) for o in data.orgs
    }
    for rule in g:
        by_org[rule[2]][0].append(rule)
    for rule in g2:
        by_org[rule[2]][1].append(rule)
    custom: dict[str, list[tuple[str, str, str]]] = {}
    for rule in data.custom:
        custom.setdefault(rule[1], []).append(rule)
    templates = [r for r in p if r[1] == "*"]
    for org, (og, og2) in by_org.items():
        engine.put(compile_org(org, 1, templates + custom.get(org, []), og, og2))
    print(f"compiled {n_orgs} orgs in {time.perf_counter() - t0:.1f} s")

    checks = random_checks(data, n_checks)
    for _user, org, _perm in checks:  # unknown orgs are negative-cached after their first (DB) miss
        if engine.cached_version(org) is None:
            engine.put(missing_org(org, 0))
    gc.collect()
    gc.freeze()  # the policy is long-lived: keep it out of the collector's scans, for both engines alike
    clock = time.perf_counter_ns
    # Each engine runs the same checks in its own loop (interleaving them measures the other's cache misses).
    fast, got = [], []
    for user, org, perm in checks:
        t = clock()
        answer = engine.check(org, user, perm).allowed
        fast.append((clock() - t) / 1000)
        got.append(answer)
    slow, want = [], []
    for user, org, perm in checks:
        t = clock()
        answer = enforcer.enforce(user, org, perm)
        slow.append((clock() - t) / 1000)
        want.append(answer)
    gc.unfreeze()
    mismatches = sum(a != b for a, b in zip(got, want, strict=True))
    allowed = sum(want)
    f50, f99, s50, s99 = pct(fast, 0.5), pct(fast, 0.99), pct(slow, 0.5), pct(slow, 0.99)
    print(f"{'':24}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
    print(f"{'compiled engine.check':24}{f50:>10.2f}{f99:>10.2f}{statistics.fmean(fast):>10.2f}")
    print(f"{'stock Enforcer.enforce':24}{s50:>10.1f}{s99:>10.1f}{statistics.fmean(slow):>10.1f}")
    print(f"speed-up: p50 {s50 / f50:.0f}x, p99 {s99 / f99:.0f}x (target >= 100x)")
    print(f"mismatches: {mismatches} of {n_checks} ({allowed} allowed) (target 0)")


def memory(n_orgs: int = 10_000, n_users: int = 700_000, n_assign: int = 1_000_000) -> None:
    print(f"== memory and cold loads: {n_orgs} orgs, {n_users} users, {n_assign} assignments in PostgreSQL")
    keep = os.environ.get("TENANTRY_BENCH_DB")  # reuse a database an earlier run loaded (and kept)
    url = keep or create_database(PG_SERVER)
    try:
        from app import migrate

        data = generate(n_orgs, n_users, n_assign)
        if not keep:
            migrate.upgrade(url)
            t0 = time.perf_counter()
            load_postgres(url, data)
            print(f"loaded into PostgreSQL in {time.perf_counter() - t0:.1f} s")
        bind = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        orgs = data.orgs

        # First checks of cold orgs (an empty cache: each check loads and compiles its org).
        engine = AuthzEngine(bind, sync=False, capacity=n_orgs + 10)
        engine.check(orgs[0], data.members[0][1], "org:read")  # open the pool's first connection
        cold = []
        for org in orgs[1:501]:
            t = time.perf_counter()
            engine.check(org, data.members[0][1], "org:read")
            cold.append((time.perf_counter() - t) * 1000)
        print(
            f"first check of a cold org ({len(cold)} orgs, ~{n_assign // n_orgs} members each): "
            f"p50 {pct(cold, 0.5):.2f} ms, p99 {pct(cold, 0.99):.2f} ms, max {max(cold):.2f} ms "
            "(target < 5 ms)"
        )

        # The whole working set: every org loaded. RSS delta (upper bound: includes freed-but-kept arenas),
        # then the bytes the snapshots really hold (tracemalloc, a second load).
        engine.clear()
        gc.collect()
        before = rss_mb()
        t0 = time.perf_counter()
        for org in orgs:
            engine.snapshot(org)
        took = time.perf_counter() - t0
        gc.collect()
        print(f"all {n_orgs} orgs loaded in {took:.1f} s; RSS +{rss_mb() - before:.0f} MB")
        engine.clear()
        gc.collect()
        tracemalloc.start()
        for org in orgs:
            engine.snapshot(org)
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"working set held by snapshots (tracemalloc): {held / 2**20:.0f} MB for {n_assign} assignments "
            "(target <= 250 MB)"
        )
        sample = [engine.check(o, u, "org:read").allowed for _m, u, o, *_ in data.members[:1000]]
        print(f"sanity: {sum(sample)} of 1000 sampled members may org:read")
        bind.dispose()
    finally:
        if not keep and not os.environ.get("TENANTRY_BENCH_KEEP"):
            drop_database(url)
        elif not keep:
            print(f"kept {url} (TENANTRY_BENCH_DB={url} reuses it)")


def main() -> None:
    parts = sys.argv[1:] or ["inprocess", "memory", "http"]
    for part in parts:
        if part == "inprocess":
            inprocess()  # templates only: the FIELD-NOTES setting (stock cost is per p rule)
            print()
            inprocess(n_checks=2_000, custom=0.10)  # + 1,000 orgs with a custom role: ~4k p rules
        elif part == "memory":
            memory()
        elif part == "http":
            from bench.authz_http import http

            http(PG_SERVER)
        else:
            raise SystemExit(f"unknown part {part!r}")
        print()


if __name__ == "__main__":
    main()
