"""The OIDC parts of ``/v1/orgs/{org}/sso-connections`` bodies (app/sso/schemas.py composes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api.schema import RequestBody, ResponseBody

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
Scope = str


class OidcFieldsIn(RequestBody):
    """``type: "oidc"``: the issuer (its discovery document is fetched now, over https from a public address,
    then refreshed by the worker), the client registered there, the scopes asked for, and how the client
    authenticates at the token endpoint (default: as the issuer offers, basic first; ``none`` for a public
    client without a secret, PKCE alone)."""

    issuer: str | None = Field(default=None, min_length=1, max_length=1024)
    client_id: str | None = Field(default=None, min_length=1, max_length=255)
    client_secret: str | None = Field(default=None, min_length=1, max_length=1024)
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Default openid, email, profile; add groups (Okta) or others as the IdP names them.",
    )
    token_endpoint_auth_method: AuthMethod | None = None

    def oidc_given(self) -> bool:
        return any(
            v is not None
            for v in (
                self.issuer,
                self.client_id,
                self.client_secret,
                self.scopes,
                self.token_endpoint_auth_method,
            )
        )


class OidcSettingsOut(ResponseBody):
    issuer: str | None
    client_id: str | None
    client_secret_set: bool = Field(description="The secret itself is never shown (sealed at rest).")
    scopes: list[str]
    token_endpoint_auth_method: str | None
    authorization_endpoint: str | None
    discovery_fetched_at: datetime | None
    discovery_error: str | None
