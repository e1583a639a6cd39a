"""The check API other services call on every request: ``POST /v1/authz/check`` and ``/v1/authz/check-batch``.

The hot path skips the generic ``operation`` wrapper (it would build services and pydantic models per call):
the caller's API key comes from an in-memory cache keyed by its hash (a few seconds, dropped on revocation by
every worker: app/rbac/keycache.py), the answer from the compiled snapshot; no database session is opened when
both are warm. The two routes are still in the OpenAPI registry with their schemas.

An org key may only ask about its own org: a check naming another org is answered ``allowed: false`` with
reason ``org_not_accessible`` (per result, so a batch never fails half-way, and without telling whether that
org exists). Member sessions cannot call these routes (403): they are for services.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Response, g, request
from flask.blueprints import BlueprintSetupState

from app.api.endpoint import REGISTRY, Operation, parse_json
from app.api.v1 import v1
from app.credentials.principal import Principal
from app.credentials.secrets import hash_secret, looks_like
from app.errors import Forbidden, Unauthenticated, ValidationFailed
from app.rbac.compiled import Decision
from app.rbac.engine import AuthzEngine
from app.rbac.fastpath import CheckFastPath, dump
from app.rbac.schemas import MAX_BATCH, CheckBatchIn, CheckBatchOut, CheckIn, CheckOut
from app.rbac.versioning import committed_versions
from app.web import bearer_token, container, services

FIELDS = frozenset({"org", "subject", "action", "min_version"})
NOT_ACCESSIBLE = "org_not_accessible"


def _engine() -> AuthzEngine:
    engine = container().authorizer.engine
    assert engine is not None
    return engine


def _caller(engine: AuthzEngine) -> Principal:
    token = bearer_token()
    if token is None:
        raise Unauthenticated("Send a platform or org API key as 'Authorization: Bearer <key>'.")
    if not (looks_like(token, "platform") or looks_like(token, "org")):
        if looks_like(token, "session"):
            raise Forbidden("The check API is for services: call it with a platform or org API key.")
        raise Unauthenticated("The API key is malformed. Send 'Authorization: Bearer tnt_…'.")
    key_hash = hash_secret(token)
    principal = engine.keys.get(key_hash)
    if principal is None:
        principal = services().credentials.authenticate_api_key(token)
        g.db_session.commit()  # last_used_at
        engine.remember_key(key_hash, principal)
    g.principal = principal
    return principal


def _body() -> Any:
    return parse_json(request.get_data(cache=False))


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request body: check {field}.", errors=[{"field": field, "message": message}]
    )


def _parse(item: Any, where: str) -> tuple[str, str, str, int | None]:
    if not isinstance(item, dict):
        raise _invalid(where.rstrip(".") or "(body)", "must be an object")
    for name in item.keys() - FIELDS:
        raise _invalid(where + name, "Extra inputs are not permitted")
    values = []
    for name, limit in (("org", 64), ("subject", 64), ("action", 128)):
        value = item.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            raise _invalid(where + name, f"a string of 1 to {limit} characters is required")
        values.append(value)
    min_version = item.get("min_version")
    if min_version is not None and (type(min_version) is not int or min_version < 0):
        raise _invalid(where + "min_version", "must be a non-negative integer")
    return values[0], values[1], values[2], min_version


def _decide(
    engine: AuthzEngine, caller: Principal, org: str, subject: str, action: str, mv: int | None
) -> Decision:
    if not caller.is_platform and caller.org_id != org:
        return Decision(False, NOT_ACCESSIBLE, 0)
    return engine.check(org, subject, action, mv)


_dump = dump


def authz_check() -> Response:
    engine = _engine()
    caller = _caller(engine)
    org, subject, action, min_version = _parse(_body(), "")
    decision = _decide(engine, caller, org, subject, action, min_version)
    return Response(_dump(decision), mimetype="application/json")


def authz_check_batch() -> Response:
    engine = _engine()
    caller = _caller(engine)
    body = _body()
    if not isinstance(body, dict):
        raise _invalid("(body)", "must be an object")
    for name in body.keys() - {"checks"}:
        raise _invalid(name, "Extra inputs are not permitted")
    checks = body.get("checks")
    if not isinstance(checks, list):
        raise _invalid("checks", "a list of checks is required")
    if len(checks) > MAX_BATCH:
        raise _invalid("checks", f"at most {MAX_BATCH} checks per call")
    parsed = [_parse(item, f"checks.{i}.") for i, item in enumerate(checks)]
    out = ",".join(_dump(_decide(engine, caller, *p)) for p in parsed)
    return Response('{"results":[' + out + "]}", mimetype="application/json")


def _register(rule: str, view: Any, summary: str, body: type, response: type, description: str) -> None:
    v1.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=["POST"])
    REGISTRY.append(
        Operation(
            "post",
            "/v1" + rule,
            view.__name__,
            summary,
            "authz",
            "any",
            None,
            body,
            None,
            response,
            200,
            (403, 422),
            [],
            "application/json",
            description,
        )  # fmt: skip
    )


_register(
    "/authz/check",
    authz_check,
    "Check one permission",
    CheckIn,
    CheckOut,
    "Deny by default: an unknown org, subject, role or permission is allowed=false with a reason, never an "
    "error. Pass min_version (from the Tenantry-Authz-Version header of your change) to never be answered "
    "from an older snapshot. Platform keys may ask about any org; org keys about their own "
    "(another org: reason org_not_accessible).",
)
_register(
    "/authz/check-batch",
    authz_check_batch,
    "Check up to 1000 permissions at once",
    CheckBatchIn,
    CheckBatchOut,
    "Results come back in the order of the checks. More than 1000 checks: 422.",
)


@v1.record
def _install_fast_path(state: BlueprintSetupState) -> None:
    """Put the check fast path (app/rbac/fastpath.py) in front of each app this blueprint is registered on."""
    app = cast(Flask, state.app)
    container = app.extensions["tenantry"]
    engine = container.authorizer.engine
    if engine is not None and container.settings.authz_fast_path:
        app.wsgi_app = CheckFastPath(app.wsgi_app, engine)  # type: ignore[method-assign]


@v1.after_request
def _authz_version_header(response: Response) -> Response:
    """Tell the caller of a change the versions it committed: ``Tenantry-Authz-Version: org_…=7``."""
    session = g.get("db_session")
    if session is not None:
        versions = committed_versions(session)
        if versions:
            response.headers["Tenantry-Authz-Version"] = ", ".join(
                f"{o}={v}" for o, v in sorted(versions.items())
            )
    return response
