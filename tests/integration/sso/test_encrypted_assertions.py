"""Encrypted assertions from saml-idp to the connection's encryption certificate, across a key rotation: the
previous key decrypts until it is removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from tests.conftest import Api
from tests.idps.peers import TestUser, shared_keypair
from tests.idps.saml_idp import SamlIdp
from tests.integration.sso.e2e import create_connection, post_to_acs, session_token, start_login
from tests.support import free_port

pytestmark = pytest.mark.idp


def test_encrypted_assertion_and_rotation_overlap(
    app: Any,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conn = create_connection(
        admin, org["id"], idp_entity_id=f"{base}/metadata", idp_sso_url=f"{base}/saml/sso",
        idp_x509_cert=shared_keypair("saml-idp").cert_pem,
    )  # fmt: skip
    encryption = next(k for k in conn.data["sp_keys"] if k["use"] == "encryption")
    sp = replace(conn.service_provider(), cert_pem=encryption["certificate"])
    idp = saml_idp_factory(sp, TestUser(), port=port, encrypt_assertion=True)
    url = f"/v1/orgs/{org['id']}/sso-connections/{conn.id}"

    def login() -> int:
        client: FlaskClient = app.test_client()
        outcome = idp.login(start_login(client, f"org={org['id']}"))
        assert b"EncryptedAssertion" in outcome.saml_xml()  # type: ignore[union-attr]
        resp = post_to_acs(client, outcome)
        assert (resp.status_code == 302) is (session_token(resp) is not None)
        return resp.status_code

    assert login() == 302
    rotated = admin.post(f"{url}/rotate-keys", {"use": "encryption"}).json
    assert login() == 302  # the IdP still encrypts to the previous certificate: it still decrypts
    previous = next(k for k in rotated["sp_keys"] if k["use"] == "encryption" and k["status"] == "previous")
    assert admin.delete(f"{url}/keys/{previous['id']}").status_code == 204
    assert login() == 400
    with transaction(container.session_factory) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.login_failed")).all()
    assert event.reason == "decryption_failed", event.reason
