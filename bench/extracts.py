"""Data extract benchmark on PostgreSQL (issue 13): an extract of 1M audit events with flat memory, its rows
per second printed next to the audit export's rate measured in the same run.

    .venv/bin/python bench/extracts.py                   # 1M events in the big org (30 days)
    .venv/bin/python bench/extracts.py --events 100000   # smaller
    .venv/bin/python bench/extracts.py --keep            # keep the database (prints its URL)
    .venv/bin/python bench/extracts.py --database URL    # reuse a database kept by --keep

Targets: RSS growth <= 50 MB during the extract; extract rows/s at least the export's (JSON Lines, no gzip,
both through their real paths: the export streamed by the HTTP endpoint, the extract by the worker's runner
writing parts, joining day files and hashing them).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from app.audit.models import AuditEvent  # noqa: E402
from app.config import Settings  # noqa: E402
from app.container import Container  # noqa: E402
from app.db import transaction  # noqa: E402
from app.extracts.models import ExtractJob  # noqa: E402
from app.extracts.service import ExtractRequest  # noqa: E402
from bench.audit_data import create_database, drop_database, load  # noqa: E402
from bench.audit_query import PG_SERVER, export, rss_mb  # noqa: E402


def extract(c: Container, org_id: str, compression: Any) -> tuple[int, float, float, int]:
    """Run one extract of the org's whole log in this process; (rows, seconds, RSS growth MB, bytes)."""
    with transaction(c.session_factory) as s:
        first, last = s.execute(
            select(func.min(AuditEvent.occurred_at), func.max(AuditEvent.occurred_at)).where(
                AuditEvent.org_id == org_id
            )
        ).one()
        request = ExtractRequest("audit_logs", first, last + timedelta(seconds=1), "jsonl", compression)
        job, _ = c.services(s).extracts.create(org_id, request, idempotency_key=None)
    gc.collect()
    rss0 = peak = rss_mb()

    def sample(_: ExtractJob) -> None:
        nonlocal peak
        peak = max(peak, rss_mb())

    runner = c.extract_runner(owner="bench")
    runner.after_checkpoint = sample
    t0 = time.perf_counter()
    outcome = runner.run_pending()
    seconds = time.perf_counter() - t0
    assert outcome == {job.id: "succeeded"}, outcome
    with transaction(c.session_factory) as s:
        done = s.get(ExtractJob, job.id)
        assert done is not None
        size = sum(f["bytes"] for f in done.progress["files"])
        return done.rows_written, seconds, max(peak, rss_mb()) - rss0, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_250_000, help="total events (the big org gets 80%)")
    ap.add_argument("--database", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    load_avg = os.getloadavg()[0]
    print(f"load average at start: {load_avg:.1f} on {os.cpu_count()} cores (other work on the machine)")
    url = args.database
    if url is None:
        url = create_database(PG_SERVER)
        t0 = time.perf_counter()
        specs = load(url, args.events, days=30)
        print(f"loaded {args.events:,} events over 30 days ({specs[0].events:,} in the big org) in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    root = Path(tempfile.mkdtemp())
    settings = Settings(
        env="test", database_url=url, instance_path=root / "instance", extract_dir=root / "extracts",
        secret_key="bench", log_level="WARNING", log_json=False,
    )  # fmt: skip
    c = Container.build(settings)
    try:
        with transaction(c.session_factory) as s:
            big, n_big = s.execute(
                select(AuditEvent.org_id, func.count())
                .group_by(AuditEvent.org_id)
                .order_by(func.count().desc())
            ).first() or ("", 0)
        # The machine is shared: the export is timed before and after the extracts, so a change of load
        # during the run shows as two different export rates rather than as a difference of the extract's.
        export_rates = []
        for when in ("before", "after"):
            if when == "after":
                for compression in ("none", "gzip"):
                    rows, secs, rss, size = extract(c, big, compression)
                    verdict = "ok" if rss <= 50 else "OVER"
                    print(
                        f"extract jsonl/{compression}: {rows:,} rows, {size / 2**20:.0f} MB in {secs:.1f} s "
                        f"({rows / secs:,.0f} rows/s, {rows / secs / export_rates[0]:.2f}x the export); "
                        f"RSS growth {rss:.1f} MB ({verdict}, target <= 50 MB)"
                    )
            size, secs, rss, _ = export(c, settings, big, "jsonl", False)
            export_rates.append(n_big / secs)
            print(
                f"export jsonl ({when}): {n_big:,} rows, {size / 2**20:.0f} MB in {secs:.1f} s "
                f"({n_big / secs:,.0f} rows/s); RSS growth {rss:.1f} MB"
            )
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        c.engine.dispose()
        if args.keep:
            print(f"kept database: {url}")
        elif args.database is None:
            drop_database(url)


if __name__ == "__main__":
    main()
