"""The SAML browser flows over a stored connection: start a login, finish it at the ACS, single logout.

No Flask: the views read the request and the cookies, call one of these, and write the answer. Every SAML
check is the core's (app/sso/saml/); what the core leaves to its caller is here: the pending request of this
browser, IdP-initiated only when the connection allows it, the replay cache, and the identity rules
(app/sso/service.py). A refusal raises ``LoginFailed`` (the SAML message) or ``LoginRefused`` (the person),
each with its ``reason``.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from datetime import timedelta

from lxml import etree

from app.clock import Clock
from app.sso.attributes import identity_from
from app.sso.connections import SsoConnectionService
from app.sso.errors import LoginFailed
from app.sso.models import SsoConnection
from app.sso.replay import ReplayCache
from app.sso.saml import (
    AuthnRequestOut,
    IdpLogoutRequest,
    InboundMessage,
    RedirectOut,
    SamlRefusal,
    ValidatedAssertion,
    authn_request,
    logout_request,
    logout_response,
    sp_metadata,
    validate_logout_request,
    validate_logout_response,
    validate_response,
)
from app.sso.saml.settings import Binding
from app.sso.service import Flow, LoginResult, SsoLoginService

_PEEK_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
)
_READABLE = {
    "expired": "The sign-in response has expired. Start the sign-in again.",
    "not_yet_valid": "The sign-in response is not valid yet (are the clocks in sync?). Try again shortly.",
    "replay": "This sign-in response was used already. Start the sign-in again.",
    "unsolicited": "This sign-in was not started here, and this connection does not accept sign-ins started "
    "at the identity provider. Start the sign-in from your application.",
    "in_response_to_mismatch": "This sign-in response does not answer a sign-in this browser started. "
    "Start the sign-in again.",
}


def peek_in_response_to(saml_response_b64: str) -> str | None:
    """The InResponseTo the (not yet validated) Response claims, only to pick this browser's pending
    request among several; the core validates everything. None when it cannot be read."""
    try:
        xml = base64.b64decode(saml_response_b64, validate=False)
        if len(xml) > 512 * 1024 or b"<!DOCTYPE" in xml.upper():
            return None
        root = etree.fromstring(xml, _PEEK_PARSER)
    except (binascii.Error, ValueError, etree.XMLSyntaxError):
        return None
    value = root.get("InResponseTo")
    return value if value else None


def peek_attribute(message: InboundMessage, name: str) -> str | None:
    """An attribute of a (not yet validated) message's root, only to find this browser's pending request;
    the core validates the message."""
    try:
        raw = base64.b64decode(message.saml_b64, validate=False)
        xml = zlib.decompress(raw, -15, 512 * 1024) if message.binding == "redirect" else raw
        if len(xml) > 512 * 1024 or b"<!DOCTYPE" in xml.upper():
            return None
        root = etree.fromstring(xml, _PEEK_PARSER)
    except (binascii.Error, ValueError, zlib.error, etree.XMLSyntaxError):
        return None
    value = root.get(name)
    return value if value else None


def failed(reason: str, detail: str | None = None) -> LoginFailed:
    """The refusal the browser sees (reason code and a readable sentence); the core's ``detail`` is for
    operators only (the audit event and the log), never the page."""
    error = LoginFailed(
        _READABLE.get(reason, "Your identity provider's sign-in response could not be accepted."),
        reason=reason,
    )
    error.operator_detail = detail
    return error


@dataclass(frozen=True)
class FinishedLogin:
    result: LoginResult
    assertion: ValidatedAssertion
    flow: Flow


class SamlFlows:
    def __init__(
        self,
        connections: SsoConnectionService,
        logins: SsoLoginService,
        replay: ReplayCache,
        clock: Clock,
        clock_skew: timedelta,
    ) -> None:
        self.connections = connections
        self.logins = logins
        self.replay = replay
        self.clock = clock
        self.skew = clock_skew

    def metadata(self, conn: SsoConnection) -> str:
        return sp_metadata(self.connections.sp_settings(conn))

    def start_login(self, conn: SsoConnection, relay_state: str | None = None) -> AuthnRequestOut:
        self.logins.check_usable(conn)
        idp = self.connections.idp_settings(conn)
        binding: Binding = "post" if conn.idp_sso_binding == "post" else "redirect"
        try:
            return authn_request(
                self.connections.sp_settings(conn), idp, binding=binding, relay_state=relay_state,
                now=self.clock.now(),
            )  # fmt: skip
        except SamlRefusal as exc:
            raise failed(str(exc.reason), exc.detail) from None

    def finish_login(
        self, conn: SsoConnection, saml_response_b64: str, pending_request_id: str | None
    ) -> FinishedLogin:
        """``pending_request_id``: the request this browser started with this connection whose id the
        response claims to answer (None: this browser started none)."""
        self.logins.check_usable(conn)
        try:
            assertion = validate_response(
                saml_response_b64,
                sp=self.connections.sp_settings(conn),
                idp=self.connections.idp_settings(conn),
                expected_request_id=pending_request_id,
                allow_unsolicited=conn.allow_idp_initiated and pending_request_id is None,
                now=self.clock.now(),
                clock_skew=self.skew,
            )
        except SamlRefusal as exc:
            raise failed(str(exc.reason), exc.detail) from None
        # What the core decided, checked again where a mistake would be costly (belt and braces).
        if assertion.in_response_to is None:
            if not conn.allow_idp_initiated or pending_request_id is not None:
                raise failed("unsolicited")
            flow: Flow = "idp_initiated"
        elif assertion.in_response_to != pending_request_id:
            raise failed("in_response_to_mismatch")
        else:
            flow = "sp_initiated"
        until = assertion.replay_expires_at or (assertion.not_on_or_after + self.skew)
        # The database replay cache commits in a transaction of its own: end this unit of work's reads first
        # (on SQLite the first read of a transaction already holds the write lock).
        self.connections.session.commit()
        if not self.replay.remember(conn.id, assertion.replay_key, until):
            raise failed("replay")
        identity = identity_from(
            conn.id,
            assertion.name_id,
            assertion.attributes,
            conn.attribute_map,
            friendly_names=assertion.attribute_friendly_names,
            session_index=assertion.session_index,
            name_id_format=assertion.name_id_format,
        )
        return FinishedLogin(self.logins.login(conn, identity, flow), assertion, flow)

    # --- single logout -----------------------------------------------------------------------------------
    def start_logout(
        self, conn: SsoConnection, name_id: str, name_id_format: str | None, session_index: str | None
    ) -> RedirectOut | None:
        """Our LogoutRequest to the IdP, or None when it has no SLO endpoint."""
        if not conn.idp_slo_url:
            return None
        try:
            return logout_request(
                self.connections.sp_settings(conn),
                self.connections.idp_settings(conn),
                name_id=name_id,
                name_id_format=name_id_format,
                session_index=session_index,
                relay_state=None,
                now=self.clock.now(),
            )
        except SamlRefusal as exc:
            raise failed(str(exc.reason), exc.detail) from None

    def finish_logout(self, conn: SsoConnection, message: InboundMessage, expected_request_id: str) -> None:
        try:
            validate_logout_response(
                message,
                sp=self.connections.sp_settings(conn),
                idp=self.connections.idp_settings(conn),
                expected_request_id=expected_request_id,
                now=self.clock.now(),
                clock_skew=self.skew,
                # Our session ended before the browser went to the IdP: its answer only says whether the IdP
                # ended its own and sends the browser on (to an allowed address). It must answer the request
                # this browser sent, but need not be signed (SimpleSAMLphp does not sign it by default).
                require_signature=False,
            )
        except SamlRefusal as exc:
            raise failed(str(exc.reason), exc.detail) from None

    def idp_logout(
        self, conn: SsoConnection, message: InboundMessage
    ) -> tuple[IdpLogoutRequest, RedirectOut]:
        """The IdP's LogoutRequest: end the sessions it names, and our signed LogoutResponse."""
        sp, idp = self.connections.sp_settings(conn), self.connections.idp_settings(conn)
        try:
            request = validate_logout_request(
                message, sp=sp, idp=idp, now=self.clock.now(), clock_skew=self.skew
            )
        except SamlRefusal as exc:
            raise failed(str(exc.reason), exc.detail) from None
        self.logins.end_idp_sessions(conn, request.name_id, request.session_indexes)
        answer = logout_response(
            sp, idp, in_response_to=request.request_id, relay_state=request.relay_state, now=self.clock.now()
        )
        return request, answer
