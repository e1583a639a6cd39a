"""Tenantry's access tokens as JWTs: the claims, signing, and every check a verifier makes. Pure.

Shaped after RFC 9068 (JWT profile for OAuth 2.0 access tokens) where it applies: header ``typ`` is
``at+jwt`` (RFC 8725 §3.11, explicit typing, so no other JWT signed with the same key passes as an access
token), ``alg`` is pinned to ES256 (never ``none``, never chosen by the token), ``kid`` names the signing key.
Claims: ``iss``, ``sub`` (the user id), ``aud``, ``iat``, ``exp``, ``jti`` and Tenantry's own: ``org``,
``role``, ``seat`` (the seat type or null), ``authz_version`` (the org's permissions version when the token
was issued: pass it to the check API as ``min_version``) and ``sid`` (the session it was minted from).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

ALGORITHM: Final = "ES256"
TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
MAX_LENGTH: Final = 4096  # ours are about 700 characters; anything far longer is not ours
LEEWAY: Final = 30  # seconds of clock skew tolerated on iat


class TokenRefused(Exception):
    """The token is not a valid access token; ``reason`` is a short code for the audit log."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class AccessClaims:
    iss: str
    sub: str
    aud: str
    iat: int
    exp: int
    jti: str
    org: str
    role: str
    seat: str | None
    authz_version: int
    sid: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_key() -> ECKey:
    """A fresh P-256 key pair for ES256."""
    return ECKey.generate_key("P-256", private=True)


def public_jwk(key: ECKey, kid: str) -> dict[str, Any]:
    """The public half as a JWK for ``/.well-known/jwks.json`` (RFC 7517 §4)."""
    data = dict(key.as_dict(private=False))
    data.pop("d", None)
    return {**data, "kid": kid, "use": "sig", "alg": ALGORITHM}


def sign(claims: AccessClaims, key: ECKey, kid: str) -> str:
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": kid}
    return jwt.encode(header, claims.as_dict(), key, algorithms=[ALGORITHM])


def _segment(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def header_of(token: str) -> dict[str, Any]:
    """The protected header, read before the signature is checked (only to find the key: nothing in it is
    trusted until then)."""
    parts = token.split(".")
    if len(token) > MAX_LENGTH or len(parts) != 3:
        raise TokenRefused("malformed", "The access token is not a compact JWS.")
    try:
        header = _segment(parts[0])
    except (ValueError, UnicodeError, binascii.Error):
        raise TokenRefused("malformed", "The access token's header is not base64url JSON.") from None
    if not isinstance(header, dict):
        raise TokenRefused("malformed", "The access token's header is not a JSON object.")
    if header.get("alg") != ALGORITHM:
        raise TokenRefused("wrong_algorithm", f"Access tokens are signed with {ALGORITHM} only.")
    if header.get("typ") != TOKEN_TYPE:
        raise TokenRefused("wrong_type", f"The token's typ is not {TOKEN_TYPE}: it is not an access token.")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise TokenRefused("malformed", "The access token names no signing key (kid).")
    if "crit" in header:
        raise TokenRefused("malformed", "The access token has critical header parameters we do not know.")
    return header


def verified_payload(token: str, key: ECKey) -> dict[str, Any]:
    """The payload once the signature verified under ``key``; no claim is checked yet."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError, TypeError):
        raise TokenRefused("bad_signature", "The access token's signature does not verify.") from None
    return dict(claims)


def parse_claims(payload: dict[str, Any]) -> AccessClaims:
    """Every claim present and well typed (times are integers, as RFC 7519 NumericDate we issue)."""
    try:
        return AccessClaims(
            iss=_str(payload, "iss"),
            sub=_str(payload, "sub"),
            aud=_str(payload, "aud"),
            iat=_int(payload, "iat"),
            exp=_int(payload, "exp"),
            jti=_str(payload, "jti"),
            org=_str(payload, "org"),
            role=_str(payload, "role"),
            seat=payload.get("seat") if isinstance(payload.get("seat"), str) else None,
            authz_version=_int(payload, "authz_version"),
            sid=_str(payload, "sid"),
        )
    except (KeyError, TypeError) as exc:
        raise TokenRefused("malformed", f"The access token lacks a valid {exc.args[0]!r} claim.") from None


def check_validity(claims: AccessClaims, *, issuer: str, audience: str, now: int) -> None:
    """``iss`` and ``aud`` ours, ``exp`` in the future, ``iat`` not (beyond ``LEEWAY``)."""
    if claims.iss != issuer:
        raise TokenRefused("wrong_issuer", "The access token was issued by another issuer.")
    if claims.aud != audience:
        raise TokenRefused("wrong_audience", "The access token is for another audience.")
    if claims.exp <= now:
        raise TokenRefused("expired", "The access token has expired. Ask for a new one.")
    if claims.iat > now + LEEWAY:
        raise TokenRefused("not_yet_valid", "The access token was issued in the future.")


def check_claims(payload: dict[str, Any], *, issuer: str, audience: str, now: int) -> AccessClaims:
    claims = parse_claims(payload)
    check_validity(claims, issuer=issuer, audience=audience, now=now)
    return claims


def _str(payload: dict[str, Any], name: str) -> str:
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise TypeError(name)
    return value


def _int(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if type(value) is not int:
        raise TypeError(name)
    return value
