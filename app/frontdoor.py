"""Tenantry's front doors, each with the credentials it accepts and the one format its errors take.

=============  ==========================  ======================================================
door           path prefix                 errors
=============  ==========================  ======================================================
REST           ``/v1`` (and operations)    problem+json (RFC 9457)
SCIM           ``/scim/v2``                SCIM Error bodies (RFC 7644 §3.12), application/scim+json
SSO            ``/sso``                    a readable HTML page; problem+json when JSON is asked for
=============  ==========================  ======================================================

Errors are mapped once, here, for every status a request can end with: the app's own errors, routing 404 and
405, 413 from the body limit, 500. The door is chosen by path prefix because routing errors happen before any
blueprint is known.
"""

from __future__ import annotations

from flask import Response, json, request

from app.credentials.resolver import Door
from app.errors import AppError, RateLimited
from app.scim import errors as scim_errors
from app.sso.pages import error_page

PROBLEM_JSON = "application/problem+json"
SCIM_PREFIX, SSO_PREFIX = "/scim/v2", "/sso"


def door_of(path: str) -> Door:
    if path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/"):
        return Door.SCIM
    if path == SSO_PREFIX or path.startswith(SSO_PREFIX + "/"):
        return Door.SSO
    return Door.V1


def problem_body(error: AppError, request_id: str | None) -> dict[str, object]:
    body = error.to_problem(instance=request.path)
    body["request_id"] = request_id
    return body


def render_error(error: AppError, request_id: str | None) -> Response:
    """The error in the format of the door the request came through, with the headers its status needs."""
    door = door_of(request.path)
    status = int(error.to_problem()["status"])
    if door is Door.SCIM:
        resp = Response(
            json.dumps(scim_errors.error_body(error, status)), status=status, mimetype=scim_errors.MEDIA_TYPE
        )
    elif door is Door.SSO and not _wants_json():
        title = str(error.to_problem()["title"])
        resp = Response(
            error_page(status, title, error.detail, request_id), status=status, mimetype="text/html"
        )
    else:
        resp = Response(json.dumps(problem_body(error, request_id)), status=status, mimetype=PROBLEM_JSON)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="tenantry"'
    if isinstance(error, RateLimited):
        resp.headers["Retry-After"] = str(error.extra.get("retry_after", 1))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)
