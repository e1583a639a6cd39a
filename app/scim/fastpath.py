"""A WSGI fast path in front of Flask for an IdP's existence check, half of every Okta import's requests.

``GET /scim/v2/Users?filter=userName eq "…"`` (or ``externalId eq "…"``), from the first row, with a SCIM
token that the key cache holds: answered here through the same parts as the Flask view, without Flask's
request context, cookie session or ORM session. The token's principal comes from the key cache that the one
resolver fills (``app/scim/views.py`` ``_cached_principal``; a revocation drops it), the org from that
principal, the request spends one unit of the token's budget (``app/scim/budget.py``), the filter is read by
the pure parser, the rows by the listing's own statement (``app/scim/listing.py`` ``lookup_users_apart``)
on a read-only connection, and the resources rendered by ``app/scim/resources.py``. Everything else (another
method, path, filter or parameter, no token or one not cached, a bad value, a refused budget, a database
error) goes to the Flask views untouched, so authentication, errors and their SCIM bodies stay in one place.
Request ids, metrics and the request log line are kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from werkzeug.wsgi import get_current_url

from app.credentials.resolver import CredentialResolver, Door, Kind, kind_of
from app.credentials.secrets import hash_secret
from app.errors import RateLimited
from app.observability import new_request_id, record_request, request_id_var
from app.scim import budget
from app.scim import filter as scim_filter
from app.scim.errors import MEDIA_TYPE, ScimError
from app.scim.listing import MAX_COUNT, lookup_users_apart, simple_lookup
from app.scim.resources import list_response, project, user_resource
from app.scim.schema import USER_TYPE

if TYPE_CHECKING:
    from app.container import Container
    from app.credentials.principal import Principal
    from app.rbac.keycache import ApiKeyCache

USERS: Final = "/scim/v2/Users"
_PARAMETERS: Final = frozenset({"filter", "startIndex", "count"})
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
log = logging.getLogger(__name__)


class Fallback(Exception):
    """Not the common case: let Flask handle the request."""


class WarmTokenPath:
    """A WSGI layer in front of the app that serves SCIM tokens the key cache holds (``warm_caller``)."""

    def __init__(self, wsgi_app: WsgiApp, container: Container) -> None:
        self.wsgi_app = wsgi_app
        self.container = container
        engine = container.authorizer.engine
        assert engine is not None, "a fast path serves tokens from the authorization engine's key cache"
        self.keys = engine.keys


class LookupFastPath(WarmTokenPath):
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != USERS or environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        try:
            body = self._answer(environ)
        except Fallback:
            return self.wsgi_app(environ, start_response)
        request_id = new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        start_response(
            "200 OK",
            [
                ("Content-Type", MEDIA_TYPE),
                ("Content-Length", str(len(body))),
                ("X-Request-ID", request_id),
            ],
        )
        token = request_id_var.set(request_id)
        try:
            record_request("GET", USERS, USERS, 200, time.perf_counter() - started)
        finally:
            request_id_var.reset(token)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> bytes:
        query = _lookup_query(environ.get("QUERY_STRING", ""))
        if query is None:
            raise Fallback
        principal, org_id = warm_caller(self.container, self.keys, environ)
        key, value, count = query
        try:
            rows = lookup_users_apart(self.container.engine, org_id, key, value, count)
            if len(rows) >= count:
                raise Fallback  # a full page: the view counts the total
            base = base_url(environ)
            found = [project(user_resource(row, base), USER_TYPE) for row in rows]
            return json.dumps(list_response(found, len(found), 1)).encode()
        except Fallback:
            raise
        except Exception:  # the view runs the same query again, and maps a failure as every SCIM error
            log.warning("the SCIM lookup fast path failed; the request goes to the app", exc_info=True)
            raise Fallback from None


def warm_caller(container: Container, keys: ApiKeyCache, environ: dict[str, Any]) -> tuple[Principal, str]:
    """The SCIM token's principal and org when the key cache holds the token, with the request's unit of the
    token's budget spent (and marked spent in ``environ``, so the view a request is handed on to does not
    spend a second); ``Fallback`` otherwise, for the views to authenticate, refuse or rate-limit."""
    presented = CredentialResolver.presented(Door.SCIM, environ.get("HTTP_AUTHORIZATION"), {})
    if presented is None or kind_of(presented) is not Kind.SCIM_TOKEN:
        raise Fallback
    principal = keys.get(hash_secret(presented))
    if principal is None or principal.org_id is None:
        raise Fallback  # the resolver reads it (and the view caches it), or refuses it
    try:
        budget.spend(container.rate_limiter, container.settings.scim_rate, principal.id)
    except RateLimited:
        raise Fallback from None  # refused again there (a refused hit spends nothing), as a SCIM 429
    environ[budget.SPENT] = principal.id  # from here a request handed on has spent its unit
    return principal, principal.org_id


def base_url(environ: dict[str, Any]) -> str:
    """The request's SCIM root (``https://host/scim/v2``), as the views' ``_base_url`` builds it; the same
    for every request of an IdP, so it is kept per scheme and host. werkzeug rebuilding it as an IRI for each
    request cost about 2% of an import's CPU (bench/scim.py, py-spy)."""
    return _base_url(
        environ["wsgi.url_scheme"],
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
    )


@lru_cache(maxsize=256)  # (a Host header is the client's: the cache is bounded, an unusual one costs a miss)
def _base_url(scheme: str, host: str | None, server_name: str | None, server_port: str | None) -> str:
    parts = {"HTTP_HOST": host, "SERVER_NAME": server_name, "SERVER_PORT": server_port}
    environ = {"wsgi.url_scheme": scheme} | {k: v for k, v in parts.items() if v is not None}
    return get_current_url(environ, host_only=True).rstrip("/") + "/scim/v2"


def _lookup_query(query_string: str) -> tuple[str, Any, int] | None:
    """``(key, value, count)`` of an existence check's query string (``filter`` a ``simple_lookup``,
    ``startIndex`` absent or at most 1, ``count`` absent or 1 to MAX_COUNT, nothing else), else None. Each
    value is read as the view reads it (the first of a repeated parameter; an empty one is absent)."""
    try:  # as Werkzeug reads it: the WSGI string's bytes as UTF-8 (an invalid byte: the view's business)
        pairs = parse_qsl(query_string.encode("latin-1").decode(), keep_blank_values=True, errors="strict")
    except UnicodeError:
        return None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            return None
        params.setdefault(name, value)
    text = params.get("filter")
    if not text:
        return None
    try:
        start = int(params.get("startIndex") or 1)
        count = int(params.get("count") or 100)
        lookup = simple_lookup(scim_filter.parse(text))
    except (ValueError, ScimError):
        return None
    if lookup is None or start > 1 or not 0 < count <= MAX_COUNT:
        return None
    return lookup[0], lookup[1], count
