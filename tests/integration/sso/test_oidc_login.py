"""OIDC connections end to end: Tenantry (Flask test client, whose cookie jar is the browser's on our side)
against the real npm oidc-provider on loopback (tests/idps/oidc_provider.py): the connections API, a login
with JIT, and the attacks a browser or another IdP can mount over HTTP (state, the transaction cookie that
holds the PKCE verifier, mix-up between connections, tenant separation). The forged ID tokens a real OP never
issues are in test_oidc_forged_tokens.py (a stub OP there, and only there)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import Membership, User
from app.scim.models import ScimGroup
from app.sso.models import SsoConnection
from app.sso.oidc_connections import secret_context
from tests.conftest import Api, make_org_key
from tests.idps.oidc_provider import OidcClient, OidcProvider, new_signing_keys, start_oidc_provider
from tests.idps.peers import TestUser
from tests.integration.sso.e2e import path_of, session_token
from tests.integration.sso.helpers import verified_domain
from tests.support import free_port

pytestmark = pytest.mark.idp
USER = TestUser(email="grace.hopper@example.com", first_name="Grace", last_name="Hopper", groups=("Eng",))
SECRET = "s3cret-of-the-client"  # noqa: S105 - a test client's secret


def events(container: Container, org_id: str, action: str) -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.action == action)
            )
        )


def member_of(container: Container, org_id: str, email: str) -> Membership | None:
    with transaction(container.session_factory) as session:
        return session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == org_id, User.email == email)
        ).one_or_none()


@contextmanager
def oidc_connection(
    admin: Api,
    org_id: str,
    user: TestUser = USER,
    *,
    client_id: str = "tenantry",
    secret: str | None = SECRET,
    **body: Any,
) -> Iterator[tuple[dict[str, Any], OidcProvider]]:
    """A connection to a real OP. The OP must know the connection's redirect URI, which exists only once the
    connection does (and creating it fetches the OP's discovery document): so the OP is started, the
    connection created, and the OP restarted on the same port with the same keys and the redirect URI."""
    port, keys = free_port(), new_signing_keys()
    method = "client_secret_basic" if secret else "none"
    bootstrap = OidcClient(client_id, secret, ("http://localhost/unused",), token_endpoint_auth_method=method)
    with start_oidc_provider([bootstrap], user, port=port, signing_keys=keys) as op:
        given = {"client_secret": secret} if secret else {}
        resp = admin.post(
            f"/v1/orgs/{org_id}/sso-connections",
            {"type": "oidc", "issuer": op.issuer, "client_id": client_id, **given, **body},
        )
        assert resp.status_code == 201, resp.json
        conn: dict[str, Any] = resp.json
    client = OidcClient(client_id, secret, (conn["redirect_uri"],), token_endpoint_auth_method=method)
    with start_oidc_provider([client], user, port=port, signing_keys=keys) as op:
        yield conn, op


def start(client: FlaskClient, org_id: str, conn_id: str, **extra: str) -> str:
    query = urlencode({"org": org_id, "connection": conn_id, **extra})
    resp = client.get(f"/sso/login?{query}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return str(resp.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_connection_api_answers_the_redirect_uri_and_seals_the_secret(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    with oidc_connection(admin, org["id"], scopes=["openid", "email", "profile", "groups"]) as (conn, op):
        assert conn["type"] == "oidc"
        assert conn["redirect_uri"] == f"http://localhost/sso/oidc/{conn['id']}/callback"
        assert conn["oidc"]["issuer"] == op.issuer and conn["oidc"]["client_secret_set"] is True
        assert conn["oidc"]["scopes"] == ["openid", "email", "profile", "groups"]
        assert conn["oidc"]["authorization_endpoint"].startswith(op.issuer)
        assert conn["sp_entity_id"] is None and conn["sp_keys"] == []
        assert SECRET not in str(conn)
        with transaction(container.session_factory) as session:
            row = session.get(SsoConnection, conn["id"])
            assert row is not None and row.oidc_client_secret_encrypted
            assert SECRET not in row.oidc_client_secret_encrypted
            opened = container.sso_secret_box.open(row.oidc_client_secret_encrypted, secret_context(row.id))
            assert opened.decode() == SECRET
        # A PATCH changes the secret: audited as a changed fingerprint, never the value.
        resp = admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}", {"client_secret": "other"})
        assert resp.status_code == 200, resp.json
        [updated] = events(container, org["id"], "sso_connection.updated")
        assert set(updated.changes) == {"oidc_client_secret_sealed"} and "other" not in str(updated.changes)
        # SAML fields on an OIDC connection, and a method the issuer does not offer, are refused.
        bad = admin.patch(
            f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}", {"idp_sso_url": "https://x.example/sso"}
        )
        assert bad.status_code == 422 and bad.json["code"] == "invalid_idp_settings"
        rotate = admin.post(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}/rotate-keys", {})
        assert rotate.status_code == 422 and rotate.json["code"] == "unsupported_connection_type"
        # The SAML endpoints do not know an OIDC connection.
        assert admin.client.get(f"/sso/saml/{conn['id']}/metadata").status_code == 404


def test_the_idps_refusal_is_a_readable_page_and_audited(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    with oidc_connection(admin, org["id"]) as (conn, op):
        params = query_of(start(client, org["id"], conn["id"]))
        # The person declines at the IdP: it answers this browser's state with an error (RFC 6749 §4.1.2.1).
        denied = {
            "error": "access_denied",
            "error_description": "<script>alert(1)</script>",
            "state": params["state"],
            "iss": op.issuer,
        }
        page = client.get(f"{urlsplit(conn['redirect_uri']).path}?{urlencode(denied)}")
        assert page.status_code == 400 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert "Your identity provider refused the sign-in." in html and "<script>" not in html
        assert session_token(page) is None
        [event] = events(container, org["id"], "sso.login_failed")
        assert event.reason == "idp_error" and "access_denied" in event.data["detail"]
        # A disabled connection starts nothing.
        admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}", {"enabled": False})
        assert client.get(f"/sso/login?org={org['id']}&connection={conn['id']}").status_code == 404


def test_issuer_discovery_is_fetched_under_the_ssrf_rules(admin: Api, org: dict[str, Any]) -> None:
    # allow_private_metadata_urls is on for these tests (the IdPs run on loopback): a closed port is
    # unreachable; a discovery document naming another issuer is refused by the core.
    resp = admin.post(
        f"/v1/orgs/{org['id']}/sso-connections",
        {"type": "oidc", "issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x", "client_secret": "y"},
    )
    assert resp.status_code == 422 and resp.json["code"] == "idp_metadata_unavailable", resp.json
    missing = admin.post(f"/v1/orgs/{org['id']}/sso-connections", {"type": "oidc", "client_id": "x"})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "issuer"


def test_login_end_to_end_with_jit(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    with oidc_connection(admin, org["id"]) as (conn, op):
        location = start(client, org["id"], conn["id"], return_to="http://localhost/app/home")
        params = query_of(location)
        assert location.startswith(op.issuer)
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
        assert params["state"] and params["nonce"] and params["redirect_uri"] == conn["redirect_uri"]
        tx_cookie = client.get_cookie("tenantry_sso_tx", path="/sso")
        assert tx_cookie is not None
        assert params["nonce"] not in tx_cookie.value  # the pending authorization is sealed, not just signed

        callback = op.authorize(location)
        assert query_of(callback)["iss"] == op.issuer  # oidc-provider sends RFC 9207's iss
        done = client.get(path_of(callback))
        assert done.status_code == 302, done.get_data(as_text=True)
        assert done.headers["Location"] == "http://localhost/app/home"
        token = session_token(done)
        assert token is not None
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json["email"] == USER.email, me.json

        member = member_of(container, org["id"], USER.email)
        assert member is not None and member.source == "jit" and member.role == "member"
        [ok] = events(container, org["id"], "sso.login_succeeded")
        assert ok.data["jit"] is True and ok.data["connection_id"] == conn["id"]

        # The same callback again (the code is spent, the pending login taken): refused, audited.
        again = client.get(path_of(callback))
        assert again.status_code == 400
        assert [e.reason for e in events(container, org["id"], "sso.login_failed")] == ["state_mismatch"]


def test_state_mismatch_and_a_callback_without_this_browsers_transaction_are_refused(
    client: FlaskClient, app: Any, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    with oidc_connection(admin, org["id"]) as (conn, op):
        callback = op.authorize(start(client, org["id"], conn["id"]))
        params = query_of(callback)
        # Another browser (no transaction cookie: it never saw the state, nonce or PKCE verifier) replays the
        # callback it captured: refused before the code is redeemed.
        stranger = app.test_client()
        stolen = stranger.get(path_of(callback))
        assert stolen.status_code == 400 and session_token(stolen) is None
        # This browser, with the state altered: refused too.
        forged = {**params, "state": params["state"][:-2] + "xx"}
        path = urlsplit(conn["redirect_uri"]).path
        wrong = client.get(f"{path}?{urlencode(forged)}", headers={"Accept": "application/json"})
        assert wrong.status_code == 400 and wrong.json["reason"] == "state_mismatch", wrong.json
        # Repeats of a reason within a minute are one event until the failure flush (app/audit/failures.py).
        assert [e.reason for e in events(container, org["id"], "sso.login_failed")] == ["state_mismatch"]
        # The untouched callback still works in the browser that started it: the refusals above spent
        # nothing, and its code was never redeemed by the stranger.
        ok = client.get(path_of(callback))
        assert ok.status_code == 302 and session_token(ok) is not None
        assert member_of(container, org["id"], USER.email) is not None


def test_mix_up_between_two_connections_is_refused(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    with (
        oidc_connection(admin, org["id"], client_id="client-a") as (conn_a, op_a),
        oidc_connection(admin, org["id"], client_id="client-b") as (conn_b, op_b),
    ):
        callback_a = op_a.authorize(start(client, org["id"], conn_a["id"]))
        start(client, org["id"], conn_b["id"])  # the browser has a pending login at B too
        path_b = urlsplit(conn_b["redirect_uri"]).path
        # A's answer (code, state, iss) delivered to B's callback: B has no pending login with A's state.
        crossed = client.get(f"{path_b}?{urlsplit(callback_a).query}", headers={"Accept": "application/json"})
        assert crossed.status_code == 400 and crossed.json["reason"] == "state_mismatch", crossed.json
        # Now with B's own state (what an attacker controlling A's IdP could learn by starting at B in the
        # victim's browser) but A's code and A's iss: RFC 9207 refuses it before the code reaches B's IdP.
        callback_b_state = query_of(start(client, org["id"], conn_b["id"]))["state"]
        mixed = {**query_of(callback_a), "state": callback_b_state}
        refused = client.get(f"{path_b}?{urlencode(mixed)}", headers={"Accept": "application/json"})
        assert refused.status_code == 400 and refused.json["reason"] == "callback_issuer_mismatch", (
            refused.json
        )
        reasons = [e.reason for e in events(container, org["id"], "sso.login_failed")]
        assert sorted(reasons) == ["callback_issuer_mismatch", "state_mismatch"], reasons
        assert member_of(container, org["id"], USER.email) is None
        # A's answer at A's own callback is fine.
        assert client.get(path_of(callback_a)).status_code == 302


def test_tenant_separation_between_connections(
    client: FlaskClient,
    platform: Api,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
) -> None:
    other = platform.post("/v1/orgs", {"name": "Globex"}).json
    other_admin = Api(client, make_org_key(container, other["id"], "admin"))
    verified_domain(container, other["id"], "globex.example")
    with (
        oidc_connection(admin, org["id"], client_id="acme") as (conn_a, _op_a),
        oidc_connection(other_admin, other["id"], client_id="globex") as (conn_b, op_b),
    ):
        # Another org's admin can neither read nor change the connection.
        assert other_admin.get(f"/v1/orgs/{org['id']}/sso-connections/{conn_a['id']}").status_code in (
            403,
            404,
        )
        assert other_admin.get(f"/v1/orgs/{other['id']}/sso-connections/{conn_a['id']}").status_code == 404
        # Globex's IdP vouches for an example.com person: Globex has not verified example.com, so its
        # connection cannot sign that person in (to Globex, and certainly not to Acme).
        refused = client.get(
            path_of(op_b.authorize(start(client, other["id"], conn_b["id"]))),
            headers={"Accept": "application/json"},
        )
        assert refused.status_code == 403 and refused.json["reason"] == "email_domain_not_verified", (
            refused.json
        )
        assert [e.reason for e in events(container, other["id"], "sso.login_failed")] == [
            "email_domain_not_verified"
        ]
        assert events(container, org["id"], "sso.login_failed") == []
        assert member_of(container, org["id"], USER.email) is None
        assert member_of(container, other["id"], USER.email) is None
        # Login through org=Acme with Globex's connection id: not Acme's connection, nothing starts.
        assert client.get(f"/sso/login?org={org['id']}&connection={conn_b['id']}").status_code == 404


def test_groups_from_userinfo_apply_the_group_mappings(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    """oidc-provider (conformIdTokenClaims, its default) puts only ``sub`` in the ID token: the email, names
    and the ``groups`` claim come from userinfo, and the org's mapping of the asserted group applies."""
    now = datetime.now(UTC)
    with transaction(container.session_factory) as session:
        group = ScimGroup(org_id=org["id"], display_name="Eng", created_at=now, updated_at=now)
        session.add(group)
        session.flush()
        group_id = group.id
    mapped = admin.post(f"/v1/orgs/{org['id']}/group-mappings", {"group_id": group_id, "role": "admin"})
    assert mapped.status_code == 201, mapped.json
    with oidc_connection(admin, org["id"], scopes=["openid", "email", "profile", "groups"]) as (conn, op):
        done = client.get(path_of(op.authorize(start(client, org["id"], conn["id"]))))
        assert done.status_code == 302, done.get_data(as_text=True)
    member = member_of(container, org["id"], USER.email)
    assert member is not None and member.role == "admin"
    with transaction(container.session_factory) as session:
        user = session.scalars(select(User).where(User.email == USER.email)).one()
        assert user.name == "Grace Hopper"


def test_a_public_client_signs_in_with_pkce_alone(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str, container: Container
) -> None:
    with oidc_connection(admin, org["id"], secret=None) as (conn, op):
        assert conn["oidc"]["client_secret_set"] is False
        assert conn["oidc"]["token_endpoint_auth_method"] == "none"
        done = client.get(path_of(op.authorize(start(client, org["id"], conn["id"]))))
        assert done.status_code == 302 and session_token(done) is not None, done.get_data(as_text=True)
    assert member_of(container, org["id"], USER.email) is not None


def test_discovery_by_email_sends_the_address_as_login_hint(
    client: FlaskClient, admin: Api, org: dict[str, Any], example_domain: str
) -> None:
    with oidc_connection(admin, org["id"]) as (conn, op):
        resp = client.get(f"/sso/login?{urlencode({'email': USER.email})}")
        assert resp.status_code == 302, resp.get_data(as_text=True)
        params = query_of(resp.headers["Location"])
        assert params["login_hint"] == USER.email and params["client_id"] == "tenantry"
        assert params["scope"] == "openid email profile" and params["response_type"] == "code"
        done = client.get(path_of(op.authorize(resp.headers["Location"])))
        assert done.status_code == 302 and done.headers["Location"] == "http://localhost/"
