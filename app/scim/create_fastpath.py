"""A WSGI fast path in front of Flask for an IdP's provisioning POST, the other half of every Okta import.

``POST /scim/v2/Users`` with no query string, a JSON body and a SCIM token that the key cache holds: the
request runs the Flask view's own parts without Flask's request context, routing, cookie session and response
objects. The caller and its budget come from ``app/scim/fastpath.py`` (``warm_caller``), the body is read by
the views' parser (``app/json_input.py``), the user is created by ``ScimService.create_user`` in a session of
its own with the request's audit context, and the resource is rendered and projected by
``app/scim/resources.py`` before the create's last statement (on PostgreSQL usually the whole transaction,
committing itself), so that nothing is left to fail once the user exists.

Anything else goes to the Flask views untouched: another method or path, a query string (``attributes``), no
token or one not cached, a refused budget, a body that is not a JSON object, and every error the create
raises. The create is then rolled back and the view runs it again, on the same body, so its answer and its
SCIM error body (409 uniqueness, 400 invalidValue, a database error) come from the one front door. Request
ids, metrics and the request log line are kept.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from app.errors import AppError
from app.json_input import loads
from app.observability import new_request_id, record_request, request_id_var
from app.rbac.fastpath import read_body
from app.scim.errors import JSON_TYPES, MEDIA_TYPE
from app.scim.fastpath import USERS, Fallback, WarmTokenPath, WsgiApp, base_url, warm_caller
from app.scim.resources import UserRow, project, user_resource
from app.scim.schema import USER_TYPE
from app.web import caller_context

if TYPE_CHECKING:
    from app.container import Container

log = logging.getLogger(__name__)


class CreateFastPath(WarmTokenPath):
    def __init__(self, wsgi_app: WsgiApp, container: Container) -> None:
        super().__init__(wsgi_app, container)
        self.max_body = container.settings.max_request_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != USERS
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("QUERY_STRING")
            or _media_type(environ) not in JSON_TYPES
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        raw = read_body(environ, self.max_body)
        if raw is None:  # chunked, empty or past the limit: Flask reads (or refuses, 413) the stream itself
            return self.wsgi_app(environ, start_response)
        request_id = new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        token = request_id_var.set(request_id)
        try:
            try:
                body, location = self._create(environ, raw, request_id)
            except Fallback:
                environ["wsgi.input"] = io.BytesIO(raw)
                environ["CONTENT_LENGTH"] = str(len(raw))
                return self.wsgi_app(environ, start_response)
            start_response(
                "201 CREATED",
                [
                    ("Content-Type", MEDIA_TYPE),
                    ("Content-Length", str(len(body))),
                    ("ETag", location[1]),
                    ("Location", location[0]),
                    ("X-Request-ID", request_id),
                ],
            )
            record_request("POST", USERS, USERS, 201, time.perf_counter() - started)
            return [body]
        finally:
            request_id_var.reset(token)

    def _create(self, environ: dict[str, Any], raw: bytes, request_id: str) -> tuple[bytes, tuple[str, str]]:
        """The created user's resource as the view renders it, and its ``(Location, ETag)``; ``Fallback``
        when the view is to answer (nothing written then)."""
        principal, org_id = warm_caller(self.container, self.keys, environ)
        try:
            data = loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Fallback from None  # the view's InvalidSyntax
        if not isinstance(data, dict):
            raise Fallback
        context = caller_context(environ.get("REMOTE_ADDR"), environ.get("HTTP_USER_AGENT"), request_id)
        session = self.container.session_factory()
        try:
            services = self.container.services(session, principal.actor(), context)
            base = base_url(environ)
            rendered: list[tuple[bytes, dict[str, Any]]] = []

            def render(row: UserRow) -> None:  # before the create's last statement, which may commit it
                resource = user_resource(row, base)
                rendered.append((json.dumps(project(resource, USER_TYPE)).encode(), resource["meta"]))

            services.scim.create_user(org_id, data, principal, then=render)
            ((body, meta),) = rendered
            session.commit()
        except AppError:
            session.rollback()
            raise Fallback from None  # the view raises it again, as its SCIM error
        except Exception:
            session.rollback()
            log.warning("the SCIM create fast path failed; the request goes to the app", exc_info=True)
            raise Fallback from None
        finally:
            session.close()
        return body, (meta["location"], meta["version"])


def _media_type(environ: dict[str, Any]) -> str:
    return str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()
