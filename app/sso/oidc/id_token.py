"""ID token validation, OpenID Connect Core 1.0 §3.1.3.7, with nothing taken from the token on trust.

The algorithm comes from a fixed allowlist (``discovery.ALLOWED_ALGORITHMS``, narrowed by what the issuer
advertises), never from the token alone; the key comes from the issuer's JWKS by ``kid`` and must be of
the algorithm's type, so an HMAC "signed" with a public key or an unsigned token has no way in. Then iss,
aud, azp, exp, iat, nbf and nonce are checked with a bounded clock skew, and at_hash with an access token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from app.clock import Clock
from app.sso.oidc.discovery import ProviderMetadata
from app.sso.oidc.errors import OidcRefusal, RefusalReason
from app.sso.oidc.jwks import JwksCache, PublicKey

DEFAULT_SKEW = timedelta(seconds=120)
MAX_ISSUED_AGE = timedelta(minutes=10)
MAX_TOKEN_BYTES = 16 * 1024
# The key type each allowed algorithm needs (RFC 7518 §3, RFC 8037 §3.1).
KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


@dataclass(frozen=True)
class IdToken:
    """A validated ID token: its subject and every claim it carries, and how it was signed."""

    sub: str
    claims: Mapping[str, Any]
    algorithm: str
    kid: str | None


def validate_id_token(
    raw: str,
    *,
    metadata: ProviderMetadata,
    client_id: str,
    nonce: str,
    jwks: JwksCache,
    clock: Clock,
    access_token: str | None = None,
    skew: timedelta = DEFAULT_SKEW,
    max_issued_age: timedelta = MAX_ISSUED_AGE,
) -> IdToken:
    if jwks.jwks_uri != metadata.jwks_uri:
        raise ValueError("the JWKS cache belongs to another issuer than the metadata")  # a wiring error
    header, claims, signing_input, signature = _split(raw)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in metadata.algorithms:
        raise OidcRefusal(
            RefusalReason.ALGORITHM_NOT_ALLOWED,
            f"The ID token is signed with {alg!r}; only {', '.join(metadata.algorithms)} are accepted.",
        )
    if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
        # Keys come from the issuer's JWKS only: a token naming its own key or critical extensions is refused.
        raise OidcRefusal(
            RefusalReason.MALFORMED_ID_TOKEN, "The ID token's header carries its own key material."
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise OidcRefusal(RefusalReason.MALFORMED_ID_TOKEN, "The ID token's kid is not a string.")
    key = jwks.key_for(kid, KEY_TYPES[alg])
    _verify_signature(alg, key, signing_input, signature)
    _check_claims(
        claims,
        metadata=metadata,
        client_id=client_id,
        nonce=nonce,
        clock=clock,
        skew=skew,
        max_issued_age=max_issued_age,
    )
    if access_token is not None and "at_hash" in claims:
        _check_at_hash(claims["at_hash"], access_token, alg, key)
    return IdToken(sub=claims["sub"], claims=claims, algorithm=alg, kid=kid)


def _b64(segment: str) -> bytes:
    if "=" in segment:
        raise ValueError("padded base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _split(raw: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    malformed = OidcRefusal(RefusalReason.MALFORMED_ID_TOKEN, "The ID token is not a signed JWT.")
    if len(raw) > MAX_TOKEN_BYTES:
        raise malformed
    parts = raw.split(".")
    if len(parts) != 3:  # five parts would be an encrypted token (JWE): not configured here
        raise malformed
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise malformed from exc
    if not isinstance(header, dict) or not isinstance(claims, dict) or not signature:
        raise malformed
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _verify_signature(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> None:
    if key.key_type != KEY_TYPES[alg] or key.get("alg", alg) != alg:
        raise OidcRefusal(RefusalReason.KEY_MISMATCH, f"The JWKS key {key.kid!r} is not a key for {alg}.")
    name = alg
    if alg == "ES256" and key.get("crv") != "P-256":
        raise OidcRefusal(RefusalReason.KEY_MISMATCH, f"The JWKS key {key.kid!r} is not on curve P-256.")
    if alg == "EdDSA":
        # Ed25519 only (Ed448's at_hash would need SHAKE256, and no IdP we support signs with it). RFC 9864
        # names the curve in the algorithm: joserfc verifies "EdDSA" on Ed25519 as "Ed25519".
        if key.get("crv") != "Ed25519":
            raise OidcRefusal(RefusalReason.KEY_MISMATCH, f"The JWKS key {key.kid!r} is not an Ed25519 key.")
        name = "Ed25519"
    try:
        valid = JWSRegistry.algorithms[name].verify(signing_input, signature, key)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise OidcRefusal(RefusalReason.BAD_SIGNATURE, "The ID token's signature does not verify.")


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OidcRefusal(
            RefusalReason.MALFORMED_ID_TOKEN, f"The ID token's {name} is missing or not a number."
        )
    return float(value)


def _check_claims(
    claims: Mapping[str, Any],
    *,
    metadata: ProviderMetadata,
    client_id: str,
    nonce: str,
    clock: Clock,
    skew: timedelta,
    max_issued_age: timedelta,
) -> None:
    if claims.get("iss") != metadata.issuer:
        raise OidcRefusal(
            RefusalReason.ISSUER_MISMATCH,
            f"The ID token was issued by {claims.get('iss')!r}, not by {metadata.issuer!r}.",
        )
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise OidcRefusal(RefusalReason.AUDIENCE_MISMATCH, "The ID token has no valid audience.")
    if client_id not in audiences:
        raise OidcRefusal(RefusalReason.AUDIENCE_MISMATCH, "The ID token was issued for another application.")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise OidcRefusal(
            RefusalReason.AUTHORIZED_PARTY_MISMATCH,
            "The ID token names several audiences and not this application as its authorized party.",
        )
    now = clock.now().timestamp()
    leeway = skew.total_seconds()
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if now >= exp + leeway:
        raise OidcRefusal(RefusalReason.EXPIRED, "The ID token has expired.")
    if iat > now + leeway:
        raise OidcRefusal(RefusalReason.ISSUED_IN_FUTURE, "The ID token is issued in the future.")
    if now - iat > max_issued_age.total_seconds() + leeway:
        raise OidcRefusal(RefusalReason.EXPIRED, "The ID token was issued too long ago for a fresh sign-in.")
    if nbf is not None and nbf > now + leeway:
        raise OidcRefusal(RefusalReason.NOT_YET_VALID, "The ID token is not valid yet.")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
        raise OidcRefusal(
            RefusalReason.NONCE_MISMATCH, "The ID token does not answer the sign-in started here."
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OidcRefusal(RefusalReason.MALFORMED_ID_TOKEN, "The ID token has no valid subject (sub).")


def _check_at_hash(at_hash: Any, access_token: str, alg: str, key: PublicKey) -> None:
    """§3.1.3.8 / §3.3.2.11: the left half of the hash of the access token, with the signature's hash function
    (SHA-256 for RS256, PS256 and ES256; SHA-512 for EdDSA, Ed25519 only here)."""
    hash_name = "sha512" if alg == "EdDSA" else "sha256"
    digest = hashlib.new(hash_name, access_token.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
    if not isinstance(at_hash, str) or not hmac.compare_digest(at_hash.encode(), expected.encode()):
        raise OidcRefusal(
            RefusalReason.AT_HASH_MISMATCH, "The ID token's at_hash does not match the access token."
        )
