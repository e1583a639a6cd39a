"""The check API other services call on every request: ``POST /v1/authz/check`` and ``/v1/authz/check-batch``.

The hot path skips the generic ``operation`` wrapper (it would build services and pydantic models per call):
the caller's API key comes from an in-memory cache keyed by its hash (a few seconds, dropped on revocation by
every worker: app/rbac/keycache.py), the answer from the compiled snapshot; no database session is opened when
both are warm. The two routes are still in the OpenAPI registry with their schemas.

Bodies are parsed and decided by ``app/rbac/check.py``, the same pure functions the fast path calls, with the
one tenancy rule: an org key may only ask about its own org (another org: ``allowed: false``, reason
``org_not_accessible``). The caller comes from the one credential resolver (door ``Door.CHECK``): member
sessions cannot call these routes (403), they are for services; a member's access token may, about its own
user only (another subject: ``allowed: false``, reason ``subject_not_accessible``).
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Response, g, request
from flask.blueprints import BlueprintSetupState

from app.api.endpoint import REGISTRY, Operation, parse_json
from app.api.v1 import v1
from app.credentials.principal import Principal
from app.credentials.resolver import Door, expected_credential
from app.credentials.secrets import hash_secret
from app.errors import Unauthenticated, ValidationFailed
from app.rbac.check import CheckBodyInvalid, answer_batch, answer_check
from app.rbac.engine import AuthzEngine
from app.rbac.fastpath import CheckFastPath
from app.rbac.schemas import CheckBatchIn, CheckBatchOut, CheckIn, CheckOut
from app.rbac.versioning import committed_versions
from app.web import bearer_token, container, services


def _engine() -> AuthzEngine:
    engine = container().authorizer.engine
    assert engine is not None
    return engine


def _caller(engine: AuthzEngine) -> Principal:
    """The calling service: a platform or org API key, from the key cache or the one credential resolver."""
    token = bearer_token()
    if token is None:
        raise Unauthenticated(f"Send {expected_credential(Door.CHECK)} as 'Authorization: Bearer <key>'.")
    key_hash = hash_secret(token)
    principal = engine.keys.get(key_hash)
    if principal is None:
        principal = services().credential_resolver.resolve(token, Door.CHECK)
        g.db_session.commit()  # last_used_at
        if principal.kind != "user":  # a member's access token is checked against the database every time
            engine.remember_key(key_hash, principal)
    g.principal = principal
    return principal


def _body() -> Any:
    return parse_json(request.get_data(cache=False))


def _invalid(error: CheckBodyInvalid) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request body: check {error.field}.",
        errors=[{"field": error.field, "message": error.message}],
    )


def authz_check() -> Response:
    engine = _engine()
    caller = _caller(engine)
    try:
        text = answer_check(_body(), caller, engine.check)
    except CheckBodyInvalid as invalid:
        raise _invalid(invalid) from None
    return Response(text, mimetype="application/json")


def authz_check_batch() -> Response:
    engine = _engine()
    caller = _caller(engine)
    try:
        text = answer_batch(_body(), caller, engine.check)
    except CheckBodyInvalid as invalid:
        raise _invalid(invalid) from None
    return Response(text, mimetype="application/json")


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
        app.wsgi_app = CheckFastPath(  # type: ignore[method-assign]
            app.wsgi_app, engine, max_body=container.settings.max_request_bytes
        )


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
