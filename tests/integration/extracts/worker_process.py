"""A worker in its own process, for the kill test: it runs extract jobs and, after each checkpoint, prints
``checkpoint <rows written>`` and waits for a line on stdin that never comes (the test kills it by pid).

    python -m tests.integration.extracts.worker_process DATABASE_URL INSTANCE_PATH EXTRACT_DIR PART_ROWS
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.config import Settings
from app.container import Container
from app.extracts.models import ExtractJob


def main(argv: list[str]) -> int:
    database_url, instance, extract_dir, part_rows = argv
    settings = Settings(
        env="test",
        database_url=database_url,
        instance_path=Path(instance),
        extract_dir=Path(extract_dir),
        extract_part_rows=int(part_rows),
        extract_lease_seconds=60,
        secret_key="test-secret-key-not-for-production",
        log_level="WARNING",
    )
    container = Container.build(settings)

    def pause(job: ExtractJob) -> None:
        print(f"checkpoint {job.rows_written}", flush=True)
        if job.rows_written >= 2 * int(part_rows):
            sys.stdin.readline()  # blocks: the test kills this process here, lease held, job half written

    runner = container.extract_runner(owner="doomed")
    runner.after_checkpoint = pause
    runner.run_pending()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
