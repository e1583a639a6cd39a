from __future__ import annotations

import threading
from typing import Any

from app.worker import Job, Worker


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_job_does_not_stop_the_others() -> None:
    ran: list[str] = []

    def boom(_: Any) -> None:
        raise RuntimeError("broken job")

    jobs = [Job("first", 10, boom), Job("second", 10, lambda _: ran.append("second") or 1)]
    result = Worker(object(), jobs, monotonic=Ticks()).run_once()  # type: ignore[arg-type]
    assert result == {"first": None, "second": 1}
    assert ran == ["second"]


def test_jobs_run_at_their_interval_until_stopped() -> None:
    ticks = Ticks()
    runs: dict[str, int] = {"fast": 0, "slow": 0}
    stop = threading.Event()

    def job(name: str) -> Any:
        def run(_: Any) -> None:
            runs[name] += 1

        return run

    worker = Worker(object(), [Job("fast", 1, job("fast")), Job("slow", 5, job("slow"))], monotonic=ticks)  # type: ignore[arg-type]

    class Stepper(threading.Event):
        """Each wait advances the fake clock one second; stop after ten."""

        def wait(self, timeout: float | None = None) -> bool:
            ticks.now += 1
            if ticks.now >= 10:
                stop.set()
            return stop.is_set()

        def is_set(self) -> bool:
            return stop.is_set()

    worker.run(Stepper(), tick=1)
    assert runs == {"fast": 10, "slow": 2}
