"""Starting an IdP as a child process on loopback, waiting until it answers, stopping exactly that process.

The IdPs are installed by ``scripts/install-idps.sh`` (``.ci/run`` calls it) into ``.idps/`` at the top of the
checkout, or into ``TENANTRY_TEST_IDPS_DIR``. A harness that finds its IdP missing skips locally and fails
under ``CI=true`` (the rule of every real-service fixture in ``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-idps.sh"


def idps_dir() -> Path:
    return Path(os.environ.get("TENANTRY_TEST_IDPS_DIR", REPO_ROOT / ".idps"))


def require(path: Path | None, what: str) -> Path:
    """``path`` when it exists; otherwise the test skips (locally) or fails (under CI)."""
    from tests.conftest import service_missing

    if path is None or not path.exists():
        service_missing(f"{what} ({INSTALL_HINT})")
    assert path is not None
    return path


def require_program(name: str) -> Path:
    found = shutil.which(name)
    return require(Path(found) if found else None, f"the program {name!r}")


class IdpStartError(RuntimeError):
    """The IdP process exited or did not answer in time; carries the tail of its log."""


class IdpProcess:
    """One child process, its log file, and the URL that answers 200 once it is ready."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        ready_url: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.log_path = log_path
        self.ready_url = ready_url
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - argv is built by the harness, never from input
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it never signals the test runner
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise IdpStartError(f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.ready_url, timeout=2, allow_redirects=False).status_code < 500:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise IdpStartError(f"{self.ready_url} did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate this process's own group (the IdP and any child it forked), by id; kill if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
