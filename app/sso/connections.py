"""SSO connections: create, read, change, enable/disable, delete; SP keys and their rotation; the IdP's
metadata refresh (the worker: app/sso/refresh.py).

Lock order as everywhere (app/orgs/seats.py): the org's audit chain head first, then the connection row.
Network work (fetching metadata) and RSA key generation happen before the transaction: the view ends the
read transaction first (SQLite's BEGIN IMMEDIATE holds the write lock from the first read).

Each connection's SP URLs are ``{base}/sso/saml/{id}/metadata`` (the entity id), ``…/acs`` and ``…/slo``;
ids have one fixed length, so no connection's URL is a prefix of another's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from app.audit.catalogue import AuditAction
from app.audit.recorder import Target, diff
from app.credentials.principal import Principal
from app.crypto.keypairs import GeneratedKey, generate_key_pair
from app.errors import NotFound, ValidationFailed
from app.ids import plausible_id
from app.orgs.lookup import live_org
from app.pagination import decode_cursor, encode_cursor
from app.sso import keys as sp_keys
from app.sso.connection_base import ConnectionServiceBase
from app.sso.errors import KeyNotRemovable
from app.sso.idp_config import IdpConfig, cert_info, saml_binding
from app.sso.models import ACTIVE, ENCRYPTION, PREVIOUS, SAML, SIGNING, SsoConnection, SsoSpKey
from app.sso.saml import IdpSettings, SpKey, SpSettings

# Settings an admin may change with PATCH, besides the IdP's.
POLICY_FIELDS = ("name", "enabled", "default_role", "jit", "allow_idp_initiated", "require_verified_domain")
IDP_FIELDS = ("idp_entity_id", "idp_sso_url", "idp_sso_binding", "idp_slo_url", "idp_metadata_url")


@dataclass(frozen=True)
class SpUrls:
    entity_id: str
    acs_url: str
    metadata_url: str
    slo_url: str

    @classmethod
    def of(cls, base_url: str, connection_id: str) -> SpUrls:
        root = f"{base_url.rstrip('/')}/sso/saml/{connection_id}"
        return cls(f"{root}/metadata", f"{root}/acs", f"{root}/metadata", f"{root}/slo")


@dataclass(frozen=True)
class NewKeys:
    """Key pairs generated before the transaction (RSA generation takes tens of milliseconds)."""

    by_use: Mapping[str, GeneratedKey]


@dataclass(frozen=True)
class ConnectionInput:
    """A validated create or change; ``None`` leaves a field as it is (PATCH)."""

    type: str = SAML
    name: str | None = None
    enabled: bool | None = None
    default_role: str | None = None
    jit: bool | None = None
    allow_idp_initiated: bool | None = None
    require_verified_domain: bool | None = None
    attribute_map: Mapping[str, str | None] | None = None
    idp: IdpConfig | None = None


@dataclass(frozen=True)
class ConnectionPage:
    items: list[SsoConnection]
    next_cursor: str | None


@dataclass(frozen=True)
class ExpiringCert:
    fingerprint_sha256: str
    not_after: datetime


@dataclass
class RefreshOutcome:
    result: str  # refreshed, unchanged, failed, skipped
    expiring: list[ExpiringCert] = field(default_factory=list)


def generate_keys(
    connection_hint: str, now: datetime, uses: Sequence[str] = (SIGNING, ENCRYPTION)
) -> NewKeys:
    return NewKeys({use: generate_key_pair(f"Tenantry SP {connection_hint} {use}", now) for use in uses})


class SsoConnectionService(ConnectionServiceBase):
    def urls(self, connection_id: str) -> SpUrls:
        return SpUrls.of(self.base_url, connection_id)

    # --- admin API ---------------------------------------------------------------------------------------
    def create(
        self, org_id: str, data: ConnectionInput, keys: NewKeys, principal: Principal
    ) -> SsoConnection:
        self.check_new(org_id, data, principal)
        if data.idp is None:
            raise ValidationFailed(
                "Give the IdP's metadata (idp_metadata_xml or idp_metadata_url) or its fields.",
                errors=[{"field": "idp_metadata_xml", "message": "IdP settings are required"}],
            )
        self.audit.lock_chain(org_id)
        conn = self.new_connection(
            org_id, data, type=data.type, name="SAML", allow_idp_initiated=bool(data.allow_idp_initiated)
        )
        now = conn.created_at
        self._apply_idp(conn, data.idp, now)
        conn.idp_set_by_owner = self.is_owner(principal, org_id)
        self.session.add(conn)
        self.session.flush()
        for use, generated in keys.by_use.items():
            self._add_key(conn, use, generated, now)
        self.record_created(conn, _source(data.idp))
        return conn

    def list_connections(self, org_id: str, *, cursor: str | None, limit: int) -> ConnectionPage:
        live_org(self.session, org_id)
        stmt = select(SsoConnection).where(SsoConnection.org_id == org_id)
        if cursor:
            stmt = stmt.where(SsoConnection.id > decode_cursor(cursor, id_prefix="sso_"))
        rows = list(self.session.scalars(stmt.order_by(SsoConnection.id).limit(limit + 1)))
        items = rows[:limit]
        return ConnectionPage(items, encode_cursor(items[-1].id) if len(rows) > limit and items else None)

    def get(self, org_id: str, connection_id: str) -> SsoConnection:
        live_org(self.session, org_id)
        conn = self.find(connection_id)
        if conn is None or conn.org_id != org_id:
            raise NotFound(f"SSO connection {connection_id} not found")
        return conn

    def find(self, connection_id: str) -> SsoConnection | None:
        """Any org's connection by id (the browser flows: the id is in the URL)."""
        if not plausible_id(connection_id) or not connection_id.startswith("sso_"):
            return None
        return self.session.get(SsoConnection, connection_id)

    def update(
        self, org_id: str, connection_id: str, data: ConnectionInput, principal: Principal
    ) -> SsoConnection:
        self.audit.lock_chain(org_id)
        conn = self.locked(org_id, connection_id)
        before = self._snapshot(conn)
        self.apply_policy(conn, data, POLICY_FIELDS, principal)
        now = self.clock.now()
        if data.idp is not None:
            self._apply_idp(conn, data.idp, now)
            conn.idp_set_by_owner = self.is_owner(principal, org_id)
        changes = diff(before, self._snapshot(conn))
        if not changes:
            return conn
        conn.updated_at = now
        self.session.flush()
        self.record_changes(conn, changes)
        return conn

    def delete(self, org_id: str, connection_id: str) -> None:
        """Delete a connection of any type."""
        self.audit.lock_chain(org_id)
        conn = self.locked(org_id, connection_id)
        self.audit.record(
            AuditAction.SSO_CONNECTION_DELETED,
            org_id=org_id,
            targets=[Target("sso_connection", conn.id, conn.name)],
            data=self.summary(conn),
        )
        self.session.delete(conn)
        self.session.flush()

    # --- SP keys -----------------------------------------------------------------------------------------
    def keys_of(self, connection_id: str) -> list[SsoSpKey]:
        return list(
            self.session.scalars(
                select(SsoSpKey)
                .where(SsoSpKey.connection_id == connection_id)
                .order_by(SsoSpKey.use, SsoSpKey.status, SsoSpKey.id.desc())
            )
        )

    def rotate_keys(self, org_id: str, connection_id: str, keys: NewKeys) -> SsoConnection:
        """New active keys for the uses given; the old ones stay as ``previous`` (published in metadata,
        used to decrypt) until removed: the IdP can pick the new certificate up before the old one goes."""
        self.audit.lock_chain(org_id)
        conn = self.locked(org_id, connection_id)
        now = self.clock.now()
        rotated: list[str] = []
        for use, generated in keys.by_use.items():
            for old in self.session.scalars(
                select(SsoSpKey).where(
                    SsoSpKey.connection_id == conn.id, SsoSpKey.use == use, SsoSpKey.status == ACTIVE
                )
            ):
                old.status = PREVIOUS
            new = self._add_key(conn, use, generated, now)
            rotated.append(new.id)
        conn.updated_at = now
        self.session.flush()
        self.audit.record(
            AuditAction.SSO_CONNECTION_KEYS_ROTATED,
            org_id=org_id,
            targets=[Target("sso_connection", conn.id, conn.name)],
            data={"connection_id": conn.id, "uses": sorted(keys.by_use), "new_key_ids": rotated},
        )
        return conn

    def remove_key(self, org_id: str, connection_id: str, key_id: str) -> None:
        """Remove a previous key (the end of a rotation's overlap); an active key cannot be removed."""
        self.audit.lock_chain(org_id)
        conn = self.locked(org_id, connection_id)
        key = self.session.get(SsoSpKey, key_id) if plausible_id(key_id) else None
        if key is None or key.connection_id != conn.id:
            raise NotFound(f"Key {key_id} not found")
        if key.status == ACTIVE:
            raise KeyNotRemovable(
                "This key is in use; rotate first, then remove the previous key.",
                errors=[{"field": "key_id", "message": "active key"}],
            )
        self.audit.record(
            AuditAction.SSO_CONNECTION_KEY_REMOVED,
            org_id=org_id,
            targets=[Target("sso_connection", conn.id, conn.name)],
            data={"connection_id": conn.id, "key_id": key.id, "use": key.use},
        )
        self.session.delete(key)
        self.session.flush()

    # --- what the SAML core needs ------------------------------------------------------------------------
    def idp_settings(self, conn: SsoConnection) -> IdpSettings:
        return IdpSettings(
            entity_id=conn.idp_entity_id or "",
            sso_url=conn.idp_sso_url or "",
            sso_binding=saml_binding(conn.idp_sso_binding),
            slo_url=conn.idp_slo_url,
            certificates=tuple(conn.idp_certs),
        )

    def sp_settings(self, conn: SsoConnection) -> SpSettings:
        urls = self.urls(conn.id)
        keys = self.keys_of(conn.id)

        def opened(key: SsoSpKey) -> SpKey:
            pem = self.box.open(key.private_key_encrypted, sp_keys.key_context(conn.id, key.id, key.use))
            return SpKey(pem.decode("ascii"), key.cert_pem)

        signing = next(k for k in keys if k.use == SIGNING and k.status == ACTIVE)
        decryption = sorted(
            (k for k in keys if k.use == ENCRYPTION), key=lambda k: (k.status != ACTIVE, k.id), reverse=False
        )
        return SpSettings(
            entity_id=urls.entity_id,
            acs_url=urls.acs_url,
            slo_url=urls.slo_url,
            signing=opened(signing),
            decryption=tuple(opened(k) for k in decryption),
            extra_signing_certificates=tuple(
                k.cert_pem for k in keys if k.use == SIGNING and k.status == PREVIOUS
            ),
        )

    # --- metadata refresh (worker) -----------------------------------------------------------------------
    def lease_due_refreshes(self, limit: int) -> list[tuple[str, str, str | None]]:
        """(connection id, metadata URL, SSO binding) of connections whose refresh is due; each is leased for
        a retry interval so a second worker does not take it."""
        now = self.clock.now()
        stmt = (
            select(SsoConnection)
            .where(
                SsoConnection.idp_metadata_url.is_not(None),
                or_(
                    SsoConnection.idp_metadata_next_refresh_at.is_(None),
                    SsoConnection.idp_metadata_next_refresh_at <= now,
                ),
            )
            .order_by(SsoConnection.idp_metadata_next_refresh_at, SsoConnection.id)
            .limit(limit)
        )
        due = self.lease(stmt, "idp_metadata_next_refresh_at")
        return [(c.id, c.idp_metadata_url or "", c.idp_sso_binding) for c in due]

    def record_refresh(
        self, connection_id: str, url: str, idp: IdpConfig | None, error: tuple[str, str] | None
    ) -> RefreshOutcome:
        conn = self.find(connection_id)
        if conn is None or conn.idp_metadata_url != url:
            return RefreshOutcome("skipped")
        self.audit.lock_chain(conn.org_id)
        now = self.clock.now()
        conn.idp_metadata_next_refresh_at = now + self.refresh_interval
        target = Target("sso_connection", conn.id, conn.name)
        if error is not None:
            self.record_refresh_failure(conn, "idp_metadata_error", url, error)
            return RefreshOutcome("failed", self.expiring_certs(conn))
        assert idp is not None
        before = self._snapshot(conn)
        self._apply_idp(conn, idp, now)
        conn.idp_metadata_error = None
        changes = diff(before, self._snapshot(conn))
        self.session.flush()
        if changes:
            conn.updated_at = now
            self.audit.record(
                AuditAction.SSO_CONNECTION_UPDATED,
                org_id=conn.org_id,
                targets=[target],
                changes=changes,
                data={"connection_id": conn.id, "type": conn.type, "reason": "metadata_refreshed"},
            )
        expiring = self.warn_expiring(conn)
        return RefreshOutcome("refreshed" if changes else "unchanged", expiring)

    def expiring_certs(self, conn: SsoConnection) -> list[ExpiringCert]:
        limit = self.clock.now() + self.options.cert_warning
        found = []
        for pem in conn.idp_certs:
            info = cert_info(pem)
            if info.not_after <= limit:
                found.append(ExpiringCert(info.fingerprint_sha256, info.not_after))
        return found

    def warn_expiring(self, conn: SsoConnection) -> list[ExpiringCert]:
        """Raise ``sso_connection.idp_cert_expiring`` once per certificate set (again after it changes)."""
        expiring = self.expiring_certs(conn)
        if not expiring or conn.idp_cert_warned_at is not None:
            return expiring
        conn.idp_cert_warned_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.SSO_CONNECTION_IDP_CERT_EXPIRING,
            org_id=conn.org_id,
            targets=[Target("sso_connection", conn.id, conn.name)],
            data={
                "connection_id": conn.id,
                "fingerprints": [c.fingerprint_sha256 for c in expiring],
                "not_after": min(c.not_after for c in expiring).isoformat(),
            },
        )
        return expiring

    def due_cert_warnings(self, limit: int = 500) -> int:
        """Every connection (metadata URL or not) whose IdP certificate expires soon and was not warned."""
        warned = 0
        for conn in self.session.scalars(
            select(SsoConnection).where(SsoConnection.idp_cert_warned_at.is_(None)).limit(limit)
        ):
            if self.expiring_certs(conn):
                self.audit.lock_chain(conn.org_id)
                self.warn_expiring(conn)
                warned += 1
        return warned

    # --- helpers -----------------------------------------------------------------------------------------
    def _apply_idp(self, conn: SsoConnection, idp: IdpConfig, now: datetime) -> None:
        if list(idp.certs) != list(conn.idp_certs or []):
            conn.idp_cert_warned_at = None  # a new certificate set: warn again if it expires soon
        conn.idp_entity_id = idp.entity_id
        conn.idp_sso_url = idp.sso_url
        conn.idp_sso_binding = idp.sso_binding
        conn.idp_slo_url = idp.slo_url
        conn.idp_certs = list(idp.certs)
        conn.idp_metadata_url = idp.metadata_url
        conn.idp_metadata_address = idp.metadata_address
        if idp.metadata_url:
            conn.idp_metadata_fetched_at = now
            conn.idp_metadata_next_refresh_at = now + self.refresh_interval
            conn.idp_metadata_error = None
        else:
            conn.idp_metadata_fetched_at = None
            conn.idp_metadata_next_refresh_at = None
            conn.idp_metadata_error = None

    def _add_key(self, conn: SsoConnection, use: str, generated: GeneratedKey, now: datetime) -> SsoSpKey:
        key = SsoSpKey(
            org_id=conn.org_id,
            connection_id=conn.id,
            use=use,
            status=ACTIVE,
            cert_pem=generated.cert_pem,
            private_key_encrypted="",
            not_after=generated.not_after,
            created_at=now,
        )
        self.session.add(key)
        self.session.flush()  # the id is part of the sealed key's associated data
        key.private_key_encrypted = self.box.seal(
            generated.private_key_pem, sp_keys.key_context(conn.id, key.id, use)
        )
        self.session.flush()
        return key

    @staticmethod
    def _snapshot(conn: SsoConnection) -> dict[str, Any]:
        snap: dict[str, Any] = {name: getattr(conn, name) for name in POLICY_FIELDS + IDP_FIELDS}
        snap["attribute_map"] = dict(conn.attribute_map)
        snap["idp_set_by_owner"] = conn.idp_set_by_owner
        snap["idp_certs"] = [cert_info(p).fingerprint_sha256 for p in conn.idp_certs]
        return snap


def _source(idp: IdpConfig) -> str:
    return "metadata_url" if idp.metadata_url else "settings"
