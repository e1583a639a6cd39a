"""End to end with SimpleSAMLphp (php -S) on loopback: it checks our AuthnRequest signatures, sends the
attributes under LDAP-style names (givenName, sn), and drives single logout both ways."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import LoginSession, User
from app.sso.saml import BINDING_REDIRECT, IdpSettings, SpKey, SpSettings, logout_request
from tests.conftest import Api
from tests.idps.browser import Redirect
from tests.idps.peers import TestUser, shared_keypair
from tests.idps.simplesamlphp import RSA_SHA256, SimpleSamlPhp
from tests.integration.sso.e2e import (
    Connection,
    create_connection,
    path_of,
    post_to_acs,
    session_token,
    start_login,
)
from tests.support import free_port

pytestmark = pytest.mark.idp
USER = TestUser(email="grace.hopper@example.com", first_name="Grace", last_name="Hopper")


def _connect(
    admin: Api, org: dict[str, Any], factory: Callable[..., SimpleSamlPhp], **options: Any
) -> tuple[Connection, SimpleSamlPhp]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conn = create_connection(
        admin,
        org["id"],
        idp_entity_id=f"{base}/saml2/idp/metadata.php",
        idp_sso_url=f"{base}/saml2/idp/SSOService.php",
        idp_x509_cert=shared_keypair("simplesamlphp").cert_pem,
    )
    idp = factory(conn.service_provider(), USER, port=port, **options)
    resp = admin.patch(
        f"/v1/orgs/{org['id']}/sso-connections/{conn.id}", {"idp_metadata_xml": idp.metadata_xml()}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["idp"]["slo_url"] == idp.slo_url
    return Connection(resp.json), idp


def _sessions(container: Container, email: str) -> list[LoginSession]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(LoginSession).join(User, User.id == LoginSession.user_id).where(User.email == email)
            )
        )


def test_signed_authn_request_login_and_sp_initiated_logout(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    simplesamlphp_factory: Callable[..., SimpleSamlPhp],
) -> None:
    _conn, idp = _connect(admin, org, simplesamlphp_factory, require_signed_authn_request=True)
    browser = idp.browser()
    resp = post_to_acs(client, idp.login(start_login(client, f"email={USER.email}"), browser=browser))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    token = session_token(resp)
    assert token is not None
    [live] = _sessions(container, USER.email)
    assert live.method == "sso" and live.revoked_at is None
    with transaction(container.session_factory) as session:
        user = session.scalars(select(User).where(User.email == USER.email)).one()
        assert user.name == "Grace Hopper"  # from givenName and sn
    # SP-initiated single logout: our session ends at once, then the IdP is asked to end its own.
    out = client.get(f"/sso/saml/{_conn.id}/slo")
    assert out.status_code == 302 and out.headers["Location"].startswith(idp.slo_url + "?SAMLRequest=")
    assert "tenantry_session=;" in " ".join(out.headers.getlist("Set-Cookie"))
    [ended] = _sessions(container, USER.email)
    assert ended.revoked_at is not None
    back = browser.run(out.headers["Location"], lambda page: None)
    assert isinstance(back, Redirect) and "SAMLResponse=" in back.url
    done = client.get(path_of(back.url))
    assert done.status_code == 302 and done.headers["Location"] == "http://localhost/"
    with transaction(container.session_factory) as session:
        reasons = [
            e.data["reason"]
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "session.ended"))
        ]
    assert reasons == ["sso_logout"]


def test_idp_initiated_logout_ends_the_session(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    simplesamlphp_factory: Callable[..., SimpleSamlPhp],
) -> None:
    """The IdP's LogoutRequest is signed here with the IdP's key by the SAML core's own message signer, with
    the roles swapped: SimpleSAMLphp 1.19 under ``php -S`` answers its initSLO.php with UNHANDLEDEXCEPTION
    in this harness, so it cannot start the logout itself."""
    conn, idp = _connect(admin, org, simplesamlphp_factory)
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 302
    as_idp = SpSettings(
        entity_id=idp.entity_id,
        acs_url=idp.sso_url,
        slo_url=idp.slo_url,
        signing=SpKey(idp.keypair.key_pem, idp.keypair.cert_pem),
    )
    to_us = IdpSettings(
        entity_id=conn.data["sp_entity_id"],
        sso_url=conn.data["acs_url"],
        sso_binding=BINDING_REDIRECT,
        slo_url=conn.data["slo_url"],
        certificates=(),
    )
    forged_by_stranger = logout_request(
        SpSettings(as_idp.entity_id, as_idp.acs_url, as_idp.slo_url, SpKey(*_stranger_key())),
        to_us,
        name_id=USER.email,
        name_id_format=None,
        session_index=None,
        relay_state=None,
        now=datetime.now(UTC),
    )
    refused = client.get(path_of(forged_by_stranger.url))
    assert refused.status_code == 400
    [live] = _sessions(container, USER.email)
    assert live.revoked_at is None  # a LogoutRequest signed by another key ends nothing
    request = logout_request(
        as_idp, to_us, name_id=USER.email, name_id_format=None, session_index=None, relay_state=None,
        now=datetime.now(UTC),
    )  # fmt: skip
    answer = client.get(path_of(request.url))
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert (
        answer.headers["Location"].startswith(idp.slo_url) and "SAMLResponse=" in answer.headers["Location"]
    )
    [ended] = _sessions(container, USER.email)
    assert ended.revoked_at is not None
    with transaction(container.session_factory) as session:
        reasons = [
            e.data["reason"]
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "session.ended"))
        ]
    assert reasons == ["idp_logout"]


def _stranger_key() -> tuple[str, str]:
    pair = shared_keypair("stranger")
    return pair.key_pem, pair.cert_pem


def test_sha1_signed_responses_are_refused(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    simplesamlphp_factory: Callable[..., SimpleSamlPhp],
) -> None:
    _conn, idp = _connect(
        admin, org, simplesamlphp_factory, signature_algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    )
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 400 and session_token(resp) is None
    with transaction(container.session_factory) as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.login_failed")).all()
    assert event.reason == "sha1_refused", event.reason
    assert RSA_SHA256  # the default the other tests use


def _all(container: Container) -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "sso.login_failed")))
