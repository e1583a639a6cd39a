"""``/scim/v2``: thin views over :class:`app.scim.service.ScimService` (RFC 7644 §3).

Each view reads the request, calls one service method, commits, and answers ``application/scim+json``. Errors
are rendered by the front door (``app/frontdoor.py``) as SCIM Error bodies. The SCIM token's principal names
the org; every request spends one unit of the token's rate budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from flask import Blueprint, Flask, Response, g, json, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import IntegrityError

from app.credentials.principal import Principal
from app.credentials.resolver import Kind, kind_of
from app.credentials.secrets import hash_secret
from app.db import begin_read_only
from app.errors import AppError, Conflict, NotFound
from app.json_input import loads
from app.scim import budget, bulk
from app.scim.create_fastpath import CreateFastPath
from app.scim.errors import JSON_TYPES, MEDIA_TYPE, InvalidFilter, InvalidSyntax, InvalidValue, ScimError
from app.scim.fastpath import LookupFastPath
from app.scim.groups import ScimGroupService
from app.scim.listing import MAX_COUNT, ListQuery, Page
from app.scim.resources import UserRow, group_resource, list_response, project, user_resource
from app.scim.schema import ENTERPRISE_USER, GROUP, GROUP_TYPE, SCHEMAS, USER, USER_TYPE, ResourceType
from app.scim.service import ScimService
from app.web import authenticate, container, db_session, presented_credential, services

scim = Blueprint("scim", __name__, url_prefix="/scim/v2")


@scim.record
def _install_fast_path(state: BlueprintSetupState) -> None:
    """Put the lookup and create fast paths (app/scim/fastpath.py, app/scim/create_fastpath.py) in front of
    each app this blueprint is registered on: they serve tokens this module's ``_cached_principal`` put in
    the key cache."""
    app = cast(Flask, state.app)
    found = app.extensions["tenantry"]
    if found.authorizer.engine is not None and found.settings.scim_fast_path:
        lookups = LookupFastPath(app.wsgi_app, found)
        app.wsgi_app = CreateFastPath(lookups, found)  # type: ignore[method-assign]


SEARCH_REQUEST: Final = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@scim.before_request
def _authenticate_and_limit() -> None:
    principal = _cached_principal() or authenticate()
    if request.environ.get(budget.SPENT) != principal.id:  # the lookup fast path may have spent it
        budget.spend(container().rate_limiter, container().settings.scim_rate, principal.id)


# --- request and response helpers ---


def _cached_principal() -> Principal | None:
    """A SCIM token verified in the last few seconds, from the key cache API keys share
    (``app/rbac/keycache.py``: a revocation drops it at once in this process, on PostgreSQL at once
    everywhere, else within one sync round); on a miss the one resolver reads the token and caches it.
    An IdP sends thousands of requests in a row with one token: this saves a query and a write
    (``last_used_at``) on nearly all of them."""
    engine = container().authorizer.engine
    token = presented_credential()
    if engine is None or token is None or kind_of(token) is not Kind.SCIM_TOKEN:
        return None
    digest = hash_secret(token)
    principal = engine.keys.get(digest)
    if principal is None:
        principal = authenticate()
        db_session().commit()  # last_used_at, before the request's own work
        engine.remember_key(digest, principal)
    g.principal = principal
    return principal


def _principal() -> tuple[Principal, str]:
    principal = authenticate()
    assert principal.org_id is not None  # the resolver accepts only org-bound SCIM tokens here
    return principal, principal.org_id


def _service() -> ScimService:
    return services().scim


def _groups() -> ScimGroupService:
    return services().scim_groups


def _base_url() -> str:
    return request.host_url.rstrip("/") + "/scim/v2"


def _body() -> dict[str, Any]:
    if request.mimetype and request.mimetype not in JSON_TYPES:
        raise InvalidSyntax(f"Send {MEDIA_TYPE} or application/json, not {request.mimetype}.")
    try:
        body = loads(request.get_data())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyntax("The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidSyntax("The body is a JSON object.")
    return body


def _respond(body: Mapping[str, Any] | None, status: int = 200, *, location: str | None = None) -> Response:
    resp = Response(json.dumps(body) if body is not None else "", status=status, mimetype=MEDIA_TYPE)
    meta = body.get("meta") if body is not None else None
    if isinstance(meta, Mapping) and isinstance(meta.get("version"), str):
        resp.headers["ETag"] = meta["version"]
    if location:
        resp.headers["Location"] = location
    return resp


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"'{name}' is an integer.") from None


def _list_query(source: Mapping[str, Any]) -> ListQuery:
    order = str(source.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("'sortOrder' is ascending or descending.")
    return ListQuery(
        filter=source.get("filter") or None,
        sort_by=source.get("sortBy") or None,
        sort_order="descending" if order == "descending" else "ascending",
        start_index=_int(source.get("startIndex"), "startIndex", 1),
        count=_int(source.get("count"), "count", 100),
    )


def _projection(source: Mapping[str, Any]) -> tuple[Any, Any]:
    return source.get("attributes"), source.get("excludedAttributes")


def _wants_members(excluded: Any, attributes: Any) -> bool:
    names = [n.strip().lower() for n in (excluded or "").split(",")] if isinstance(excluded, str) else []
    return "members" not in names


def _not_modified(body: Mapping[str, Any]) -> bool:
    wanted = request.headers.get("If-None-Match")
    if not wanted:
        return False
    version = str(body.get("meta", {}).get("version", ""))
    tags = {t.strip() for t in wanted.split(",")}
    return "*" in tags or version in tags or version.removeprefix("W/") in tags


def _single(body: dict[str, Any], rtype: ResourceType) -> Response:
    if _not_modified(body):
        resp = Response(status=304)
        resp.headers["ETag"] = body["meta"]["version"]
        return resp
    attributes, excluded = _projection(request.args)
    return _respond(project(body, rtype, attributes, excluded))


def _committed(make: Callable[[], Response]) -> Response:
    resp = make()
    db_session().commit()
    return resp


# --- discovery (RFC 7644 §4) ---


@scim.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return _respond(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://tenantry.dev/docs/scim",
            "patch": {"supported": True},
            "bulk": {
                "supported": True,
                "maxOperations": bulk.MAX_OPERATIONS,
                "maxPayloadSize": _max_payload(),
            },
            "filter": {"supported": True, "maxResults": MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "A Tenantry SCIM token as 'Authorization: Bearer'.",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{_base_url()}/ServiceProviderConfig",
            },
        }
    )


def _resource_type(rtype: ResourceType) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rtype.name,
        "name": rtype.name,
        "endpoint": rtype.endpoint,
        "description": rtype.core.description,
        "schema": rtype.core.id,
        "meta": {"resourceType": "ResourceType", "location": f"{_base_url()}/ResourceTypes/{rtype.name}"},
    }
    if rtype.extensions:
        body["schemaExtensions"] = [{"schema": s.id, "required": False} for s in rtype.extensions]
    return body


@scim.get("/ResourceTypes")
def resource_types() -> Response:
    found = [_resource_type(t) for t in (USER_TYPE, GROUP_TYPE)]
    return _respond(list_response(found, len(found), 1))


@scim.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    for rtype in (USER_TYPE, GROUP_TYPE):
        if rtype.name.lower() == name.lower():
            return _respond(_resource_type(rtype))
    raise NotFound(f"Resource type {name} not found")


@scim.get("/Schemas")
def schemas() -> Response:
    found = [SCHEMAS[s.lower()].to_scim(f"{_base_url()}/Schemas/{s}") for s in (USER, ENTERPRISE_USER, GROUP)]
    return _respond(list_response(found, len(found), 1))


@scim.get("/Schemas/<path:urn>")
def schema(urn: str) -> Response:
    found = SCHEMAS.get(urn.lower())
    if found is None:
        raise NotFound(f"Schema {urn} not found")
    return _respond(found.to_scim(f"{_base_url()}/Schemas/{found.id}"))


# --- Users (RFC 7644 §3.3 to §3.6) ---


def _user_page(query: ListQuery, source: Mapping[str, Any]) -> tuple[Page, list[dict[str, Any]]]:
    _, org_id = _principal()
    begin_read_only(db_session())  # an IdP's lookups take no write lock (SQLite)
    page = _service().list_users(org_id, query)
    attributes, excluded = _projection(source)
    base = _base_url()
    return page, [project(user_resource(r, base), USER_TYPE, attributes, excluded) for r in page.rows]


def _group_page(query: ListQuery, source: Mapping[str, Any]) -> tuple[Page, list[dict[str, Any]]]:
    _, org_id = _principal()
    begin_read_only(db_session())
    attributes, excluded = _projection(source)
    page = _groups().list_groups(org_id, query, with_members=_wants_members(excluded, attributes))
    base = _base_url()
    return page, [project(group_resource(r, base), GROUP_TYPE, attributes, excluded) for r in page.rows]


@scim.get("/Users")
def list_users() -> Response:
    page, found = _user_page(_list_query(request.args), request.args)
    return _respond(list_response(found, page.total, page.start_index))


@scim.post("/Users/.search")
def search_users() -> Response:
    body = _body()
    page, found = _user_page(_list_query(body), body)
    return _respond(list_response(found, page.total, page.start_index))


@scim.post("/Users")
def create_user() -> Response:
    principal, org_id = _principal()
    base, (attributes, excluded) = _base_url(), _projection(request.args)
    answers: list[tuple[dict[str, Any], str]] = []

    def render(row: UserRow) -> None:  # before the create's last statement, which may commit it
        body = user_resource(row, base)
        answers.append((project(body, USER_TYPE, attributes, excluded), body["meta"]["location"]))

    _service().create_user(org_id, _body(), principal, then=render)
    db_session().commit()
    ((answer, location),) = answers
    return _respond(answer, 201, location=location)


@scim.get("/Users/<member_id>")
def get_user(member_id: str) -> Response:
    _, org_id = _principal()
    begin_read_only(db_session())
    return _single(user_resource(_service().get_user(org_id, member_id), _base_url()), USER_TYPE)


@scim.put("/Users/<member_id>")
def replace_user(member_id: str) -> Response:
    principal, org_id = _principal()
    row = _service().replace_user(org_id, member_id, _body(), principal, request.headers.get("If-Match"))
    return _committed(lambda: _single(user_resource(row, _base_url()), USER_TYPE))


@scim.patch("/Users/<member_id>")
def patch_user(member_id: str) -> Response:
    principal, org_id = _principal()
    row = _service().patch_user(
        org_id, member_id, _body(), principal, request.headers.get("If-Match"), _base_url()
    )
    return _committed(lambda: _single(user_resource(row, _base_url()), USER_TYPE))


@scim.delete("/Users/<member_id>")
def delete_user(member_id: str) -> Response:
    principal, org_id = _principal()
    _service().delete_user(org_id, member_id, principal, request.headers.get("If-Match"))
    return _committed(lambda: Response(status=204))


# --- Groups ---


@scim.get("/Groups")
def list_groups() -> Response:
    page, found = _group_page(_list_query(request.args), request.args)
    return _respond(list_response(found, page.total, page.start_index))


@scim.post("/Groups/.search")
def search_groups() -> Response:
    body = _body()
    page, found = _group_page(_list_query(body), body)
    return _respond(list_response(found, page.total, page.start_index))


@scim.post("/Groups")
def create_group() -> Response:
    principal, org_id = _principal()
    body = group_resource(_groups().create_group(org_id, _body(), principal), _base_url())
    db_session().commit()
    attributes, excluded = _projection(request.args)
    return _respond(project(body, GROUP_TYPE, attributes, excluded), 201, location=body["meta"]["location"])


@scim.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    _, org_id = _principal()
    begin_read_only(db_session())
    attributes, excluded = _projection(request.args)
    row = _groups().get_group(org_id, group_id, with_members=_wants_members(excluded, attributes))
    return _single(group_resource(row, _base_url()), GROUP_TYPE)


@scim.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    principal, org_id = _principal()
    row = _groups().replace_group(org_id, group_id, _body(), principal, request.headers.get("If-Match"))
    return _committed(lambda: _single(group_resource(row, _base_url()), GROUP_TYPE))


@scim.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    principal, org_id = _principal()
    row = _groups().patch_group(
        org_id, group_id, _body(), principal, request.headers.get("If-Match"), _base_url()
    )
    return _committed(lambda: _single(group_resource(row, _base_url()), GROUP_TYPE))


@scim.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    principal, org_id = _principal()
    _groups().delete_group(org_id, group_id, principal, request.headers.get("If-Match"))
    return _committed(lambda: Response(status=204))


# --- Bulk (RFC 7644 §3.7) ---


def _max_payload() -> int:
    return min(bulk.MAX_PAYLOAD_SIZE, container().settings.max_request_bytes)


def _run_operation(op: bulk.Operation) -> bulk.Outcome:
    """One bulk operation in its own transaction, with its audit events: committed when it succeeds, rolled
    back when it fails (a bulk request is not atomic, RFC 7644 §3.7)."""
    principal, org_id = _principal()
    service, base, session = _service(), _base_url(), db_session()
    data: Any = op.data
    try:
        if op.resource == "Users":
            if op.method == "DELETE":
                service.delete_user(org_id, str(op.target), principal, op.version)
                session.commit()
                return bulk.Outcome(204)
            if op.method == "POST":  # rendered before the create's last statement, which may commit it
                made: list[dict[str, Any]] = []
                service.create_user(
                    org_id, data, principal, then=lambda r: made.append(user_resource(r, base))
                )
                (body,) = made
            else:
                if op.method == "PUT":
                    row = service.replace_user(org_id, str(op.target), data, principal, op.version)
                else:
                    row = service.patch_user(org_id, str(op.target), data, principal, op.version, base)
                body = user_resource(row, base)
        else:
            groups = _groups()
            if op.method == "DELETE":
                groups.delete_group(org_id, str(op.target), principal, op.version)
                session.commit()
                return bulk.Outcome(204)
            if op.method == "POST":
                group = groups.create_group(org_id, data, principal)
            elif op.method == "PUT":
                group = groups.replace_group(org_id, str(op.target), data, principal, op.version)
            else:
                group = groups.patch_group(org_id, str(op.target), data, principal, op.version, base)
            body = group_resource(group, base)
        session.commit()
    except AppError:
        session.rollback()
        raise
    except IntegrityError:
        session.rollback()
        raise Conflict("The change conflicts with the current state (a concurrent change?). Retry.") from None
    status = 201 if op.method == "POST" else 200
    return bulk.Outcome(status, body["meta"]["location"], body, body["id"])


@scim.post("/Bulk")
def bulk_request() -> Response:
    """Each operation is a request of its own (rate budget included); bulkIds resolve across them."""
    if request.content_length is not None and request.content_length > _max_payload():
        raise bulk.PayloadTooLarge(
            f"The bulk request is {request.content_length} bytes; the maximum is {_max_payload()} "
            "(maxPayloadSize)."
        )
    parsed = bulk.parse(_body())
    principal, _ = _principal()
    for _ in parsed.operations[1:]:  # the request itself spent one unit in before_request
        budget.spend(container().rate_limiter, container().settings.scim_rate, principal.id)
    return _respond(bulk.run(parsed, _run_operation))


# --- root search (RFC 7644 §3.4.3) ---


@scim.post("/.search")
def search_all() -> Response:
    """Users then Groups; a filter that names an attribute only one type has searches that type alone."""
    body = _body()
    query = _list_query(body)
    everything = ListQuery(query.filter, query.sort_by, query.sort_order, 1, MAX_COUNT)
    found: list[dict[str, Any]] = []
    total, refused = 0, 0
    for page_of in (_user_page, _group_page):
        try:
            page, resources = page_of(everything, body)
        except ScimError as error:
            if error.scim_type != "invalidFilter":
                raise
            refused += 1
            continue
        total += page.total
        found += resources
    if refused == 2:
        raise InvalidFilter("The filter applies to neither Users nor Groups.")
    start = max(1, query.start_index)
    window = found[start - 1 : start - 1 + max(0, min(query.count, MAX_COUNT))]
    return _respond(list_response(window, total, start))
