"""OpenID Connect Discovery 1.0: the issuer's configuration document, parsed and checked once, then trusted.

What the document may not do: change the issuer (§4.3), point an endpoint at plain http (outside tests), or
widen the signing algorithms; it can only narrow ``ALLOWED_ALGORITHMS``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import OidcHttp, fetch_json

# Fixed: asymmetric algorithms only, so never ``none`` and never an HMAC keyed with a public key.
ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "PS256")
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]  # ALLOWED_ALGORITHMS that the issuer also advertises, in our order
    token_endpoint_auth_methods: tuple[str, ...]
    iss_parameter_supported: bool  # RFC 9207 authorization_response_iss_parameter_supported
    scopes_supported: tuple[str, ...] | None


def discovery_url(issuer: str) -> str:
    """OIDC Discovery §4.1: a terminating slash of the issuer is removed before the well-known path."""
    return issuer.rstrip("/") + WELL_KNOWN


def discover(http: OidcHttp, issuer: str, *, allow_http: bool = False) -> ProviderMetadata:
    """Fetch and check ``issuer``'s configuration (``allow_http`` only for tests on loopback)."""
    return parse_discovery(fetch_json(http, discovery_url(issuer), "discovery document"), issuer, allow_http)


def parse_discovery(
    doc: Mapping[str, Any], expected_issuer: str, allow_http: bool = False
) -> ProviderMetadata:
    issuer = _string(doc, "issuer")
    if issuer != expected_issuer:
        raise OidcRefusal(
            RefusalReason.DISCOVERY_ISSUER_MISMATCH,
            f"The discovery document names issuer {issuer!r}, not the configured {expected_issuer!r}.",
        )
    _url(issuer, "issuer", allow_http)
    endpoints = {
        name: _url(_string(doc, name), name, allow_http)
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    }
    optional = {
        name: _url(value, name, allow_http) if (value := _optional_string(doc, name)) is not None else None
        for name in ("userinfo_endpoint", "end_session_endpoint")
    }
    if "code" not in _strings(doc, "response_types_supported", required=True):
        raise _invalid("the issuer does not support the authorization code flow (response_types_supported)")
    advertised = _strings(doc, "id_token_signing_alg_values_supported", required=True)
    algorithms = tuple(a for a in ALLOWED_ALGORITHMS if a in advertised)
    if not algorithms:
        raise _invalid(
            f"none of the issuer's signing algorithms {advertised} is allowed ({ALLOWED_ALGORITHMS})"
        )
    pkce = _strings(doc, "code_challenge_methods_supported", required=False)
    # Entra ID omits the field yet takes S256; an issuer that lists methods without S256 cannot do PKCE.
    if pkce and "S256" not in pkce:
        raise _invalid("the issuer does not support PKCE with S256 (code_challenge_methods_supported)")
    auth_methods = _strings(doc, "token_endpoint_auth_methods_supported", required=False) or (
        "client_secret_basic",
    )
    iss_supported = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_supported, bool):
        raise _invalid("authorization_response_iss_parameter_supported is not a boolean")
    scopes = _strings(doc, "scopes_supported", required=False)
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        userinfo_endpoint=optional["userinfo_endpoint"],
        end_session_endpoint=optional["end_session_endpoint"],
        algorithms=algorithms,
        token_endpoint_auth_methods=auth_methods,
        iss_parameter_supported=iss_supported,
        scopes_supported=scopes or None,
    )


def _invalid(why: str) -> OidcRefusal:
    return OidcRefusal(RefusalReason.DISCOVERY_INVALID, f"The discovery document is not usable: {why}.")


def _string(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{name} is missing or not a string")
    return value


def _optional_string(doc: Mapping[str, Any], name: str) -> str | None:
    return None if doc.get(name) is None else _string(doc, name)


def _strings(doc: Mapping[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = doc.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise _invalid(f"{name} is missing or not a list of strings")
    return tuple(value)


def _url(value: str, name: str, allow_http: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise _invalid(f"{name} {value!r} is not an https URL")
    if not parts.hostname or parts.fragment or parts.username or parts.password:
        raise _invalid(f"{name} {value!r} is not a plain absolute URL")
    return value
