"""Settings and results of the SAML core: plain frozen dataclasses, no Flask, no database.

The caller (the SSO connection service) builds them from a stored connection; the core reads no configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

Binding = Literal["redirect", "post"]


@dataclass(frozen=True)
class IdpSettings:
    """One identity provider as configured on a connection."""

    entity_id: str
    sso_url: str
    sso_binding: str  # BINDING_REDIRECT or BINDING_POST (what the IdP advertises for SingleSignOnService)
    slo_url: str | None
    certificates: tuple[str, ...]  # PEM signing certificates; several during the IdP's rollover
    slo_response_url: str | None = None  # SingleLogoutService ResponseLocation when it differs from slo_url


@dataclass(frozen=True)
class SpKey:
    """A key pair of ours (PEM, the private key unencrypted: the caller decrypts it from storage)."""

    private_key_pem: str
    certificate_pem: str


@dataclass(frozen=True)
class SpSettings:
    """Tenantry's service provider for one connection."""

    entity_id: str
    acs_url: str
    slo_url: str
    signing: SpKey
    decryption: tuple[SpKey, ...] = ()  # current first, previous ones during a rotation overlap
    # Certificates of previous signing keys, published in metadata beside the current one during a rotation's
    # overlap (IdPs that pinned the old certificate pick the new one up first); they sign nothing.
    extra_signing_certificates: tuple[str, ...] = ()
    name_id_format: str | None = NAMEID_EMAIL  # NameIDPolicy of AuthnRequests; None sends no policy


@dataclass(frozen=True)
class ValidatedAssertion:
    """What a valid Response asserted. Only produced by ``validate_response``.

    Replay is the caller's job (shared cache): remember ``replay_key`` until ``replay_expires_at`` and refuse
    it when seen again. ``not_on_or_after`` is the earliest bound of the assertion's validity (Conditions and
    the bearer SubjectConfirmationData); ``replay_expires_at`` adds the clock skew the check allowed.
    """

    assertion_id: str
    issuer: str
    in_response_to: str | None
    name_id: str
    name_id_format: str | None
    session_index: str | None
    not_on_or_after: datetime
    attributes: dict[str, list[str]]
    response_id: str = ""
    session_not_on_or_after: datetime | None = None  # AuthnStatement SessionNotOnOrAfter: cap the session
    authn_instant: datetime | None = None
    replay_expires_at: datetime | None = None
    signed_response: bool = False  # the Response element itself carried a valid signature
    encrypted: bool = False  # the assertion arrived as an EncryptedAssertion
    attribute_friendly_names: dict[str, str] = field(default_factory=dict)  # Name -> FriendlyName

    @property
    def replay_key(self) -> str:
        """Assertion IDs are unique per issuer: key the replay cache on both."""
        return f"{self.issuer}\n{self.assertion_id}"


@dataclass(frozen=True)
class AuthnRequestOut:
    """An AuthnRequest ready to send. Redirect: go to ``url``. POST: auto-submit ``fields`` to ``action``."""

    request_id: str  # bind to the browser (login transaction cookie); pass back as expected_request_id
    binding: Binding
    url: str | None = None
    action: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    xml: str = ""  # the request document (for logs and tests)


@dataclass(frozen=True)
class RedirectOut:
    """A message sent with the HTTP-Redirect binding (signed query string)."""

    message_id: str
    url: str
    xml: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A SAMLRequest/SAMLResponse as received by a view.

    Redirect binding: build with :meth:`from_query` from the RAW query string (the detached signature covers
    the exact bytes sent, so it must not be re-encoded): in Flask
    ``request.query_string.decode("latin-1")``. POST binding: :meth:`from_form` from ``request.form``.
    """

    binding: Binding
    saml_b64: str
    relay_state: str | None
    raw_query: str | None = None
    is_request: bool = False  # SAMLRequest (True) or SAMLResponse (False)

    @classmethod
    def from_query(cls, raw_query: str) -> InboundMessage:
        from app.sso.saml.redirect import inbound_from_query

        return inbound_from_query(raw_query)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> InboundMessage:
        from app.sso.saml.redirect import inbound_from_form

        return inbound_from_form(form)


@dataclass(frozen=True)
class IdpLogoutRequest:
    """A validated IdP-initiated LogoutRequest: end the sessions of ``name_id`` (these indexes)."""

    request_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    session_indexes: tuple[str, ...]
    relay_state: str | None


DEFAULT_CLOCK_SKEW = timedelta(seconds=120)
MAX_CLOCK_SKEW = timedelta(minutes=5)  # a larger setting is capped: skew widens every replay window
MAX_MESSAGE_BYTES = 256 * 1024  # decoded XML; real responses are a few KB, metadata a few tens of KB
MAX_METADATA_BYTES = 1024 * 1024
