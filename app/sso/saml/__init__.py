"""SAML 2.0 service-provider protocol core: pure functions over settings, a clock value and bytes.

No Flask, no database. The SSO views and services call these:

- :func:`validate_response` (ACS): every check python3-saml leaves to the application is done here, see
  ``validate.py``; anything wrong raises :class:`SamlRefusal` with a stable ``reason``. Replay is the
  caller's: keep ``ValidatedAssertion.replay_key`` until ``replay_expires_at``.
- :func:`authn_request` (SP-initiated login, Redirect or POST binding, always signed).
- :func:`sp_metadata` and :func:`parse_idp_metadata` (hardened: no DTD, size-limited);
  :func:`idp_settings_from_fields` for settings typed in by an admin.
- Keys: :func:`certificate_not_after` (for the IdP certificate expiry warning).
- Single logout: :func:`logout_request` (SP-initiated, signed Redirect), :func:`validate_logout_response`,
  :func:`validate_logout_request` (IdP-initiated) and :func:`logout_response` (our answer to it).
"""

from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.keys import certificate_not_after
from app.sso.saml.logout import (
    logout_request,
    logout_response,
    validate_logout_request,
    validate_logout_response,
)
from app.sso.saml.metadata import idp_settings_from_fields, parse_idp_metadata, sp_metadata
from app.sso.saml.requests import authn_request
from app.sso.saml.settings import (
    BINDING_POST,
    BINDING_REDIRECT,
    DEFAULT_CLOCK_SKEW,
    AuthnRequestOut,
    IdpLogoutRequest,
    IdpSettings,
    InboundMessage,
    RedirectOut,
    SpKey,
    SpSettings,
    ValidatedAssertion,
)
from app.sso.saml.validate import validate_response

__all__ = [
    "BINDING_POST",
    "BINDING_REDIRECT",
    "DEFAULT_CLOCK_SKEW",
    "AuthnRequestOut",
    "IdpLogoutRequest",
    "IdpSettings",
    "InboundMessage",
    "Reason",
    "RedirectOut",
    "SamlRefusal",
    "SpKey",
    "SpSettings",
    "ValidatedAssertion",
    "authn_request",
    "certificate_not_after",
    "idp_settings_from_fields",
    "logout_request",
    "logout_response",
    "parse_idp_metadata",
    "sp_metadata",
    "validate_logout_request",
    "validate_logout_response",
    "validate_response",
]
