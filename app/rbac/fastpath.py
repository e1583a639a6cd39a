"""A WSGI fast path in front of Flask for the two check routes, which other services call on every request.

It answers only the common case (a POST with a cached API key and a valid body) straight from the compiled
snapshots, through the same pure parser and decision as the views (``app/rbac/check.py``): no Flask request
context, no cookie session, no database session. Anything else (no or unknown key, a key not yet cached,
invalid JSON or fields, a session token) is handed to the regular Flask views in ``app/rbac/views.py`` with
the body restored, so errors, authentication and problem+json stay in one place. Request ids and the HTTP
metrics are kept.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.credentials.secrets import hash_secret
from app.observability import HTTP_LATENCY, HTTP_REQUESTS, new_request_id
from app.rbac.check import CheckBodyInvalid, answer_batch, answer_check
from app.rbac.engine import AuthzEngine

CHECK, BATCH = "/v1/authz/check", "/v1/authz/check-batch"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Fallback(Exception):
    """Not the common case: let Flask handle the request."""


class CheckFastPath:
    def __init__(self, wsgi_app: WsgiApp, engine: AuthzEngine, *, max_body: int = 1024 * 1024) -> None:
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.max_body = max_body
        self.metrics = {
            path: (HTTP_REQUESTS.labels("POST", path, "200"), HTTP_LATENCY.labels("POST", path))
            for path in (CHECK, BATCH)
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if (path != CHECK and path != BATCH) or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        raw = read_body(environ, self.max_body)
        if raw is None:  # chunked, or past the limit: Flask reads (or refuses, 413) the stream itself
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
            data = json.loads(raw)  # a valid body nests two levels at most: the parser bounds the rest
        except (ValueError, UnicodeDecodeError, RecursionError):  # Flask answers these with problem+json
            raise _Fallback from None
        try:
            if path == CHECK:
                return answer_check(data, caller, self.engine.check)
            return answer_batch(data, caller, self.engine.check)
        except CheckBodyInvalid:  # the views raise the same error from the same parser, as a 422 problem
            raise _Fallback from None


def read_body(environ: dict[str, Any], max_body: int) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > max_body:
        return None
    data: bytes = environ["wsgi.input"].read(length)
    return data
