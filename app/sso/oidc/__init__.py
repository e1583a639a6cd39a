"""OpenID Connect relying party, the protocol core (issue 12): pure, no Flask, no database.

- ``discovery``: the issuer's configuration (``discover``, ``parse_discovery``, ``ProviderMetadata``);
- ``authorize``: the authorization URL with PKCE S256, state and nonce (``begin_authorization``) and the
  callback check, RFC 9207 ``iss`` included (``read_callback``);
- ``tokens``: the code exchange (``exchange_code``);
- ``jwks``: the issuer's keys per connection, refetched once on an unknown ``kid`` and at most once a minute;
- ``id_token``: validation with a fixed algorithm allowlist (``validate_id_token``);
- ``identity``: userinfo and the attribute mapping (``merge_identity``, ``OidcIdentity``);
- ``relying_party``: the steps composed (``RelyingParty.begin`` / ``complete``).

The network is reached only through an injected ``OidcHttp`` (``http``), time through a ``Clock``; every
refusal is an ``OidcRefusal`` with a ``RefusalReason``.
"""

from app.sso.oidc.authorize import PendingAuthorization, begin_authorization, code_challenge, read_callback
from app.sso.oidc.discovery import (
    ALLOWED_ALGORITHMS,
    ProviderMetadata,
    discover,
    discovery_url,
    parse_discovery,
)
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import HttpResponse, OidcHttp
from app.sso.oidc.id_token import IdToken, validate_id_token
from app.sso.oidc.identity import ClaimMapping, OidcIdentity, fetch_userinfo, merge_identity
from app.sso.oidc.jwks import JwksCache
from app.sso.oidc.relying_party import OidcClientSettings, RelyingParty
from app.sso.oidc.tokens import TokenResponse, exchange_code

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ClaimMapping",
    "HttpResponse",
    "IdToken",
    "JwksCache",
    "OidcClientSettings",
    "OidcHttp",
    "OidcIdentity",
    "OidcRefusal",
    "PendingAuthorization",
    "ProviderMetadata",
    "RefusalReason",
    "RelyingParty",
    "TokenResponse",
    "begin_authorization",
    "code_challenge",
    "discover",
    "discovery_url",
    "exchange_code",
    "fetch_userinfo",
    "merge_identity",
    "parse_discovery",
    "read_callback",
    "validate_id_token",
]
