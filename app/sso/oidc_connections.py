"""OIDC connections (issue 12): create and change them, their client secret sealed at rest, the issuer's
discovery document checked, cached and refreshed by the worker. Reading, listing and deleting are
the shared ones of app/sso/connections.py; the policy settings, role checks and change audit are in
app/sso/connection_base.py.

The discovery document is fetched before the transaction (network work never holds the org's lock), through
app/sso/oidc_fetch.py (the SSRF rules of SAML metadata), and checked by the core (``parse_discovery``: issuer
equality, https endpoints, the fixed algorithm allowlist, PKCE S256). It is stored as fetched and parsed again
at each login (microseconds), so a refresh replaces it atomically. The client secret is sealed with the SP
keys' sealer (app/sso/keys.py) under associated data naming the connection, so a value copied to another row
does not open. Lock order as everywhere: the org's audit chain head, then the connection row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.audit.recorder import diff
from app.credentials.principal import Principal
from app.ids import new_id, plausible_id
from app.sso.connection_base import ConnectionServiceBase
from app.sso.errors import InvalidIdpSettings, MetadataUnavailable
from app.sso.metadata_fetch import FetchPolicy
from app.sso.models import OIDC, SsoConnection
from app.sso.oidc import (
    ClaimMapping,
    OidcClientSettings,
    OidcHttp,
    OidcRefusal,
    ProviderMetadata,
    RefusalReason,
    discovery_url,
    parse_discovery,
)
from app.sso.oidc.http import fetch_json

DEFAULT_SCOPES = ("openid", "email", "profile")
PUBLIC_CLIENT = "none"  # noqa: S105 - RFC 7591's token_endpoint_auth_method of a client without a secret
AUTH_METHODS = ("client_secret_basic", "client_secret_post", PUBLIC_CLIENT)
POLICY_FIELDS = ("name", "enabled", "default_role", "jit", "require_verified_domain")
# The claim each attribute is read from when the connection names none (OIDC Core §5.1; groups as Okta
# and Entra ID send them once configured).
DEFAULT_CLAIMS = {
    "email": "email",
    "first_name": "given_name",
    "last_name": "family_name",
    "groups": "groups",
}


@dataclass(frozen=True)
class Discovered:
    """An issuer's checked discovery document, fetched before the transaction."""

    issuer: str
    document: Mapping[str, Any]
    metadata: ProviderMetadata


@dataclass(frozen=True)
class OidcConnectionInput:
    """A validated create or change; ``None`` leaves a field as it is (PATCH)."""

    name: str | None = None
    enabled: bool | None = None
    default_role: str | None = None
    jit: bool | None = None
    require_verified_domain: bool | None = None
    attribute_map: Mapping[str, str | None] | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: Sequence[str] | None = None
    token_endpoint_auth_method: str | None = None
    discovered: Discovered | None = None  # a new issuer (or the same one fetched again)


def _invalid(field: str, message: str) -> InvalidIdpSettings:
    return InvalidIdpSettings(message, errors=[{"field": field, "message": message}])


def discover_issuer(http: OidcHttp, issuer: str, policy: FetchPolicy) -> Discovered:
    """Fetch and check ``issuer``'s discovery document; 422 ``idp_metadata_unavailable`` when it cannot be
    fetched, ``invalid_idp_settings`` when it is not usable."""
    try:
        document = fetch_json(http, discovery_url(issuer), "discovery document")
        metadata = parse_discovery(document, issuer, allow_http=policy.allow_private)
    except OidcRefusal as exc:
        errors = [{"field": "issuer", "message": exc.detail}]
        if exc.reason in (RefusalReason.IDP_UNREACHABLE, RefusalReason.BAD_RESPONSE):
            raise MetadataUnavailable(exc.detail, reason=exc.reason.value, errors=errors) from None
        raise InvalidIdpSettings(exc.detail, reason=exc.reason.value, errors=errors) from None
    return Discovered(issuer, document, metadata)


def claim_mapping(conn: SsoConnection) -> ClaimMapping:
    configured = conn.attribute_map or {}
    return ClaimMapping(
        email=configured.get("email") or DEFAULT_CLAIMS["email"],
        first_name=configured.get("first_name") or DEFAULT_CLAIMS["first_name"],
        last_name=configured.get("last_name") or DEFAULT_CLAIMS["last_name"],
        groups=configured.get("groups") or DEFAULT_CLAIMS["groups"],
    )


def secret_context(connection_id: str) -> str:
    """The associated data binding a sealed client secret to its connection."""
    return f"sso_oidc_client_secret:{connection_id}"


