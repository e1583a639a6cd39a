"""The check API: truth tables per role and seat, deny-by-default reasons, callers, batch limits.

Every test runs twice: with the WSGI fast path in front of Flask (``authz_fast_path`` on, the keys below
warmed so the fast path answers) and with it off (the Flask views in app/rbac/views.py answer everything).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app.config import Settings
from app.container import Container
from app.rbac.fastpath import CheckFastPath
from tests.conftest import Api, make_org_key
from tests.member_factories import add_person, session_token
from tests.support import authz_check as check

ADMIN_SURFACE = {
    "org:read", "org:update", "members:read", "members:update", "members:remove", "invitations:read",
    "invitations:create", "invitations:revoke", "seats:read", "seats:assign", "seat_requests:read",
    "seat_requests:decide", "roles:read", "roles:manage", "api_keys:manage", "scim:manage", "sso:manage",
    "domains:manage", "audit_logs:read", "extracts:manage",
}  # fmt: skip
PRODUCT = {"chat:use", "chat:history"}
PRO = {"chat:pro_features", "reports:pro_export", "analytics:pro_dashboards"}
EXPECTED = {
    "owner": ADMIN_SURFACE | PRODUCT | {"org:delete", "owners:manage", "billing:manage"},
    "admin": ADMIN_SURFACE | PRODUCT,
    "billing": {"org:read", "members:read", "seats:read", "seat_requests:read", "billing:manage"},
    "member": {"org:read", "members:read", "seat_requests:create"} | PRODUCT,
}
EVERY = sorted(set().union(*EXPECTED.values()) | PRO | {"seat_requests:create"})
WARM_UP = {"org": "org_warm_up", "subject": "usr_warm_up", "action": "org:read"}


@pytest.fixture(params=[True, False], ids=["fast-path", "flask-path"])
def authz_fast_path(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def settings(settings: Settings, authz_fast_path: bool) -> Settings:
    return settings.model_copy(update={"authz_fast_path": authz_fast_path})


@pytest.fixture
def fast_path_used() -> bool:
    """Whether the fast path must answer at least one request of the test when it is on (see below)."""
    return True


@pytest.fixture(autouse=True)
def fast_answers(
    app: Flask,
    authz_fast_path: bool,
    fast_path_used: bool,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[list[str]]:
    """The routes the fast path answered itself, in order (requests it handed to Flask are not in it).

    With the fast path on, a test that never reached it would only test Flask twice: fail it."""
    answered: list[str] = []
    fast_path = app.wsgi_app
    while not isinstance(fast_path, CheckFastPath) and hasattr(fast_path, "wsgi_app"):
        fast_path = fast_path.wsgi_app  # other fast paths (SCIM lookups) may sit in front of it
    assert isinstance(fast_path, CheckFastPath) is authz_fast_path
    if isinstance(fast_path, CheckFastPath):
        answer = fast_path._answer

        def spy(path: str, environ: dict[str, Any], raw: bytes) -> str:
            body = answer(path, environ, raw)
            answered.append(path)
            return body

        monkeypatch.setattr(fast_path, "_answer", spy)
    failed_before = request.session.testsfailed
    yield answered
    if authz_fast_path and fast_path_used and request.session.testsfailed == failed_before:
        assert answered, "the fast path is on but answered none of this test's checks"


def warmed(api: Api) -> Api:
    """Put the key in the check API's key cache, so its later checks are the fast path's when it is on."""
    assert api.post("/v1/authz/check", WARM_UP).json["allowed"] is False
    return api


@pytest.fixture
def platform(platform: Api) -> Api:
    return warmed(platform)


@pytest.fixture
def admin(admin: Api) -> Api:
    return warmed(admin)


@pytest.mark.parametrize("seat", [None, "pro"])
@pytest.mark.parametrize("role", ["owner", "admin", "billing", "member"])
def test_truth_table(
    container: Container, platform: Api, org: dict[str, Any], role: str, seat: str | None
) -> None:
    person = add_person(container, org["id"], f"{role}@acme.test", role=role, seat=seat)
    allowed = EXPECTED[role] | (PRO if seat else set())
    checks = [{"org": org["id"], "subject": person.user_id, "action": p} for p in EVERY]
    checks += [{"org": org["id"], "subject": person.member_id, "action": p} for p in EVERY]
    resp = platform.post("/v1/authz/check-batch", {"checks": checks})
    assert resp.status_code == 200
    results = resp.json["results"]
    assert len(results) == 2 * len(EVERY)
    for item, result in zip(checks, results, strict=True):
        assert result["allowed"] is (item["action"] in allowed), item
        if result["allowed"]:
            via_seat = item["action"] in PRO
            assert result["reason"] == ("granted_by_seat" if via_seat else "granted_by_role")
        else:
            assert result["reason"] == "not_granted"


def test_deny_by_default_with_reasons(container: Container, platform: Api, org: dict[str, Any]) -> None:
    alice = add_person(container, org["id"], "alice@acme.test", role="admin", seat="pro")
    sus = add_person(container, org["id"], "sus@acme.test", role="owner", seat="pro", status="suspended")
    ghost = add_person(container, org["id"], "ghost@acme.test", role="deleted-role")  # e.g. written by hand
    stranger = "usr_" + "0" * 32
    cases = [
        ("org_" + "f" * 32, alice.user_id, "org:read", "unknown_org"),
        ("nonsense", alice.user_id, "org:read", "unknown_org"),
        (org["id"], stranger, "org:read", "unknown_subject"),
        (org["id"], "bob", "org:read", "invalid_subject"),
        (org["id"], alice.user_id, "nope:nothing", "unknown_permission"),
        (org["id"], sus.user_id, "org:read", "member_suspended"),
        (org["id"], sus.member_id, "chat:pro_features", "member_suspended"),
        (org["id"], ghost.user_id, "org:read", "unknown_role"),
    ]
    for org_id, subject, action, reason in cases:
        body = check(platform, org_id, subject, action)
        assert body["allowed"] is False and body["reason"] == reason, (org_id, subject, action)


def test_removed_member_gets_nothing(
    container: Container, platform: Api, owner: Api, org: dict[str, Any]
) -> None:
    bob = add_person(container, org["id"], "bob@acme.test", role="admin", seat="pro")
    assert check(platform, org["id"], bob.user_id, "chat:pro_features")["allowed"] is True
    resp = owner.delete(f"/v1/orgs/{org['id']}/members/{bob.member_id}")
    assert resp.status_code == 204
    after = check(platform, org["id"], bob.user_id, "chat:pro_features")
    assert after == {"allowed": False, "version": after["version"], "reason": "unknown_subject"}


def test_org_keys_check_only_their_own_org(
    container: Container, admin: Api, platform: Api, org: dict[str, Any]
) -> None:
    alice = add_person(container, org["id"], "alice@acme.test", role="member")
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    carol = add_person(container, other["id"], "carol@other.test", role="owner")
    assert check(admin, org["id"], alice.user_id, "chat:use")["allowed"] is True
    foreign = check(admin, other["id"], carol.user_id, "org:read")
    assert foreign == {"allowed": False, "version": 0, "reason": "org_not_accessible"}
    assert check(platform, other["id"], carol.user_id, "org:read")["allowed"] is True


@pytest.mark.parametrize("route", ["check", "check-batch"])
def test_org_key_is_refused_another_org_on_first_and_cached_calls(
    container: Container,
    client: Any,
    platform: Api,
    org: dict[str, Any],
    route: str,
    authz_fast_path: bool,
    fast_answers: list[str],
) -> None:
    """A key not yet cached is answered by the Flask views even with the fast path on; once cached, by the
    fast path when it is on. Both must refuse another org, per result and without saying whether it exists."""
    alice = add_person(container, org["id"], "alice@acme.test", role="member")
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    carol = add_person(container, other["id"], "carol@other.test", role="owner")
    own = {"org": org["id"], "subject": alice.user_id, "action": "chat:use"}
    foreign = {"org": other["id"], "subject": carol.user_id, "action": "org:read"}
    nowhere = {**foreign, "org": "org_" + "f" * 32}
    assert check(platform, **foreign)["allowed"] is True  # the question has an answer to leak
    refused = {"allowed": False, "version": 0, "reason": "org_not_accessible"}
    for target in (foreign, nowhere):
        key_a = Api(client, make_org_key(container, org["id"], "admin"))  # not cached yet
        for call in ("first", "cached"):
            fast_answers.clear()
            if route == "check":
                assert check(key_a, **target) == refused, call
            else:
                resp = key_a.post("/v1/authz/check-batch", {"checks": [own, target, own]})
                assert resp.json["results"][1] == refused, call
                assert [r["allowed"] for r in resp.json["results"]] == [True, False, True], call
            by_fast_path = authz_fast_path and call == "cached"
            assert bool(fast_answers) is by_fast_path, (call, fast_answers)


@pytest.mark.parametrize("fast_path_used", [False])  # no API key: every request goes on to Flask
def test_callers_must_be_api_keys(container: Container, client: Any, org: dict[str, Any]) -> None:
    alice = add_person(container, org["id"], "alice@acme.test", role="owner")
    body = {"org": org["id"], "subject": alice.user_id, "action": "org:read"}
    assert client.post("/v1/authz/check", json=body).status_code == 401
    bad = {"Authorization": "Bearer tnt_pk_" + "x" * 43}
    assert client.post("/v1/authz/check", json=body, headers=bad).status_code == 401
    ses = {"Authorization": f"Bearer {session_token(container, alice.user_id, org['id'])}"}
    resp = client.post("/v1/authz/check", json=body, headers=ses)
    assert resp.status_code == 403 and resp.headers["Content-Type"] == "application/problem+json"


def test_revoked_key_is_refused_at_once(
    container: Container, client: Any, platform: Api, org: dict[str, Any]
) -> None:
    key = make_org_key(container, org["id"])
    api = Api(client, key)
    body = {"org": org["id"], "subject": "usr_" + "1" * 32, "action": "org:read"}
    assert api.post("/v1/authz/check", body).status_code == 200  # now cached
    assert api.post("/v1/authz/check", body).status_code == 200  # answered from the cache
    key_id = platform.get(f"/v1/orgs/{org['id']}/api-keys").json["data"][0]["id"]
    assert platform.delete(f"/v1/orgs/{org['id']}/api-keys/{key_id}").status_code == 204
    assert api.post("/v1/authz/check", body).status_code == 401


def test_input_validation(platform: Api, org: dict[str, Any]) -> None:
    ok = {"org": org["id"], "subject": "usr_" + "1" * 32, "action": "org:read"}
    extra = platform.post("/v1/authz/check", {**ok, "colour": "red"})
    assert extra.status_code == 422 and extra.json["errors"][0]["field"] == "colour"
    missing = platform.post("/v1/authz/check", {"org": org["id"], "subject": ok["subject"]})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "action"
    bad_version = platform.post("/v1/authz/check", {**ok, "min_version": -1})
    assert bad_version.status_code == 422 and bad_version.json["errors"][0]["field"] == "min_version"
    malformed = platform.client.post(
        "/v1/authz/check", data="{nope", headers={**platform._headers(), "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    too_many = platform.post("/v1/authz/check-batch", {"checks": [ok] * 1001})
    assert too_many.status_code == 422 and too_many.json["errors"][0]["field"] == "checks"
    bad_item = platform.post("/v1/authz/check-batch", {"checks": [ok, {**ok, "org": 5}]})
    assert bad_item.status_code == 422 and bad_item.json["errors"][0]["field"] == "checks.1.org"
    full = platform.post("/v1/authz/check-batch", {"checks": [ok] * 1000})
    assert full.status_code == 200 and len(full.json["results"]) == 1000


def test_batch_answers_in_order(container: Container, platform: Api, org: dict[str, Any]) -> None:
    alice = add_person(container, org["id"], "alice@acme.test", role="member", seat="pro")
    actions = ["chat:pro_features", "org:delete", "chat:use", "nope:x", "members:update"]
    checks = [{"org": org["id"], "subject": alice.user_id, "action": a} for a in actions]
    results = platform.post("/v1/authz/check-batch", {"checks": checks}).json["results"]
    assert [r["allowed"] for r in results] == [True, False, True, False, False]
    assert [r["reason"] for r in results] == [
        "granted_by_seat", "not_granted", "granted_by_role", "unknown_permission", "not_granted",
    ]  # fmt: skip


@pytest.mark.parametrize(("authz_fast_path", "fast_path_used"), [(True, False)])  # no check is made
def test_check_routes_are_in_openapi(client: Any) -> None:
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/v1/authz/check", "/v1/authz/check-batch"):
        op = paths[path]["post"]
        assert "schema" in op["requestBody"]["content"]["application/json"]
        assert "schema" in op["responses"]["200"]["content"]["application/json"]


def test_fast_path_and_flask_path_agree(
    container: Container,
    client: Any,
    platform: Api,
    org: dict[str, Any],
    authz_fast_path: bool,
    fast_answers: list[str],
) -> None:
    """The first call authenticates through Flask (key not cached); later ones take the WSGI fast path."""
    alice = add_person(container, org["id"], "alice@acme.test", role="member", seat="pro")
    fresh_key = Api(client, make_org_key(container, org["id"], "admin"))
    body = {"org": org["id"], "subject": alice.member_id, "action": "chat:pro_features"}
    fast_answers.clear()
    first = fresh_key.post("/v1/authz/check", body)
    assert fast_answers == []
    second = fresh_key.post("/v1/authz/check", body)
    assert fast_answers == (["/v1/authz/check"] if authz_fast_path else [])
    assert first.json == second.json and first.json["reason"] == "granted_by_seat"
    assert second.headers["X-Request-ID"] and second.headers["Content-Type"] == "application/json"
