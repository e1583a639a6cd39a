"""The wheel, installed in a fresh virtualenv and run outside the checkout: ``db upgrade``, ``demo``,
``serve`` and a check over HTTP.

Nothing of the repository is on the path: the program finds its migrations and ``policies/`` in what the
wheel installed, or fails here. The build goes through the sdist (``python -m build``), so a file the sdist
forgets is missing from the wheel too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Listening at: (http://[\w.:\[\]]+)")
# Upper bounds for a step that hangs, not expectations: a first install downloads every dependency.
BUILD_TIMEOUT, INSTALL_TIMEOUT, COMMAND_TIMEOUT, START_TIMEOUT = 300, 900, 120, 120


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: int) -> str:
    done = subprocess.run(  # noqa: S603 - our own commands
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Installed:
    bin: Path  # the fresh virtualenv's bin/
    cwd: Path  # a directory outside the checkout
    env: dict[str, str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    assert not tmp.is_relative_to(REPO)
    # Nothing that would lead the installed program back to the checkout or to the test's settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TENANTRY_", "PYTHON", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR"))
    }
    dist = tmp / "dist"
    _run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)],
        cwd=tmp,
        env=env,
        timeout=BUILD_TIMEOUT,
    )
    wheels = list(dist.glob("tenantry-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as whl:
        shipped = set(whl.namelist())
    assert {"app/policies/model.conf", "app/policies/permissions.csv", "app/policies/roles.csv"} <= shipped
    assert any(n.startswith("app/migrations/versions/0001_") for n in shipped)

    # A bare virtualenv, filled by the test runner's pip (--python): seeding the venv with its own pip and
    # byte-compiling every dependency would take most of this test's time and check nothing of Tenantry.
    venv = tmp / "venv"
    bare = [sys.executable, "-m", "venv", "--without-pip", str(venv)]
    _run(bare, cwd=tmp, env=env, timeout=COMMAND_TIMEOUT)
    _run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--no-compile", str(wheels[0])],
        cwd=tmp,
        env=env,
        timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    run = tmp / "run"
    run.mkdir()
    env.update(
        TENANTRY_DATABASE_URL=f"sqlite:///{run / 'tenantry.db'}",
        TENANTRY_INSTANCE_PATH=str(run / "instance"),
        TMPDIR=str(tmp),  # serve's metrics directory lands here and goes with the test's tmp
    )
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import app; print(app.__file__)"], cwd=run, env=env, timeout=60
    )
    assert Path(where.strip()).is_relative_to(venv), (
        f"app imported from {where.strip()}, not the installed wheel"
    )
    return Installed(venv / "bin", run, env)


@dataclass
class ServerLog:
    lines: list[str] = field(default_factory=list)
    base: str | None = None
    settled: threading.Event = field(default_factory=threading.Event)

    def follow(self, stream: IO[str]) -> None:
        """Reads the server's log until it ends; ``settled`` is set once it listens, or when it exits."""
        with stream:
            for line in stream:
                self.lines.append(line)
                found = LISTENING.search(line)
                if found and self.base is None:
                    self.base = found.group(1)
                    self.settled.set()
        self.settled.set()


@contextmanager
def serving(installed: Installed) -> Iterator[str]:
    """``tenantry serve`` on a port gunicorn picks and names in its "Listening at" line; yields the base
    URL, then stops the server by its pid."""
    process = subprocess.Popen(  # noqa: S603
        [str(installed.bin / "tenantry"), "serve", "--port", "0", "--workers", "1"],
        cwd=installed.cwd,
        env=installed.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    log = ServerLog()
    reader = threading.Thread(target=log.follow, args=(process.stderr,), daemon=True)
    reader.start()
    try:
        log.settled.wait(START_TIMEOUT)
        assert log.base is not None, "tenantry serve did not start:\n" + "".join(log.lines)
        yield log.base
    finally:
        os.kill(process.pid, signal.SIGTERM)  # serve execs gunicorn: this pid is its master
        try:
            process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=COMMAND_TIMEOUT)
    assert process.returncode == 0, "gunicorn did not stop cleanly:\n" + "".join(log.lines)


def _request(url: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310 - loopback
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        # The master listens before its worker is up; the connection waits in the backlog until it is.
        with urllib.request.urlopen(request, timeout=COMMAND_TIMEOUT) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_the_installed_wheel_migrates_bootstraps_and_serves(installed: Installed) -> None:
    def tenantry(*args: str) -> str:
        return _run(
            [str(installed.bin / "tenantry"), *args], cwd=installed.cwd, env=installed.env, timeout=60
        )

    assert "is at head" in tenantry("db", "upgrade")
    assert "agree" in tenantry("db", "check")
    demo = json.loads(tenantry("demo", "--json").strip().splitlines()[-1])
    assert demo["created"] is True

    with serving(installed) as base:
        status, health = _request(base + "/healthz")
        assert status == 200, health
        # The demo org has no members yet: its snapshot (built from the shipped policies) knows the org and
        # not the subject, while an org that does not exist is answered as such.
        subject = "usr_" + "0" * 32
        status, known = _request(
            base + "/v1/authz/check",
            {"org": demo["org_id"], "subject": subject, "action": "org:read"},
            key=demo["platform_key"],
        )
        assert status == 200, known
        assert (known["allowed"], known["reason"]) == (False, "unknown_subject")
        status, unknown = _request(
            base + "/v1/authz/check",
            {"org": "org_" + "0" * 32, "subject": subject, "action": "org:read"},
            key=demo["platform_key"],
        )
        assert status == 200, unknown
        assert (unknown["allowed"], unknown["reason"]) == (False, "unknown_org")
        status, refused = _request(
            base + "/v1/authz/check", {"org": demo["org_id"], "subject": subject, "action": "org:read"}
        )
        assert status == 401, refused