class OidcConnectionService(ConnectionServiceBase):
    TYPE = OIDC

    def redirect_uri(self, connection_id: str) -> str:
        """``{base}/sso/oidc/{id}/callback``: registered at the IdP; ids have one length, so no connection's
        URI is a prefix of another's."""
        return f"{self.base_url.rstrip('/')}/sso/oidc/{connection_id}/callback"

    # --- admin API ---------------------------------------------------------------------------------------
    def create(self, org_id: str, data: OidcConnectionInput, principal: Principal) -> SsoConnection:
        self.check_new(org_id, data, principal)
        if data.discovered is None or not data.client_id:
            raise _invalid("issuer", "An OIDC connection needs issuer and client_id.")
        method = self._auth_method(data.token_endpoint_auth_method, data.client_secret, data.discovered)
        self.audit.lock_chain(org_id)
        conn = self.new_connection(
            org_id,
            data,
            type=OIDC,
            name="OIDC",
            id=new_id("sso"),  # the sealed client secret names it
            allow_idp_initiated=False,
            oidc_client_id=data.client_id,
            oidc_scopes=_scopes(data.scopes),
            oidc_token_auth_method=method,
        )
        self._apply_discovery(conn, data.discovered)
        self._seal_secret(conn, data.client_secret)
        # Owners sign in only through a connection whose IdP an owner set last (app/sso/service.py).
        conn.idp_set_by_owner = self.is_owner(principal, org_id)
        self.session.add(conn)
        self.session.flush()
        self.record_created(conn, "discovery")
        return conn

    def update(
        self, org_id: str, connection_id: str, data: OidcConnectionInput, principal: Principal
    ) -> SsoConnection:
        self.audit.lock_chain(org_id)
        conn = self.locked(org_id, connection_id)
        before = self._snapshot(conn)
        self.apply_policy(conn, data, POLICY_FIELDS, principal)
        if data.client_id is not None or data.discovered is not None or data.client_secret is not None:
            # Who the IdP is changes with the issuer or the client: owner-set only if an owner does it.
            conn.idp_set_by_owner = self.is_owner(principal, org_id)
        if data.client_id is not None:
            conn.oidc_client_id = data.client_id
        if data.scopes is not None:
            conn.oidc_scopes = _scopes(data.scopes)
        if data.discovered is not None:
            self._apply_discovery(conn, data.discovered)
        if data.client_secret is not None:
            self._seal_secret(conn, data.client_secret)
        if data.token_endpoint_auth_method is not None or data.client_secret is not None:
            discovered = data.discovered or self._stored_discovery(conn)
            kept = None if conn.oidc_token_auth_method == PUBLIC_CLIENT else conn.oidc_token_auth_method
            method = data.token_endpoint_auth_method or kept  # a secret given to a public client: as offered
            secret = data.client_secret if data.client_secret is not None else self.client_secret(conn)
            conn.oidc_token_auth_method = self._auth_method(method, secret, discovered)
        changes = diff(before, self._snapshot(conn))
        if not changes:
            return conn
        conn.updated_at = self.clock.now()
        self.session.flush()
        self.record_changes(conn, changes)
        return conn

    # --- what a login needs ------------------------------------------------------------------------------
    def metadata(self, conn: SsoConnection) -> ProviderMetadata:
        """The stored discovery document, checked again (it was when fetched; a stored row is data)."""
        if conn.oidc_discovery is None or conn.oidc_issuer is None:
            raise OidcRefusal(RefusalReason.DISCOVERY_INVALID, "The connection has no discovery document.")
        return parse_discovery(conn.oidc_discovery, conn.oidc_issuer, allow_http=self.options.allow_http)

    def client_secret(self, conn: SsoConnection) -> str | None:
        if not conn.oidc_client_secret_encrypted:
            return None
        return self.box.open(conn.oidc_client_secret_encrypted, secret_context(conn.id)).decode("utf-8")

    def client_settings(self, conn: SsoConnection) -> OidcClientSettings:
        scopes = tuple(conn.oidc_scopes or DEFAULT_SCOPES)
        return OidcClientSettings(
            client_id=conn.oidc_client_id or "",
            client_secret=self.client_secret(conn),
            redirect_uri=self.redirect_uri(conn.id),
            scopes=scopes,
            mapping=claim_mapping(conn),
            token_endpoint_auth_method=None
            if conn.oidc_token_auth_method in (None, "none")
            else conn.oidc_token_auth_method,
        )

    # --- discovery refresh (worker) ----------------------------------------------------------------------
    def lease_due_refreshes(self, limit: int) -> list[tuple[str, str]]:
        """(connection id, issuer) of OIDC connections whose discovery refresh is due, each leased for a
        retry interval so a second worker does not take it."""
        now = self.clock.now()
        stmt = (
            select(SsoConnection)
            .where(
                SsoConnection.type == OIDC,
                SsoConnection.oidc_issuer.is_not(None),
                SsoConnection.oidc_discovery_next_refresh_at <= now,
            )
            .order_by(SsoConnection.oidc_discovery_next_refresh_at, SsoConnection.id)
            .limit(limit)
        )
        due = self.lease(stmt, "oidc_discovery_next_refresh_at")
        return [(c.id, c.oidc_issuer or "") for c in due]

    def record_refresh(
        self, connection_id: str, issuer: str, discovered: Discovered | None, error: tuple[str, str] | None
    ) -> str:
        """refreshed, unchanged, failed or skipped (the connection changed issuer or went meanwhile). A
        failure keeps the last good document and is recorded once per run of failures."""
        conn = self.session.get(SsoConnection, connection_id) if plausible_id(connection_id) else None
        if conn is None or conn.type != OIDC or conn.oidc_issuer != issuer:
            return "skipped"
        self.audit.lock_chain(conn.org_id)
        now = self.clock.now()
        conn.oidc_discovery_next_refresh_at = now + self.refresh_interval
        if error is not None:
            self.record_refresh_failure(conn, "oidc_discovery_error", discovery_url(issuer), error)
            return "failed"
        assert discovered is not None
        changed = dict(discovered.document) != dict(conn.oidc_discovery or {})
        self._apply_discovery(conn, discovered)
        self.session.flush()
        return "refreshed" if changed else "unchanged"

    # --- helpers -----------------------------------------------------------------------------------------
    def _apply_discovery(self, conn: SsoConnection, discovered: Discovered) -> None:
        now = self.clock.now()
        conn.oidc_issuer = discovered.issuer
        conn.idp_entity_id = discovered.issuer  # what lists and audit summaries show as the IdP
        conn.oidc_discovery = dict(discovered.document)
        conn.oidc_discovery_fetched_at = now
        conn.oidc_discovery_next_refresh_at = now + self.refresh_interval
        conn.oidc_discovery_error = None

    def _seal_secret(self, conn: SsoConnection, secret: str | None) -> None:
        conn.oidc_client_secret_encrypted = (
            self.box.seal(secret.encode("utf-8"), secret_context(conn.id)) if secret else None
        )

    def _stored_discovery(self, conn: SsoConnection) -> Discovered:
        return Discovered(conn.oidc_issuer or "", conn.oidc_discovery or {}, self.metadata(conn))

    @staticmethod
    def _auth_method(method: str | None, secret: str | None, discovered: Discovered) -> str | None:
        """The client's token endpoint authentication, checked against the secret and the issuer."""
        offered = discovered.metadata.token_endpoint_auth_methods
        if secret is None:
            if method not in (None, PUBLIC_CLIENT):
                raise _invalid("client_secret", f"{method} needs a client secret.")
            if PUBLIC_CLIENT not in offered:
                raise _invalid("client_secret", "The issuer takes no public clients: give the client secret.")
            return PUBLIC_CLIENT
        if method == PUBLIC_CLIENT:
            raise _invalid("token_endpoint_auth_method", "none is for public clients: drop client_secret.")
        if method is not None and method not in offered:
            raise _invalid(
                "token_endpoint_auth_method",
                f"The issuer does not offer {method} (it offers {list(offered)}).",
            )
        if method is None and not {"client_secret_basic", "client_secret_post"} & set(offered):
            raise _invalid("token_endpoint_auth_method", "The issuer offers no client secret authentication.")
        return method

    @staticmethod
    def _snapshot(conn: SsoConnection) -> dict[str, Any]:
        snap: dict[str, Any] = {name: getattr(conn, name) for name in POLICY_FIELDS}
        snap["attribute_map"] = dict(conn.attribute_map)
        snap["idp_set_by_owner"] = conn.idp_set_by_owner
        snap["oidc_issuer"] = conn.oidc_issuer
        snap["oidc_client_id"] = conn.oidc_client_id
        snap["oidc_scopes"] = list(conn.oidc_scopes or [])
        snap["oidc_token_auth_method"] = conn.oidc_token_auth_method
        # A fingerprint of the sealed value: says that the secret changed, reveals nothing of it.
        sealed = conn.oidc_client_secret_encrypted or ""
        snap["oidc_client_secret_sealed"] = (
            hashlib.sha256(sealed.encode()).hexdigest()[:12] if sealed else None
        )
        return snap


def _scopes(scopes: Sequence[str] | None) -> list[str]:
    chosen = list(scopes) if scopes else list(DEFAULT_SCOPES)
    if "openid" not in chosen:
        chosen.insert(0, "openid")
    return list(dict.fromkeys(chosen))
