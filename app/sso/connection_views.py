"""``/v1/orgs/{org}/sso-connections``: create, list, read, change, delete; SP key rotation."""

from __future__ import annotations

from datetime import timedelta

from app.api.endpoint import operation
from app.api.v1 import v1
from app.credentials.principal import Principal
from app.sso import oidc_views  # OIDC connections (issue 12), kept apart from the SAML code
from app.sso.connections import ConnectionInput, SsoConnectionService, generate_keys
from app.sso.errors import InvalidIdpSettings, UnsupportedConnectionType
from app.sso.idp_config import IdpConfig, from_fields, from_metadata, from_url
from app.sso.models import ENCRYPTION, OIDC, SIGNING, SsoConnection
from app.sso.schemas import (
    ConnectionListQuery,
    RotateKeysIn,
    SsoConnectionCreate,
    SsoConnectionOut,
    SsoConnectionPage,
    SsoConnectionUpdate,
    _IdpFields,
    policy_of,
)
from app.web import authenticate, container, db_session, services

TAG = "sso"


def _service() -> SsoConnectionService:
    return services().sso_connections


def _out(conn: SsoConnection) -> SsoConnectionOut:
    if conn.type == OIDC:
        return oidc_views.out(conn)
    svc = _service()
    warn = container().clock.now() + timedelta(days=container().settings.sso_cert_warning_days)
    return SsoConnectionOut.of(conn, svc.urls(conn.id), svc.keys_of(conn.id), warn)


def _idp(body: _IdpFields, current: SsoConnection | None = None) -> IdpConfig | None:
    """The IdP settings a body gives (fetching a metadata URL now), or None. In a PATCH, fields not given
    keep the connection's values (say only ``idp_x509_certs`` to roll the IdP's certificate)."""
    if body.idp_metadata_xml is not None:
        return from_metadata(body.idp_metadata_xml.encode())
    if body.idp_metadata_url is not None:
        return _fetched(body.idp_metadata_url, body)
    if not body.idp_given() and body.idp_sso_binding is None:
        return None
    if not body.idp_given() and current is not None and current.idp_metadata_url:
        # Only the binding changes: the IdP stays configured from (and refreshed from) its metadata URL.
        return _fetched(current.idp_metadata_url, body)
    certs = body.certs() or (list(current.idp_certs) if current else [])
    return from_fields(
        body.idp_entity_id or (current.idp_entity_id if current else None),
        body.idp_sso_url or (current.idp_sso_url if current else None),
        certs,
        binding=body.idp_sso_binding or (current.idp_sso_binding if current else None) or "redirect",
        slo_url=body.idp_slo_url or (current.idp_slo_url if current else None),
    )


def _no_oidc_fields(body: SsoConnectionCreate | SsoConnectionUpdate) -> None:
    if body.oidc_given():
        raise UnsupportedConnectionType(
            "issuer, client_id, client_secret, scopes and token_endpoint_auth_method are for type oidc.",
            errors=[{"field": "type", "message": "OIDC fields given for a SAML connection"}],
        )


def _saml_input(
    body: SsoConnectionCreate | SsoConnectionUpdate, idp: IdpConfig | None, *, patch: bool
) -> ConnectionInput:
    """A SAML create (``patch`` False) or change; in a change, attributes not given keep their claim."""
    return ConnectionInput(
        **policy_of(body, patch=patch), allow_idp_initiated=body.allow_idp_initiated, idp=idp
    )


def _fetched(url: str, body: _IdpFields) -> IdpConfig:
    """The IdP of the metadata at ``url``, refused when it offers no SSO endpoint of the binding asked for."""
    idp = from_url(url, container().sso_fetch_policy, binding=body.idp_sso_binding)
    if body.idp_sso_binding is not None and idp.sso_binding != body.idp_sso_binding:
        message = f"the IdP's metadata offers no SingleSignOnService with the {body.idp_sso_binding} binding"
        raise InvalidIdpSettings(message, errors=[{"field": "idp_sso_binding", "message": message}])
    return idp


def _principal() -> Principal:
    return authenticate()


