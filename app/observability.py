"""Request ids, JSON logs and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "tenantry_http_requests_total", "HTTP requests", ["method", "endpoint", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "tenantry_http_request_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class ReadinessProbe(Protocol):
    """One check of ``/readyz`` beyond the database: ``(status shown, healthy)``."""

    def __call__(self) -> tuple[str, bool]: ...


class MetricsCollector(Protocol):
    """A Prometheus custom collector read on each ``/metrics`` scrape (values computed then, none kept)."""

    def describe(self) -> list[Any]: ...

    def collect(self) -> Iterable[Any]: ...


def new_request_id(incoming: str | None) -> str:
    """Keep a caller's X-Request-ID when it is a sane token; otherwise mint one."""
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return secrets.token_hex(16)  # as random as a uuid4's hex, for a fraction of its cost


_HTTP_LOG = logging.getLogger("tenantry.http")
_UNLOGGED_ENDPOINTS = frozenset({"/healthz", "/metrics"})


def record_request(method: str, endpoint: str, path: str, status: int, elapsed: float) -> None:
    """A finished request's metrics (by route) and its log line: the Flask app's and the fast paths' in
    front of it alike. The caller has set ``request_id_var`` for the line."""
    HTTP_REQUESTS.labels(method, endpoint, str(status)).inc()
    HTTP_LATENCY.labels(method, endpoint).observe(elapsed)
    if endpoint not in _UNLOGGED_ENDPOINTS and _HTTP_LOG.isEnabledFor(logging.INFO):
        _HTTP_LOG.info(
            "request",
            extra={"method": method, "path": path, "status": status, "duration_ms": round(elapsed * 1000, 2)},
        )


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, as_json: bool) -> None:
    root = logging.getLogger()
    if getattr(root, "_tenantry_configured", False):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root._tenantry_configured = True  # type: ignore[attr-defined]
