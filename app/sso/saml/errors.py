"""The one error the SAML core raises: a refusal with a stable reason code.

Every failure (bad XML, a library exception, a failed check) leaves this package as :class:`SamlRefusal`;
callers record ``reason`` in the audit event and show ``detail`` only to operators.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Closed catalogue of refusal reasons (stable snake_case codes, safe to aggregate and alert on)."""

    # Transport and parsing
    MALFORMED_BASE64 = "malformed_base64"
    TOO_LARGE = "too_large"
    MALFORMED_XML = "malformed_xml"
    DOCTYPE_FORBIDDEN = "doctype_forbidden"  # any DTD: XXE, entity expansion ("billion laughs")
    SCHEMA_INVALID = "schema_invalid"
    WRONG_MESSAGE = "wrong_message"  # e.g. an AuthnRequest posted to the ACS
    VERSION_UNSUPPORTED = "version_unsupported"
    # Structure
    ASSERTION_COUNT = "assertion_count"  # zero, or more than one assertion (plain or encrypted)
    DUPLICATE_ID = "duplicate_id"
    UNEXPECTED_SIGNATURE = "unexpected_signature"  # a ds:Signature anywhere but Response/Assertion children
    COMMENT_INJECTION = "comment_injection"  # comment/PI inside the assertion (CVE-2017-11427 family)
    # Signatures
    SIGNATURE_INVALID = "signature_invalid"
    SIGNATURE_REFERENCE_INVALID = "signature_reference_invalid"  # not exactly one "#<parent ID>" reference
    TRANSFORM_FORBIDDEN = "transform_forbidden"
    SHA1_REFUSED = "sha1_refused"
    ALGORITHM_REFUSED = "algorithm_refused"
    ASSERTION_UNSIGNED = "assertion_unsigned"
    MESSAGE_UNSIGNED = "message_unsigned"  # logout messages must be signed
    NO_IDP_CERTIFICATE = "no_idp_certificate"
    # Encryption
    DECRYPTION_FAILED = "decryption_failed"
    ENCRYPTION_ALGORITHM_REFUSED = "encryption_algorithm_refused"
    # Protocol checks
    STATUS_NOT_SUCCESS = "status_not_success"
    DESTINATION_MISSING = "destination_missing"
    DESTINATION_MISMATCH = "destination_mismatch"
    ISSUER_MISMATCH = "issuer_mismatch"
    IN_RESPONSE_TO_MISMATCH = "in_response_to_mismatch"
    UNSOLICITED = "unsolicited"
    AUDIENCE_MISSING = "audience_missing"
    AUDIENCE_MISMATCH = "audience_mismatch"
    RECIPIENT_MISMATCH = "recipient_mismatch"
    SUBJECT_CONFIRMATION_MISSING = "subject_confirmation_missing"
    NAME_ID_MISSING = "name_id_missing"
    AUTHN_STATEMENT_MISSING = "authn_statement_missing"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    # Metadata and logout
    METADATA_INVALID = "metadata_invalid"
    SLO_NOT_SUPPORTED = "slo_not_supported"  # the IdP has no SingleLogoutService
    # Anything the library raised that no check above names (still a refusal, never a 500)
    LIBRARY_ERROR = "library_error"


class SamlRefusal(Exception):
    """A SAML message was refused. ``reason`` is a :class:`Reason` (a str); ``detail`` is for operators."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail: str = detail
