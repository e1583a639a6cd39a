"""Single logout (SAML 2.0 core §3.7): SP-initiated request, IdP-initiated request and our response."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.sso.saml.settings import IdpLogoutRequest, IdpSettings, InboundMessage, RedirectOut, SpSettings


def logout_request(
    sp: SpSettings,
    idp: IdpSettings,
    *,
    name_id: str,
    name_id_format: str | None,
    session_index: str | None,
    relay_state: str | None,
    now: datetime,
    request_id: str | None = None,
) -> RedirectOut:
    """A signed LogoutRequest (HTTP-Redirect) to ``idp.slo_url``; keep ``message_id`` for the response."""
    raise NotImplementedError


def validate_logout_response(
    message: InboundMessage,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str,
    now: datetime,
    clock_skew: timedelta,
) -> None:
    """Accept the IdP's LogoutResponse to our request or raise SamlRefusal (status not Success included)."""
    raise NotImplementedError


def validate_logout_request(
    message: InboundMessage,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    now: datetime,
    clock_skew: timedelta,
) -> IdpLogoutRequest:
    """An IdP-initiated LogoutRequest, signed (query signature or embedded), for our SLO URL."""
    raise NotImplementedError


def logout_response(
    sp: SpSettings,
    idp: IdpSettings,
    *,
    in_response_to: str,
    relay_state: str | None,
    now: datetime,
    success: bool = True,
    response_id: str | None = None,
) -> RedirectOut:
    """Our signed LogoutResponse (HTTP-Redirect) to the IdP's SLO response location."""
    raise NotImplementedError
