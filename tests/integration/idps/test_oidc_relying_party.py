"""Tenantry's OIDC relying-party core (``app.sso.oidc``) against a real OP, npm oidc-provider, on loopback: a
login end to end in both claim placements, then every attack of issue 12 refused with its reason.

No stub OP: tokens for the forged cases (alg none, HS256 keyed with the public key, an unknown kid) are made
here and checked against the real OP's metadata and JWKS; wrong audience, wrong issuer, expiry and rotation
use tokens the real OP issued (a second client, a second OP sharing the first one's keys, an advanced clock,
an OP restarted with new keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.sso.oidc import (
    JwksCache,
    OidcClientSettings,
    OidcRefusal,
    PendingAuthorization,
    ProviderMetadata,
    RefusalReason,
    RelyingParty,
    discover,
    exchange_code,
    read_callback,
    validate_id_token,
)
from tests.idps.oidc_http import RecordingHttp
from tests.idps.oidc_provider import OidcClient, OidcProvider, new_signing_keys, start_oidc_provider
from tests.idps.peers import TestUser

pytestmark = pytest.mark.idp

REDIRECT_URI = "http://127.0.0.1:9/sso/oidc/conn_a/callback"
CLIENT_A = OidcClient("conn-a", "secret-a", (REDIRECT_URI,))
CLIENT_B = OidcClient("conn-b", "secret-b", (REDIRECT_URI,))
USER = TestUser(
    email="mary.jackson@example.com", first_name="Mary", last_name="Jackson", groups=("Eng", "Ops")
)
SCOPES = ("openid", "email", "profile", "groups")


class ShiftedClock:
    """Real time plus an offset a test moves (the OP's tokens carry real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def settings(client: OidcClient) -> OidcClientSettings:
    return OidcClientSettings(client.client_id, client.client_secret, REDIRECT_URI, scopes=SCOPES)


class Connection:
    """What the SSO service keeps per connection: metadata, the JWKS cache, the client, the RP."""

    def __init__(self, op: OidcProvider, client: OidcClient, *, clock: ShiftedClock | None = None) -> None:
        self.op = op
        self.http = RecordingHttp()
        self.clock = clock or ShiftedClock()
        self.metadata: ProviderMetadata = discover(self.http, op.issuer, allow_http=True)
        self.jwks = JwksCache(self.http, self.metadata.jwks_uri, self.clock)
        self.client = settings(client)
        self.rp = RelyingParty(self.http, self.clock)

    def start(self) -> tuple[dict[str, str], PendingAuthorization]:
        """Begin, and let the person log in at the OP: (callback query, pending authorization)."""
        url, pending = self.rp.begin(self.metadata, self.client)
        callback = self.op.authorize(url)
        assert callback.startswith(REDIRECT_URI + "?"), callback
        return query_of(callback), pending

    def complete(self, query: dict[str, str], pending: PendingAuthorization) -> Any:
        return self.rp.complete(self.metadata, self.client, self.jwks, pending, query)

    def id_token(self) -> tuple[str, PendingAuthorization]:
        """A real ID token from the OP for this connection's client (and the pending request it answers)."""
        query, pending = self.start()
        code = read_callback(query, pending, self.metadata)
        return exchange_code(
            self.http, self.metadata, pending, code, self.client.client_secret
        ).id_token, pending

    def validate(self, raw: str, nonce: str, *, client_id: str | None = None) -> Any:
        return validate_id_token(
            raw,
            metadata=self.metadata,
            client_id=client_id or self.client.client_id,
            nonce=nonce,
            jwks=self.jwks,
            clock=self.clock,
        )


def query_of(url: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def claims_of(raw: str) -> dict[str, Any]:
    payload = raw.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused(reason: RefusalReason, call: Callable[[], object]) -> OidcRefusal:
    with pytest.raises(OidcRefusal) as caught:
        call()
    assert caught.value.reason is reason, caught.value
    return caught.value


@pytest.fixture(scope="module")
def op() -> Iterator[OidcProvider]:
    """One OP for the tests that need nothing special of it (each login uses a fresh browser, so the tests do
    not share a session at the OP); the others start their own through ``oidc_provider_factory``."""
    with start_oidc_provider([CLIENT_A, CLIENT_B], USER) as provider:
        yield provider


# -- logins --


def test_login_with_claims_from_userinfo(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    assert conn.metadata.iss_parameter_supported
    query, pending = conn.start()
    assert query["iss"] == op.issuer

    identity = conn.complete(query, pending)

    assert (identity.issuer, identity.subject, identity.email) == (op.issuer, op.sub, USER.email)
    assert (identity.first_name, identity.last_name, identity.groups) == ("Mary", "Jackson", ("Eng", "Ops"))
    assert identity.email_verified is True
    assert conn.http.count(conn.metadata.userinfo_endpoint or "") == 1  # the email was only there


@pytest.mark.parametrize("method", ["client_secret_post", "none"])
def test_login_with_other_client_authentication(
    oidc_provider_factory: Callable[..., OidcProvider], method: str
) -> None:
    """A client registered for client_secret_post (as some Okta apps are), and a public client (PKCE only)."""
    client = OidcClient(
        "conn-c", None if method == "none" else "secret-c", (REDIRECT_URI,), token_endpoint_auth_method=method
    )
    op = oidc_provider_factory([client], USER)
    conn = Connection(op, client)
    conn.client = replace(conn.client, token_endpoint_auth_method=None if method == "none" else method)

    assert conn.complete(*conn.start()).email == USER.email
    # A wrong secret is refused by the OP, whichever way it is sent.
    if method != "none":
        conn.client = replace(conn.client, client_secret="wrong")
        refusal = refused(RefusalReason.TOKEN_ERROR, lambda: conn.complete(*conn.start()))
        assert "invalid_client" in refusal.detail


def test_login_with_claims_in_the_id_token(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT_A], USER, conform_id_token_claims=False)
    conn = Connection(op, CLIENT_A)

    identity = conn.complete(*conn.start())

    assert (identity.email, identity.groups) == (USER.email, ("Eng", "Ops"))
    assert conn.http.count(conn.metadata.userinfo_endpoint or "") == 0  # everything came in the ID token


# -- forged tokens, checked against the real OP's JWKS --


def test_alg_none_is_refused(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    raw, pending = conn.id_token()
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{raw.split('.')[1]}."
    # An empty signature is not even a JWS here; with one, the algorithm is what refuses it.
    refused(RefusalReason.MALFORMED_ID_TOKEN, lambda: conn.validate(unsigned, pending.nonce))
    refused(RefusalReason.ALGORITHM_NOT_ALLOWED, lambda: conn.validate(unsigned + "c2ln", pending.nonce))


def test_hs256_keyed_with_the_public_key_is_refused(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    raw, pending = conn.id_token()
    public = RSAKey.import_key(next(k for k in op.jwks()["keys"] if k["kty"] == "RSA"))
    kid = public.kid
    # The classic confusion: an HMAC whose secret is the RSA public key, as PEM and as the JWK's n.
    # (joserfc itself refuses a public key as an HMAC secret, so the token is made by hand.)
    for secret in (public.as_pem(private=False), public.as_dict()["n"].encode()):
        signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{raw.split('.')[1]}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{b64(mac)}"
        refused(RefusalReason.ALGORITHM_NOT_ALLOWED, lambda f=forged: conn.validate(f, pending.nonce))
    assert conn.validate(raw, pending.nonce).sub == op.sub  # the genuine token passes


def test_unknown_kid_refetches_once_then_refuses_and_is_rate_limited(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    raw, pending = conn.id_token()
    conn.validate(raw, pending.nonce)
    assert conn.jwks.fetches == 1
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-the-ops"}, private=True)
    forged = jwt.encode(
        {"alg": "RS256", "kid": "not-the-ops"}, claims_of(raw), stranger, algorithms=["RS256"]
    )

    conn.clock.offset = timedelta(seconds=61)  # past the minute since the first fetch (still within exp)
    refused(RefusalReason.UNKNOWN_KEY, lambda: conn.validate(forged, pending.nonce))
    assert conn.jwks.fetches == 2  # refetched once
    for _ in range(5):
        refused(RefusalReason.UNKNOWN_KEY, lambda: conn.validate(forged, pending.nonce))
    assert conn.jwks.fetches == 2  # not again within the minute
    assert conn.http.count(conn.metadata.jwks_uri) == 2


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    raw, pending = conn.id_token()
    kid = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))["kid"]
    impostor = RSAKey.generate_key(2048, private=True)
    forged = jwt.encode({"alg": "RS256", "kid": kid}, claims_of(raw), impostor, algorithms=["RS256"])
    refused(RefusalReason.BAD_SIGNATURE, lambda: conn.validate(forged, pending.nonce))


# -- real tokens, wrong for this connection --


def test_wrong_audience_is_refused(op: OidcProvider) -> None:
    conn_b = Connection(op, CLIENT_B)
    raw, pending = conn_b.id_token()  # issued to conn-b
    conn_a = Connection(op, CLIENT_A)
    refused(RefusalReason.AUDIENCE_MISMATCH, lambda: conn_a.validate(raw, pending.nonce))
    assert conn_b.validate(raw, pending.nonce).sub == op.sub


def test_wrong_issuer_is_refused(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    keys = new_signing_keys()
    op1 = oidc_provider_factory([CLIENT_A], USER, signing_keys=keys)
    op2 = oidc_provider_factory([CLIENT_A], USER, signing_keys=keys)  # same keys, another issuer
    raw, pending = Connection(op2, CLIENT_A).id_token()
    conn1 = Connection(op1, CLIENT_A)
    refused(RefusalReason.ISSUER_MISMATCH, lambda: conn1.validate(raw, pending.nonce))


def test_expired_token_is_refused(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT_A], USER, id_token_ttl=60)  # ID tokens that live a minute
    conn = Connection(op, CLIENT_A)
    query, pending = conn.start()
    conn.clock.offset = timedelta(seconds=60 + 120 + 5)  # past exp and the 120 s of allowed skew
    refusal = refused(RefusalReason.EXPIRED, lambda: conn.complete(query, pending))
    assert "has expired" in refusal.detail


def test_expiry_within_the_allowed_skew_passes(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT_A], USER, id_token_ttl=60)
    conn = Connection(op, CLIENT_A)
    query, pending = conn.start()
    conn.clock.offset = timedelta(seconds=60 + 100)  # a clock 100 s ahead of the OP's
    assert conn.complete(query, pending).email == USER.email


def test_rotated_key_is_fetched_once(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT_A], USER)
    conn = Connection(op, CLIENT_A)
    conn.complete(*conn.start())
    op.process.stop()
    # The same issuer comes back on its port with new keys (a rotation the RP was not told about).
    rotated = oidc_provider_factory([CLIENT_A], USER, port=op.port, sub=op.sub)
    conn.op = rotated
    conn.clock.offset = timedelta(seconds=61)
    identity = conn.complete(*conn.start())
    assert identity.subject == op.sub
    assert conn.jwks.fetches == 2


# -- the front channel --


def test_nonce_mismatch_is_refused(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    query, pending = conn.start()
    refused(RefusalReason.NONCE_MISMATCH, lambda: conn.complete(query, replace(pending, nonce="another")))


def test_state_mismatch_is_refused_before_the_code_is_used(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    query, pending = conn.start()
    refused(RefusalReason.STATE_MISMATCH, lambda: conn.complete(query, replace(pending, state="another")))
    assert conn.http.count(conn.metadata.token_endpoint, "POST") == 0
    assert conn.complete(query, pending).email == USER.email  # the code was not spent


@pytest.mark.parametrize("verifier", ["", "a-wrong-verifier-" + "x" * 40])
def test_missing_or_wrong_pkce_verifier_is_refused_by_the_op(op: OidcProvider, verifier: str) -> None:
    conn = Connection(op, CLIENT_A)
    query, pending = conn.start()
    refusal = refused(
        RefusalReason.TOKEN_ERROR, lambda: conn.complete(query, replace(pending, code_verifier=verifier))
    )
    assert "invalid_grant" in refusal.detail or "invalid_request" in refusal.detail


def test_mix_up_between_two_issuers_is_refused(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    """RFC 9207: the browser started at connection A (honest OP); the answer it brings to A's callback comes
    from OP B (say, a malicious IdP another org configured) with A's state. The ``iss`` parameter says B."""
    op_a = oidc_provider_factory([CLIENT_A], USER)
    op_b = oidc_provider_factory([CLIENT_A], USER)
    conn_a, conn_b = Connection(op_a, CLIENT_A), Connection(op_b, CLIENT_A)
    _, pending_a = conn_a.rp.begin(conn_a.metadata, conn_a.client)
    url_b, pending_b = conn_b.rp.begin(conn_b.metadata, conn_b.client)
    answer_from_b = query_of(op_b.authorize(url_b.replace(pending_b.state, pending_a.state)))
    assert answer_from_b["state"] == pending_a.state and answer_from_b["iss"] == op_b.issuer

    refused(RefusalReason.CALLBACK_ISSUER_MISMATCH, lambda: conn_a.complete(answer_from_b, pending_a))
    assert conn_a.http.count(conn_a.metadata.token_endpoint, "POST") == 0  # B's code never reaches A's OP
    # Without the iss parameter, an OP that promises it is refused too.
    without_iss = {k: v for k, v in answer_from_b.items() if k != "iss"}
    refused(RefusalReason.CALLBACK_ISSUER_MISSING, lambda: conn_a.complete(without_iss, pending_a))


def test_an_error_answer_from_the_op_is_a_refusal(op: OidcProvider) -> None:
    conn = Connection(op, CLIENT_A)
    # prompt=none without a session at the OP: it answers the redirect URI with login_required.
    url, pending = conn.rp.begin(conn.metadata, conn.client, extra={"prompt": "none"})
    answer = query_of(op.authorize(url))
    assert answer["error"] == "login_required"
    refusal = refused(RefusalReason.IDP_ERROR, lambda: conn.complete(answer, pending))
    assert "login_required" in refusal.detail
