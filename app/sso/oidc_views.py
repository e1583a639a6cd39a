"""OIDC in the ``/sso`` front door and in the connections API. Thin: HTTP and cookies here, the flow in
app/sso/oidc_flows.py, the connection settings in app/sso/oidc_connections.py.

- ``start_login``: ``GET /sso/login`` chose an OIDC connection: 302 to the IdP's authorization endpoint
  (PKCE S256, state, nonce), the pending authorization sealed into the browser's transaction cookie.
- ``GET /sso/oidc/{conn}/callback``: the pending authorization of *this browser* for *this connection* with
  the callback's ``state`` (none: ``state_mismatch``), then the flow, then the session cookie and a 302 to
  ``return_to``. Every refusal is audited (``sso.login_failed`` with its reason) and a readable page.
- ``create`` / ``update`` / ``out``: the OIDC side of ``/v1/orgs/{org}/sso-connections``.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, request

from app.credentials.principal import Principal
from app.errors import NotFound
from app.sso import cookies
from app.sso.errors import InvalidIdpSettings, LoginFailed, LoginRefused
from app.sso.models import OIDC, SsoConnection
from app.sso.oidc import RelyingParty
from app.sso.oidc_connections import (
    DEFAULT_CLAIMS,
    DEFAULT_SCOPES,
    Discovered,
    OidcConnectionInput,
    discover_issuer,
)
from app.sso.oidc_flows import OidcFlows, failed, open_pending, seal_pending
from app.sso.oidc_schemas import OidcSettingsOut
from app.sso.schemas import (
    AttributeMapOut,
    IdpOut,
    SsoConnectionCreate,
    SsoConnectionOut,
    SsoConnectionUpdate,
    policy_of,
)
from app.sso.transaction import PendingLogin
from app.sso.views import _note_refusal, _rate_limit, _redirect, _transactions, sso
from app.web import container, db_session, services

SEALED = "sealed"


def _flows() -> OidcFlows:
    svc, c = services(), container()
    rp = RelyingParty(c.oidc_http, c.clock, skew=timedelta(seconds=c.settings.sso_clock_skew))
    return OidcFlows(svc.oidc_connections, svc.sso_logins, rp, c.oidc_jwks)


# --- browser ---------------------------------------------------------------------------------------------
def start_login(conn: SsoConnection, return_to: str | None, login_hint: str | None) -> Response:
    """The answer of ``GET /sso/login`` for an OIDC connection."""
    try:
        url, pending = _flows().start_login(conn, login_hint)
    except (LoginFailed, LoginRefused) as error:
        _note_refusal(conn, error)
        raise
    db_session().commit()
    now = container().clock.now()
    tx = _transactions()
    login = tx.new_login(conn.id, pending.state, return_to, now)
    sealed = seal_pending(container().sso_secret_box, conn.id, pending)
    login = PendingLogin(
        login.connection_id, login.request_id, login.return_to, login.expires_at, {SEALED: sealed}
    )
    resp = _redirect(url)
    tx.begin(request, resp, login, now)
    return resp


@sso.get("/oidc/<connection_id>/callback")
def oidc_callback(connection_id: str) -> Response:
    _rate_limit()  # per client IP, shared with sign-in starts and ACS posts
    conn = services().sso_connections.find(connection_id)
    if conn is None or conn.type != OIDC:
        raise NotFound("No sign-in connection has that address.")
    tx, now = _transactions(), container().clock.now()
    state = request.args.get("state", "")
    chosen = next(
        (
            p
            for p in tx.read(request, now)
            if p.connection_id == conn.id and state and p.request_id == state and SEALED in p.oidc
        ),
        None,
    )
    try:
        if chosen is None:
            raise failed("state_mismatch", "no sign-in with this state was started by this browser here")
        pending = open_pending(container().sso_secret_box, conn.id, state, chosen.oidc[SEALED])
        query = {k: v for k, v in request.args.items()}
        result = _flows().finish_login(conn, query, pending)
    except (LoginFailed, LoginRefused) as error:
        _note_refusal(conn, error)
        raise
    issued = result.session
    db_session().commit()
    settings = container().settings
    resp = _redirect(chosen.return_to or settings.base_url.rstrip("/") + "/")
    cookies.set_session_cookie(resp, request, issued.token, issued.expires_in, base_url=settings.base_url)
    tx.take(request, resp, conn.id, chosen.request_id, now)
    return resp


# --- connections API -------------------------------------------------------------------------------------
def _no_saml_fields(body: SsoConnectionCreate | SsoConnectionUpdate) -> None:
    if body.idp_given() or body.idp_sso_binding is not None or body.allow_idp_initiated:
        raise InvalidIdpSettings(
            "An OIDC connection takes issuer, client_id and client_secret, not SAML settings.",
            errors=[{"field": "type", "message": "SAML fields given for an OIDC connection"}],
        )


def _discover(issuer: str) -> Discovered:
    return discover_issuer(container().oidc_http, issuer, container().sso_fetch_policy)


def _input(
    body: SsoConnectionCreate | SsoConnectionUpdate, discovered: Discovered | None
) -> OidcConnectionInput:
    return OidcConnectionInput(
        **policy_of(body, patch=True),
        client_id=body.client_id,
        client_secret=body.client_secret,
        scopes=body.scopes,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        discovered=discovered,
    )


def create(org_id: str, body: SsoConnectionCreate, principal: Principal) -> SsoConnectionOut:
    _no_saml_fields(body)
    if not body.issuer or not body.client_id:
        missing = "issuer" if not body.issuer else "client_id"
        raise InvalidIdpSettings(
            "An OIDC connection needs issuer and client_id (and client_secret unless the client is public).",
            errors=[{"field": missing, "message": "required for type oidc"}],
        )
    db_session().commit()  # no transaction (nor SQLite's write lock) is held while we fetch
    data = _input(body, _discover(body.issuer))
    if "name" not in body.model_fields_set:
        data = OidcConnectionInput(**{**data.__dict__, "name": "OIDC"})
    return out(services().oidc_connections.create(org_id, data, principal))


def update(
    org_id: str, conn: SsoConnection, body: SsoConnectionUpdate, principal: Principal
) -> SsoConnectionOut:
    _no_saml_fields(body)
    db_session().commit()
    discovered = _discover(body.issuer) if body.issuer is not None else None
    return out(services().oidc_connections.update(org_id, conn.id, _input(body, discovered), principal))


def out(conn: SsoConnection) -> SsoConnectionOut:
    svc = services().oidc_connections
    configured = conn.attribute_map or {}
    attrs = {name: [configured.get(name) or claim] for name, claim in DEFAULT_CLAIMS.items()}
    authorization_endpoint = (conn.oidc_discovery or {}).get("authorization_endpoint")
    return SsoConnectionOut(
        id=conn.id,
        org_id=conn.org_id,
        type="oidc",
        name=conn.name,
        enabled=conn.enabled,
        default_role=conn.default_role,
        jit=conn.jit,
        allow_idp_initiated=False,
        require_verified_domain=conn.require_verified_domain,
        idp_set_by_owner=conn.idp_set_by_owner,
        attribute_map=AttributeMapOut(**attrs),
        sp_entity_id=None,
        acs_url=None,
        metadata_url=None,
        slo_url=None,
        idp=IdpOut(
            entity_id=conn.oidc_issuer,
            sso_url=authorization_endpoint if isinstance(authorization_endpoint, str) else None,
            sso_binding=None,
            slo_url=None,
            certificates=[],
            metadata_url=None,
            metadata_fetched_at=conn.oidc_discovery_fetched_at,
            metadata_error=conn.oidc_discovery_error,
        ),
        sp_keys=[],
        created_at=conn.created_at,
        updated_at=conn.updated_at,
        redirect_uri=svc.redirect_uri(conn.id),
        oidc=OidcSettingsOut(
            issuer=conn.oidc_issuer,
            client_id=conn.oidc_client_id,
            client_secret_set=bool(conn.oidc_client_secret_encrypted),
            scopes=list(conn.oidc_scopes or DEFAULT_SCOPES),
            token_endpoint_auth_method=conn.oidc_token_auth_method,
            authorization_endpoint=authorization_endpoint
            if isinstance(authorization_endpoint, str)
            else None,
            discovery_fetched_at=conn.oidc_discovery_fetched_at,
            discovery_error=conn.oidc_discovery_error,
        ),
    )
