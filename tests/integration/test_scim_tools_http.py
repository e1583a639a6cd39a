"""Independent SCIM tools against a running ``tenantry serve`` (gunicorn, two workers) over HTTP, on SQLite
and PostgreSQL: scim2-tester through ``scim test`` (scim2-cli) and scim-sanity's strict probe. Nothing here is
mocked; the tools only see the base URL and a SCIM token made with ``tenantry scim-tokens create``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import migrate
from tests.support import free_port

BIN = Path(sys.executable).parent
TENANTRY = BIN / "tenantry"


@dataclass
class Running:
    scim_url: str
    token: str
    env: dict[str, str]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [str(TENANTRY), *args], env=env, capture_output=True, timeout=120, check=True
    )
    return done.stdout.decode()


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
    else:
        url = f"sqlite:///{tmp_path / 'tools.db'}"
        migrate.upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        TENANTRY_DATABASE_URL=url,
        TENANTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        TENANTRY_SECRET_KEY="scim-tools-test-secret",
        TMPDIR=str(tmp_path),
    )
    org = json.loads(_cli(env, "orgs", "create", "Tools", "--json"))["id"]
    token = json.loads(_cli(env, "scim-tokens", "create", "--org", org, "--json"))["token"]
    port = free_port()
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603
            [str(TENANTRY), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tenantry serve did not come up:\n{stderr.read_text()}")
            time.sleep(0.1)
        yield Running(base + "/scim/v2", token, env)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (pip install the dev extra)"
    return found


def test_scim2_tester_over_http_passes_every_check(running: Running) -> None:
    """``scim --url … test`` runs scim2-tester's checks against what the server advertises."""
    env = {**running.env, "SCIM_CLI_HEADERS": f"Authorization: Bearer {running.token}"}
    done = subprocess.run(  # noqa: S603
        [_tool("scim"), "--url", running.scim_url, "test", "--verbose"],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out[-4000:]
    verdicts = [line.split()[0] for line in out.splitlines() if re.match(r"^[A-Z]+ \w", line)]
    assert verdicts.count("SUCCESS") >= 100, out[-4000:]  # 110 checks with version 0.5.2
    assert set(verdicts) == {"SUCCESS"}, [
        line for line in out.splitlines() if not line.startswith(("SUCCESS", " "))
    ]


def test_scim_sanity_strict_probe_passes(running: Running) -> None:
    done = subprocess.run(  # noqa: S603
        [
            _tool("scim-sanity"),
            "probe",
            running.scim_url,
            "--token",
            running.token,
            "--strict",
            "--i-accept-side-effects",
            "--json-output",
        ],
        env=running.env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, (out + done.stderr.decode())[-4000:]
    report = json.loads(out)
    assert report["mode"] == "strict"
    summary = report["summary"]
    assert (summary["failed"], summary["errors"], summary["warnings"]) == (0, 0, 0), report["results"]
    assert summary["passed"] >= 25, summary  # 28 with version 0.7.4
    skipped = {r["name"] for r in report["results"] if r["status"] != "pass"}
    # Only the draft agent extension's phases, which Tenantry does not advertise.
    assert all(name.startswith(("Agent", "AgenticApplication")) for name in skipped), skipped
