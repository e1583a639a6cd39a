"""End to end with npm saml-idp on loopback: discovery, SP-initiated login, JIT, later logins, refusals."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import Membership, User
from tests.conftest import Api
from tests.idps.browser import FormPost, parse_forms
from tests.idps.peers import TestUser, shared_keypair
from tests.idps.saml_idp import SamlIdp
from tests.integration.sso.e2e import Connection, create_connection, post_to_acs, session_token, start_login
from tests.support import free_port

pytestmark = pytest.mark.idp
USER = TestUser()


def _events(container: Container, org_id: str, action: str) -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.action == action)
            )
        )


def _member(container: Container, org_id: str, email: str) -> tuple[Membership, User] | None:
    with transaction(container.session_factory) as session:
        row = session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == org_id, User.email == email)
        ).one_or_none()
        return (row[0], row[1]) if row else None


def _connect(
    admin: Api,
    org: dict[str, Any],
    saml_idp_factory: Callable[..., SamlIdp],
    user: TestUser = USER,
    **body: Any,
) -> tuple[Connection, SamlIdp]:
    """A connection for an IdP that is not running yet (its address and certificate are known up front),
    then the IdP configured with the connection's SP URLs; then the connection is switched to the IdP's
    metadata URL, so the fetch runs against the real IdP too."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conn = create_connection(
        admin,
        org["id"],
        idp_entity_id=f"{base}/metadata",
        idp_sso_url=f"{base}/saml/sso",
        idp_x509_cert=shared_keypair("saml-idp").cert_pem,
        **body,
    )
    idp = saml_idp_factory(conn.service_provider(), user, port=port)
    resp = admin.patch(
        f"/v1/orgs/{org['id']}/sso-connections/{conn.id}", {"idp_metadata_url": idp.metadata_url}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["idp"]["entity_id"] == idp.entity_id and resp.json["idp"]["metadata_fetched_at"]
    return Connection(resp.json), idp


def test_sp_initiated_login_creates_member_then_updates_it(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    conn, idp = _connect(admin, org, saml_idp_factory)
    location = start_login(client, f"email={USER.email}&return_to=/dashboard")
    assert location.startswith(idp.sso_url + "?SAMLRequest=")
    resp = post_to_acs(client, idp.login(location))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.headers["Location"] == "http://localhost/dashboard"
    token = session_token(resp)
    assert token is not None and token.startswith("tnt_ses_")
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("tenantry_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.json
    found = _member(container, org["id"], USER.email)
    assert found is not None
    member, user = found
    assert member.role == "member" and member.source == "jit" and user.name == "Ada Lovelace"
    [ok] = _events(container, org["id"], "sso.login_succeeded")
    assert (
        ok.data["jit"] is True and ok.data["flow"] == "sp_initiated" and ok.data["connection_id"] == conn.id
    )

    # A later login: no new member, the name follows the IdP.
    renamed = TestUser(first_name="Augusta", groups=())
    idp.process.stop()
    idp2 = saml_idp_factory(conn.service_provider(), renamed, port=int(idp.base_url.rsplit(":", 1)[1]))
    resp = post_to_acs(client, idp2.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 302 and resp.headers["Location"] == "http://localhost/"
    member2, user2 = _member(container, org["id"], USER.email) or (None, None)
    assert member2 is not None and user2 is not None
    assert member2.id == member.id and user2.name == "Augusta Lovelace"
    assert [e.data["jit"] for e in _events(container, org["id"], "sso.login_succeeded")] == [True, False]


def test_replayed_response_and_response_without_this_browsers_request_are_refused(
    client: FlaskClient,
    app: Any,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    _conn, idp = _connect(admin, org, saml_idp_factory)
    outcome = idp.login(start_login(client, f"email={USER.email}"))
    # Another browser (no transaction cookie) posts the same response first: refused, not a login.
    stranger = app.test_client()
    resp = post_to_acs(stranger, outcome)
    assert resp.status_code == 400 and session_token(resp) is None
    assert "text/html" in resp.headers["Content-Type"]
    assert [e.reason for e in _events(container, org["id"], "sso.login_failed")] == [
        "in_response_to_mismatch"
    ]
    # The browser that started it succeeds once. Replayed with the very transaction cookie it had (an
    # attacker holding both), the assertion id is refused by the replay cache.
    pending_cookie = client.get_cookie("tenantry_sso_tx", path="/sso")
    assert pending_cookie is not None
    assert post_to_acs(client, outcome).status_code == 302
    client.set_cookie("tenantry_sso_tx", pending_cookie.value, path="/sso")
    resp = post_to_acs(client, outcome)
    assert resp.status_code == 400 and session_token(resp) is None
    assert "used already" in resp.get_data(as_text=True)
    reasons = [e.reason for e in _events(container, org["id"], "sso.login_failed")]
    assert reasons == ["in_response_to_mismatch", "replay"], reasons


def test_refusals_domain_suspended_jit_off_disabled(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    conn, idp = _connect(admin, org, saml_idp_factory, jit=False)
    url = f"/v1/orgs/{org['id']}/sso-connections/{conn.id}"
    # JIT off: not a member yet.
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 403 and session_token(resp) is None
    assert "not a member" in resp.get_data(as_text=True)
    assert _member(container, org["id"], USER.email) is None
    # JIT on, then the member is suspended.
    admin.patch(url, {"jit": True})
    assert post_to_acs(client, idp.login(start_login(client, f"org={org['id']}"))).status_code == 302
    member, _user = _member(container, org["id"], USER.email) or (None, None)
    assert member is not None
    assert (
        admin.patch(f"/v1/orgs/{org['id']}/members/{member.id}", {"status": "suspended"}).status_code == 200
    )
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 403 and session_token(resp) is None
    # Disabled connection: discovery finds nothing to sign in with.
    admin.patch(url, {"enabled": False})
    assert client.get(f"/sso/login?org={org['id']}").status_code == 404
    reasons = [e.reason for e in _events(container, org["id"], "sso.login_failed")]
    assert "not_a_member" in reasons and "member_suspended" in reasons


def test_email_outside_the_orgs_verified_domains_is_refused(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    outsider = TestUser(email="mallory@evil.example.net")
    _conn, idp = _connect(admin, org, saml_idp_factory, outsider)
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 403 and session_token(resp) is None
    assert _member(container, org["id"], outsider.email) is None
    [event] = _events(container, org["id"], "sso.login_failed")
    assert event.reason == "email_domain_not_verified"
    # A connection told to accept other domains signs the person in to this org, but never as the account.
    admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{_conn.id}", {"require_verified_domain": False})
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 302
    token = session_token(resp)
    assert token is not None
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/orgs/{org['id']}", headers=headers).status_code == 200
    me = client.get("/v1/me", headers=headers)
    assert me.status_code == 403 and me.json["code"] == "account_proof_required"


def test_idp_initiated_only_when_allowed(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    conn, idp = _connect(admin, org, saml_idp_factory)
    resp = post_to_acs(client, idp.idp_initiated_login())
    assert resp.status_code == 400 and session_token(resp) is None
    admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn.id}", {"allow_idp_initiated": True})
    resp = post_to_acs(client, idp.idp_initiated_login("https://evil.example.net/"))
    assert resp.status_code == 302 and session_token(resp) is not None
    assert resp.headers["Location"] == "http://localhost/"  # RelayState to another origin is ignored
    ok = _events(container, org["id"], "sso.login_succeeded")
    assert [e.data["flow"] for e in ok] == ["idp_initiated"]


def test_a_response_for_connection_a_posted_to_connection_b_is_refused(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    conn_a, idp_a = _connect(admin, org, saml_idp_factory)
    conn_b, _idp_b = _connect(admin, org, saml_idp_factory)
    # B even accepts unsolicited responses: what refuses A's response is that it was not made for B.
    admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn_b.id}", {"allow_idp_initiated": True})
    outcome = idp_a.login(start_login(client, f"org={org['id']}&connection={conn_a.id}"))
    assert conn_a.id in outcome.action  # type: ignore[union-attr]
    forged = type(outcome)(outcome.action.replace(conn_a.id, conn_b.id), outcome.fields)  # type: ignore[call-arg, union-attr]
    resp = post_to_acs(client, forged)
    assert resp.status_code == 400 and session_token(resp) is None
    [refusal] = _events(container, org["id"], "sso.login_failed")
    assert refusal.reason in {"destination_mismatch", "audience_mismatch", "issuer_mismatch"}, refusal.reason
    assert refusal.data["connection_id"] == conn_b.id
    assert post_to_acs(client, outcome).status_code == 302  # at its own ACS it still works


def test_replay_cache_in_redis_when_configured(
    app: Any,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    redis_url: str,
    redis_prefix: str,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    """With TENANTRY_RATE_LIMIT_URL set, the ACS's replay cache is Redis (shared by every instance): a second
    app on the same database and Redis refuses the assertion the first one accepted."""
    import redis

    from app import create_app

    settings = container.settings.model_copy(
        update={"rate_limit_url": redis_url, "rate_limit_prefix": redis_prefix}
    )
    containers = [Container.build(settings) for _ in range(2)]
    first, second = (create_app(settings, c) for c in containers)
    _conn, idp = _connect(admin, org, saml_idp_factory)
    browser_side = first.test_client()
    outcome = idp.login(start_login(browser_side, f"org={org['id']}"))
    pending = browser_side.get_cookie("tenantry_sso_tx", path="/sso")
    assert pending is not None
    assert post_to_acs(browser_side, outcome).status_code == 302
    other_instance = second.test_client()
    other_instance.set_cookie("tenantry_sso_tx", pending.value, path="/sso")
    resp = post_to_acs(other_instance, outcome)
    assert resp.status_code == 400 and "used already" in resp.get_data(as_text=True)
    keys = redis.Redis.from_url(redis_url).keys(f"{redis_prefix}:saml-replay:*")
    assert len(keys) == 1
    for c in containers:
        c.engine.dispose()


def test_post_binding_when_the_idp_wants_it(
    client: FlaskClient,
    admin: Api,
    org: dict[str, Any],
    example_domain: str,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    conn, idp = _connect(admin, org, saml_idp_factory)
    admin.patch(f"/v1/orgs/{org['id']}/sso-connections/{conn.id}", {"idp_sso_binding": "post"})
    page = client.get(f"/sso/login?org={org['id']}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    [form] = parse_forms(page.get_data(as_text=True), "http://localhost/sso/login")
    assert form.action == idp.sso_url and "SAMLRequest" in form.fields
    assert b"<ds:Signature" in base64.b64decode(form.fields["SAMLRequest"])  # signed in the document
    resp = post_to_acs(client, idp.login(FormPost(form.action, dict(form.fields))))
    assert resp.status_code == 302 and session_token(resp) is not None


def test_owners_sign_in_only_through_a_connection_whose_idp_an_owner_set(
    client: FlaskClient,
    admin: Api,
    owner: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    """Else an admin (who may manage SSO but not owners) could point a connection at an IdP of their own and
    sign in as an owner."""
    conn, idp = _connect(admin, org, saml_idp_factory)
    assert post_to_acs(client, idp.login(start_login(client, f"org={org['id']}"))).status_code == 302
    member, _user = _member(container, org["id"], USER.email) or (None, None)
    assert member is not None
    assert owner.patch(f"/v1/orgs/{org['id']}/members/{member.id}", {"role": "owner"}).status_code == 200
    resp = post_to_acs(client, idp.login(start_login(client, f"org={org['id']}")))
    assert resp.status_code == 403 and session_token(resp) is None
    [event] = _events(container, org["id"], "sso.login_failed")
    assert event.reason == "owner_needs_owner_configured_connection"
    url = f"/v1/orgs/{org['id']}/sso-connections/{conn.id}"
    assert owner.patch(url, {"idp_metadata_url": idp.metadata_url}).status_code == 200
    assert post_to_acs(client, idp.login(start_login(client, f"org={org['id']}"))).status_code == 302
    # An admin changing the IdP afterwards takes that away again.
    assert admin.patch(url, {"idp_metadata_url": idp.metadata_url}).status_code == 200
    assert post_to_acs(client, idp.login(start_login(client, f"org={org['id']}"))).status_code == 403


def test_a_pending_invitation_is_honoured_at_sso_sign_in_even_without_jit(
    client: FlaskClient,
    admin: Api,
    platform: Api,
    org: dict[str, Any],
    example_domain: str,
    container: Container,
    saml_idp_factory: Callable[..., SamlIdp],
) -> None:
    """With SSO enforced, an invitee cannot accept by token (403 sso_required): signing in through SSO
    accepts the invitation, with its role and seat."""
    org_id = org["id"]
    assert platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 1}).status_code == 200
    assert admin.patch(f"/v1/orgs/{org_id}", {"sso_enforced": True}).status_code == 200
    invited = platform.post(
        f"/v1/orgs/{org_id}/invitations",
        {"email": USER.email, "role": "admin", "seat_type": "pro", "return_token": True},
    ).json
    assert (
        client.post("/v1/invitations/accept", json={"token": invited["token"]}).json["code"] == "sso_required"
    )
    _conn, idp = _connect(admin, org, saml_idp_factory, jit=False)
    resp = post_to_acs(client, idp.login(start_login(client, f"email={USER.email}")))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    member, _user = _member(container, org_id, USER.email) or (None, None)
    assert member is not None and (member.role, member.seat_type, member.source) == (
        "admin",
        "pro",
        "invitation",
    )
    listed = admin.get(f"/v1/orgs/{org_id}/invitations?status=accepted").json["data"]
    assert [i["id"] for i in listed] == [invited["id"]]
    assert len(_events(container, org_id, "invitation.accepted")) == 1
