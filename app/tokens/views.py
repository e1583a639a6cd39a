"""``POST /v1/sessions/token``: a short-lived access token minted from the caller's member session."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.tokens.schemas import AccessTokenOut
from app.web import authenticate, services


@operation(
    v1,
    "/sessions/token",
    "POST",
    summary="Mint an access token from my session",
    tag="accounts",
    auth="any",
    response=AccessTokenOut,
    errors=(403,),
    description="Needs a member session (Authorization: Bearer tnt_ses_…); API keys and access tokens "
    "get 403. The token names the org, user, role, seat and the org's permissions version, expires after "
    "TENANTRY_ACCESS_TOKEN_TTL seconds, and is accepted by /v1 and the check API, which use the member's "
    "current role and status (a removed or suspended member's token stops working at once). Other services "
    "verify it against /.well-known/jwks.json (docs/tokens.md).",
)
def mint_access_token() -> AccessTokenOut:
    issued = services().access_tokens.issue(authenticate())
    return AccessTokenOut(access_token=issued.token, expires_in=issued.expires_in)
