"""The oidc-provider harness with a plain HTTP client (not Tenantry's RP): the code flow with PKCE through the
driver, the code exchanged by a POST to the token endpoint, the ID token verified against the OP's JWKS with
joserfc; both claim placements (only ``sub`` in the ID token, the OP's default; claims in the ID token, as
Google and Okta do)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idps.browser import DriverError
from tests.idps.oidc_provider import OidcClient, OidcProvider
from tests.idps.peers import TestUser

pytestmark = pytest.mark.idp

REDIRECT_URI = "http://127.0.0.1:9/sso/oidc/conn_1/callback"  # never opened: the driver stops at it
CLIENT = OidcClient("tenantry-test", "client-secret-" + secrets.token_hex(8), (REDIRECT_URI,))
USER = TestUser(
    email="katherine.johnson@example.com", first_name="Katherine", last_name="Johnson", groups=("NASA",)
)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(op: OidcProvider, *, state: str, nonce: str, challenge: str | None) -> str:
    params = {
        "client_id": CLIENT.client_id,
        "response_type": "code",
        "scope": "openid email profile groups",
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "nonce": nonce,
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{op.discovery()['authorization_endpoint']}?{urlencode(params)}"


def callback_params(url: str) -> dict[str, str]:
    assert url.startswith(REDIRECT_URI + "?"), url
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange(op: OidcProvider, code: str, verifier: str | None) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(
        op.discovery()["token_endpoint"],
        data=data,
        auth=(CLIENT.client_id, CLIENT.client_secret or ""),
        timeout=10,
    )


def verified_claims(op: OidcProvider, id_token: str) -> dict[str, Any]:
    token = jwt.decode(id_token, KeySet.import_key_set(op.jwks()), algorithms=["RS256"])
    claims: dict[str, Any] = token.claims
    return claims


def login(op: OidcProvider) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole flow: (ID token claims, token response)."""
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    params = callback_params(
        op.authorize(authorization_url(op, state=state, nonce=nonce, challenge=challenge))
    )
    assert params["state"] == state
    assert params["iss"] == op.issuer  # RFC 9207
    resp = exchange(op, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    claims = verified_claims(op, tokens["id_token"])
    assert claims["iss"] == op.issuer
    assert claims["aud"] == CLIENT.client_id
    assert claims["nonce"] == nonce
    assert claims["sub"] == op.sub
    return claims, tokens


def userinfo(op: OidcProvider, access_token: str) -> dict[str, Any]:
    resp = requests.get(
        op.discovery()["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def test_discovery_advertises_what_the_relying_party_relies_on(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    op = oidc_provider_factory([CLIENT], USER)
    doc = op.discovery()
    assert doc["issuer"] == op.issuer
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "S256" in doc["code_challenge_methods_supported"]
    assert "none" not in doc["id_token_signing_alg_values_supported"]
    assert {k["kid"] for k in op.jwks()["keys"]} == {k["kid"] for k in op.signing_keys}


def test_default_op_puts_the_email_in_userinfo_only(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    op = oidc_provider_factory([CLIENT], USER)
    claims, tokens = login(op)
    assert "email" not in claims
    info = userinfo(op, tokens["access_token"])
    assert info["sub"] == op.sub
    assert info["email"] == USER.email
    assert (info["given_name"], info["family_name"], info["groups"]) == ("Katherine", "Johnson", ["NASA"])


def test_non_conforming_op_puts_claims_in_the_id_token(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    op = oidc_provider_factory([CLIENT], USER, conform_id_token_claims=False)
    claims, _ = login(op)
    assert claims["email"] == USER.email
    assert claims["email_verified"] is True
    assert (claims["given_name"], claims["family_name"], claims["groups"]) == (
        "Katherine",
        "Johnson",
        ["NASA"],
    )


def test_the_op_enforces_pkce(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT], USER)
    # Without a code challenge the OP answers the redirect URI with an error.
    no_pkce = callback_params(op.authorize(authorization_url(op, state="s", nonce="n", challenge=None)))
    assert no_pkce["error"] == "invalid_request"
    # With a challenge, a wrong verifier cannot redeem the code.
    _, challenge = pkce_pair()
    params = callback_params(op.authorize(authorization_url(op, state="s", nonce="n", challenge=challenge)))
    wrong = exchange(op, params["code"], pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_a_code_is_redeemed_once(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    op = oidc_provider_factory([CLIENT], USER)
    verifier, challenge = pkce_pair()
    params = callback_params(op.authorize(authorization_url(op, state="s", nonce="n", challenge=challenge)))
    assert exchange(op, params["code"], verifier).status_code == 200
    again = exchange(op, params["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_unknown_redirect_uri_is_refused_at_the_op(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    op = oidc_provider_factory([CLIENT], USER)
    url = authorization_url(op, state="s", nonce="n", challenge=pkce_pair()[1]).replace(
        "127.0.0.1%3A9", "attacker.example"
    )
    with pytest.raises(DriverError, match="400"):
        op.authorize(url)


def test_es256_client(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    client = OidcClient("es-client", "es-secret", (REDIRECT_URI,), id_token_signed_response_alg="ES256")
    op = oidc_provider_factory([client], USER)
    verifier, challenge = pkce_pair()
    url = authorization_url(op, state="s", nonce="n", challenge=challenge).replace(
        CLIENT.client_id, "es-client"
    )
    params = callback_params(op.authorize(url))
    resp = requests.post(
        op.discovery()["token_endpoint"],
        data={"grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
              "code_verifier": verifier},
        auth=("es-client", "es-secret"),
        timeout=10,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    header = jwt.decode(
        resp.json()["id_token"], KeySet.import_key_set(op.jwks()), algorithms=["ES256"]
    ).header
    assert header["alg"] == "ES256"


def test_a_client_registered_once_the_op_runs(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    """A connection's callback URL is known only after the connection exists, which needs the OP running
    (discovery): the client is then added to the running OP with the id and secret the test chose."""
    op = oidc_provider_factory([], USER)
    late = OidcClient("late-client", "late-secret", ("http://127.0.0.1:9/sso/oidc/conn_late/callback",))
    op.register_client(late)
    verifier, challenge = pkce_pair()
    url = authorization_url(op, state="s", nonce="n", challenge=challenge)
    url = url.replace(CLIENT.client_id, late.client_id).replace("conn_1", "conn_late")
    callback = op.authorize(url)
    assert callback.startswith(late.redirect_uris[0] + "?code=")
    code = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}["code"]
    resp = requests.post(
        op.discovery()["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": late.redirect_uris[0],
              "code_verifier": verifier},
        auth=(late.client_id, "late-secret"),
        timeout=10,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    # Registration needs the harness's token.
    other = OidcClient("intruder", "x", ("https://evil.example/cb",))
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        refused = requests.post(
            op.discovery()["registration_endpoint"], json=other.registration(), headers=headers, timeout=10
        )
        assert refused.status_code in (400, 401), refused.text
