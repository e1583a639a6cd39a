"""The request boundary: a session per request, authentication (one resolver for every credential kind),
errors mapped once per front door (``app/frontdoor.py``), request ids."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from app.audit.failures import Failure, FailureAggregator
from app.audit.http.refusals import note_refusal
from app.audit.recorder import SYSTEM, RequestContext
from app.container import Container, Services
from app.control_chars import escape_controls
from app.credentials.principal import Principal
from app.credentials.resolver import CredentialResolver, expected_credential
from app.errors import (
    AppError,
    Conflict,
    Forbidden,
    HttpError,
    InternalError,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from app.frontdoor import door_of, render_error
from app.observability import new_request_id, record_request, request_id_var

log = logging.getLogger("tenantry.http")


def container() -> Container:
    c: Container = current_app.extensions["tenantry"]
    return c


def db_session() -> Any:
    if "db_session" not in g:
        g.db_session = container().session_factory()
    return g.db_session


def request_context() -> RequestContext:
    """Who asked, as the audit log records it (``caller_context``)."""
    return caller_context(request.remote_addr, request.user_agent.string, g.get("request_id"))


def caller_context(ip: str | None, agent: str | None, request_id: str | None) -> RequestContext:
    """The audit context of a request, for the Flask views and the WSGI fast paths in front of them alike:
    the User-Agent is the caller's text, so it is cut to 512 characters and its control characters are
    escaped before it is stored anywhere."""
    return RequestContext(
        ip=ip, user_agent=escape_controls(agent[:512]) if agent else None, request_id=request_id
    )


def services() -> Services:
    if "services" not in g:
        principal: Principal | None = g.get("principal")
        actor = principal.actor() if principal else SYSTEM
        g.services = container().services(db_session(), actor, request_context())
    svc: Services = g.services
    return svc


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(*, platform_only: bool = False) -> Principal:
    """The caller from ``Authorization: Bearer``; 401 when absent, malformed, unknown or revoked."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        door = door_of(request.path)
        token = presented_credential()
        if token is None:
            raise Unauthenticated(f"Send {expected_credential(door)} as 'Authorization: Bearer <token>'.")
        principal = services().credential_resolver.resolve(token, door)
        g.principal = principal
        g.pop("services", None)  # rebuild with the authenticated actor
    if platform_only and not principal.is_platform:
        raise Forbidden("This operation needs a platform API key.")
    return principal


def presented_credential() -> str | None:
    """The credential this request presents at its door (bearer, or the session cookie under /sso)."""
    door = door_of(request.path)
    return CredentialResolver.presented(door, request.headers.get("Authorization"), request.cookies)


def optional_principal() -> Principal | None:
    """The caller when it sent credentials (they must then be valid), else None: for operations open to
    anyone that do more for a signed-in caller (accepting an invitation into an existing account)."""
    if g.get("principal") is None and presented_credential() is None:
        return None
    return authenticate()


def note_failure(failure: Failure) -> None:
    """Hand a refused attempt to the audit side's failure aggregation (its own short transaction: the
    request's rolls back). Never raises: a failure to record must not change the answer."""
    _rollback()  # the refused request writes nothing, and must not hold SQLite's write lock meanwhile
    c = container()
    try:
        FailureAggregator(c.session_factory, c.clock, c.outbox).note(failure, request_context())
    except Exception:  # noqa: BLE001 - best effort, like note_refusal
        log.exception("could not record a refused attempt")


def problem(error: AppError) -> Response:
    """The error in the format of the front door the request came through (``app/frontdoor.py``)."""
    return render_error(error, g.get("request_id"))


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def init_app(app: Flask) -> None:
    @app.before_request
    def _begin() -> None:
        g.request_id = new_request_id(request.headers.get("X-Request-ID"))
        g.request_token = request_id_var.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        record_request(request.method, endpoint, request.path, response.status_code, elapsed)
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()  # anything not committed by the boundary is dropped
            session.close()
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)

    @app.errorhandler(AppError)
    def _app_error(error: AppError) -> Response:
        _rollback()
        # 401/403 → an aggregated audit event, in its own transaction
        note_refusal(error, container(), presented_credential(), request_context())
        return problem(error)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        _rollback()
        log.info("integrity error mapped to 409", extra={"error": str(error.orig)[:300]})
        return problem(Conflict("The change conflicts with the current state (a concurrent change?). Retry."))

    @app.errorhandler(DataError)
    def _data_error(error: DataError) -> Response:
        # Input the validators let through but the database refuses (a value out of range, too long, or
        # with a character it cannot store): the caller's mistake, never a 500.
        _rollback()
        log.warning("database refused a value", extra={"error": str(error.orig)[:300]})
        return problem(ValidationFailed("A value is out of range, too long or not storable."))

    @app.errorhandler(OperationalError)
    def _operational(error: OperationalError) -> Response:
        _rollback()
        log.exception("database unavailable")
        return problem(ServiceUnavailable("The database is unavailable or busy. Retry shortly."))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        _rollback()
        resp = problem(HttpError(error.code or 500, error.name, error.description or error.name))
        for key, value in error.get_headers():
            if key.lower() == "allow":
                resp.headers["Allow"] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        _rollback()
        log.exception("unhandled error")
        return problem(InternalError("Something went wrong on our side. Quote the request id to support."))
