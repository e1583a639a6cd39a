"""Creating, authenticating and revoking API keys and SCIM tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials import secrets
from app.credentials.models import ApiKey, ScimToken
from app.credentials.principal import Principal
from app.errors import NotFound, Unauthenticated, ValidationFailed
from app.orgs.lookup import live_org
from app.orgs.models import Organization
from app.rbac.permissions import ADMIN, BUILTIN_ROLES, Authorizer, check_grant

LAST_USED_GRANULARITY = timedelta(minutes=1)
SCIM_TOKEN_ROLE = ADMIN  # a SCIM token provisions members: it acts as the org's admin


@dataclass(frozen=True)
class IssuedSecret:
    id: str
    secret: str
    prefix: str


class CredentialService:
    def __init__(
        self, session: Session, clock: Clock, audit: AuditRecorder, authorizer: Authorizer | None = None
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer or Authorizer()

    def create_api_key(
        self,
        *,
        org_id: str | None,
        role: str | None = None,
        name: str = "",
        granted_by: Principal | None = None,
    ) -> IssuedSecret:
        """A platform key (``org_id`` None) or an org key acting with ``role`` (admin by default).

        ``granted_by`` is the API caller, who may create only a key whose role it could grant
        (``check_grant``); None is the operator at the command line, who is trusted."""
        if org_id is not None:
            live_org(self.session, org_id)
            role = role or "admin"
            if role not in BUILTIN_ROLES:
                raise ValidationFailed(
                    f"unknown role {role!r}", errors=[{"field": "role", "message": "unknown"}]
                )
            if granted_by is not None:
                check_grant(granted_by, self.authorizer, org_id, role)
        kind = "org" if org_id else "platform"
        value = secrets.new_secret(kind)
        key = ApiKey(
            kind=kind,
            org_id=org_id,
            role=role if org_id else None,
            name=name,
            prefix=secrets.display_prefix(value),
            key_hash=secrets.hash_secret(value),
            created_at=self.clock.now(),
        )
        self.session.add(key)
        self.session.flush()
        self.audit.record(
            AuditAction.API_KEY_CREATED,
            org_id=org_id,
            targets=[Target("api_key", key.id, name or None)],
            data={"kind": kind, "role": key.role, "prefix": key.prefix},
        )
        return IssuedSecret(key.id, value, key.prefix)

    def create_scim_token(
        self, *, org_id: str, name: str = "", granted_by: Principal | None = None
    ) -> IssuedSecret:
        """A SCIM token acts as the org's admin (it provisions members): creating one is granting admin."""
        live_org(self.session, org_id)
        if granted_by is not None:
            check_grant(granted_by, self.authorizer, org_id, SCIM_TOKEN_ROLE)
        value = secrets.new_secret("scim")
        token = ScimToken(
            org_id=org_id,
            name=name,
            prefix=secrets.display_prefix(value),
            token_hash=secrets.hash_secret(value),
            created_at=self.clock.now(),
        )
        self.session.add(token)
        self.session.flush()
        self.audit.record(
            AuditAction.SCIM_TOKEN_CREATED,
            org_id=org_id,
            targets=[Target("scim_token", token.id, name or None)],
            data={"prefix": token.prefix},
        )
        return IssuedSecret(token.id, value, token.prefix)

    def revoke_api_key(self, key_id: str, *, org_id: str | None, revoked_by: Principal | None = None) -> None:
        """Revoke an org's key (``org_id``) or a platform key (``org_id`` None); others are not found.

        Revoking takes the key's role away: ``revoked_by`` must be allowed to grant it (an admin key cannot
        revoke an owner's key)."""
        key = self.session.get(ApiKey, key_id)
        if key is None or key.revoked_at is not None or key.org_id != org_id:
            raise NotFound(f"API key {key_id} not found")
        if revoked_by is not None and key.org_id is not None and key.role is not None:
            check_grant(revoked_by, self.authorizer, key.org_id, key.role)
        key.revoked_at = self.clock.now()
        self.audit.record(AuditAction.API_KEY_REVOKED, org_id=key.org_id, targets=[Target("api_key", key.id)])

    def get_api_key(self, key_id: str) -> ApiKey:
        key = self.session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        return key

    def list_api_keys(self, org_id: str | None, *, include_revoked: bool = False) -> list[ApiKey]:
        """An org's keys, or (``org_id`` None) the platform keys; never the secrets."""
        if org_id is not None:
            live_org(self.session, org_id)
        stmt = select(ApiKey).order_by(ApiKey.id)
        stmt = stmt.where(ApiKey.org_id == org_id) if org_id else stmt.where(ApiKey.kind == "platform")
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return list(self.session.scalars(stmt))

    def get_scim_token(self, token_id: str) -> ScimToken:
        token = self.session.get(ScimToken, token_id)
        if token is None:
            raise NotFound(f"SCIM token {token_id} not found")
        return token

    def list_scim_tokens(self, org_id: str, *, include_revoked: bool = False) -> list[ScimToken]:
        live_org(self.session, org_id)
        stmt = select(ScimToken).where(ScimToken.org_id == org_id).order_by(ScimToken.id)
        if not include_revoked:
            stmt = stmt.where(ScimToken.revoked_at.is_(None))
        return list(self.session.scalars(stmt))

    def revoke_scim_token(self, token_id: str, *, org_id: str, revoked_by: Principal | None = None) -> None:
        token = self.session.get(ScimToken, token_id)
        if token is None or token.revoked_at is not None or token.org_id != org_id:
            raise NotFound(f"SCIM token {token_id} not found")
        if revoked_by is not None:
            check_grant(revoked_by, self.authorizer, org_id, SCIM_TOKEN_ROLE)
        token.revoked_at = self.clock.now()
        self.audit.record(
            AuditAction.SCIM_TOKEN_REVOKED, org_id=org_id, targets=[Target("scim_token", token.id)]
        )

    def authenticate_api_key(self, value: str) -> Principal:
        """Unknown, revoked or malformed keys are all the same 401."""
        if not (secrets.looks_like(value, "platform") or secrets.looks_like(value, "org")):
            raise Unauthenticated("The API key is malformed. Send 'Authorization: Bearer tnt_…'.")
        key = self.session.scalars(
            select(ApiKey).where(ApiKey.key_hash == secrets.hash_secret(value))
        ).one_or_none()
        if key is None or key.revoked_at is not None:
            raise Unauthenticated("The API key is unknown or revoked.")
        if key.org_id is not None:
            org = self.session.get(Organization, key.org_id)
            if org is None or org.deleted_at is not None:
                raise Unauthenticated("The API key's organisation was deleted.")
        now = self.clock.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
            key.last_used_at = now
        if key.kind == "platform":
            return Principal("platform", key.id, key.name or key.prefix)
        return Principal("org_key", key.id, key.name or key.prefix, org_id=key.org_id, role=key.role)

    def authenticate_scim_token(self, value: str) -> Principal:
        if not secrets.looks_like(value, "scim"):
            raise Unauthenticated("The SCIM token is malformed.")
        token = self.session.scalars(
            select(ScimToken).where(ScimToken.token_hash == secrets.hash_secret(value))
        ).one_or_none()
        if token is None or token.revoked_at is not None:
            raise Unauthenticated("The SCIM token is unknown or revoked.")
        now = self.clock.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
            token.last_used_at = now
        return Principal(
            "scim", token.id, token.name or token.prefix, org_id=token.org_id, role=SCIM_TOKEN_ROLE
        )
