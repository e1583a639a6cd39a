"""The SSO connections admin API: shapes, validation, events, key rotation, isolation between orgs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.config import Settings
from app.container import Container
from app.crypto.sealing import SealBroken
from app.db import transaction
from app.sso.keys import key_context, sso_sealer
from app.sso.models import SsoSpKey
from tests.conftest import Api, make_org_key
from tests.integration.sso.helpers import idp_cert, saml_fields

BASE = "/v1/orgs/{org}/sso-connections"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The production rule for metadata URLs: https and public addresses only."""
    return settings.model_copy(update={"allow_private_metadata_urls": False})


def _create(api: Api, org: dict[str, Any], **extra: object) -> dict[str, Any]:
    resp = api.post(BASE.format(org=org["id"]), saml_fields(**extra))
    assert resp.status_code == 201, resp.json
    data: dict[str, Any] = resp.json
    return data


def _actions(container: Container, org_id: str) -> list[str]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq)
            )
        )


def test_create_answers_sp_urls_keys_and_idp_certificate(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    conn = _create(admin, org, name="Okta", default_role="member", jit=False)
    cid = conn["id"]
    base = container.settings.base_url.rstrip("/")
    assert conn["sp_entity_id"] == f"{base}/sso/saml/{cid}/metadata"
    assert conn["acs_url"] == f"{base}/sso/saml/{cid}/acs"
    assert conn["metadata_url"] == f"{base}/sso/saml/{cid}/metadata"
    assert conn["slo_url"] == f"{base}/sso/saml/{cid}/slo"
    assert conn["name"] == "Okta" and conn["jit"] is False and conn["enabled"] is True
    assert conn["require_verified_domain"] is True and conn["allow_idp_initiated"] is False
    assert conn["idp"]["entity_id"] == "https://idp.example.com/metadata"
    assert conn["idp"]["sso_binding"] == "redirect"
    [cert] = conn["idp"]["certificates"]
    assert len(cert["fingerprint_sha256"]) == 64 and cert["expiring"] is False
    assert sorted((k["use"], k["status"]) for k in conn["sp_keys"]) == [
        ("encryption", "active"),
        ("signing", "active"),
    ]
    assert all(k["certificate"].startswith("-----BEGIN CERTIFICATE-----") for k in conn["sp_keys"])
    assert "email" in conn["attribute_map"]["email"]
    assert admin.get(f"{BASE.format(org=org['id'])}/{cid}").json == conn
    assert "sso_connection.created" in _actions(container, org["id"])


def test_sp_urls_are_never_a_prefix_of_another_connections(admin: Api, org: dict[str, Any]) -> None:
    conns = [_create(admin, org) for _ in range(3)]
    urls = [c[k] for c in conns for k in ("sp_entity_id", "acs_url", "slo_url")]
    for a in conns:
        for b in conns:
            if a["id"] == b["id"]:
                continue
            for key in ("sp_entity_id", "acs_url", "slo_url"):
                assert not b[key].startswith(a[key]) and a[key] not in b[key]
    assert len(set(urls)) == len(urls)


def test_idp_certificate_expiring_within_30_days_is_flagged(admin: Api, org: dict[str, Any]) -> None:
    conn = _create(admin, org, idp_x509_cert=None, idp_x509_certs=[idp_cert(10), idp_cert(400)])
    assert [c["expiring"] for c in conn["idp"]["certificates"]] == [True, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"idp_x509_cert": "not a certificate"}, "idp_x509_cert"),
        ({"idp_sso_url": "javascript:alert(1)"}, "idp_sso_url"),
        ({"idp_entity_id": None}, "idp_entity_id"),
        ({"default_role": "owner"}, "default_role"),
        ({"default_role": "no-such-role"}, "default_role"),
        ({"enabled": "yes"}, "enabled"),
        ({"surprise": 1}, "surprise"),
        ({"idp_metadata_url": "https://idp.example.com/md"}, "(body)"),  # two sources at once
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    admin: Api, org: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    payload = {k: v for k, v in {**saml_fields(), **body}.items() if v is not None}
    resp = admin.post(BASE.format(org=org["id"]), payload)
    assert resp.status_code == 422, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert any(field in e["field"] for e in resp.json["errors"]), resp.json


