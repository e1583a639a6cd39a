"""The access token core (app/tokens/access_token.py) and sealing (app/crypto/sealing.py), without a database:
each check a verifier makes, as a table of forged or broken tokens and the reason each is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest

from app.crypto import sealing
from app.tokens import access_token
from app.tokens.access_token import AccessClaims, TokenRefused

ISS, AUD, NOW = "https://tenantry.example", "https://tenantry.example", 1_800_000_000
KEY, OTHER = access_token.new_key(), access_token.new_key()
CLAIMS = AccessClaims(
    iss=ISS, sub="usr_1", aud=AUD, iat=NOW, exp=NOW + 600, jti="j1", org="org_1", role="member",
    seat="pro", authz_version=7, sid="ses_1",
)  # fmt: skip


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"x") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)))


def verify(token: str, *, now: int = NOW) -> AccessClaims:
    header = access_token.header_of(token)
    assert header["kid"] == "k1"
    payload = access_token.verified_payload(token, KEY)
    return access_token.check_claims(payload, issuer=ISS, audience=AUD, now=now)


def test_a_signed_token_verifies_and_round_trips_its_claims() -> None:
    token = access_token.sign(CLAIMS, KEY, "k1")
    assert token.startswith("eyJ")
    assert access_token.header_of(token) == {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
    assert verify(token) == CLAIMS


def hs256_with_public_key() -> str:
    """The classic confusion attack: HMAC 'signed' with the public key's bytes as the secret."""
    header = {"alg": "HS256", "typ": "at+jwt", "kid": "k1"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(CLAIMS.as_dict()).encode())}"
    secret = KEY.as_pem(private=False)
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}


def signed(**changes: Any) -> str:
    return access_token.sign(replace(CLAIMS, **changes), KEY, "k1")


CASES = [
    ("alg none", lambda: forged({**HEADER, "alg": "none"}, CLAIMS.as_dict(), b""), "wrong_algorithm"),
    ("HS256 with the public key", hs256_with_public_key, "wrong_algorithm"),
    ("an ID token's typ", lambda: forged({**HEADER, "typ": "JWT"}, CLAIMS.as_dict()), "wrong_type"),
    ("no kid", lambda: forged({"alg": "ES256", "typ": "at+jwt"}, CLAIMS.as_dict()), "malformed"),
    ("crit header", lambda: forged({**HEADER, "crit": ["x"]}, {}), "malformed"),
    ("two segments", lambda: "eyJhbGciOiJFUzI1NiJ9.e30", "malformed"),
    ("header not JSON", lambda: "eyJub3Q.e30.e30", "malformed"),
    ("signed by another key", lambda: access_token.sign(CLAIMS, OTHER, "k1"), "bad_signature"),
    ("payload altered", lambda: _altered(), "bad_signature"),
    ("wrong issuer", lambda: signed(iss="https://evil"), "wrong_issuer"),
    ("wrong audience", lambda: signed(aud="other"), "wrong_audience"),
    ("expired", lambda: signed(exp=NOW), "expired"),
    ("issued in the future", lambda: signed(iat=NOW + 31), "not_yet_valid"),
    ("too long", lambda: "eyJ" + "a" * 5000 + ".b.c", "malformed"),
]


def _altered() -> str:
    head, _, sig = access_token.sign(CLAIMS, KEY, "k1").split(".")
    return f"{head}.{b64(json.dumps({**CLAIMS.as_dict(), 'role': 'owner'}).encode())}.{sig}"


@pytest.mark.parametrize(("case", "make", "reason"), CASES, ids=[c[0] for c in CASES])
def test_each_broken_or_forged_token_is_refused_with_its_reason(case: str, make: Any, reason: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        verify(make())
    assert refused.value.reason == reason, case


@pytest.mark.parametrize("missing", ["sub", "org", "sid", "jti", "exp", "authz_version", "role"])
def test_a_token_missing_a_claim_is_malformed(missing: str) -> None:
    claims = {k: v for k, v in CLAIMS.as_dict().items() if k != missing}
    from joserfc import jwt

    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}, claims, KEY, algorithms=["ES256"])
    with pytest.raises(TokenRefused) as refused:
        verify(token)
    assert refused.value.reason == "malformed" and missing in refused.value.detail


def test_a_float_or_string_time_is_not_a_time() -> None:
    from joserfc import jwt

    for bad in ({"exp": "1900000000"}, {"exp": 1.9e9}, {"authz_version": True}):
        token = jwt.encode(
            {"alg": "ES256", "typ": "at+jwt", "kid": "k1"},
            {**CLAIMS.as_dict(), **bad},
            KEY,
            algorithms=["ES256"],
        )
        with pytest.raises(TokenRefused, match="lacks a valid"):
            verify(token)


def test_the_public_jwk_carries_no_private_part() -> None:
    jwk = access_token.public_jwk(KEY, "k1")
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert jwk["alg"] == "ES256" and jwk["use"] == "sig" and jwk["crv"] == "P-256"


def test_sealed_values_open_only_with_the_same_key_purpose_and_row() -> None:
    sealed = sealing.seal("secret-a", "signing-key", b"private", "kid-1")
    assert b"private" not in base64.urlsafe_b64decode(sealed.split(".", 1)[1])
    assert sealing.unseal("secret-a", "signing-key", sealed, "kid-1") == b"private"
    assert sealing.seal("secret-a", "signing-key", b"private", "kid-1") != sealed  # a fresh nonce each time
    for secret, purpose, row in (("secret-b", "signing-key", "kid-1"), ("secret-a", "other", "kid-1"),
                                 ("secret-a", "signing-key", "kid-2")):  # fmt: skip
        with pytest.raises(sealing.SealBroken):
            sealing.unseal(secret, purpose, sealed, row)
    version, body = sealed.split(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(
            "secret-a", "signing-key", f"{version}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", "kid-1"
        )
    with pytest.raises(sealing.SealBroken):
        sealing.unseal("secret-a", "signing-key", "v0.abc", "kid-1")
