"""Who was refused, in which org, and why: a 401/403 of a ``/v1`` request described as a ``Failure``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.audit.catalogue import AuditAction
from app.audit.failures import Failure
from app.audit.recorder import Actor
from app.credentials import secrets

if TYPE_CHECKING:
    from app.credentials.principal import Principal
    from app.errors import AppError


def _permission() -> str | None:
    from app.api.endpoint import REGISTRY

    name = (request.endpoint or "").rsplit(".", 1)[-1]
    op = next((o for o in REGISTRY if o.operation_id == name), None)
    if op is None:
        return None
    return op.permission or ("platform" if op.auth == "platform" else None)


def describe_refusal(error: AppError, session_factory: sessionmaker[Session]) -> Failure | None:
    if error.status == 403:
        principal: Principal | None = g.get("principal")
        if principal is None or principal.org_id is None:
            return None
        permission = _permission() or "unknown"
        return Failure(
            org_id=principal.org_id,
            action=AuditAction.AUTHZ_DENIED,
            actor=principal.actor(),
            reason=f"missing permission {permission}",
            data={
                "permission": permission,
                "role": principal.role,
                "method": request.method,
                "path": request.path,
            },
        )
    from app.web import bearer_token

    token = bearer_token()
    if token is None:
        return None
    with session_factory() as session:
        return _unauthenticated(session, token)


def _unauthenticated(session: Session, token: str) -> Failure | None:
    """Only a credential we know (revoked, expired, or of a deleted org) names an org; the secret itself
    is never recorded, only its display prefix."""
    from app.credentials.models import ApiKey
    from app.orgs.models import LoginSession, Organization

    digest = secrets.hash_secret(token)
    prefix = secrets.display_prefix(token)
    org_id: str | None = None
    actor: Actor | None = None
    reason = "credential refused"
    if token.startswith(secrets.KINDS["session"]):
        ses = session.scalars(select(LoginSession).where(LoginSession.token_hash == digest)).one_or_none()
        if ses is not None:
            org_id, actor = ses.org_id, Actor("user", ses.user_id, None)
            reason = "session revoked" if ses.revoked_at is not None else "session expired"
    else:
        key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
        if key is not None and key.org_id is not None:
            org_id, actor = key.org_id, Actor("api_key", key.id, key.name or key.prefix)
            reason = "api key revoked" if key.revoked_at is not None else "api key refused"
    if org_id is None or actor is None:
        return None
    org = session.get(Organization, org_id)
    if org is None or org.deleted_at is not None:
        return None
    return Failure(
        org_id=org_id,
        action=AuditAction.AUTH_FAILED,
        actor=actor,
        reason=reason,
        data={"credential_prefix": prefix, "method": request.method, "path": request.path},
    )
