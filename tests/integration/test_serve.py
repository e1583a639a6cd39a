"""``tenantry serve``: real gunicorn workers, JSON logs, and /metrics adding up every worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port

TENANTRY = Path(sys.executable).parent / "tenantry"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _send(
    url: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    stderr: Path
    tmp: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve must make its own
    env.update(
        TENANTRY_DATABASE_URL=f"sqlite:///{tmp / 'serve.db'}",
        TENANTRY_INSTANCE_PATH=str(tmp / "instance"),
        TMPDIR=str(tmp),  # where serve's metrics directory lands, so the test can see and clean it
    )
    upgraded = subprocess.run(  # noqa: S603
        [str(TENANTRY), "db", "upgrade"], env=env, capture_output=True, timeout=60, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr
    port = free_port()
    stderr = tmp / "stderr.log"
    with stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603
            [str(TENANTRY), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tenantry serve did not come up:\n{stderr.read_text()}")
            time.sleep(0.1)
        yield Server(base, process, stderr, tmp, env)
    finally:
        process.send_signal(signal.SIGTERM)  # gunicorn's master (serve execs it) stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthz_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tenantry_http_requests_total" and sample.labels.get("endpoint") == "/healthz":
                total += sample.value
    return total


def test_metrics_add_up_every_worker(server: Server) -> None:
    before = _healthz_total(_get(server.base + "/metrics")[1])
    for _ in range(40):
        assert _get(server.base + "/healthz")[0] == 200
    status, text, headers = _get(server.base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    # Each request may land on either worker; only the multi-process collector sees all of them.
    assert _healthz_total(text) == before + 40
    metric_dirs = list(server.tmp.glob("tenantry-metrics-*"))
    assert len(metric_dirs) == 1 and list(metric_dirs[0].glob("*.db"))


def test_serves_the_api_with_request_ids(server: Server) -> None:
    status, body, headers = _get(server.base + "/v1/orgs/org_x", {"X-Request-ID": "serve-test-0001"})
    assert status == 401
    assert headers["X-Request-ID"] == "serve-test-0001"
    assert json.loads(body)["request_id"] == "serve-test-0001"


def test_logs_are_json_lines(server: Server) -> None:
    _get(server.base + "/v1/orgs/org_y", {"X-Request-ID": "serve-test-0002"})
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server.stderr.read_text().splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines if not line.startswith("serving on ")]
        if any(e.get("request_id") == "serve-test-0002" for e in entries) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines are JSON too
    request = [e for e in entries if e.get("request_id") == "serve-test-0002"]
    assert request and request[0]["path"] == "/v1/orgs/org_y" and request[0]["status"] == 401


def _platform_key(server: Server) -> str:
    created = subprocess.run(  # noqa: S603
        [str(TENANTRY), "api-keys", "create", "--platform", "--json"],
        env=server.env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    key: str = json.loads(created.stdout)["key"]
    return key


def test_deeply_nested_json_is_problem_json_on_every_worker(server: Server) -> None:
    """The check fast path (in front of Flask, under gunicorn) and the Flask views both answer 400."""
    headers = {"Authorization": f"Bearer {_platform_key(server)}", "Content-Type": "application/json"}
    ok = json.dumps({"org": "org_x", "subject": "usr_x", "action": "org:read"}).encode()
    for _ in range(6):  # warm the key cache of both workers: later calls take the fast path
        assert _send(server.base + "/v1/authz/check", ok, headers)[0] == 200
    for path in ("/v1/authz/check", "/v1/authz/check-batch", "/v1/orgs"):
        for _ in range(4):
            status, body, got = _send(server.base + path, b"[" * 100_000, headers)
            assert status == 400, (path, status, body[:200])
            assert got["Content-Type"] == "application/problem+json"
            assert json.loads(body)["code"] == "malformed_request"


def _raw(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (urllib would refuse some of these requests) and read the whole answer."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert status == expected, body[:300]
    assert headers["Content-Type"] == "application/problem+json"
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == expected and problem["request_id"] == headers["X-Request-ID"]
    return problem


def test_a_5000_character_path_id_reaches_the_app(server: Server) -> None:
    key = _platform_key(server)
    status, body, headers = _get(
        server.base + "/v1/orgs/org_" + "x" * 5000, {"Authorization": f"Bearer {key}"}
    )
    _assert_problem(status, headers, body.encode(), 404)


@pytest.mark.parametrize(
    ("request_bytes", "expected", "code"),
    [
        # Past gunicorn's 8190-byte request line: refused before the app, still in problem+json.
        (b"GET /v1/orgs/org_" + b"x" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
        (b"GET /v1/orgs HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431,
         "request_header_fields_too_large"),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "bad_request"),
    ],
    ids=["request_line_too_long", "header_too_large", "not_http"],
)  # fmt: skip
def test_what_gunicorn_refuses_is_problem_json(
    server: Server, request_bytes: bytes, expected: int, code: str
) -> None:
    status, headers, body = _raw(server, request_bytes)
    assert _assert_problem(status, headers, body, expected)["code"] == code
