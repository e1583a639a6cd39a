"""Helpers every test module shares (one copy each): free ports, concurrent races, containers on a given
database, the statements a session runs, authorization checks over HTTP."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.config import Settings
from app.container import Container
from app.db import make_engine
from app.errors import AppError
from app.mail import Mailer
from tests.mailbox import Mailbox


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
        log_json=False,
        log_level="WARNING",
        **overrides,
    )


def container_on(
    database_url: str,
    tmp_path: Path,
    *,
    pool_size: int | None = None,
    mailer: Mailer | None = None,
    **settings: Any,
) -> Container:
    """A container of its own on ``database_url``; ``pool_size`` gives PostgreSQL one connection per racing
    thread so none waits for a connection. Dispose of its engine when done."""
    sized = pool_size is not None and database_url.startswith("postgresql")
    engine = make_engine(database_url, pool_size=pool_size, max_overflow=0) if sized else None
    return Container.build(
        settings_for(database_url, tmp_path, **settings), mailer=mailer or Mailbox(), engine=engine
    )


def statements_run(session: Session) -> list[str]:
    """The SQL the session's connection runs from now on (the list fills as it does)."""
    seen: list[str] = []
    event.listen(session.connection(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def run_together(calls: list[Callable[[], object]], *, timeout: float = 180) -> Counter[str]:
    """Run every call on its own thread, all released at once; count outcomes: "ok", an ``AppError``'s code,
    or "error: …" for anything else (which a test then rejects)."""
    barrier = Barrier(len(calls))

    def released(call: Callable[[], object]) -> str:
        barrier.wait(timeout=60)
        try:
            outcome = call()
        except AppError as exc:
            return exc.code
        except Exception as exc:  # noqa: BLE001 - any other failure is an outcome the test rejects
            return f"error: {exc!r}"[:300]
        return outcome if isinstance(outcome, str) else "ok"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return Counter(pool.map(released, calls, timeout=timeout))


def wait_until(condition: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False): for effects another thread or
    process brings about. The bound only catches "never"; how fast is measured by the benchmarks."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def authz_check(api: Any, org: str, subject: str, action: str, **extra: Any) -> dict[str, Any]:
    """``POST /v1/authz/check`` through a test ``Api``; the answer's body (asserting 200)."""
    resp = api.post("/v1/authz/check", {"org": org, "subject": subject, "action": action, **extra})
    assert resp.status_code == 200, resp.json
    body: dict[str, Any] = resp.json
    return body
