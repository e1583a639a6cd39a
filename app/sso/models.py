"""SSO connections (SAML now, OIDC next), their SP keys, and the assertion replay cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JsonType
from app.ids import new_id

SAML, OIDC = "saml", "oidc"
SIGNING, ENCRYPTION = "signing", "encryption"
ACTIVE, PREVIOUS = "active", "previous"


class SsoConnection(Base):
    """An org's connection to one IdP. Several per org. The SAML columns hold the IdP's settings (from
    metadata XML, a metadata URL or fields); the OIDC columns are the next issue's (issuer, client id,
    client secret encrypted like the SP keys)."""

    __tablename__ = "sso_connections"
    __table_args__ = (
        Index("ix_sso_connections_org_id", "org_id", "id"),
        Index("ix_sso_connections_metadata_refresh", "idp_metadata_next_refresh_at"),
        Index("ix_sso_connections_oidc_refresh", "oidc_discovery_next_refresh_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sso"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    default_role: Mapped[str] = mapped_column(String(64))
    jit: Mapped[bool] = mapped_column(default=True)
    allow_idp_initiated: Mapped[bool] = mapped_column(default=False)
    require_verified_domain: Mapped[bool] = mapped_column(default=True)
    # {"email": attr, "first_name": attr, "last_name": attr, "groups": attr}
    attribute_map: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Whether whoever last set the IdP (its settings, metadata or URL) held ``owners:manage``: only then may
    # the connection sign owners in (an admin's IdP must not become a way into an owner's membership).
    idp_set_by_owner: Mapped[bool] = mapped_column(default=False)
    # SAML: the IdP
    idp_entity_id: Mapped[str | None] = mapped_column(String(1024))
    idp_sso_url: Mapped[str | None] = mapped_column(String(2048))
    idp_sso_binding: Mapped[str | None] = mapped_column(String(16))  # redirect | post
    idp_slo_url: Mapped[str | None] = mapped_column(String(2048))
    idp_certs: Mapped[list[str]] = mapped_column(JsonType, default=list)  # PEM certificates, signing
    idp_metadata_url: Mapped[str | None] = mapped_column(String(2048))
    idp_metadata_address: Mapped[str | None] = mapped_column(String(64))  # the pinned IP of its host
    idp_metadata_fetched_at: Mapped[datetime | None]
    idp_metadata_error: Mapped[str | None] = mapped_column(String(500))
    idp_metadata_next_refresh_at: Mapped[datetime | None]
    # When ``sso_connection.idp_cert_expiring`` was last raised (once per certificate set).
    idp_cert_warned_at: Mapped[datetime | None]
    # OIDC (next issue)
    oidc_issuer: Mapped[str | None] = mapped_column(String(1024))
    oidc_client_id: Mapped[str | None] = mapped_column(String(255))
    oidc_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # OIDC (revision 0010; app/sso/oidc_connections.py): scopes, the client's token endpoint authentication
    # (None: as the issuer offers), the issuer's checked discovery document and its refresh by the worker.
    oidc_scopes: Mapped[list[str] | None] = mapped_column(JsonType)
    oidc_token_auth_method: Mapped[str | None] = mapped_column(String(32))
    oidc_discovery: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    oidc_discovery_fetched_at: Mapped[datetime | None]
    oidc_discovery_error: Mapped[str | None] = mapped_column(String(500))
    oidc_discovery_next_refresh_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SsoSpKey(Base):
    """One of a connection's SP key pairs with its self-signed certificate. Per use (signing,
    encryption) one ``active`` key and, during a rotation, ``previous`` ones still published and used to
    decrypt until removed. The private key is encrypted at rest (app/sso/keys.py)."""

    __tablename__ = "sso_sp_keys"
    __table_args__ = (Index("ix_sso_sp_keys_connection", "connection_id", "use", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ssok"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"))
    use: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    cert_pem: Mapped[str] = mapped_column(Text)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]


class SamlReplay(Base):
    """Assertion ids seen, until their NotOnOrAfter: the database replay cache (Redis when configured)."""

    __tablename__ = "sso_replay_cache"
    __table_args__ = (Index("ix_sso_replay_cache_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of connection id + assertion id
    expires_at: Mapped[datetime]


class SsoSession(Base):
    """What single logout needs of a session an SSO login opened: the connection, the NameID and the
    IdP's SessionIndex (an IdP-initiated LogoutRequest names them; ours sends them)."""

    __tablename__ = "sso_sessions"
    __table_args__ = (Index("ix_sso_sessions_connection_name_id", "connection_id", "name_id"),)

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("sso_connections.id", ondelete="CASCADE"))
    name_id: Mapped[str] = mapped_column(String(1024))
    name_id_format: Mapped[str | None] = mapped_column(String(255))
    session_index: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
