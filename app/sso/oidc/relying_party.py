"""One OIDC login from start to identity, composed from the pure steps, for the SSO service to call.

The caller owns the state between the two halves (the ``PendingAuthorization``, bound to the browser), the
``JwksCache`` per connection, and the ``OidcHttp`` with its SSRF policy. Failures are ``OidcRefusal``s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from app.clock import Clock
from app.sso.oidc.authorize import PendingAuthorization, begin_authorization, read_callback
from app.sso.oidc.discovery import ProviderMetadata
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import OidcHttp
from app.sso.oidc.id_token import DEFAULT_SKEW, validate_id_token
from app.sso.oidc.identity import ClaimMapping, OidcIdentity, fetch_userinfo, merge_identity
from app.sso.oidc.jwks import JwksCache
from app.sso.oidc.tokens import exchange_code


@dataclass(frozen=True)
class OidcClientSettings:
    """A connection's client at its IdP."""

    client_id: str
    client_secret: str | None
    redirect_uri: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    mapping: ClaimMapping = field(default_factory=ClaimMapping)
    token_endpoint_auth_method: str | None = None  # client_secret_basic or _post; None: as the issuer offers


class RelyingParty:
    def __init__(self, http: OidcHttp, clock: Clock, *, skew: timedelta = DEFAULT_SKEW) -> None:
        self.http = http
        self.clock = clock
        self.skew = skew

    def begin(
        self,
        metadata: ProviderMetadata,
        client: OidcClientSettings,
        *,
        extra: Mapping[str, str] | None = None,
    ) -> tuple[str, PendingAuthorization]:
        return begin_authorization(
            metadata,
            client_id=client.client_id,
            redirect_uri=client.redirect_uri,
            scopes=client.scopes,
            extra=extra,
        )

    def complete(
        self,
        metadata: ProviderMetadata,
        client: OidcClientSettings,
        jwks: JwksCache,
        pending: PendingAuthorization,
        callback_query: Mapping[str, str],
    ) -> OidcIdentity:
        """The callback's query → the identity: state and iss checked, code redeemed with the PKCE verifier,
        ID token validated, userinfo merged when the ID token lacks a mapped claim."""
        if pending.client_id != client.client_id or pending.redirect_uri != client.redirect_uri:
            raise OidcRefusal(RefusalReason.STATE_MISMATCH, "The sign-in was started for another connection.")
        code = read_callback(callback_query, pending, metadata)
        tokens = exchange_code(
            self.http, metadata, pending, code, client.client_secret, client.token_endpoint_auth_method
        )
        id_token = validate_id_token(
            tokens.id_token,
            metadata=metadata,
            client_id=client.client_id,
            nonce=pending.nonce,
            jwks=jwks,
            clock=self.clock,
            access_token=tokens.access_token,
            skew=self.skew,
        )
        userinfo = (
            fetch_userinfo(self.http, metadata, tokens.access_token)
            if tokens.access_token and _needs_userinfo(id_token.claims, client.mapping, client.scopes)
            else {}
        )
        return merge_identity(id_token, userinfo, client.mapping, metadata.issuer)


def _needs_userinfo(claims: Mapping[str, object], mapping: ClaimMapping, scopes: Sequence[str]) -> bool:
    wanted = [mapping.email, mapping.first_name, mapping.last_name]
    if "groups" in scopes:
        wanted.append(mapping.groups)
    return any(name not in claims for name in wanted)
