"""The back channel: the authorization code redeemed at the token endpoint (RFC 6749 §4.1.3) with the PKCE
verifier (RFC 7636 §4.5) and the client's authentication (§2.3.1)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

from app.sso.oidc.authorize import PendingAuthorization
from app.sso.oidc.discovery import ProviderMetadata
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import OidcHttp, json_object


@dataclass(frozen=True)
class TokenResponse:
    id_token: str
    access_token: str | None
    token_type: str | None
    scope: str | None


def exchange_code(
    http: OidcHttp,
    metadata: ProviderMetadata,
    pending: PendingAuthorization,
    code: str,
    client_secret: str | None,
    auth_method: str | None = None,
) -> TokenResponse:
    """Redeem ``code``. ``auth_method`` is the client's registered token endpoint authentication
    (``client_secret_basic`` or ``client_secret_post``); None picks basic when the issuer offers it (RFC 6749
    §2.3.1 says servers must), else post. Without a secret the client is public and PKCE is its only proof."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.code_verifier,
    }
    headers = {"Accept": "application/json"}
    if client_secret is None:
        form["client_id"] = pending.client_id  # a public client (§2.3: none), its proof is PKCE alone
    elif (auth_method or _default_auth_method(metadata)) == "client_secret_basic":
        # §2.3.1: each part is form-urlencoded before the Basic encoding.
        pair = f"{quote(pending.client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        form |= {"client_id": pending.client_id, "client_secret": client_secret}
    try:
        response = http.post_form(metadata.token_endpoint, form, headers=headers)
    except OSError as exc:
        raise OidcRefusal(
            RefusalReason.IDP_UNREACHABLE, f"The token endpoint could not be reached: {exc}."
        ) from exc
    try:
        body = json_object(response.body, "token response")
    except OidcRefusal:
        if response.status == 200:
            raise
        body = {}  # an error status with a body that is not JSON: the status says enough
    if response.status != 200 or "error" in body:
        error = str(body.get("error", f"HTTP {response.status}"))[:100]
        description = str(body.get("error_description", ""))[:300]
        raise OidcRefusal(
            RefusalReason.TOKEN_ERROR,
            f"The identity provider did not redeem the code: {error}"
            + (f" ({description})" if description else "")
            + ".",
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcRefusal(RefusalReason.MISSING_ID_TOKEN, "The token response has no ID token.")
    access_token = body.get("access_token")
    token_type = body.get("token_type")
    scope = body.get("scope")
    return TokenResponse(
        id_token=id_token,
        access_token=access_token if isinstance(access_token, str) and access_token else None,
        token_type=token_type if isinstance(token_type, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _default_auth_method(metadata: ProviderMetadata) -> str:
    methods = metadata.token_endpoint_auth_methods
    return "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
