"""What SAML and OIDC connection services share: their options, the row lock, the default-role checks, the
policy fields of a create or PATCH, the audit of a creation and of a change (updated, enabled, disabled), and
the refresh worker's lease and failure record. Each protocol's service (app/sso/connections.py,
app/sso/oidc_connections.py) keeps only what differs: its IdP settings, keys and secrets.

Lock order as everywhere (app/orgs/seats.py): the org's audit chain head first, then the connection row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.crypto.sealing import Sealer
from app.db import is_postgres
from app.errors import NotFound, ValidationFailed
from app.ids import plausible_id
from app.orgs.lookup import live_org
from app.rbac.permissions import OWNER, Authorizer, check_grant
from app.rbac.service import RoleService
from app.sso.models import SsoConnection


class PolicyInput(Protocol):
    """The settings every connection type has (``None``: unchanged, on PATCH)."""

    @property
    def name(self) -> str | None: ...
    @property
    def enabled(self) -> bool | None: ...
    @property
    def default_role(self) -> str | None: ...
    @property
    def jit(self) -> bool | None: ...
    @property
    def require_verified_domain(self) -> bool | None: ...
    @property
    def attribute_map(self) -> Mapping[str, str | None] | None: ...


@dataclass(frozen=True)
class SsoOptions:
    """The settings connection services read (built once by the container)."""

    box: Sealer  # seals the connections' secrets (app/sso/keys.py)
    base_url: str
    refresh_interval: timedelta  # of the IdP's metadata or discovery document
    cert_warning: timedelta  # an IdP certificate expiring within this is flagged
    allow_http: bool  # development only: plain http and private addresses for IdPs


class ConnectionServiceBase:
    TYPE: str | None = None  # the one connection type this service changes (None: any)

    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        authorizer: Authorizer,
        options: SsoOptions,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer
        self.options = options
        self.box = options.box
        self.base_url = options.base_url
        self.refresh_interval = options.refresh_interval

    def check_new(self, org_id: str, data: PolicyInput, principal: Principal) -> None:
        """A create's org is live and its default role one the principal may grant (before the lock)."""
        live_org(self.session, org_id)
        self.check_role(org_id, data.default_role or "member", principal)

    def new_connection(
        self, org_id: str, data: PolicyInput, *, type: str, name: str, **fields: Any
    ) -> SsoConnection:
        """A connection row with the policy settings of ``data`` (defaults filled in; ``check_new`` first);
        the protocol's own columns are ``fields``. Not added to the session yet."""
        now = self.clock.now()
        return SsoConnection(
            org_id=org_id,
            type=type,
            name=data.name or name,
            enabled=True if data.enabled is None else data.enabled,
            default_role=data.default_role or "member",
            jit=True if data.jit is None else data.jit,
            require_verified_domain=True
            if data.require_verified_domain is None
            else data.require_verified_domain,
            attribute_map=clean_map(data.attribute_map or {}),
            idp_certs=[],
            created_at=now,
            updated_at=now,
            **fields,
        )

    def record_created(self, conn: SsoConnection, source: str) -> None:
        self.audit.record(
            AuditAction.SSO_CONNECTION_CREATED,
            org_id=conn.org_id,
            targets=[Target("sso_connection", conn.id, conn.name)],
            data={**self.summary(conn), "source": source},
        )

    def apply_policy(
        self, conn: SsoConnection, data: PolicyInput, fields: tuple[str, ...], principal: Principal
    ) -> None:
        """A PATCH's policy settings (``fields``) and attribute map; a new default role is checked."""
        if data.default_role is not None and data.default_role != conn.default_role:
            self.check_role(conn.org_id, data.default_role, principal)
        for name in fields:
            value = getattr(data, name)
            if value is not None:
                setattr(conn, name, value)
        if data.attribute_map is not None:
            conn.attribute_map = clean_map({**conn.attribute_map, **data.attribute_map})

    def record_changes(self, conn: SsoConnection, changes: dict[str, Any]) -> None:
        """``sso_connection.updated`` for the changes but ``enabled``, which is ``enabled``/``disabled``."""
        target = Target("sso_connection", conn.id, conn.name)
        toggled = changes.pop("enabled", None)
        if changes:
            self.audit.record(
                AuditAction.SSO_CONNECTION_UPDATED,
                org_id=conn.org_id,
                targets=[target],
                changes=changes,
                data={"connection_id": conn.id, "type": conn.type},
            )
        if toggled is not None:
            self.audit.record(
                AuditAction.SSO_CONNECTION_ENABLED if conn.enabled else AuditAction.SSO_CONNECTION_DISABLED,
                org_id=conn.org_id,
                targets=[target],
                changes={"enabled": toggled},
                data={"connection_id": conn.id, "type": conn.type},
            )

    def lease(self, due: Select[tuple[SsoConnection]], next_refresh: str) -> list[SsoConnection]:
        """The connections of ``due`` (a refresh is due), each leased for a retry interval (``next_refresh``
        moved on) so a second worker does not take it; rows another worker holds are skipped."""
        if is_postgres(self.session):
            due = due.with_for_update(skip_locked=True)
        leased = list(self.session.scalars(due))
        until = self.clock.now() + min(self.refresh_interval, timedelta(hours=1))
        for conn in leased:
            setattr(conn, next_refresh, until)
        self.session.flush()
        return leased

    def record_refresh_failure(
        self, conn: SsoConnection, error_field: str, url: str, error: tuple[str, str]
    ) -> None:
        """Keep the last good settings, note the error; recorded once per run of failures."""
        reason, message = error
        first = getattr(conn, error_field) is None
        setattr(conn, error_field, message[:500])
        self.session.flush()
        if first:
            self.audit.record(
                AuditAction.SSO_CONNECTION_METADATA_REFRESH_FAILED,
                org_id=conn.org_id,
                targets=[Target("sso_connection", conn.id, conn.name)],
                outcome="failure",
                reason=reason,
                data={"connection_id": conn.id, "metadata_url": url, "error": message[:500]},
            )

    def check_role(self, org_id: str, role: str, principal: Principal) -> None:
        if role == OWNER:
            raise ValidationFailed(
                "A connection never makes owners: pick another default role.",
                errors=[{"field": "default_role", "message": "owner cannot be granted by SSO"}],
            )
        if not RoleService(self.session, self.clock, self.audit, self.authorizer).role_exists(org_id, role):
            raise ValidationFailed(
                f"Unknown role {role!r}.", errors=[{"field": "default_role", "message": "unknown role"}]
            )
        check_grant(principal, self.authorizer, org_id, role)

    def is_owner(self, principal: Principal, org_id: str) -> bool:
        held = self.authorizer.held(principal, org_id)
        return held is None or "owners:manage" in held  # None: a platform key

    def locked(self, org_id: str, connection_id: str) -> SsoConnection:
        """The org's connection, locked for change (its type's, when the service has one)."""
        if not plausible_id(connection_id):
            raise NotFound(f"SSO connection {connection_id} not found")
        stmt = select(SsoConnection).where(SsoConnection.id == connection_id, SsoConnection.org_id == org_id)
        if self.TYPE is not None:
            stmt = stmt.where(SsoConnection.type == self.TYPE)
        if is_postgres(self.session):
            stmt = stmt.with_for_update()
        conn = self.session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
        if conn is None:
            live_org(self.session, org_id)
            raise NotFound(f"SSO connection {connection_id} not found")
        return conn

    @staticmethod
    def summary(conn: SsoConnection) -> dict[str, Any]:
        return {
            "connection_id": conn.id,
            "type": conn.type,
            "name": conn.name,
            "enabled": conn.enabled,
            "default_role": conn.default_role,
            "idp_entity_id": conn.idp_entity_id,  # an OIDC connection's issuer (set with its discovery)
        }


def clean_map(mapping: Mapping[str, str | None]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v}
