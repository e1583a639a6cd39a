"""Access tokens end to end: minted from a session, verified by an independent JWT library (PyJWT) against
the JWKS served over loopback, accepted by /v1 and the check API with the member's current role, refused at
once when the membership, the session or the signing key ends, never accepted under /scim/v2."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app.clock import FrozenClock
from app.container import Container
from app.db import transaction
from tests.conftest import Api
from tests.member_factories import Person, add_person, audit_events, session_token
from tests.support import free_port


def mint(client: FlaskClient, session: str) -> str:
    resp = Api(client, session).post("/v1/sessions/token")
    assert resp.status_code == 200, resp.json
    assert resp.json["token_type"] == "Bearer" and resp.json["expires_in"] == 600
    token: str = resp.json["access_token"]
    return token


@pytest.fixture
def ann(container: Container, org: dict[str, Any]) -> Person:
    return add_person(container, org["id"], "ann@acme.test", role="admin", seat="pro")


@pytest.fixture
def ann_session(container: Container, org: dict[str, Any], ann: Person) -> str:
    return session_token(container, ann.user_id, org["id"])


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on a loopback port, so a stock JWKS client fetches keys the way another service would."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(5)


def test_pyjwt_verifies_the_token_against_the_served_jwks(
    client: FlaskClient, served: str, org: dict[str, Any], ann: Person, ann_session: str, container: Container
) -> None:
    token = mint(client, ann_session)
    issuer = container.settings.base_url
    jwks = pyjwt.PyJWKClient(f"{served}/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token, key, algorithms=["ES256"], audience=issuer, issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )  # fmt: skip
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert claims["sub"] == ann.user_id and claims["org"] == org["id"]
    assert claims["role"] == "admin" and claims["seat"] == "pro"
    assert claims["exp"] - claims["iat"] == 600 and isinstance(claims["authz_version"], int)
    assert claims["authz_version"] >= 1  # adding Ann changed the org's permissions
    # A token signed by anyone else, or altered, does not verify with the published key.
    head, body, sig = token.split(".")
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(f"{head}.{body[:-2]}AA.{sig}", key, algorithms=["ES256"], audience=issuer)
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["issuer"] == issuer and meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]


def test_the_jwks_is_cacheable_and_revalidates_with_its_etag(client: FlaskClient, ann_session: str) -> None:
    mint(client, ann_session)
    first = client.get("/.well-known/jwks.json")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert all("d" not in k for k in first.json["keys"])


def test_the_token_acts_in_v1_and_the_check_api_with_the_current_role(
    client: FlaskClient, org: dict[str, Any], ann: Person, ann_session: str, admin: Api, container: Container
) -> None:
    token = mint(client, ann_session)
    bearer = Api(client, token)
    assert bearer.get(f"/v1/orgs/{org['id']}/members").status_code == 200
    bob = add_person(container, org["id"], "bob@acme.test")
    own = bearer.post(
        "/v1/authz/check", {"org": org["id"], "subject": ann.user_id, "action": "members:update"}
    )
    assert own.status_code == 200 and own.json["allowed"] is True
    other = bearer.post(
        "/v1/authz/check", {"org": org["id"], "subject": bob.user_id, "action": "members:read"}
    )
    assert other.json == {"allowed": False, "version": 0, "reason": "subject_not_accessible"}
    # Demoted to member: the token still says admin, but it acts as a member from now on.
    assert admin.patch(f"/v1/orgs/{org['id']}/members/{ann.member_id}", {"role": "member"}).status_code == 200
    refused = bearer.patch(f"/v1/orgs/{org['id']}/members/{bob.member_id}", {"role": "billing"})
    assert refused.status_code == 403, refused.json
    demoted = bearer.post(
        "/v1/authz/check", {"org": org["id"], "subject": ann.user_id, "action": "members:update"}
    )
    assert demoted.json["allowed"] is False


def test_a_token_is_not_a_session_nor_an_account_nor_a_scim_token(
    client: FlaskClient, org: dict[str, Any], ann_session: str, admin: Api
) -> None:
    token = mint(client, ann_session)
    bearer = Api(client, token)
    assert bearer.post("/v1/sessions/token").status_code == 403  # no token from a token
    assert bearer.get("/v1/me").json["code"] == "account_proof_required"
    assert bearer.delete("/v1/me").status_code == 403
    scim = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert scim.status_code == 401 and "scim" in scim.content_type
    assert admin.post("/v1/sessions/token").status_code == 403  # an API key has no session


@pytest.mark.parametrize("ending", ["removed", "suspended", "logout", "account_deleted", "org_deleted"])
def test_a_token_stops_working_at_once_when_its_member_or_session_ends(
    client: FlaskClient, org: dict[str, Any], ann: Person, ann_session: str, owner: Api,
    platform: Api, container: Container, ending: str,
) -> None:  # fmt: skip
    token = mint(client, ann_session)
    bearer = Api(client, token)
    assert bearer.get(f"/v1/orgs/{org['id']}").status_code == 200
    if ending == "removed":
        assert owner.delete(f"/v1/orgs/{org['id']}/members/{ann.member_id}").status_code == 204
    elif ending == "suspended":
        resp = owner.patch(f"/v1/orgs/{org['id']}/members/{ann.member_id}", {"status": "suspended"})
        assert resp.status_code == 200
    elif ending == "logout":
        assert Api(client, ann_session).post("/v1/logout").status_code == 204
    elif ending == "account_deleted":
        assert Api(client, ann_session).delete("/v1/me").status_code == 204
    else:
        assert platform.delete(f"/v1/orgs/{org['id']}").status_code == 204
    refused = bearer.get(f"/v1/orgs/{org['id']}")
    assert refused.status_code == 401, refused.json
    check = bearer.post(
        "/v1/authz/check", {"org": org["id"], "subject": ann.user_id, "action": "members:read"}
    )
    assert check.status_code == 401
    if ending in ("removed", "suspended", "logout"):  # the org still exists: the refusal is in its log
        failed = audit_events(container, "auth.failed", org_id=org["id"])
        assert failed and failed[0].actor_id == ann.user_id
        assert failed[0].reason is not None and failed[0].reason.startswith("access token ")


def test_logout_with_a_token_ends_its_session_and_clears_the_cookie(
    client: FlaskClient, org: dict[str, Any], ann_session: str
) -> None:
    token = mint(client, ann_session)
    resp = Api(client, token).post("/v1/logout")
    assert resp.status_code == 204
    assert "tenantry_session=;" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    assert Api(client, ann_session).get(f"/v1/orgs/{org['id']}").status_code == 401
    assert Api(client, token).get(f"/v1/orgs/{org['id']}").status_code == 401


def keyring_call(container: Container, name: str, *args: Any, **kw: Any) -> Any:
    with transaction(container.session_factory) as session:
        return getattr(container.services(session).keyring, name)(*args, **kw)


def test_rotation_keeps_old_tokens_valid_until_they_expire_and_revocation_ends_them(
    client: FlaskClient, org: dict[str, Any], ann_session: str, container: Container
) -> None:
    old = mint(client, ann_session)
    old_kid = pyjwt.get_unverified_header(old)["kid"]
    before = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    new_kid = keyring_call(container, "rotate", reason="manual").kid
    new = mint(client, ann_session)
    assert pyjwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    # The key that signs after the rotation was published before it: a verifier's cached JWKS has it.
    assert before == {old_kid, new_kid}
    upcoming = keyring_call(container, "upcoming").kid
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert published == {old_kid, new_kid, upcoming}
    for token in (old, new):
        assert Api(client, token).get(f"/v1/orgs/{org['id']}").status_code == 200
    # Revoking the previous key: its token is refused at once, the new one still works, the JWKS drops it.
    keyring_call(container, "revoke", old_kid)
    assert Api(client, old).get(f"/v1/orgs/{org['id']}").status_code == 401
    assert Api(client, new).get(f"/v1/orgs/{org['id']}").status_code == 200
    assert {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]} == {new_kid, upcoming}
    # Revoking the current key promotes the (published) next one: tokens minted afterwards work.
    keyring_call(container, "revoke", new_kid)
    assert Api(client, new).get(f"/v1/orgs/{org['id']}").status_code == 401
    newest = mint(client, ann_session)
    assert pyjwt.get_unverified_header(newest)["kid"] == upcoming
    assert Api(client, newest).get(f"/v1/orgs/{org['id']}").status_code == 200
    kinds = [e.data["reason"] for e in audit_events(container, "signing_key.rotated")]
    assert kinds == ["first_use", "manual", "current_revoked"]
    revoked = audit_events(container, "signing_key.revoked")
    assert [(e.data["kid"], e.data["state"], e.org_id, e.chain) for e in revoked] == [
        (old_kid, "previous", None, "_platform"), (new_kid, "current", None, "_platform"),
    ]  # fmt: skip


def test_expiry_and_the_overlap_window_follow_the_clock(
    client: FlaskClient, org: dict[str, Any], ann_session: str, container: Container
) -> None:
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    old = mint(client, ann_session)
    keyring_call(container, "rotate", reason="manual")
    clock.advance(timedelta(seconds=599))
    assert Api(client, old).get(f"/v1/orgs/{org['id']}").status_code == 200
    assert keyring_call(container, "retire_expired") == []  # its tokens may still be in use
    clock.advance(timedelta(seconds=2))
    expired = Api(client, old).get(f"/v1/orgs/{org['id']}")
    assert expired.status_code == 401 and "expired" in expired.json["detail"]
    clock.advance(timedelta(seconds=60))
    old_kid = pyjwt.get_unverified_header(old)["kid"]
    assert keyring_call(container, "retire_expired") == [old_kid]
    assert old_kid not in {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    # The worker's schedule rotates a key older than the interval, and only then.
    assert keyring_call(container, "rotate_if_due", timedelta(days=30)) is None
    clock.advance(timedelta(days=30))
    assert keyring_call(container, "rotate_if_due", timedelta(days=30)) is not None


def test_private_keys_are_sealed_at_rest_and_erased_once_they_stop_signing(
    client: FlaskClient, ann_session: str, container: Container
) -> None:
    from app.tokens.models import SigningKey

    mint(client, ann_session)
    keyring_call(container, "rotate", reason="manual")
    with container.session_factory() as session:
        rows = {k.state: k for k in session.query(SigningKey)}
    assert set(rows) == {"previous", "current", "next"}
    assert rows["previous"].private_key_sealed is None
    for state in ("current", "next"):
        sealed = rows[state].private_key_sealed
        assert sealed is not None and sealed.startswith("v1.") and "PRIVATE" not in sealed


def test_a_revoked_key_is_refused_by_another_worker_at_once(
    app: Flask, settings: Any, org: dict[str, Any], ann_session: str, container: Container
) -> None:
    """Two containers (two workers) on one database: the second has the key cached from an earlier request;
    a revocation through the first is refused by the second on its very next request."""
    other = Container.build(settings)
    try:
        from app import create_app

        second = create_app(settings, other).test_client()
        first = app.test_client()
        token = mint(first, ann_session)
        assert Api(second, token).get(f"/v1/orgs/{org['id']}").status_code == 200
        kid = pyjwt.get_unverified_header(token)["kid"]
        assert other.public_keys.get(kid, lambda _k: None) is not None  # cached in the second worker
        keyring_call(container, "revoke", kid)
        assert Api(second, token).get(f"/v1/orgs/{org['id']}").status_code == 401
    finally:
        other.engine.dispose()


def test_an_unknown_kid_is_refused_and_looked_up_once_per_interval(
    client: FlaskClient, org: dict[str, Any], ann: Person, container: Container
) -> None:
    from app.tokens import access_token

    now, issuer = int(container.clock.now().timestamp()), container.settings.base_url
    stranger = access_token.AccessClaims(
        iss=issuer, sub=ann.user_id, aud=issuer, iat=now, exp=now + 600, jti="x", org=org["id"],
        role="owner", seat=None, authz_version=0, sid="ses_x",
    )  # fmt: skip
    forged = access_token.sign(stranger, access_token.new_key(), "attacker-kid")
    reads = container.public_keys.reads
    for _ in range(3):
        resp = Api(client, forged).get(f"/v1/orgs/{org['id']}")
        assert resp.status_code == 401 and "does not know" in resp.json["detail"]
    assert container.public_keys.reads == reads + 1  # remembered as unknown for a few seconds
    assert audit_events(container, "auth.failed", org_id=org["id"]) == []  # nobody's token: nothing to record


def test_an_expired_token_is_refused_and_recorded_in_its_org(
    client: FlaskClient, org: dict[str, Any], ann: Person, ann_session: str, container: Container
) -> None:
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    token = mint(client, ann_session)
    clock.advance(timedelta(seconds=601))
    assert Api(client, token).get(f"/v1/orgs/{org['id']}").status_code == 401
    [failed] = audit_events(container, "auth.failed", org_id=org["id"])
    assert failed.actor_id == ann.user_id and failed.reason == "access token expired"


def test_a_token_never_outlives_its_session(
    client: FlaskClient, org: dict[str, Any], ann_session: str, container: Container
) -> None:
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    session_ttl = container.settings.session_ttl
    clock.advance(timedelta(seconds=session_ttl - 120))  # the session has two minutes left
    resp = Api(client, ann_session).post("/v1/sessions/token")
    assert resp.status_code == 200 and 119 <= resp.json["expires_in"] <= 120  # whole seconds
    claims = pyjwt.decode(resp.json["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == resp.json["expires_in"]
