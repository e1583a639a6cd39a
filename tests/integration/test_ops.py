"""Operations: liveness, readiness, metrics, request ids, JSON logs."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.config import Settings
from app.container import Container
from app.observability import JsonFormatter


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
        log_json=False,
        log_level="WARNING",
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def _requests_total(client: FlaskClient, endpoint: str, status: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        if family.name != "tenantry_http_requests":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "tenantry_http_requests_total"
                and labels.get("endpoint") == endpoint
                and labels.get("status") == status
                and labels.get("method") == "GET"
            ):
                return float(sample.value)
    return 0.0


def test_healthz(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_readyz_checks_the_database(client: FlaskClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok" and resp.json["checks"]["database"] == "ok"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path, backend: str) -> None:
    if backend == "postgresql":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/tenantry?connect_timeout=2"
    else:
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'tenantry.db'}"  # a folder that does not exist
    settings = _settings(tmp_path, url)
    container = Container.build(settings)
    try:
        client = create_app(settings, container).test_client()
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.json["status"] == "unavailable"
        assert resp.json["checks"]["database"].startswith("error")
        assert "127.0.0.1" not in resp.get_data(as_text=True)  # no connection details leak
    finally:
        container.engine.dispose()


def test_api_call_is_503_not_500_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"postgresql://postgres@127.0.0.1:{_closed_port()}/x?connect_timeout=2")
    container = Container.build(settings)
    try:
        client = create_app(settings, container).test_client()
        resp = client.get("/v1/orgs/org_x", headers={"Authorization": "Bearer tnt_pk_" + "A" * 43})
        assert resp.status_code == 503
        assert resp.mimetype == "application/problem+json" and resp.json["status"] == 503
    finally:
        container.engine.dispose()


def test_metrics_count_requests(client: FlaskClient) -> None:
    before = _requests_total(client, "/healthz", "200")
    client.get("/healthz")
    client.get("/healthz")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert "tenantry_http_requests_total" in resp.get_data(as_text=True)
    assert "tenantry_http_request_seconds_bucket" in resp.get_data(as_text=True)
    assert _requests_total(client, "/healthz", "200") == before + 2


def test_metrics_label_by_route_not_by_path(client: FlaskClient) -> None:
    """Ids in paths would make one time series per org; the label is the route template."""
    client.get("/v1/orgs/org_one")
    client.get("/v1/orgs/org_two")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="/v1/orgs/<org_id>"' in text
    assert "org_one" not in text and "org_two" not in text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/orgs/x", "/nope"])
def test_every_response_carries_a_request_id(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert len(resp.headers["X-Request-ID"]) >= 16


def test_a_sane_incoming_request_id_is_echoed(client: FlaskClient) -> None:
    resp = client.get("/v1/orgs/x", headers={"X-Request-ID": "req-2026.abc:42"})
    assert resp.headers["X-Request-ID"] == "req-2026.abc:42"
    assert resp.json["request_id"] == "req-2026.abc:42"  # and problem bodies quote it


@pytest.mark.parametrize("incoming", ["short", "has spaces in it", "x" * 200, "<script>alert(1)</script>"])
def test_an_unsafe_incoming_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert resp.headers["X-Request-ID"] != incoming
    assert len(resp.headers["X-Request-ID"]) == 32


def test_each_request_gets_its_own_id(client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_json_log_lines_carry_the_request_id(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tenantry.http")
    capture = _Capture()
    logging.getLogger("tenantry.http").addHandler(capture)
    try:
        resp = app.test_client().get("/v1/orgs/org_x", headers={"X-Request-ID": "trace-0123456789"})
    finally:
        logging.getLogger("tenantry.http").removeHandler(capture)
    assert resp.status_code == 401
    entries: list[dict[str, Any]] = [json.loads(line) for line in capture.lines]
    request_lines = [e for e in entries if e["message"] == "request"]
    assert request_lines, capture.lines
    entry = request_lines[-1]
    assert entry["request_id"] == "trace-0123456789"
    assert entry["level"] == "info" and entry["logger"] == "tenantry.http"
    assert entry["method"] == "GET" and entry["path"] == "/v1/orgs/org_x" and entry["status"] == 401
    assert isinstance(entry["duration_ms"], float)
    assert entry["time"].endswith("Z")


def test_log_lines_outside_a_request_have_no_request_id() -> None:
    record = logging.LogRecord("tenantry.worker", logging.INFO, __file__, 1, "tick", None, None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] is None and entry["message"] == "tick"
