"""A WSGI fast path in front of Flask for the two check routes, which other services call on every request.

It answers only the common case (a POST with a cached API key and a valid body) straight from the compiled
snapshots: no Flask request context, no cookie session, no database session. Anything else (no or unknown
key, a key not yet cached, invalid JSON or fields, a session token) is handed to the regular Flask views in
``app/rbac/views.py`` with the body restored, so errors, authentication and problem+json stay in one place.
Request ids and the HTTP metrics are kept.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.credentials.secrets import hash_secret
from app.observability import HTTP_LATENCY, HTTP_REQUESTS, new_request_id
from app.rbac.compiled import Decision
from app.rbac.engine import AuthzEngine
from app.rbac.schemas import MAX_BATCH

CHECK, BATCH = "/v1/authz/check", "/v1/authz/check-batch"
FIELDS = frozenset({"org", "subject", "action", "min_version"})
NOT_ACCESSIBLE = Decision(False, "org_not_accessible", 0)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Fallback(Exception):
    """Not the common case: let Flask handle the request."""


def dump(d: Decision) -> str:
    # Reasons are fixed codes: no escaping needed, and far cheaper than json.dumps per result.
    return f'{{"allowed":{"true" if d.allowed else "false"},"version":{d.version},"reason":"{d.reason}"}}'


def valid(item: Any) -> bool:
    if type(item) is not dict or not item.keys() <= FIELDS:
        return False
    for name, limit in (("org", 64), ("subject", 64), ("action", 128)):
        value = item.get(name)
        if type(value) is not str or not 0 < len(value) <= limit:
            return False
    mv = item.get("min_version")
    return mv is None or (type(mv) is int and mv >= 0)


class CheckFastPath:
    def __init__(self, wsgi_app: WsgiApp, engine: AuthzEngine) -> None:
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.metrics = {
            path: (HTTP_REQUESTS.labels("POST", path, "200"), HTTP_LATENCY.labels("POST", path))
            for path in (CHECK, BATCH)
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if (path != CHECK and path != BATCH) or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        raw = _read_body(environ)
        if raw is None:  # no Content-Length (chunked): Flask reads the stream itself
            return self.wsgi_app(environ, start_response)
        try:
            body = self._answer(path, environ, raw)
        except _Fallback:
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
            return self.wsgi_app(environ, start_response)
        data = body.encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("X-Request-ID", new_request_id(environ.get("HTTP_X_REQUEST_ID"))),
            ],
        )
        counter, latency = self.metrics[path]
        counter.inc()
        latency.observe(time.perf_counter() - started)
        return [data]

    def _answer(self, path: str, environ: dict[str, Any], raw: bytes) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(("Bearer ", "bearer ")):
            raise _Fallback
        caller = self.engine.keys.get(hash_secret(header[7:].strip()))
        if caller is None:
            raise _Fallback
        try:
            data = json.loads(raw)  # a valid body nests two levels at most: valid() bounds the rest
        except (ValueError, UnicodeDecodeError, RecursionError):  # Flask answers these with problem+json
            raise _Fallback from None
        engine, own_org = self.engine, None if caller.is_platform else caller.org_id
        if path == CHECK:
            if not valid(data):
                raise _Fallback
            return dump(self._decide(engine, own_org, data))
        checks = data.get("checks") if type(data) is dict and data.keys() == {"checks"} else None
        if type(checks) is not list or len(checks) > MAX_BATCH or not all(valid(c) for c in checks):
            raise _Fallback
        return '{"results":[' + ",".join(dump(self._decide(engine, own_org, c)) for c in checks) + "]}"

    @staticmethod
    def _decide(engine: AuthzEngine, own_org: str | None, item: dict[str, Any]) -> Decision:
        org = item["org"]
        if own_org is not None and org != own_org:
            return NOT_ACCESSIBLE
        return engine.check(org, item["subject"], item["action"], item.get("min_version"))


def _read_body(environ: dict[str, Any]) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > 4 * 1024 * 1024:
        return None
    data: bytes = environ["wsgi.input"].read(length)
    return data
