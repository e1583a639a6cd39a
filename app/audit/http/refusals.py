"""A refused Flask request read into a plain ``Refusal`` and handed to the audit side.

Every front door's error path calls ``note_refusal`` with what only it knows (the credential it read, from a
header or a cookie), whatever its prefix: ``/v1`` today, ``/scim/v2`` and ``/sso`` the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import g, request

from app.api.endpoint import REGISTRY
from app.audit.failures import FailureAggregator
from app.audit.recorder import RequestContext
from app.audit.refusals import PresentedCredential, Refusal, count_refusal
from app.errors import AppError

if TYPE_CHECKING:
    from app.container import Container
    from app.credentials.principal import Principal
    from app.credentials.resolver import CredentialOwner

log = logging.getLogger("tenantry.audit.refusals")


def refusal_of(
    error: AppError, credential: str | None, context: RequestContext, owner: CredentialOwner | None = None
) -> Refusal:
    """The refusal of the current request: the caller it had authenticated (403), or the credential it
    refused and whose it is (401)."""
    principal: Principal | None = g.get("principal")
    if error.status == 401:
        return Refusal(
            status=error.status,
            code=error.code,
            method=request.method,
            path=request.path,
            context=context,
            org_id=owner.org_id if owner else None,
            actor=owner.actor if owner else None,
            reason=owner.reason if owner else None,
            credential=PresentedCredential.of(credential) if credential else None,
        )
    return Refusal(
        status=error.status,
        code=error.code,
        method=request.method,
        path=request.path,
        context=context,
        org_id=principal.org_id if principal else None,
        actor=principal.actor() if principal else None,
        role=principal.role if principal else None,
        permission=_permission(),
    )


def note_refusal(
    error: AppError, container: Container, credential: str | None, context: RequestContext
) -> None:
    """Record a 401/403 as an aggregated audit event, in its own transaction. Never raises: a failure to
    record must not change the answer."""
    if error.status not in (401, 403):
        return
    try:
        failures = FailureAggregator(container.session_factory, container.clock, container.outbox)
        owner = None
        if error.status == 401 and credential:
            with container.session_factory() as session:  # the one resolver says whose the credential is
                owner = container.services(session).credential_resolver.owner_of(credential)
        count_refusal(refusal_of(error, credential, context, owner), failures)
    except Exception:  # noqa: BLE001 - recording is best effort; the caller still gets its 401/403
        log.exception("could not record an authentication/authorization failure")


def _permission() -> str | None:
    """What the refused operation needs, from its declaration."""
    name = (request.endpoint or "").rsplit(".", 1)[-1]
    op = next((o for o in REGISTRY if o.operation_id == name), None)
    if op is None:
        return None
    return op.permission or ("platform" if op.auth == "platform" else None)