def test_oidc_with_an_unreachable_issuer_is_422_and_malformed_json_is_400(
    admin: Api, org: dict[str, Any], client: FlaskClient
) -> None:
    resp = admin.post(BASE.format(org=org["id"]), {"type": "oidc", "issuer": "https://x", "client_id": "a"})
    # OIDC connections (issue 12): the issuer's discovery document is fetched at creation.
    assert resp.status_code == 422 and resp.json["code"] == "idp_metadata_unavailable", resp.json
    raw = client.post(
        BASE.format(org=org["id"]),
        data=b"{not json",
        headers={"Authorization": f"Bearer {admin.key}", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json["code"] == "malformed_request"


def test_metadata_url_to_private_or_plain_http_addresses_is_refused(admin: Api, org: dict[str, Any]) -> None:
    for url, reason in [
        ("http://idp.example.com/metadata", "insecure_url"),
        ("https://127.0.0.1/metadata", "private_address"),
        ("https://169.254.169.254/latest/meta-data", "private_address"),
        ("https://10.1.2.3/md", "private_address"),
        ("https://[::1]/md", "private_address"),
        ("https://[::ffff:127.0.0.1]/md", "private_address"),
        ("file:///etc/passwd", "invalid_url"),
    ]:
        resp = admin.post(BASE.format(org=org["id"]), {"type": "saml", "idp_metadata_url": url})
        assert resp.status_code == 422, (url, resp.json)
        assert resp.json["code"] == "idp_metadata_unavailable" and resp.json["reason"] == reason, url


def test_patch_changes_settings_and_records_enable_disable(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    conn = _create(admin, org)
    url = f"{BASE.format(org=org['id'])}/{conn['id']}"
    resp = admin.patch(url, {"enabled": False, "name": "Entra", "attribute_map": {"groups": "roles"}})
    assert resp.status_code == 200, resp.json
    assert resp.json["enabled"] is False and resp.json["name"] == "Entra"
    assert resp.json["attribute_map"]["groups"][0] == "roles"
    new_cert = idp_cert(200)
    resp = admin.patch(url, {"idp_x509_certs": [new_cert], "enabled": True})
    assert resp.status_code == 200, resp.json
    assert resp.json["idp"]["entity_id"] == "https://idp.example.com/metadata"  # kept
    assert (
        resp.json["idp"]["certificates"][0]["fingerprint_sha256"]
        != conn["idp"]["certificates"][0]["fingerprint_sha256"]
    )
    actions = _actions(container, org["id"])
    assert actions.count("sso_connection.updated") == 2
    assert "sso_connection.disabled" in actions and "sso_connection.enabled" in actions
    assert admin.patch(url, {"name": "Entra"}).status_code == 200  # no change, no event
    assert _actions(container, org["id"]).count("sso_connection.updated") == 2


def test_delete(admin: Api, org: dict[str, Any], container: Container) -> None:
    conn = _create(admin, org)
    url = f"{BASE.format(org=org['id'])}/{conn['id']}"
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    assert admin.delete(url).status_code == 404
    assert "sso_connection.deleted" in _actions(container, org["id"])


def _published_signing_certs(client: FlaskClient, conn: dict[str, Any]) -> list[str]:
    """The signing certificates our SP metadata publishes (base64 DER, in order)."""
    resp = client.get(urlsplit(conn["metadata_url"]).path)
    assert resp.status_code == 200
    root = etree.fromstring(resp.data)
    ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    path = "//md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    return [node.text for node in root.xpath(path, namespaces=ns)]


def _der(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def test_key_rotation_keeps_the_previous_key_until_removed(
    admin: Api, org: dict[str, Any], container: Container, client: FlaskClient
) -> None:
    conn = _create(admin, org)
    url = f"{BASE.format(org=org['id'])}/{conn['id']}"
    old_signing = next(k for k in conn["sp_keys"] if k["use"] == "signing")
    assert _published_signing_certs(client, conn) == [_der(old_signing["certificate"])]
    rotated = admin.post(f"{url}/rotate-keys", {"use": "signing"}).json
    signing = [k for k in rotated["sp_keys"] if k["use"] == "signing"]
    assert sorted(k["status"] for k in signing) == ["active", "previous"]
    previous = next(k for k in signing if k["status"] == "previous")
    active = next(k for k in signing if k["status"] == "active")
    assert previous["id"] == old_signing["id"] and active["certificate"] != previous["certificate"]
    # The overlap: the metadata publishes the new signing certificate first and the previous one after it.
    assert _published_signing_certs(client, conn) == [
        _der(active["certificate"]),
        _der(previous["certificate"]),
    ]
    resp = admin.delete(f"{url}/keys/{active['id']}")
    assert resp.status_code == 422 and resp.json["code"] == "sp_key_not_removable"
    assert admin.delete(f"{url}/keys/{previous['id']}").status_code == 204
    after = admin.get(url).json
    assert [k["id"] for k in after["sp_keys"] if k["use"] == "signing"] == [active["id"]]
    assert _published_signing_certs(client, conn) == [_der(active["certificate"])]  # the overlap is over
    actions = _actions(container, org["id"])
    assert "sso_connection.keys_rotated" in actions and "sso_connection.key_removed" in actions


def test_private_keys_are_encrypted_at_rest_and_bound_to_their_row(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    conn = _create(admin, org)
    with transaction(container.session_factory) as session:
        rows = list(session.scalars(select(SsoSpKey).where(SsoSpKey.connection_id == conn["id"])))
    assert len(rows) == 2
    box = container.sso_secret_box
    for row in rows:
        assert "PRIVATE KEY" not in row.private_key_encrypted
        plain = box.open(row.private_key_encrypted, key_context(conn["id"], row.id, row.use))
        assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    a, b = rows
    with pytest.raises(SealBroken):  # moved into another row
        box.open(a.private_key_encrypted, key_context(conn["id"], b.id, b.use))
    with pytest.raises(SealBroken):  # another instance's secret key
        sso_sealer("another-secret").open(a.private_key_encrypted, key_context(conn["id"], a.id, a.use))


def test_isolation_between_orgs_and_permission(
    admin: Api, org: dict[str, Any], platform: Api, client: FlaskClient, container: Container
) -> None:
    conn = _create(admin, org)
    other = platform.post("/v1/orgs", {"name": "Globex"}).json
    other_admin = Api(client, make_org_key(container, other["id"], "admin"))
    assert other_admin.get(BASE.format(org=other["id"])).json["data"] == []
    assert other_admin.get(f"{BASE.format(org=other['id'])}/{conn['id']}").status_code == 404
    assert other_admin.get(BASE.format(org=org["id"])).status_code == 404  # never confirms the org
    assert other_admin.patch(f"{BASE.format(org=other['id'])}/{conn['id']}", {"name": "x"}).status_code == 404
    assert other_admin.delete(f"{BASE.format(org=other['id'])}/{conn['id']}").status_code == 404
    member = Api(client, make_org_key(container, org["id"], "member"))
    resp = member.get(BASE.format(org=org["id"]))
    assert resp.status_code == 403
    assert admin.get(BASE.format(org=org["id"])).json["data"][0]["id"] == conn["id"]


def test_list_pages(admin: Api, org: dict[str, Any]) -> None:
    ids = [_create(admin, org)["id"] for _ in range(3)]
    first = admin.get(BASE.format(org=org["id"]) + "?limit=2").json
    assert [c["id"] for c in first["data"]] == ids[:2] and first["next_cursor"]
    second = admin.get(BASE.format(org=org["id"]) + f"?limit=2&cursor={first['next_cursor']}").json
    assert [c["id"] for c in second["data"]] == ids[2:] and second["next_cursor"] is None
    assert admin.get(BASE.format(org=org["id"]) + "?cursor=%%%").status_code == 422
