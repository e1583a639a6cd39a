"""The OIDC relying-party core (``app.sso.oidc``) on its own: discovery rules, the authorization request, the
callback, the code exchange's request, ID token validation case by case, JWKS refetch limits, userinfo merge.

The network is an in-memory ``OidcHttp`` serving documents this test writes (a unit test of a pure core; the
same rules against a real OP are in tests/integration/idps/test_oidc_relying_party.py). Keys are generated
here, test only; time is a FrozenClock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from app.clock import FrozenClock
from app.sso.oidc import (
    ALLOWED_ALGORITHMS,
    ClaimMapping,
    HttpResponse,
    IdToken,
    JwksCache,
    OidcRefusal,
    PendingAuthorization,
    RefusalReason,
    begin_authorization,
    code_challenge,
    discovery_url,
    exchange_code,
    merge_identity,
    parse_discovery,
    read_callback,
    validate_id_token,
)

ISSUER = "https://idp.example.com"
CLIENT_ID = "tenantry-client"
NONCE = "nonce-123"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JWKS_URI = f"{ISSUER}/jwks"


def discovery_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": JWKS_URI,
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "response_types_supported": ["code", "id_token"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA", "PS256", "HS256", "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "authorization_response_iss_parameter_supported": True,
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


METADATA = parse_discovery(discovery_doc(), ISSUER)


class MemoryHttp:
    """In-memory OidcHttp: GETs answer from ``documents``; POSTs are recorded and get ``post_answer``."""

    def __init__(self, documents: dict[str, Any] | None = None) -> None:
        self.documents = documents or {}
        self.gets: list[str] = []
        self.posts: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.post_answer = HttpResponse(200, b"{}")

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
        self.gets.append(url)
        if url not in self.documents:
            return HttpResponse(404, b"not found")
        return HttpResponse(200, json.dumps(self.documents[url]).encode())

    def post_form(
        self, url: str, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        self.posts.append((url, dict(form), dict(headers or {})))
        return self.post_answer


def refused(reason: RefusalReason, call: Any) -> OidcRefusal:
    with pytest.raises(OidcRefusal) as caught:
        call()
    assert caught.value.reason is reason, caught.value
    return caught.value


# -- discovery --


def test_discovery_narrows_algorithms_to_the_fixed_allowlist() -> None:
    assert METADATA.algorithms == ("RS256", "ES256", "EdDSA", "PS256")
    only_rs = parse_discovery(discovery_doc(id_token_signing_alg_values_supported=["RS256", "HS256"]), ISSUER)
    assert only_rs.algorithms == ("RS256",)
    assert set(ALLOWED_ALGORITHMS) == {"RS256", "ES256", "EdDSA", "PS256"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"issuer": "https://evil.example.com"}, RefusalReason.DISCOVERY_ISSUER_MISMATCH),
        ({"issuer": ISSUER + "/"}, RefusalReason.DISCOVERY_ISSUER_MISMATCH),
        ({"id_token_signing_alg_values_supported": ["none", "HS256"]}, RefusalReason.DISCOVERY_INVALID),
        ({"id_token_signing_alg_values_supported": None}, RefusalReason.DISCOVERY_INVALID),
        ({"token_endpoint": "http://idp.example.com/token"}, RefusalReason.DISCOVERY_INVALID),
        ({"jwks_uri": "https://user:pw@idp.example.com/jwks"}, RefusalReason.DISCOVERY_INVALID),
        ({"authorization_endpoint": None}, RefusalReason.DISCOVERY_INVALID),
        ({"response_types_supported": ["id_token"]}, RefusalReason.DISCOVERY_INVALID),
        ({"code_challenge_methods_supported": ["plain"]}, RefusalReason.DISCOVERY_INVALID),
        ({"authorization_response_iss_parameter_supported": "true"}, RefusalReason.DISCOVERY_INVALID),
    ],
)
def test_discovery_refusals(changes: dict[str, Any], reason: RefusalReason) -> None:
    refused(reason, lambda: parse_discovery(discovery_doc(**changes), ISSUER))


def test_discovery_defaults() -> None:
    # Entra ID lists no PKCE methods yet takes S256; no iss parameter advertised means none is required.
    meta = parse_discovery(
        discovery_doc(
            code_challenge_methods_supported=None, authorization_response_iss_parameter_supported=None
        ),
        ISSUER,
    )
    assert meta.iss_parameter_supported is False
    assert meta.token_endpoint_auth_methods == ("client_secret_basic",)
    assert discovery_url(ISSUER + "/tenant/") == f"{ISSUER}/tenant/.well-known/openid-configuration"


def test_http_is_only_for_tests() -> None:
    doc = discovery_doc(issuer="http://127.0.0.1:5000", token_endpoint="http://127.0.0.1:5000/token")
    refused(RefusalReason.DISCOVERY_INVALID, lambda: parse_discovery(doc, "http://127.0.0.1:5000"))
    assert parse_discovery(doc, "http://127.0.0.1:5000", allow_http=True).token_endpoint.startswith("http://")


# -- the authorization request and its callback --


def test_authorization_url_carries_pkce_state_and_nonce() -> None:
    meta = replace(METADATA, authorization_endpoint=f"{ISSUER}/authorize?tenant=acme")
    url, pending = begin_authorization(
        meta,
        client_id=CLIENT_ID,
        redirect_uri="https://t.example/cb",
        scopes=("email",),
        extra={"login_hint": "a@b.c", "state": "attacker", "code_challenge_method": "plain"},
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["tenant"] == "acme" and query["login_hint"] == "a@b.c"
    assert query["scope"] == "openid email"
    assert query["state"] == pending.state != "attacker"
    assert query["nonce"] == pending.nonce
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pending.code_verifier) <= 128
    assert len({pending.state, pending.nonce, pending.code_verifier}) == 3
    _, again = begin_authorization(meta, client_id=CLIENT_ID, redirect_uri="https://t.example/cb")
    assert again.state != pending.state


def test_rfc7636_appendix_b_challenge() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


PENDING = PendingAuthorization(ISSUER, CLIENT_ID, "https://t.example/cb", "state-1", NONCE, "v" * 50)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"code": "c", "iss": ISSUER}, RefusalReason.STATE_MISMATCH),
        ({"code": "c", "state": "state-2", "iss": ISSUER}, RefusalReason.STATE_MISMATCH),
        (
            {"code": "c", "state": "state-1", "iss": "https://other.example"},
            RefusalReason.CALLBACK_ISSUER_MISMATCH,
        ),
        ({"code": "c", "state": "state-1"}, RefusalReason.CALLBACK_ISSUER_MISSING),
        ({"error": "access_denied", "state": "state-1", "iss": ISSUER}, RefusalReason.IDP_ERROR),
        ({"state": "state-1", "iss": ISSUER}, RefusalReason.MISSING_CODE),
        # An error from another issuer is a mix-up before it is an error.
        (
            {"error": "access_denied", "state": "state-1", "iss": "https://x"},
            RefusalReason.CALLBACK_ISSUER_MISMATCH,
        ),
    ],
)
def test_callback_refusals(query: dict[str, str], reason: RefusalReason) -> None:
    refused(reason, lambda: read_callback(query, PENDING, METADATA))


def test_callback_accepts_this_browsers_answer() -> None:
    assert read_callback({"code": "c", "state": "state-1", "iss": ISSUER}, PENDING, METADATA) == "c"
    no_iss = replace(METADATA, iss_parameter_supported=False)
    assert read_callback({"code": "c", "state": "state-1"}, PENDING, no_iss) == "c"
    # Even unadvertised, an iss that is present must be right.
    refused(
        RefusalReason.CALLBACK_ISSUER_MISMATCH,
        lambda: read_callback({"code": "c", "state": "state-1", "iss": "https://x"}, PENDING, no_iss),
    )
    # A pending request started for another issuer never completes here.
    other = replace(PENDING, issuer="https://other.example")
    refused(
        RefusalReason.CALLBACK_ISSUER_MISMATCH,
        lambda: read_callback({"code": "c", "state": "state-1", "iss": ISSUER}, other, METADATA),
    )


# -- the code exchange --


def test_code_exchange_sends_the_verifier_and_basic_auth() -> None:
    http = MemoryHttp()
    http.post_answer = HttpResponse(200, json.dumps({"id_token": "a.b.c", "access_token": "at"}).encode())
    tokens = exchange_code(http, METADATA, PENDING, "the-code", "s3cr:t/")
    url, form, headers = http.posts[0]
    assert url == METADATA.token_endpoint
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": PENDING.redirect_uri,
        "code_verifier": PENDING.code_verifier,
    }
    # RFC 6749 §2.3.1: client id and secret are form-urlencoded before the Basic encoding.
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"tenantry-client:s3cr%3At%2F"
    assert (tokens.id_token, tokens.access_token) == ("a.b.c", "at")


def test_code_exchange_post_auth_public_client_and_errors() -> None:
    http = MemoryHttp()
    http.post_answer = HttpResponse(200, json.dumps({"id_token": "a.b.c"}).encode())
    exchange_code(
        http, replace(METADATA, token_endpoint_auth_methods=("client_secret_post",)), PENDING, "c", "s"
    )
    assert http.posts[-1][1]["client_secret"] == "s" and "Authorization" not in http.posts[-1][2]
    # An explicit method wins over what the issuer offers first.
    exchange_code(http, METADATA, PENDING, "c", "s", "client_secret_post")
    assert http.posts[-1][1]["client_secret"] == "s" and "Authorization" not in http.posts[-1][2]
    exchange_code(http, METADATA, PENDING, "c", None)
    assert http.posts[-1][1]["client_id"] == CLIENT_ID and "client_secret" not in http.posts[-1][1]

    http.post_answer = HttpResponse(400, json.dumps({"error": "invalid_grant"}).encode())
    assert (
        "invalid_grant"
        in refused(RefusalReason.TOKEN_ERROR, lambda: exchange_code(http, METADATA, PENDING, "c", "s")).detail
    )
    http.post_answer = HttpResponse(502, b"<html>bad gateway</html>")
    refused(RefusalReason.TOKEN_ERROR, lambda: exchange_code(http, METADATA, PENDING, "c", "s"))
    http.post_answer = HttpResponse(200, b"not json")
    refused(RefusalReason.BAD_RESPONSE, lambda: exchange_code(http, METADATA, PENDING, "c", "s"))
    http.post_answer = HttpResponse(200, json.dumps({"access_token": "at"}).encode())
    refused(RefusalReason.MISSING_ID_TOKEN, lambda: exchange_code(http, METADATA, PENDING, "c", "s"))


# -- ID tokens --

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"}, private=True)
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
ED = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}, private=True)
SIGNERS = {"RS256": RSA, "PS256": RSA, "ES256": EC, "EdDSA": ED}
JOSE_NAME = {"EdDSA": "Ed25519"}  # joserfc's name for the same signature (RFC 9864)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], alg: str = "RS256", key: Any = None, **header: Any) -> str:
    key = key or SIGNERS[alg]
    protected = {"alg": alg, "kid": key.kid, **header}
    protected = {k: v for k, v in protected.items() if v is not None}
    signing_input = f"{b64(json.dumps(protected).encode())}.{b64(json.dumps(claims).encode())}"
    name = JOSE_NAME.get(alg, alg)
    signature = jws.JWSRegistry.algorithms[name].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "user-1",
        "nonce": NONCE,
        "iat": int(NOW.timestamp()) - 5,
        "exp": int(NOW.timestamp()) + 3600,
        "email": "ada@example.com",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def jwks_doc(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def make_cache(clock: FrozenClock | None = None, *keys: Any) -> tuple[JwksCache, MemoryHttp]:
    http = MemoryHttp({JWKS_URI: jwks_doc(*(keys or (RSA, EC, ED)))})
    return JwksCache(http, JWKS_URI, clock or FrozenClock(NOW)), http


def validate(
    raw: str, *, cache: JwksCache | None = None, clock: FrozenClock | None = None, **kw: Any
) -> IdToken:
    clock = clock or FrozenClock(NOW)
    options: dict[str, Any] = {"metadata": METADATA, "client_id": CLIENT_ID, "nonce": NONCE} | kw
    return validate_id_token(raw, jwks=cache or make_cache(clock)[0], clock=clock, **options)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_each_allowed_algorithm_validates(alg: str) -> None:
    token = validate(sign(claims(), alg))
    assert (token.sub, token.algorithm, token.claims["email"]) == ("user-1", alg, "ada@example.com")


def test_alg_none_and_hmac_with_the_public_key_are_refused() -> None:
    body = b64(json.dumps(claims()).encode())
    none = f"{b64(json.dumps({'alg': 'none'}).encode())}.{body}.c2ln"
    refused(RefusalReason.ALGORITHM_NOT_ALLOWED, lambda: validate(none))
    refused(RefusalReason.MALFORMED_ID_TOKEN, lambda: validate(none[:-4]))  # no signature at all
    for secret in (RSA.as_pem(private=False), RSA.as_dict(private=False)["n"].encode()):
        signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}.{body}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{b64(mac)}"
        refused(RefusalReason.ALGORITHM_NOT_ALLOWED, lambda t=forged: validate(t))


def test_an_algorithm_the_issuer_does_not_advertise_is_refused() -> None:
    narrow = replace(METADATA, algorithms=("RS256",))
    refused(RefusalReason.ALGORITHM_NOT_ALLOWED, lambda: validate(sign(claims(), "ES256"), metadata=narrow))


def test_key_type_must_fit_the_algorithm() -> None:
    # An RS256 header pointing at the EC key's kid.
    token = sign(claims(), "RS256", key=RSA, kid="ec-1")
    refused(RefusalReason.KEY_MISMATCH, lambda: validate(token))
    # An ES256 header on a P-384 key, an EdDSA header on an Ed448 key.
    p384 = ECKey.generate_key("P-384", parameters={"kid": "ec-384"}, private=True)
    ed448 = OKPKey.generate_key("Ed448", parameters={"kid": "ed-448"}, private=True)
    cache, _ = make_cache(None, p384, ed448)
    refused(
        RefusalReason.KEY_MISMATCH,
        lambda: validate(sign(claims(), "ES256", key=EC, kid="ec-384"), cache=cache),
    )
    refused(
        RefusalReason.KEY_MISMATCH,
        lambda: validate(sign(claims(), "EdDSA", key=ED, kid="ed-448"), cache=cache),
    )


@pytest.mark.parametrize("header", [{"jku": "https://evil/jwks"}, {"jwk": {"kty": "RSA"}}, {"crit": ["exp"]}])
def test_a_token_bringing_its_own_key_is_refused(header: dict[str, Any]) -> None:
    refused(RefusalReason.MALFORMED_ID_TOKEN, lambda: validate(sign(claims(), **header)))


def test_tampering_breaks_the_signature() -> None:
    header, _, signature = sign(claims()).split(".")
    tampered = f"{header}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"
    refused(RefusalReason.BAD_SIGNATURE, lambda: validate(tampered))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example.com"}, RefusalReason.ISSUER_MISMATCH),
        ({"iss": None}, RefusalReason.ISSUER_MISMATCH),
        ({"aud": "another-client"}, RefusalReason.AUDIENCE_MISMATCH),
        ({"aud": None}, RefusalReason.AUDIENCE_MISMATCH),
        ({"aud": [CLIENT_ID, "other"]}, RefusalReason.AUTHORIZED_PARTY_MISMATCH),
        ({"aud": [CLIENT_ID, "other"], "azp": "other"}, RefusalReason.AUTHORIZED_PARTY_MISMATCH),
        ({"azp": "other"}, RefusalReason.AUTHORIZED_PARTY_MISMATCH),
        ({"nonce": "another"}, RefusalReason.NONCE_MISMATCH),
        ({"nonce": None}, RefusalReason.NONCE_MISMATCH),
        ({"exp": int(NOW.timestamp()) - 121}, RefusalReason.EXPIRED),
        ({"exp": None}, RefusalReason.MALFORMED_ID_TOKEN),
        ({"exp": "tomorrow"}, RefusalReason.MALFORMED_ID_TOKEN),
        ({"iat": int(NOW.timestamp()) + 121}, RefusalReason.ISSUED_IN_FUTURE),
        ({"iat": int(NOW.timestamp()) - 3600}, RefusalReason.EXPIRED),
        ({"nbf": int(NOW.timestamp()) + 121}, RefusalReason.NOT_YET_VALID),
        ({"sub": ""}, RefusalReason.MALFORMED_ID_TOKEN),
        ({"sub": 42}, RefusalReason.MALFORMED_ID_TOKEN),
    ],
)
def test_claim_refusals(changes: dict[str, Any], reason: RefusalReason) -> None:
    refused(reason, lambda: validate(sign(claims(**changes))))


def test_skew_is_bounded_both_ways() -> None:
    now = int(NOW.timestamp())
    validate(sign(claims(exp=now - 119, iat=now - 200)))  # within 120 s of skew
    validate(sign(claims(iat=now + 119, nbf=now + 119)))
    validate(sign(claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID)))


def test_at_hash_is_checked_when_an_access_token_comes_with_it() -> None:
    access_token = "access-token-value"
    good = b64(hashlib.sha256(access_token.encode()).digest()[:16])
    validate(sign(claims(at_hash=good)), access_token=access_token)
    refused(
        RefusalReason.AT_HASH_MISMATCH, lambda: validate(sign(claims(at_hash=good)), access_token="other")
    )
    ed_hash = b64(hashlib.sha512(access_token.encode()).digest()[:32])
    validate(sign(claims(at_hash=ed_hash), "EdDSA"), access_token=access_token)


@pytest.mark.parametrize("raw", ["", "a.b", "a.b.c.d.e", "!!.??.$$", "e30.e30.", "x" * 20000])
def test_malformed_tokens(raw: str) -> None:
    refused(RefusalReason.MALFORMED_ID_TOKEN, lambda: validate(raw))


# -- JWKS --


def test_unknown_kid_is_refetched_once_and_at_most_once_a_minute() -> None:
    clock = FrozenClock(NOW)
    rotated = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"}, private=True)
    cache, http = make_cache(clock, RSA)
    validate(sign(claims()), cache=cache, clock=clock)
    assert http.gets == [JWKS_URI]

    # The IdP rotates; within the minute the new kid is unknown and not fetched again.
    http.documents[JWKS_URI] = jwks_doc(RSA, rotated)
    clock.advance(timedelta(seconds=30))
    refused(
        RefusalReason.UNKNOWN_KEY, lambda: validate(sign(claims(), key=rotated), cache=cache, clock=clock)
    )
    assert len(http.gets) == 1
    # A minute after the last fetch, one refetch finds it.
    clock.advance(timedelta(seconds=30))
    validate(sign(claims(), key=rotated), cache=cache, clock=clock)
    assert len(http.gets) == 2
    # A flood of invented kids costs one fetch a minute.
    stranger = RSAKey.generate_key(2048, parameters={"kid": "invented"}, private=True)
    for _ in range(10):
        clock.advance(timedelta(seconds=10))
        refused(
            RefusalReason.UNKNOWN_KEY,
            lambda: validate(sign(claims(), key=stranger), cache=cache, clock=clock),
        )
    assert len(http.gets) == 3
    assert cache.fetches == 3


def test_a_token_without_kid_uses_the_only_key_of_its_type() -> None:
    cache, _ = make_cache(None, RSA, EC)
    validate(sign(claims(), kid=None), cache=cache)
    two_rsa, _ = make_cache(None, RSA, RSAKey.generate_key(2048, parameters={"kid": "rsa-9"}))
    refused(RefusalReason.UNKNOWN_KEY, lambda: validate(sign(claims(), kid=None), cache=two_rsa))


def test_jwks_entries_that_are_not_signing_keys_are_ignored() -> None:
    doc = jwks_doc(RSA)
    doc["keys"] += [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "oct-1"},
        {"kty": "RSA", "kid": "broken", "n": "!"},
    ]
    doc["keys"].append({**EC.as_dict(private=False), "use": "enc"})
    http = MemoryHttp({JWKS_URI: doc})
    cache = JwksCache(http, JWKS_URI, FrozenClock(NOW))
    validate(sign(claims()), cache=cache)
    refused(RefusalReason.UNKNOWN_KEY, lambda: validate(sign(claims(), "ES256"), cache=cache))


def test_a_jwks_cache_of_another_issuer_is_a_wiring_error() -> None:
    other = JwksCache(MemoryHttp(), "https://other.example/jwks", FrozenClock(NOW))
    with pytest.raises(ValueError, match="another issuer"):
        validate(sign(claims()), cache=other)


def test_unreachable_or_bad_jwks_is_a_refusal() -> None:
    cache = JwksCache(MemoryHttp(), JWKS_URI, FrozenClock(NOW))
    refused(RefusalReason.IDP_UNREACHABLE, lambda: validate(sign(claims()), cache=cache))
    bad = JwksCache(MemoryHttp({JWKS_URI: {"keys": "nope"}}), JWKS_URI, FrozenClock(NOW))
    refused(RefusalReason.BAD_RESPONSE, lambda: validate(sign(claims()), cache=bad))


# -- identity --

TOKEN = IdToken(sub="user-1", claims={"sub": "user-1", "iss": ISSUER}, algorithm="RS256", kid="rsa-1")


def test_userinfo_completes_the_id_token() -> None:
    info = {"sub": "user-1", "email": "ada@example.com", "email_verified": True, "given_name": " Ada ",
            "family_name": "Lovelace", "groups": ["Eng", "Eng", "", 7, "Ops"]}  # fmt: skip
    identity = merge_identity(TOKEN, info, ClaimMapping(), ISSUER)
    assert (identity.email, identity.first_name, identity.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert identity.groups == ("Eng", "Ops")
    assert identity.email_verified is True


def test_the_signed_id_token_wins_over_userinfo() -> None:
    token = replace(TOKEN, claims={**TOKEN.claims, "email": "ada@example.com"})
    identity = merge_identity(
        token, {"sub": "user-1", "email": "mallory@example.com"}, ClaimMapping(), ISSUER
    )
    assert identity.email == "ada@example.com"


def test_identity_refusals() -> None:
    mapping = ClaimMapping()
    refused(
        RefusalReason.USERINFO_SUBJECT_MISMATCH,
        lambda: merge_identity(TOKEN, {"sub": "user-2", "email": "a@b.c"}, mapping, ISSUER),
    )
    refused(RefusalReason.MISSING_EMAIL, lambda: merge_identity(TOKEN, {"sub": "user-1"}, mapping, ISSUER))
    for verified in (False, "false"):
        refused(
            RefusalReason.EMAIL_NOT_VERIFIED,
            lambda v=verified: merge_identity(
                TOKEN, {"sub": "user-1", "email": "a@b.c", "email_verified": v}, mapping, ISSUER
            ),
        )


def test_custom_claim_mapping() -> None:
    mapping = ClaimMapping(email="upn", groups="roles", require_verified_email=False)
    info = {"sub": "user-1", "upn": "ada@example.com", "roles": "Admins", "email_verified": False}
    identity = merge_identity(TOKEN, info, mapping, ISSUER)
    assert (identity.email, identity.groups, identity.email_verified) == (
        "ada@example.com",
        ("Admins",),
        False,
    )
