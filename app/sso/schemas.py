"""Request and response bodies of ``/v1/orgs/{org}/sso-connections``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from app.api.schema import CURSOR_PATTERN, BodyBool, Query, RequestBody, ResponseBody
from app.sso.attributes import DEFAULT_ATTRIBUTES
from app.sso.connections import SpUrls
from app.sso.idp_config import cert_info
from app.sso.models import SsoConnection, SsoSpKey
from app.sso.oidc_schemas import OidcFieldsIn, OidcSettingsOut

AttrName = str
_URL = Field(default=None, min_length=1, max_length=2048)


class AttributeMapIn(RequestBody):
    """SAML attribute names to read (the Name, or the FriendlyName); null keeps the defaults."""

    email: str | None = Field(default=None, min_length=1, max_length=1024)
    first_name: str | None = Field(default=None, min_length=1, max_length=1024)
    last_name: str | None = Field(default=None, min_length=1, max_length=1024)
    groups: str | None = Field(default=None, min_length=1, max_length=1024)


class _IdpFields(RequestBody):
    idp_metadata_xml: str | None = Field(default=None, min_length=1, max_length=1024 * 1024)
    idp_metadata_url: str | None = _URL
    idp_entity_id: str | None = Field(default=None, min_length=1, max_length=1024)
    idp_sso_url: str | None = _URL
    idp_sso_binding: Literal["redirect", "post"] | None = None
    idp_slo_url: str | None = _URL
    idp_x509_cert: str | None = Field(default=None, min_length=1, max_length=20000)
    idp_x509_certs: list[str] | None = Field(default=None, min_length=1, max_length=4)

    @model_validator(mode="after")
    def _one_source(self) -> _IdpFields:
        sources = [
            name
            for name, given in (
                ("idp_metadata_xml", self.idp_metadata_xml is not None),
                ("idp_metadata_url", self.idp_metadata_url is not None),
                ("idp_entity_id", self.idp_entity_id is not None or self.idp_sso_url is not None),
            )
            if given
        ]
        if len(sources) > 1:
            raise ValueError(
                "give the IdP settings one way: idp_metadata_xml, idp_metadata_url, or the idp_* fields"
            )
        return self

    def idp_given(self) -> bool:
        return any(
            v is not None
            for v in (
                self.idp_metadata_xml,
                self.idp_metadata_url,
                self.idp_entity_id,
                self.idp_sso_url,
                self.idp_x509_cert,
                self.idp_x509_certs,
            )
        )

    def certs(self) -> list[str]:
        return [*([self.idp_x509_cert] if self.idp_x509_cert else []), *(self.idp_x509_certs or [])]


class SsoConnectionCreate(_IdpFields, OidcFieldsIn):
    type: Literal["saml", "oidc"]
    name: str = Field(default="SAML", min_length=1, max_length=200)
    enabled: BodyBool = True
    default_role: str = Field(default="member", min_length=1, max_length=64)
    jit: BodyBool = Field(default=True, description="Create accounts and memberships at first login.")
    allow_idp_initiated: BodyBool = Field(default=False, description="Accept unsolicited responses.")
    require_verified_domain: BodyBool = Field(
        default=True, description="The asserted email must be in one of the org's verified domains."
    )
    attribute_map: AttributeMapIn | None = None


class SsoConnectionUpdate(_IdpFields, OidcFieldsIn):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: BodyBool | None = None
    default_role: str | None = Field(default=None, min_length=1, max_length=64)
    jit: BodyBool | None = None
    allow_idp_initiated: BodyBool | None = None
    require_verified_domain: BodyBool | None = None
    attribute_map: AttributeMapIn | None = None


def policy_of(body: SsoConnectionCreate | SsoConnectionUpdate, *, patch: bool) -> dict[str, Any]:
    """The settings every connection type has, as the services' inputs name them (``patch``: attributes
    of the map not given are left out, so they keep their claim)."""
    return {
        "name": body.name,
        "enabled": body.enabled,
        "default_role": body.default_role,
        "jit": body.jit,
        "require_verified_domain": body.require_verified_domain,
        "attribute_map": body.attribute_map.model_dump(exclude_unset=patch) if body.attribute_map else None,
    }


class RotateKeysIn(RequestBody):
    use: Literal["signing", "encryption", "both"] = "both"


class ConnectionListQuery(Query):
    cursor: str | None = Field(default=None, max_length=200, pattern=CURSOR_PATTERN)
    limit: int = Field(default=50, ge=1, le=200)


class CertOut(ResponseBody):
    fingerprint_sha256: str
    subject: str
    not_after: datetime
    expiring: bool = Field(description="Expires within the warning period (30 days by default).")


class IdpOut(ResponseBody):
    entity_id: str | None
    sso_url: str | None
    sso_binding: str | None
    slo_url: str | None
    certificates: list[CertOut]
    metadata_url: str | None
    metadata_fetched_at: datetime | None
    metadata_error: str | None


class SpKeyOut(ResponseBody):
    id: str
    use: Literal["signing", "encryption"]
    status: Literal["active", "previous"]
    not_after: datetime
    certificate: str = Field(description="PEM; published in the SP metadata.")

    @classmethod
    def of(cls, key: SsoSpKey) -> SpKeyOut:
        return cls(
            id=key.id,
            use=key.use,
            status=key.status,
            not_after=key.not_after,
            certificate=key.cert_pem,
        )


class AttributeMapOut(ResponseBody):
    email: list[str]
    first_name: list[str]
    last_name: list[str]
    groups: list[str]


class SsoConnectionOut(ResponseBody):
    id: str
    org_id: str
    type: Literal["saml", "oidc"]
    name: str
    enabled: bool
    default_role: str
    jit: bool
    allow_idp_initiated: bool
    require_verified_domain: bool
    idp_set_by_owner: bool = Field(
        description="An owner set the IdP last: only then may owners sign in through this connection."
    )
    attribute_map: AttributeMapOut = Field(
        description="Attribute names read for each field, in order (configured first, then defaults)."
    )
    sp_entity_id: str | None = Field(description="SAML only.")
    acs_url: str | None = Field(description="SAML only.")
    metadata_url: str | None = Field(description="SAML only.")
    slo_url: str | None = Field(description="SAML only.")
    idp: IdpOut
    sp_keys: list[SpKeyOut]
    created_at: datetime
    updated_at: datetime
    # OIDC (app/sso/oidc_views.py fills these; SAML connections leave them null)
    redirect_uri: str | None = Field(default=None, description="OIDC only: register it at the IdP.")
    oidc: OidcSettingsOut | None = None

    @classmethod
    def of(
        cls, conn: SsoConnection, urls: SpUrls, keys: list[SsoSpKey], warn_before: datetime
    ) -> SsoConnectionOut:
        certs = []
        for pem in conn.idp_certs:
            info = cert_info(pem)
            certs.append(
                CertOut(
                    fingerprint_sha256=info.fingerprint_sha256,
                    subject=info.subject,
                    not_after=info.not_after,
                    expiring=info.not_after <= warn_before,
                )
            )
        configured = conn.attribute_map
        attrs = {
            name: ([configured[name]] if configured.get(name) else []) + list(defaults)
            for name, defaults in DEFAULT_ATTRIBUTES.items()
        }
        return cls(
            id=conn.id,
            org_id=conn.org_id,
            type=conn.type,
            name=conn.name,
            enabled=conn.enabled,
            default_role=conn.default_role,
            jit=conn.jit,
            allow_idp_initiated=conn.allow_idp_initiated,
            require_verified_domain=conn.require_verified_domain,
            idp_set_by_owner=conn.idp_set_by_owner,
            attribute_map=AttributeMapOut(**attrs),
            sp_entity_id=urls.entity_id,
            acs_url=urls.acs_url,
            metadata_url=urls.metadata_url,
            slo_url=urls.slo_url,
            idp=IdpOut(
                entity_id=conn.idp_entity_id,
                sso_url=conn.idp_sso_url,
                sso_binding=conn.idp_sso_binding,
                slo_url=conn.idp_slo_url,
                certificates=certs,
                metadata_url=conn.idp_metadata_url,
                metadata_fetched_at=conn.idp_metadata_fetched_at,
                metadata_error=conn.idp_metadata_error,
            ),
            sp_keys=[SpKeyOut.of(k) for k in keys],
            created_at=conn.created_at,
            updated_at=conn.updated_at,
        )


class SsoConnectionPage(ResponseBody):
    data: list[SsoConnectionOut]
    next_cursor: str | None = None