@operation(
    v1,
    "/orgs/<org_id>/sso-connections",
    "POST",
    summary="Create an SSO connection",
    tag=TAG,
    permission="sso:manage",
    body=SsoConnectionCreate,
    response=SsoConnectionOut,
    status=201,
    errors=(400, 403, 404, 422),
    description="SAML: give the IdP's metadata XML, a metadata URL (fetched now, over https from a public "
    "address, then refreshed by the worker), or `idp_entity_id`, `idp_sso_url` and `idp_x509_cert`. The "
    "answer carries the SP's `sp_entity_id`, `acs_url`, `metadata_url` and `slo_url` to give the IdP. "
    "OIDC: give `issuer` (its discovery document is fetched now under the same rules, then refreshed), "
    "`client_id`, `client_secret` (sealed at rest; omit it for a public client), optionally `scopes` and "
    "`token_endpoint_auth_method`; the answer carries the `redirect_uri` to register at the IdP. "
    "422 `invalid_idp_settings`, `idp_metadata_unavailable`; 403 when `default_role` carries permissions "
    "the caller lacks.",
)
def create_sso_connection(org_id: str, body: SsoConnectionCreate) -> SsoConnectionOut:
    if body.type == OIDC:
        return oidc_views.create(org_id, body, _principal())
    _no_oidc_fields(body)
    principal = _principal()
    db_session().commit()  # no transaction (nor SQLite's write lock) is held while we fetch or generate keys
    idp = _idp(body)
    keys = generate_keys(org_id, container().clock.now())
    return _out(_service().create(org_id, _saml_input(body, idp, patch=False), keys, principal))


@operation(
    v1,
    "/orgs/<org_id>/sso-connections",
    "GET",
    summary="List the organisation's SSO connections",
    tag=TAG,
    permission="sso:manage",
    query=ConnectionListQuery,
    response=SsoConnectionPage,
    errors=(403, 404, 422),
)
def list_sso_connections(org_id: str, query: ConnectionListQuery) -> SsoConnectionPage:
    page = _service().list_connections(org_id, cursor=query.cursor, limit=query.limit)
    return SsoConnectionPage(data=[_out(c) for c in page.items], next_cursor=page.next_cursor)


@operation(
    v1,
    "/orgs/<org_id>/sso-connections/<connection_id>",
    "GET",
    summary="Read an SSO connection",
    tag=TAG,
    permission="sso:manage",
    response=SsoConnectionOut,
    errors=(403, 404),
)
def get_sso_connection(org_id: str, connection_id: str) -> SsoConnectionOut:
    return _out(_service().get(org_id, connection_id))


@operation(
    v1,
    "/orgs/<org_id>/sso-connections/<connection_id>",
    "PATCH",
    summary="Change an SSO connection",
    tag=TAG,
    permission="sso:manage",
    body=SsoConnectionUpdate,
    response=SsoConnectionOut,
    errors=(400, 403, 404, 422),
    description="Only the fields given change. `enabled: false` disables logins through it. IdP fields "
    "not given keep their values; a metadata XML or URL replaces the IdP settings.",
)
def update_sso_connection(org_id: str, connection_id: str, body: SsoConnectionUpdate) -> SsoConnectionOut:
    principal = _principal()
    current = _service().get(org_id, connection_id)
    if current.type == OIDC:
        return oidc_views.update(org_id, current, body, principal)
    _no_oidc_fields(body)
    db_session().commit()
    idp = _idp(body, current)
    data = _saml_input(body, idp, patch=True)
    return _out(_service().update(org_id, connection_id, data, principal))


@operation(
    v1,
    "/orgs/<org_id>/sso-connections/<connection_id>",
    "DELETE",
    summary="Delete an SSO connection",
    tag=TAG,
    permission="sso:manage",
    status=204,
    errors=(403, 404),
)
def delete_sso_connection(org_id: str, connection_id: str) -> None:
    _service().delete(org_id, connection_id)


@operation(
    v1,
    "/orgs/<org_id>/sso-connections/<connection_id>/rotate-keys",
    "POST",
    summary="Rotate the connection's SP keys",
    tag=TAG,
    permission="sso:manage",
    body=RotateKeysIn,
    response=SsoConnectionOut,
    errors=(403, 404, 422),
    description="New active keys for `use` (signing, encryption or both). The previous keys stay in the "
    "SP metadata, and still decrypt, until removed with DELETE …/keys/{key_id}.",
)
def rotate_sso_keys(org_id: str, connection_id: str, body: RotateKeysIn) -> SsoConnectionOut:
    if _service().get(org_id, connection_id).type == OIDC:
        raise UnsupportedConnectionType(
            "OIDC connections have no SP keys; change the client secret with PATCH instead.",
            errors=[{"field": "type", "message": "oidc"}],
        )
    db_session().commit()
    uses = (SIGNING, ENCRYPTION) if body.use == "both" else (body.use,)
    keys = generate_keys(org_id, container().clock.now(), uses)
    return _out(_service().rotate_keys(org_id, connection_id, keys))


@operation(
    v1,
    "/orgs/<org_id>/sso-connections/<connection_id>/keys/<key_id>",
    "DELETE",
    summary="Remove a previous SP key",
    tag=TAG,
    permission="sso:manage",
    status=204,
    errors=(403, 404, 422),
    description="Ends a rotation's overlap. 422 `sp_key_not_removable` for an active key.",
)
def remove_sso_key(org_id: str, connection_id: str, key_id: str) -> None:
    _service().remove_key(org_id, connection_id, key_id)
