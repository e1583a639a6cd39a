"""ID tokens a real OP never issues, met by Tenantry over HTTP: each comes back from the token endpoint of a
stub OP (tests/integration/sso/oidc_stub.py; the one place a stub is used, because npm oidc-provider cannot
be made to sign these) after a normal start and callback, and each is refused with its reason, audited, with
no session and no member. A correctly signed token through the same stub signs in (the control that the
refusals are about the token, not the stub). The same attacks against the core alone, with the real OP's
keys, are in tests/integration/idps/test_oidc_relying_party.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey

from app.clock import FrozenClock
from app.container import Container
from tests.conftest import Api
from tests.integration.sso.e2e import path_of, session_token
from tests.integration.sso.oidc_stub import StubOp, b64, start_stub_op
from tests.integration.sso.test_oidc_login import events, member_of

CLIENT_ID = "stub-client"
EMAIL = "katherine.johnson@example.com"


def claims(op: StubOp, request: dict[str, str], **override: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": op.issuer,
        "sub": "stub-subject",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": request["nonce"],
        "email": EMAIL,
        "email_verified": True,
        "given_name": "Katherine",
        "family_name": "Johnson",
        **override,
    }


def _unsigned(op: StubOp, request: dict[str, str], signature: str = "") -> str:
    header = b64(json.dumps({"alg": "none", "kid": op.kid}).encode())
    return f"{header}.{b64(json.dumps(claims(op, request)).encode())}.{signature}"


def _hs256_with_public_key(op: StubOp, request: dict[str, str]) -> str:
    public_pem = op.key.as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": op.kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims(op, request)).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _unknown_kid(op: StubOp, request: dict[str, str]) -> str:
    other = RSAKey.generate_key(2048, parameters={"kid": "not-in-the-jwks"})
    return op.sign(claims(op, request), {"alg": "RS256", "kid": "not-in-the-jwks"}, other)


def _now() -> int:
    return int(time.time())


CASES: dict[str, tuple[Callable[[StubOp, dict[str, str]], str], str]] = {
    # An empty signature is not even a JWS; with some bytes in it, the algorithm is what refuses it.
    "alg_none": (_unsigned, "malformed_id_token"),
    "alg_none_with_a_signature": (lambda op, r: _unsigned(op, r, "c2ln"), "algorithm_not_allowed"),
    "hs256_keyed_with_the_public_key": (_hs256_with_public_key, "algorithm_not_allowed"),
    "unknown_kid": (_unknown_kid, "unknown_key"),
    "wrong_aud": (lambda op, r: op.sign(claims(op, r, aud="another-client")), "audience_mismatch"),
    "wrong_iss": (lambda op, r: op.sign(claims(op, r, iss="http://127.0.0.1:1")), "issuer_mismatch"),
    "several_audiences_without_azp": (
        lambda op, r: op.sign(claims(op, r, aud=[CLIENT_ID, "another-client"])),
        "authorized_party_mismatch",
    ),
    "nonce_mismatch": (lambda op, r: op.sign(claims(op, r, nonce="not-the-nonce")), "nonce_mismatch"),
    "expired": (
        lambda op, r: op.sign(claims(op, r, exp=_now() - 300, iat=_now() - 400)),
        "expired",
    ),
}


@pytest.fixture
def stub() -> Iterator[StubOp]:
    with start_stub_op() as op:
        yield op


def connect(admin: Api, org_id: str, op: StubOp) -> dict[str, Any]:
    resp = admin.post(
        f"/v1/orgs/{org_id}/sso-connections",
        {"type": "oidc", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": "stub-secret"},
    )
    assert resp.status_code == 201, resp.json
    conn: dict[str, Any] = resp.json
    return conn


def login(client: FlaskClient, org_id: str, conn: dict[str, Any]) -> Any:
    """Start at Tenantry, pass the stub's /authorize (no login there), deliver the callback."""
    started = client.get(f"/sso/login?{urlencode({'org': org_id, 'connection': conn['id']})}")
    assert started.status_code == 302, started.get_data(as_text=True)
    answer = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    callback = answer.headers["Location"]
    assert urlsplit(callback).path == urlsplit(conn["redirect_uri"]).path
    return client.get(path_of(callback), headers={"Accept": "application/json"})


def test_a_correctly_signed_token_through_the_stub_signs_in(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    stub: StubOp,
) -> None:
    conn = connect(admin, org["id"], stub)
    stub.token_factory = lambda op, request: op.sign(claims(op, request))
    resp = login(client, org["id"], conn)
    assert resp.status_code == 302 and session_token(resp) is not None, resp.get_data(as_text=True)
    assert member_of(container, org["id"], EMAIL) is not None


@pytest.mark.parametrize("case", sorted(CASES))
def test_forged_id_token_is_refused(
    case: str,
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    stub: StubOp,
) -> None:
    make, reason = CASES[case]
    conn = connect(admin, org["id"], stub)
    stub.token_factory = make
    resp = login(client, org["id"], conn)
    assert resp.status_code == 400 and resp.json["reason"] == reason, resp.json
    assert session_token(resp) is None
    assert "Katherine" not in resp.get_data(as_text=True)
    [event] = events(container, org["id"], "sso.login_failed")
    assert event.reason == reason and event.data["connection_id"] == conn["id"]
    assert member_of(container, org["id"], EMAIL) is None


def test_unknown_kid_refetches_the_jwks_at_most_once_a_minute_per_connection(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    stub: StubOp,
) -> None:
    conn = connect(admin, org["id"], stub)
    stub.token_factory = _unknown_kid
    for _ in range(3):
        assert login(client, org["id"], conn).json["reason"] == "unknown_key"
    # The first login fetched the JWKS (that fetch is the fresh look for the unknown kid); the next logins
    # (other requests, the same process) share the connection's cache and may not refetch within the minute.
    assert stub.jwks_fetches == 1
    # A minute later, an unknown kid may refetch once (a rotation at the IdP), then not again for a minute.
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    clock.advance(timedelta(seconds=61))
    for _ in range(2):
        assert login(client, org["id"], conn).json["reason"] == "unknown_key"
    assert stub.jwks_fetches == 2
    # A token under a key the cache holds needs no fetch at all.
    clock.advance(timedelta(seconds=61))
    stub.token_factory = lambda op, request: op.sign(claims(op, request))
    ok = login(client, org["id"], conn)
    assert ok.status_code == 302 and stub.jwks_fetches == 2
