"""The gunicorn workers ``tenantry serve`` runs: gunicorn's threaded worker (the default: keep-alive, a few
threads) or its sync worker, each with gunicorn's own refusals in problem+json.

Some requests never reach the app: gunicorn refuses a request line longer than ``limit_request_line``, too
many or too large headers, or a line it cannot parse, and answers an HTML page; an exception escaping the WSGI
app (which the app's error handlers should make impossible) gets the same. Callers of ``/v1`` expect
problem+json with a request id everywhere, so this worker writes those answers the same way the app does.
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

from gunicorn import glogging, util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from app.errors import HttpError
from app.observability import new_request_id

# gunicorn's refusals by exception: (status, title, what the caller should do). The first match wins.
REFUSALS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str, str], ...] = (
    (errors.LimitRequestLine, 414, "URI Too Long",
     "The request line (method, path and query) is longer than the server accepts. Shorten the URL."),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large",
     "The request has too many header fields, or one that is too large."),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented",
     "The request uses a transfer coding this server does not support."),
    ((errors.ForbiddenProxyRequest, ssl.SSLError), 403, "Forbidden", "The request is not allowed."),
    (errors.ConfigurationProblem, 500, "Internal Server Error",
     "Something went wrong on our side. Quote the request id to support."),
    (errors.ParseException, 400, "Bad Request", "The request is not valid HTTP."),
)  # fmt: skip


def refusal(exc: BaseException) -> tuple[int, str, str]:
    """The status, title and detail gunicorn's error ``exc`` is answered with (500 for anything else)."""
    for kinds, status, title, detail in REFUSALS:
        if isinstance(exc, kinds):
            return status, title, detail
    return 500, "Internal Server Error", "Something went wrong on our side. Quote the request id to support."


def problem_response(status: int, title: str, detail: str, request_id: str) -> bytes:
    body = HttpError(status, title, detail).to_problem()
    body["request_id"] = request_id
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
        f"Content-Length: {len(data)}\r\nX-Request-ID: {request_id}\r\n\r\n"
    )
    return head.encode("latin-1") + data


class ProblemJsonErrors:
    """gunicorn's ``Worker.handle_error``, answering in problem+json (mixed into both worker classes)."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, title, detail = refusal(exc)
        request_id = new_request_id(None)
        ip = addr[0] if isinstance(addr, tuple) and addr else ""
        if status >= 500:
            self.log.exception("error handling request", extra={"request_id": request_id})
        else:
            self.log.warning(
                "invalid request from ip=%s: %s", ip, str(exc)[:200], extra={"request_id": request_id}
            )
        try:
            util.write_nonblock(client, problem_response(status, title, detail, request_id))
        except Exception:  # the client went away: nothing left to tell it
            self.log.debug("failed to send error response")


class ProblemJsonWorker(ProblemJsonErrors, SyncWorker):  # type: ignore[misc]  # gunicorn is untyped
    """Sync: one request at a time per process, a connection per request (``Connection: close``)."""


class ProblemJsonThreadWorker(ProblemJsonErrors, ThreadWorker):  # type: ignore[misc]
    """Threaded (``gthread``): ``threads`` requests at a time per process, and HTTP keep-alive, so an IdP's
    long import (Okta and Entra ID hold their connections open) does not pay a TCP handshake and a new
    connection per request; a request waiting on the database lets another run meanwhile."""


class Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, but an access line is built only when the access logger would write it: the app
    logs every request itself (``app/web.py``), so ``gunicorn.access`` stays at WARNING and gunicorn's own
    formatting of each request's atoms was work thrown away."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
