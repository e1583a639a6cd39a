"""Every way an OIDC login is refused, as one typed error with a closed set of reasons (for the audit event
and the page the browser gets). Nothing an IdP sends escapes as another exception."""

from __future__ import annotations

from enum import StrEnum

from app.errors import AppError


class RefusalReason(StrEnum):
    DISCOVERY_INVALID = (
        "discovery_invalid"  # OIDC Discovery §4: the document is not what the issuer must serve
    )
    DISCOVERY_ISSUER_MISMATCH = "discovery_issuer_mismatch"  # OIDC Discovery §4.3
    IDP_UNREACHABLE = "idp_unreachable"  # a fetch failed or answered an error status
    BAD_RESPONSE = "bad_response"  # not JSON, not an object, too large, a field of the wrong type
    IDP_ERROR = "idp_error"  # RFC 6749 §4.1.2.1: the IdP answered the callback with an error
    STATE_MISMATCH = "state_mismatch"  # RFC 6749 §10.12: not the request this browser started
    CALLBACK_ISSUER_MISMATCH = "callback_issuer_mismatch"  # RFC 9207: mix-up between identity providers
    CALLBACK_ISSUER_MISSING = "callback_issuer_missing"  # RFC 9207 §2.4: advertised but absent
    MISSING_CODE = "missing_code"
    TOKEN_ERROR = "token_error"  # noqa: S105 - RFC 6749 §5.2 (invalid_grant: wrong code or PKCE verifier)
    MISSING_ID_TOKEN = "missing_id_token"  # noqa: S105 - a reason, not a secret
    MALFORMED_ID_TOKEN = "malformed_id_token"  # noqa: S105 - a reason, not a secret
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"  # none, HS*, or anything off the fixed allowlist
    UNKNOWN_KEY = "unknown_key"  # no JWKS key with the token's kid, even after one refetch
    KEY_MISMATCH = "key_mismatch"  # the key's type or curve does not fit the algorithm
    BAD_SIGNATURE = "bad_signature"
    ISSUER_MISMATCH = "issuer_mismatch"  # OIDC Core §3.1.3.7 step 2
    AUDIENCE_MISMATCH = "audience_mismatch"  # step 3
    AUTHORIZED_PARTY_MISMATCH = "authorized_party_mismatch"  # steps 4 and 5
    EXPIRED = "expired"  # step 9
    ISSUED_IN_FUTURE = "issued_in_future"  # step 10
    NOT_YET_VALID = "not_yet_valid"  # nbf
    NONCE_MISMATCH = "nonce_mismatch"  # step 11
    AT_HASH_MISMATCH = "at_hash_mismatch"  # §3.1.3.8
    USERINFO_SUBJECT_MISMATCH = "userinfo_subject_mismatch"  # §5.3.4
    MISSING_EMAIL = "missing_email"
    EMAIL_NOT_VERIFIED = "email_not_verified"


class OidcRefusal(AppError):
    """An OIDC login refused for ``reason``; ``detail`` says what was wrong in words a person can act on."""

    status, code, title = 403, "sso_login_refused", "Sign-in refused"

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason

    def __repr__(self) -> str:
        return f"OidcRefusal({self.reason.value!r}, {self.detail!r})"
