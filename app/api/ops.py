"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from app.observability import REGISTRY

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
def healthz() -> Response:
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@ops.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready to serve: the database answers (and, once configured, the outbox is drained in time)."""
    from app.web import container

    checks: dict[str, str] = {}
    ok = True
    try:
        with container().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    for name, probe in container().readiness.items():
        status, healthy = probe()
        checks[name] = status
        ok = ok and healthy
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


@ops.get("/metrics")
def metrics() -> Response:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    from app.web import container

    for collector in container().metrics:  # per-app collectors, read on scrape
        extra = CollectorRegistry(auto_describe=False)
        extra.register(collector)
        body += generate_latest(extra)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


@ops.get("/openapi.json")
def openapi() -> Response:
    from app.api.openapi import build_openapi

    return jsonify(build_openapi())
