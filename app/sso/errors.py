"""Typed errors of SSO connections and browser logins; each front door renders them once."""

from __future__ import annotations

from app.errors import AppError, Forbidden, ValidationFailed


class UnsupportedConnectionType(ValidationFailed):
    code, title = "unsupported_connection_type", "Connection type not supported yet"


class InvalidIdpSettings(ValidationFailed):
    code, title = "invalid_idp_settings", "Invalid identity provider settings"


class MetadataUnavailable(ValidationFailed):
    code, title = "idp_metadata_unavailable", "Identity provider metadata unavailable"


class KeyNotRemovable(ValidationFailed):
    code, title = "sp_key_not_removable", "Key cannot be removed"


class LoginRefused(Forbidden):
    """A browser login refused for a reason the person can act on (the page says it; the audit event
    carries ``reason``)."""

    code, title = "sso_login_refused", "Sign-in refused"


class LoginFailed(AppError):
    """A SAML response we could not accept (bad signature, replay, expired...): 400, never a 500."""

    status, code, title = 400, "sso_login_failed", "Sign-in failed"
    operator_detail: str | None = None  # the SAML core's explanation: audit and log, never the page


class NoConnection(AppError):
    status, code, title = 404, "sso_not_configured", "Single sign-on not available"


class SsoRequired(Forbidden):
    """The org enforces SSO for this address: other ways in are refused (owners: the break-glass email code
    of the next issue)."""

    code, title = "sso_required", "Single sign-on required"
