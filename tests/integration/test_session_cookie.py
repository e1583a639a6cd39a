"""The browser's session cookie under /sso ends at once with the session: logout (under /sso or /v1), member
removal, suspension, account deletion, organisation deletion; and it is read nowhere but /sso."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.container import Container
from tests.conftest import Api
from tests.member_factories import add_person, audit_events, session_token

COOKIE = "tenantry_session"


@pytest.mark.parametrize(
    "ending", ["sso_logout", "v1_logout", "removed", "suspended", "account_deleted", "org_deleted"]
)
def test_the_cookie_stops_working_at_once_when_the_session_ends(
    client: FlaskClient, org: dict[str, Any], owner: Api, platform: Api, container: Container, ending: str
) -> None:
    ann = add_person(container, org["id"], "ann@example.com", role="admin")
    token = session_token(container, ann.user_id, org["id"])
    client.set_cookie(COOKIE, token)
    seen = client.get("/sso/session")
    assert seen.status_code == 200 and seen.json["user_id"] == ann.user_id and seen.json["role"] == "admin"
    if ending == "sso_logout":
        out = client.post("/sso/logout")
        assert out.status_code == 204 and f"{COOKIE}=;" in out.headers["Set-Cookie"]
        client.set_cookie(COOKIE, token)  # a browser that kept it anyway
    elif ending == "v1_logout":
        assert Api(client, token).post("/v1/logout").status_code == 204
    elif ending == "removed":
        assert owner.delete(f"/v1/orgs/{org['id']}/members/{ann.member_id}").status_code == 204
    elif ending == "suspended":
        assert (
            owner.patch(f"/v1/orgs/{org['id']}/members/{ann.member_id}", {"status": "suspended"}).status_code
            == 200
        )
    elif ending == "account_deleted":
        assert Api(client, token).delete("/v1/me").status_code == 204
    else:
        assert platform.delete(f"/v1/orgs/{org['id']}").status_code == 204
    refused = client.get("/sso/session", headers={"Accept": "application/json"})
    assert refused.status_code == 401, refused.json
    assert client.get("/sso/session").mimetype == "text/html"  # a browser gets a page, not JSON
    if ending in ("sso_logout", "v1_logout"):
        [ended] = audit_events(container, "session.ended", org_id=org["id"])
        assert ended.data == {"reason": "logout"}


def test_the_cookie_is_not_a_credential_under_v1(
    client: FlaskClient, org: dict[str, Any], container: Container
) -> None:
    ann = add_person(container, org["id"], "ann@example.com")
    client.set_cookie(COOKIE, session_token(container, ann.user_id, org["id"]))
    assert client.get(f"/v1/orgs/{org['id']}").status_code == 401  # no cross-site request acts with it there


def test_a_cross_site_logout_form_is_refused(
    client: FlaskClient, org: dict[str, Any], container: Container
) -> None:
    ann = add_person(container, org["id"], "ann@example.com")
    client.set_cookie(COOKIE, session_token(container, ann.user_id, org["id"]))
    assert client.post("/sso/logout", headers={"Origin": "https://evil.example.net"}).status_code == 403
    assert client.get("/sso/session").status_code == 200
