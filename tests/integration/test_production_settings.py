"""Production refuses to start without its secrets and a mail server; development says that mail is logged.

The refusal belongs to the processes that serve (the web app, ``tenantry serve``, ``worker``, ``relay``); the
operator's one-shot commands (``db upgrade``, ``demo``, ...) need none of the three and are not blocked.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app import create_app
from app.config import IncompleteConfiguration, Settings

TENANTRY = Path(sys.executable).parent / "tenantry"
REQUIRED = ("TENANTRY_SECRET_KEY", "TENANTRY_AUDIT_SIGNING_KEY", "TENANTRY_SMTP_URL")


def complete() -> dict[str, str]:
    """The three settings production requires, each with a valid value."""
    return {
        "TENANTRY_SECRET_KEY": "s" * 48,
        "TENANTRY_AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        "TENANTRY_SMTP_URL": "smtp://127.0.0.1:2525",  # nothing is sent at start-up
    }


def production(database_url: str, tmp_path: Path, **values: str) -> Settings:
    fields = {name.removeprefix("TENANTRY_").lower(): value for name, value in values.items()}
    return Settings(
        env="production",
        database_url=database_url,
        instance_path=tmp_path / "instance",
        log_json=False,
        log_level="WARNING",
        **fields,
    )


@pytest.mark.parametrize("missing", REQUIRED)
def test_create_app_refuses_production_without_each_setting(
    database_url: str, tmp_path: Path, missing: str
) -> None:
    values = {**complete(), missing: ""}
    with pytest.raises(IncompleteConfiguration) as refused:
        create_app(production(database_url, tmp_path, **values))
    message = str(refused.value)
    assert missing in message and "Set each in the environment" in message
    assert [name for name in REQUIRED if name in message] == [missing]  # only what is missing
    assert not (tmp_path / "instance" / "secret_key").exists()  # production generates nothing


def test_create_app_names_every_missing_setting_at_once(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(IncompleteConfiguration) as refused:
        create_app(production(database_url, tmp_path, TENANTRY_SMTP_URL="  "))
    assert all(name in str(refused.value) for name in REQUIRED)


def test_create_app_starts_in_production_with_all_three(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(production(database_url, tmp_path, **complete()))
    try:
        assert app.test_client().get("/healthz").status_code == 200
        assert app.config["SECRET_KEY"] == "s" * 48
    finally:
        app.extensions["tenantry"].engine.dispose()
    assert not [r for r in caplog.records if r.name == "tenantry.mail"]


def _mail_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tenantry.mail" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("smtp_url", ["", "smtp://127.0.0.1:2525"])
def test_development_says_once_that_mail_goes_to_the_log(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, smtp_url: str
) -> None:
    settings = Settings(
        env="development",
        database_url=database_url,
        instance_path=tmp_path / "instance",
        smtp_url=smtp_url,
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    app.extensions["tenantry"].engine.dispose()
    warnings = _mail_warnings(caplog)
    if smtp_url:
        assert warnings == []
        return
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "invitation tokens" in text and "TENANTRY_SMTP_URL=smtp://" in text


class Run:
    """``tenantry`` in a subprocess with only the TENANTRY_ variables a test gives it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.env.update(
            TENANTRY_ENV="production",
            TENANTRY_DATABASE_URL=f"sqlite:///{tmp / 'prod.db'}",
            TENANTRY_INSTANCE_PATH=str(tmp / "instance"),
            TENANTRY_LOG_LEVEL="WARNING",
            TMPDIR=str(tmp),
        )

    def __call__(self, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own console script
            [str(TENANTRY), *args],
            env={**self.env, **values},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def popen(self, *args: str, **values: str) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603
            [str(TENANTRY), *args],
            env={**self.env, **values},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    if not TENANTRY.exists():
        pytest.fail(f"the tenantry console script is missing at {TENANTRY}: run `pip install -e .`")
    run = Run(tmp_path_factory.mktemp("production"))
    upgraded = run("db", "upgrade")  # needs none of the three (see below)
    assert upgraded.returncode == 0, upgraded.stderr
    return run


def test_one_shot_commands_run_without_the_three(run: Run) -> None:
    """A production operator migrates (and may bootstrap) before mail is configured."""
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    demo = run("demo", "--json")
    assert demo.returncode == 0, demo.stderr
    assert not list((run.tmp / "instance").glob("*key*"))  # and nothing secret was generated


@pytest.mark.parametrize(
    ("command", "missing"),
    [pytest.param(("serve", "--port", "1"), name, id=f"serve-{name}") for name in REQUIRED]
    + [
        pytest.param(("worker", "--once"), "TENANTRY_SMTP_URL", id="worker"),
        pytest.param(("relay", "--once"), "TENANTRY_SMTP_URL", id="relay"),
    ],
)
def test_serving_processes_refuse_production_without_each_setting(
    run: Run, command: tuple[str, ...], missing: str
) -> None:
    values = {**complete(), missing: "", "TENANTRY_BUS_URL": "nats://127.0.0.1:1"}
    result = run(*command, **values)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: TENANTRY_ENV=production")
    assert missing in result.stderr and "Traceback" not in result.stderr
    assert [name for name in REQUIRED if name in result.stderr] == [missing]


def test_serve_starts_in_production_with_all_three(run: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = run.popen("serve", "--port", str(port), "--workers", "1", **complete())
    try:
        deadline = time.monotonic() + 30
        while not _healthy(f"http://127.0.0.1:{port}/healthz"):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "tenantry serve did not come up"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert "TENANTRY_SMTP_URL is unset" not in stderr  # production never logs mail


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return bool(resp.status == 200)
    except OSError:
        return False
