"""The front channel: the authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636, and OIDC's nonce) and
the callback that answers it (state, RFC 9207 ``iss``, the code).

``begin_authorization`` returns the URL to send the browser to and a ``PendingAuthorization`` that the caller
keeps bound to that browser (server-side, keyed by a cookie) until the callback: it holds the secrets the
browser must never see (the PKCE verifier) and those it must echo (state; the nonce, in the ID token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.sso.oidc.discovery import ProviderMetadata
from app.sso.oidc.errors import OidcRefusal, RefusalReason


@dataclass(frozen=True)
class PendingAuthorization:
    issuer: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


def code_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: S256, BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def begin_authorization(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str] = ("openid", "email", "profile"),
    extra: Mapping[str, str] | None = None,
    token: Callable[[int], str] = secrets.token_urlsafe,
) -> tuple[str, PendingAuthorization]:
    """The authorization URL (code flow, PKCE S256, state, nonce) and what to keep until the callback.
    ``extra`` adds parameters such as ``login_hint`` or ``prompt``; it cannot replace the protocol's own."""
    if "openid" not in scopes:
        scopes = ("openid", *scopes)
    pending = PendingAuthorization(
        issuer=metadata.issuer,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=token(32),
        nonce=token(32),
        code_verifier=token(64),  # 86 characters: within RFC 7636's 43 to 128
    )
    params = {
        **(extra or {}),
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(dict.fromkeys(scopes)),
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": code_challenge(pending.code_verifier),
        "code_challenge_method": "S256",
    }
    parts = urlsplit(metadata.authorization_endpoint)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query)), pending


def read_callback(query: Mapping[str, str], pending: PendingAuthorization, metadata: ProviderMetadata) -> str:
    """The authorization code of a callback, once proven to answer ``pending`` from ``metadata``'s issuer.

    Order matters: state first (a callback that is not this browser's request says nothing worth reading),
    then the issuer (RFC 9207 §2.4: before an error or a code is acted upon), then the error or the code."""
    state = query.get("state")
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise OidcRefusal(
            RefusalReason.STATE_MISMATCH, "The sign-in answer does not match a sign-in started here."
        )
    if pending.issuer != metadata.issuer:
        raise OidcRefusal(
            RefusalReason.CALLBACK_ISSUER_MISMATCH,
            "The sign-in was started with another identity provider than the one completing it.",
        )
    iss = query.get("iss")
    if iss is not None and iss != metadata.issuer:
        raise OidcRefusal(
            RefusalReason.CALLBACK_ISSUER_MISMATCH,
            f"The answer comes from issuer {iss!r}, not from {metadata.issuer!r} (RFC 9207).",
        )
    if iss is None and metadata.iss_parameter_supported:
        raise OidcRefusal(
            RefusalReason.CALLBACK_ISSUER_MISSING,
            "The identity provider promises an iss parameter on its answers; this one has none (RFC 9207).",
        )
    if "error" in query:
        description = query.get("error_description", "")[:300]
        raise OidcRefusal(
            RefusalReason.IDP_ERROR,
            f"The identity provider refused the sign-in: {query['error'][:100]}"
            + (f" ({description})" if description else "")
            + ".",
        )
    code = query.get("code")
    if not code:
        raise OidcRefusal(
            RefusalReason.MISSING_CODE, "The identity provider's answer has no authorization code."
        )
    return code
