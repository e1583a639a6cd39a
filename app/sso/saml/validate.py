"""ACS validation of a SAML Response (Web Browser SSO profile, SAML 2.0 profiles §4.1.4)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.sso.saml.settings import IdpSettings, SpSettings, ValidatedAssertion


def validate_response(
    saml_response_b64: str,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str | None,
    allow_unsolicited: bool,
    now: datetime,
    clock_skew: timedelta,
) -> ValidatedAssertion:
    """Validate a POSTed SAMLResponse; raise SamlRefusal on anything wrong."""
    raise NotImplementedError
