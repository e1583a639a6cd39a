"""Who logged in: the ID token's claims merged with the userinfo response (OIDC Core §5.3), read through the
connection's attribute mapping (email, names, groups), as Tenantry's identity rules then consume them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.sso.oidc.discovery import ProviderMetadata
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.http import OidcHttp, fetch_json
from app.sso.oidc.id_token import IdToken

MAX_GROUPS = 1000


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims carry what (a connection's attribute mapping). Defaults: the standard OIDC claims, and
    ``groups`` as Okta and Entra ID (with the groups claim configured) send it."""

    email: str = "email"
    first_name: str = "given_name"
    last_name: str = "family_name"
    name: str = "name"
    groups: str = "groups"
    require_verified_email: bool = True  # ``email_verified: false`` refuses the login when it is sent


@dataclass(frozen=True)
class OidcIdentity:
    issuer: str
    subject: str
    email: str
    email_verified: bool | None  # None when the IdP does not say
    first_name: str | None
    last_name: str | None
    name: str | None
    groups: tuple[str, ...]
    claims: Mapping[str, Any]  # the merged claims, for mappings beyond these


def fetch_userinfo(http: OidcHttp, metadata: ProviderMetadata, access_token: str) -> dict[str, Any]:
    """§5.3.1: GET the userinfo endpoint with the access token (JSON; signed userinfo is not asked for)."""
    if metadata.userinfo_endpoint is None:
        return {}
    return fetch_json(
        http,
        metadata.userinfo_endpoint,
        "userinfo response",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )


def merge_identity(
    id_token: IdToken, userinfo: Mapping[str, Any], mapping: ClaimMapping, issuer: str
) -> OidcIdentity:
    """The ID token's claims, completed by userinfo. §5.3.4: userinfo's ``sub`` must be the ID token's, or its
    answer is about someone else and is not used at all."""
    if userinfo:
        if userinfo.get("sub") != id_token.sub:
            raise OidcRefusal(
                RefusalReason.USERINFO_SUBJECT_MISMATCH,
                "The userinfo answer is about another person than the ID token.",
            )
    # The ID token is signed; where both carry a claim, it wins.
    claims: dict[str, Any] = {**userinfo, **id_token.claims}
    email = claims.get(mapping.email)
    if not isinstance(email, str) or "@" not in email:
        raise OidcRefusal(
            RefusalReason.MISSING_EMAIL,
            f"The identity provider did not send an email address ({mapping.email!r}).",
        )
    verified = claims.get("email_verified")
    if isinstance(verified, str):  # some IdPs send "true" and "false"
        verified = {"true": True, "false": False}.get(verified.lower())
    if not isinstance(verified, bool):
        verified = None
    if mapping.require_verified_email and verified is False:
        raise OidcRefusal(
            RefusalReason.EMAIL_NOT_VERIFIED, "The identity provider has not verified this email address."
        )
    return OidcIdentity(
        issuer=issuer,
        subject=id_token.sub,
        email=email.strip(),
        email_verified=verified,
        first_name=_text(claims.get(mapping.first_name)),
        last_name=_text(claims.get(mapping.last_name)),
        name=_text(claims.get(mapping.name)),
        groups=_groups(claims.get(mapping.groups)),
        claims=claims,
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _groups(value: Any) -> tuple[str, ...]:
    """A list of group names, or one name; anything else (Entra's overage marker, objects) is no group."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    names = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return tuple(dict.fromkeys(names))[:MAX_GROUPS]
