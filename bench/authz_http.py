"""HTTP part of bench/authz.py: ``POST /v1/authz/check`` under gunicorn vs a bare Flask endpoint served
the same way in the same run, and ``check-batch`` with 100 checks per call. Load: ``wrk`` on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import migrate
from app.config import Settings
from app.container import Container
from app.db import transaction
from bench.authz_data import create_database, drop_database, generate, load_postgres, random_checks

ROOT = Path(__file__).resolve().parents[1]
DURATION, CONNECTIONS, ROUNDS = 8, 32, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(module: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", f"{module}:app"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"gunicorn {module} did not start")


def _lua(path: Path, bodies: list[str], key: str) -> None:
    items = ",\n".join(f"[==[{b}]==]" for b in bodies)
    path.write_text(
        f"local bodies = {{\n{items}\n}}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])\nend\n"
    )


def _wrk(url: str, script: Path, seconds: int = DURATION) -> tuple[float, int, str]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    return rps, int(bad.group(1)) if bad else 0, p99.group(1) if p99 else "?"


def http(pg_server: str) -> None:
    if shutil.which("wrk") is None:
        print("== http: skipped (wrk not installed: apt-get install wrk)")
        return
    workers = os.cpu_count() or 2
    print(
        f"== http: gunicorn sync workers = {workers} (cores), wrk -t2 -c{CONNECTIONS} {DURATION}s x {ROUNDS} "
        "rounds on loopback (wrk shares the cores)"
    )
    url = create_database(pg_server)
    tmp = Path(tempfile.mkdtemp(prefix="authz-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        migrate.upgrade(url)
        data = generate(1_000, 10_000, 15_000)
        load_postgres(url, data)
        env = {"TENANTRY_DATABASE_URL": url, "TENANTRY_SECRET_KEY": "bench-secret-key-bench-secret-key",
               "TENANTRY_LOG_LEVEL": "WARNING", "TENANTRY_INSTANCE_PATH": str(tmp / "instance")}  # fmt: skip
        container = Container.build(Settings(database_url=url, instance_path=tmp / "instance",
                                             secret_key=env["TENANTRY_SECRET_KEY"]))  # fmt: skip
        with transaction(container.session_factory) as session:
            key = container.services(session).credentials.create_api_key(org_id=None, name="bench").secret
        container.engine.dispose()

        checks = random_checks(data, 2_000)
        single = [json.dumps({"org": o, "subject": u, "action": p}) for u, o, p in checks]
        items = [{"org": o, "subject": u, "action": p} for u, o, p in checks]
        batches = [json.dumps({"checks": items[i : i + 100]}) for i in range(0, len(items), 100)]
        _lua(tmp / "single.lua", single, key)
        _lua(tmp / "batch.lua", batches, key)

        tenantry_port, bare_port, flask_port = _free_port(), _free_port(), _free_port()
        procs.append(_serve("app.wsgi", tenantry_port, workers, env))
        procs.append(_serve("bench.bare_flask", bare_port, workers, env))
        procs.append(_serve("app.wsgi", flask_port, workers, {**env, "TENANTRY_AUTHZ_FAST_PATH": "0"}))
        check_url = f"http://127.0.0.1:{tenantry_port}/v1/authz/check"
        batch_url = f"http://127.0.0.1:{tenantry_port}/v1/authz/check-batch"
        bare_url = f"http://127.0.0.1:{bare_port}/v1/authz/check"
        flask_url = f"http://127.0.0.1:{flask_port}/v1/authz/check"
        for target in (check_url, batch_url, bare_url, flask_url):  # warm: every org into every worker
            _wrk(target, tmp / ("batch.lua" if "batch" in target else "single.lua"), 3)

        results: dict[str, list[tuple[float, int, str]]] = {"bare": [], "check": [], "batch": [], "flask": []}
        for _ in range(ROUNDS):  # alternate so drift (other load on the machine) hits all alike
            results["bare"].append(_wrk(bare_url, tmp / "single.lua"))
            results["check"].append(_wrk(check_url, tmp / "single.lua"))
            results["flask"].append(_wrk(flask_url, tmp / "single.lua"))
            results["batch"].append(_wrk(batch_url, tmp / "batch.lua"))
        mean = {k: sum(r[0] for r in v) / len(v) for k, v in results.items()}
        bad = {k: sum(r[1] for r in v) for k, v in results.items()}
        for name, label in (("bare", "bare Flask endpoint"), ("check", "POST /v1/authz/check"),
                            ("flask", "check, fast path off"),
                            ("batch", "check-batch (100 per call)")):  # fmt: skip
            rounds = ", ".join(f"{r[0]:.0f}" for r in results[name])
            p99 = ", ".join(r[2] for r in results[name])
            print(f"{label:28} {mean[name]:>9.0f} req/s  (rounds: {rounds}; p99 {p99}; non-2xx {bad[name]})")
        print(
            f"check / bare: {mean['check'] / mean['bare']:.0%} (target >= 85%); "
            f"through the Flask views (fast path off): {mean['flask'] / mean['bare']:.0%}"
        )
        print(f"batch decisions/s: {mean['batch'] * 100:,.0f} (target >= 50,000)")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    http(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres")
