"""A refusal any front door answered (401 or 403), described as a ``Failure`` and counted.

The front door's adapter reads the request into a plain ``Refusal`` (``app/audit/http/refusals.py`` for the
Flask doors); nothing here knows HTTP. Which refusals count: a failed authentication (401
``unauthenticated``) whose credential we know (revoked, expired, or refused where it was sent), and a refused
authorization (403 ``forbidden``) of a caller bound to an org. Anything that names no org (an unknown token, a
platform key) is not recorded: there is no org log to put it in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.failures import Failure, FailureAggregator
from app.audit.recorder import Actor, RequestContext
from app.credentials import secrets
from app.orgs.models import Organization

COUNTED = frozenset({(401, "unauthenticated"), (403, "forbidden")})


@dataclass(frozen=True)
class PresentedCredential:
    """The bearer secret a refused request carried, reduced to what may be looked up and recorded: its
    SHA-256 (how every credential is stored) and its display prefix, never the secret itself."""

    kind: str | None  # the ``secrets.KINDS`` key its prefix names; None when it names none
    digest: str
    prefix: str

    @classmethod
    def of(cls, secret: str) -> PresentedCredential:
        kind = next((k for k, p in secrets.KINDS.items() if secret.startswith(p)), None)
        return cls(kind, secrets.hash_secret(secret), secrets.display_prefix(secret))


@dataclass(frozen=True)
class Refusal:
    """A 401 or 403 as plain values. For a 403 the adapter fills the authenticated caller (``org_id``,
    ``actor``, ``role``) and the ``permission`` it lacked; for a 401, the ``credential`` it refused and, when
    the credential resolver knows whose it is, its owner (``org_id``, ``actor``) and ``reason``."""

    status: int
    code: str
    method: str
    path: str
    context: RequestContext = field(default_factory=RequestContext)
    org_id: str | None = None
    actor: Actor | None = None
    role: str | None = None
    permission: str | None = None
    credential: PresentedCredential | None = None
    reason: str | None = None  # a 401's: why its credential failed, as the resolver found

    @property
    def counted(self) -> bool:
        return (self.status, self.code) in COUNTED


def denied(refusal: Refusal) -> Failure | None:
    """A refused authorization of an org-bound caller. Pure."""
    if refusal.status != 403 or not refusal.counted or refusal.org_id is None or refusal.actor is None:
        return None
    permission = refusal.permission or "unknown"
    return Failure(
        org_id=refusal.org_id,
        action=AuditAction.AUTHZ_DENIED,
        actor=refusal.actor,
        reason=f"missing permission {permission}",
        data={"permission": permission, "role": refusal.role, "method": refusal.method, "path": refusal.path},
    )


def unauthenticated(refusal: Refusal, session: Session) -> Failure | None:
    """A failed authentication whose credential the front door's resolver attributed to a live org (its
    owner arrives in ``org_id``/``actor``/``reason``: the audit side never looks a credential up itself)."""
    if refusal.status != 401 or not refusal.counted or refusal.org_id is None or refusal.actor is None:
        return None
    org = session.get(Organization, refusal.org_id)
    if org is None or org.deleted_at is not None:
        return None
    return Failure(
        org_id=refusal.org_id,
        action=AuditAction.AUTH_FAILED,
        actor=refusal.actor,
        reason=refusal.reason or "credential refused",
        data={
            "credential_prefix": refusal.credential.prefix if refusal.credential else None,
            "method": refusal.method,
            "path": refusal.path,
        },
    )


def count_refusal(refusal: Refusal, failures: FailureAggregator) -> bool:
    """Count a refusal in the failure aggregation; True when it became an event right away."""
    if refusal.status == 403:
        failure = denied(refusal)
    else:
        with failures.session_factory() as session:
            failure = unauthenticated(refusal, session)
    return failure is not None and failures.note(failure, refusal.context)
