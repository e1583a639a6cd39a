"""``/sso``: discovery and login page, SP metadata, the ACS, single logout. Thin: cookies and HTTP here, the
flows in app/sso/flows.py, the identity rules in app/sso/service.py; errors become readable pages through
the /sso front door (app/frontdoor.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, Response, request
from sqlalchemy import select

from app.audit.catalogue import AuditAction
from app.audit.failures import Failure
from app.audit.recorder import Actor, Target
from app.errors import AppError, MalformedRequest, NotFound, Unauthenticated
from app.ratelimit import Rule
from app.sso import cookies
from app.sso.errors import LoginFailed, LoginRefused, NoConnection
from app.sso.flows import SamlFlows, peek_attribute, peek_in_response_to
from app.sso.models import OIDC, SAML, SsoConnection
from app.sso.pages import auto_post_page, login_page
from app.sso.return_to import safe_return_to
from app.sso.saml import InboundMessage
from app.sso.transaction import LoginTransactions, PendingLogin
from app.web import container, db_session, note_failure, presented_credential, services

log = logging.getLogger("tenantry.sso")
sso = Blueprint("sso", __name__, url_prefix="/sso")
LOGOUT_PREFIX = "logout:"  # pending single logouts share the transaction cookie, marked by this prefix


def _flows() -> SamlFlows:
    svc, c = services(), container()
    return SamlFlows(
        svc.sso_connections,
        svc.sso_logins,
        c.saml_replay_cache,
        c.clock,
        timedelta(seconds=c.settings.sso_clock_skew),
    )


def _transactions() -> LoginTransactions:
    settings = container().settings
    secure = settings.base_url.lower().startswith("https://") or request.is_secure
    return LoginTransactions(settings.resolved_secret_key(), settings.sso_transaction_ttl, secure=secure)


def _return_to(value: str | None) -> str | None:
    settings = container().settings
    return safe_return_to(value, settings.base_url, settings.sso_allowed_return_origins)


def _rate_limit() -> None:
    """Sign-in starts and ACS posts per client IP (429 page with Retry-After past it)."""
    settings = container().settings
    container().rate_limiter.hit(
        Rule("sso_ip", settings.sso_rate_ip),
        request.remote_addr or "-",
        detail="Too many sign-in attempts from this address. Wait a minute and try again.",
    )


def _connection(connection_id: str) -> SsoConnection:
    conn = services().sso_connections.find(connection_id)
    if conn is None or conn.type != SAML:
        raise NotFound("No sign-in connection has that address.")
    return conn


def _redirect(location: str) -> Response:
    resp = Response(status=302)
    resp.headers["Location"] = location
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _html(body: str, status: int = 200) -> Response:
    resp = Response(body, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _note_refusal(conn: SsoConnection, error: LoginFailed | LoginRefused) -> None:
    """``sso.login_failed``, aggregated like every failure (its own transaction; the request's rolls back)."""
    reason = str(error.extra.get("reason", error.code))
    detail = getattr(error, "operator_detail", None)
    log.info("sso login refused", extra={"connection_id": conn.id, "reason": reason, "detail": detail})
    note_failure(
        Failure(
            org_id=conn.org_id,
            action=AuditAction.SSO_LOGIN_FAILED,
            actor=Actor("system", conn.id, f"SSO connection {conn.name}"),
            reason=reason,
            targets=(Target("sso_connection", conn.id, conn.name),),
            data={"connection_id": conn.id, **({"detail": detail[:500]} if detail else {})},
        )
    )


# --- discovery and the login page ------------------------------------------------------------------------
@sso.get("/login")
def login() -> Response:
    email = request.args.get("email", "").strip()
    org_id = request.args.get("org", "").strip()
    wanted = request.args.get("connection", "").strip()
    raw_return = request.args.get("return_to")
    return_to = _return_to(raw_return)
    if raw_return and return_to is None:
        raise MalformedRequest("return_to is not an address this service may send you back to.")
    if not email and not org_id:
        return _html(login_page(return_to=return_to))
    _rate_limit()
    svc = services()
    if not org_id:
        match = svc.verified_domains.org_for_email(email[:320])
        if match is None:
            return _html(
                login_page("No organisation signs in this address with single sign-on.", email, return_to),
                404,
            )
        org_id = match.org_id
    stmt = select(SsoConnection).where(
        SsoConnection.org_id == org_id, SsoConnection.enabled.is_(True), SsoConnection.type.in_((SAML, OIDC))
    )
    if wanted:
        stmt = stmt.where(SsoConnection.id == wanted)
    conn = db_session().scalars(stmt.order_by(SsoConnection.id).limit(1)).first()
    if conn is None:
        raise NoConnection("This organisation has no single sign-on connection that is enabled.")
    if conn.type == OIDC:
        from app.sso import oidc_views

        return oidc_views.start_login(conn, return_to, email or None)
    out = _flows().start_login(conn)
    db_session().commit()
    now = container().clock.now()
    if out.binding == "post" and out.action:
        resp = _html(auto_post_page(out.action, out.fields))
    else:
        resp = _redirect(out.url or "")
    tx = _transactions()
    tx.begin(request, resp, tx.new_login(conn.id, out.request_id, return_to, now), now)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- SP metadata ---------------------------------------------------------------------------------------
@sso.get("/saml/<connection_id>/metadata")
def metadata(connection_id: str) -> Response:
    xml = _flows().metadata(_connection(connection_id))
    return Response(xml, mimetype="application/samlmetadata+xml")


# --- ACS -----------------------------------------------------------------------------------------------
@sso.post("/saml/<connection_id>/acs")
def acs(connection_id: str) -> Response:
    _rate_limit()
    conn = _connection(connection_id)
    saml_response = request.form.get("SAMLResponse", "")
    if not saml_response:
        raise MalformedRequest("The sign-in response is missing (no SAMLResponse).")
    tx, now = _transactions(), container().clock.now()
    claimed = peek_in_response_to(saml_response)
    pending = [p for p in tx.read(request, now) if p.connection_id == conn.id]
    chosen = next((p for p in pending if p.request_id == claimed), None) if claimed else None
    try:
        finished = _flows().finish_login(conn, saml_response, chosen.request_id if chosen else None)
    except (LoginFailed, LoginRefused) as error:
        _note_refusal(conn, error)
        raise
    issued = finished.result.session
    db_session().commit()
    settings = container().settings
    target = chosen.return_to if chosen else _return_to(request.form.get("RelayState"))
    resp = _redirect(target or settings.base_url.rstrip("/") + "/")
    max_age = issued.expires_in
    if finished.assertion.session_not_on_or_after is not None:
        left = int((finished.assertion.session_not_on_or_after - now).total_seconds())
        max_age = max(60, min(max_age, left))
    cookies.set_session_cookie(resp, request, issued.token, max_age, base_url=settings.base_url)
    if chosen is not None:
        tx.take(request, resp, conn.id, chosen.request_id, now)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- single logout ---------------------------------------------------------------------------------------
@sso.route("/saml/<connection_id>/slo", methods=["GET", "POST"])
def slo(connection_id: str) -> Response:
    conn = _connection(connection_id)
    message = _inbound()
    settings = container().settings
    home = settings.base_url.rstrip("/") + "/"
    if message is not None and message.is_request:  # IdP-initiated
        try:
            _request, answer = _flows().idp_logout(conn, message)
        except LoginFailed as error:
            _note_refusal(conn, error)
            raise
        db_session().commit()
        resp = _redirect(answer.url)
        cookies.clear_session_cookie(resp, request, base_url=settings.base_url)
        return resp
    tx, now = _transactions(), container().clock.now()
    if message is not None:  # the IdP answers our LogoutRequest
        claimed = peek_attribute(message, "InResponseTo")
        key = LOGOUT_PREFIX + (claimed or "")
        pending = next(
            (p for p in tx.read(request, now) if p.connection_id == conn.id and p.request_id == key), None
        )
        if claimed is None or pending is None:
            raise MalformedRequest("This logout answer does not match a logout started in this browser.")
        try:
            _flows().finish_logout(conn, message, claimed)
        except LoginFailed as error:
            _note_refusal(conn, error)
            raise
        resp = _redirect(pending.return_to or home)
        tx.take(request, resp, conn.id, key, now)
        return resp
    return _start_logout(conn, tx, home)


def _start_logout(conn: SsoConnection, tx: LoginTransactions, home: str) -> Response:
    """SP-initiated: end this browser's session here, then ask the IdP to end its own."""
    settings = container().settings
    token = presented_credential()
    if token is None:
        raise Unauthenticated("You are not signed in.")
    svc = services()
    principal = svc.sessions.authenticate(token)
    link = svc.sso_logins.sso_session(principal.id)
    if link is None or link.connection_id != conn.id:
        raise Unauthenticated("This session was not opened through this connection.")
    svc.sessions.end(principal.id, reason="sso_logout")
    out = _flows().start_logout(conn, link.name_id, link.name_id_format, link.session_index)
    db_session().commit()
    return_to = _return_to(request.args.get("return_to")) or home
    now = container().clock.now()
    resp = _redirect(out.url if out is not None else return_to)
    if out is not None:
        pending = PendingLogin(
            conn.id, LOGOUT_PREFIX + out.message_id, return_to, now.timestamp() + settings.sso_transaction_ttl
        )
        tx.begin(request, resp, pending, now)
    cookies.clear_session_cookie(resp, request, base_url=settings.base_url)
    return resp


def _inbound() -> InboundMessage | None:
    try:
        if request.method == "POST" and ("SAMLRequest" in request.form or "SAMLResponse" in request.form):
            return InboundMessage.from_form({k: v for k, v in request.form.items()})
        raw = request.query_string.decode("latin-1")
        if "SAMLRequest=" in raw or "SAMLResponse=" in raw:
            return InboundMessage.from_query(raw)
    except AppError:
        raise
    except Exception:  # noqa: BLE001 - whatever the core's parser says, the browser gets a 400
        raise MalformedRequest("The single logout message could not be read.") from None
    return None
