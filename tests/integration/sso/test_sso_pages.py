"""The /sso pages without an IdP round trip: the login page, discovery, return_to (never an open redirect),
SP metadata, errors as readable pages, and SSO enforcement of other ways in."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from app.sso.transaction import COOKIE
from tests.conftest import Api
from tests.integration.sso.e2e import create_connection
from tests.integration.sso.helpers import idp_cert

IDP_SSO = "https://idp.example.com/sso"


@pytest.fixture
def conn(admin: Api, org: dict[str, Any]) -> dict[str, Any]:
    return create_connection(
        admin,
        org["id"],
        idp_entity_id="https://idp.example.com",
        idp_sso_url=IDP_SSO,
        idp_x509_cert=idp_cert(),
    ).data


def test_login_page_without_parameters(client: FlaskClient) -> None:
    resp = client.get("/sso/login")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert 'name="email"' in resp.get_data(as_text=True)
    resp = client.get("/sso/login?return_to=/app%22%3E%3Cscript%3E")
    assert resp.status_code == 200 and "<script>" not in resp.get_data(as_text=True)


def test_discovery_by_verified_domain_redirects_to_the_idp_with_a_transaction_cookie(
    client: FlaskClient, org: dict[str, Any], conn: dict[str, Any], example_domain: str
) -> None:
    resp = client.get("/sso/login?email=Someone@Example.com&return_to=/after")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(IDP_SSO + "?")
    query = parse_qs(urlsplit(location).query)
    assert {"SAMLRequest", "SigAlg", "Signature"} <= query.keys()
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "Path=/sso" in cookie
    assert "SameSite=None" not in cookie  # plain http (development): no SameSite=None without Secure
    # Sub-domains are covered by the verified parent; unknown domains find nothing.
    assert client.get("/sso/login?email=a@eu.example.com").status_code == 302
    page = client.get("/sso/login?email=a@unknown.test")
    assert page.status_code == 404 and "No organisation" in page.get_data(as_text=True)


def test_secure_base_url_makes_the_transaction_cookie_samesite_none(
    client: FlaskClient, app: Any, org: dict[str, Any], conn: dict[str, Any]
) -> None:
    app.extensions["tenantry"].settings.base_url = "https://sso.example.org"
    try:
        resp = client.get(f"/sso/login?org={org['id']}")
    finally:
        app.extensions["tenantry"].settings.base_url = "http://localhost"
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    assert "SameSite=None" in cookie and "Secure" in cookie


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example.net/",
        "//evil.example.net/",
        "javascript:alert(1)",
        "http://localhost.evil.net/",
        "/\\evil.example.net",
        "http://localhost:8080/",
    ],
)
def test_return_to_elsewhere_is_refused(
    client: FlaskClient, org: dict[str, Any], conn: dict[str, Any], return_to: str
) -> None:
    resp = client.get("/sso/login", query_string={"org": org["id"], "return_to": return_to})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "Location" not in resp.headers


def test_allowed_origins_setting(
    app: Any, client: FlaskClient, org: dict[str, Any], conn: dict[str, Any]
) -> None:
    app.extensions["tenantry"].settings.sso_allowed_return_origins = "https://app.example.org"
    resp = client.get("/sso/login", query_string={"org": org["id"], "return_to": "https://app.example.org/x"})
    assert resp.status_code == 302


def test_connection_choice_and_disabled_or_unknown(
    client: FlaskClient, admin: Api, org: dict[str, Any], conn: dict[str, Any]
) -> None:
    assert client.get(f"/sso/login?org={org['id']}&connection={conn['id']}").status_code == 302
    assert client.get(f"/sso/login?org={org['id']}&connection=sso_nope").status_code == 404
    assert client.get("/sso/login?org=org_doesnotexist").status_code == 404
    admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}", {"enabled": False})
    resp = client.get(f"/sso/login?org={org['id']}", headers={"Accept": "application/json"})
    assert resp.status_code == 404 and resp.json["code"] == "sso_not_configured"


def test_sp_metadata_publishes_keys_including_previous_ones(
    client: FlaskClient, admin: Api, org: dict[str, Any], conn: dict[str, Any]
) -> None:
    resp = client.get(f"/sso/saml/{conn['id']}/metadata")
    assert resp.status_code == 200 and resp.mimetype == "application/samlmetadata+xml"
    xml = resp.get_data(as_text=True)
    assert f'entityID="{conn["sp_entity_id"]}"' in xml and conn["acs_url"] in xml
    rotated = admin.post(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}/rotate-keys", {}).json
    xml = client.get(f"/sso/saml/{conn['id']}/metadata").get_data(as_text=True)
    for key in rotated["sp_keys"]:
        body = "".join(line for line in key["certificate"].splitlines() if "-----" not in line)
        # The new keys are published, and the previous signing certificate beside the new one during the
        # overlap (IdPs that pinned it accept our requests until they refresh); the previous encryption key
        # is not published but still decrypts (tested end to end with saml-idp).
        published = key["status"] == "active" or key["use"] == "signing"
        assert (body in xml) is published, (key["use"], key["status"])
    assert client.get("/sso/saml/sso_nope/metadata").status_code == 404


def test_acs_without_a_response_or_for_an_unknown_connection_is_a_page(
    client: FlaskClient, conn: dict[str, Any]
) -> None:
    resp = client.post(f"/sso/saml/{conn['id']}/acs", data={})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    resp = client.post(f"/sso/saml/{conn['id']}/acs", data={"SAMLResponse": "%%%not base64"})
    assert resp.status_code == 400 and "Sign-in failed" in resp.get_data(as_text=True)
    assert client.post("/sso/saml/sso_nope/acs", data={"SAMLResponse": "eA=="}).status_code == 404


def test_enforced_sso_refuses_invitation_acceptance_for_verified_domain_addresses(
    client: FlaskClient,
    admin: Api,
    platform: Api,
    org: dict[str, Any],
    conn: dict[str, Any],
    example_domain: str,
) -> None:
    assert admin.patch(f"/v1/orgs/{org['id']}", {"sso_enforced": True}).status_code == 200
    inside = platform.post(
        f"/v1/orgs/{org['id']}/invitations",
        {"email": "new@example.com", "role": "member", "return_token": True},
    ).json
    outside = platform.post(
        f"/v1/orgs/{org['id']}/invitations",
        {"email": "guest@partner.org", "role": "member", "return_token": True},
    ).json
    refused = client.post("/v1/invitations/accept", json={"token": inside["token"]})
    assert refused.status_code == 403 and refused.json["code"] == "sso_required"
    assert client.post("/v1/invitations/accept", json={"token": outside["token"]}).status_code in (200, 201)
    assert admin.patch(f"/v1/orgs/{org['id']}", {"sso_enforced": False}).status_code == 200
    assert client.post("/v1/invitations/accept", json={"token": inside["token"]}).status_code in (200, 201)


def test_sign_in_attempts_are_rate_limited_per_ip(
    app: Any, client: FlaskClient, org: dict[str, Any], conn: dict[str, Any]
) -> None:
    app.extensions["tenantry"].settings.sso_rate_ip = "3/minute"
    app.extensions["tenantry"].rate_limiter.reset()
    codes = [client.get(f"/sso/login?org={org['id']}").status_code for _ in range(3)]
    limited = client.post(f"/sso/saml/{conn['id']}/acs", data={"SAMLResponse": "eA=="})
    assert codes == [302, 302, 302]
    assert limited.status_code == 429 and limited.headers["Retry-After"] and limited.mimetype == "text/html"
    assert client.get("/sso/login").status_code == 200  # the bare page is not limited
