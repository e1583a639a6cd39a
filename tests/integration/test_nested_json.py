"""Deeply nested JSON is refused with 400 problem+json on every operation that reads a body, on the check
fast path, and in cursors: never a 500 from ``RecursionError``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.api.endpoint import REGISTRY, Operation
from app.container import Container
from app.credentials.secrets import hash_secret
from app.json_input import MAX_DEPTH
from tests.conftest import Api, make_org_key
from tests.member_factories import add_person, session_token

DEEP = {
    "arrays_100k": "[" * 100_000 + "]" * 100_000,
    "objects_100k": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "unclosed_100k": "[" * 100_000,
    "past_the_limit": '{"name": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",  # parses, but too deep
}


def body_operations() -> list[Operation]:
    """Every ``/v1`` operation that reads a body (the registry fills when the first app is built)."""
    return [op for op in REGISTRY if op.body is not None]


def _post_raw(client: FlaskClient, method: str, path: str, key: str | None, body: str) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return client.open(path, method=method.upper(), data=body, headers=headers)


def _assert_malformed(resp: Any, what: str) -> None:
    assert resp.status_code == 400, (what, resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == "application/problem+json", what
    assert resp.json["code"] == "malformed_request", what


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_every_operation_refuses_deep_nesting(
    container: Container, client: FlaskClient, platform_key: str, org: dict[str, Any], shape: str
) -> None:
    owner_key = make_org_key(container, org["id"], "owner")
    member = add_person(container, org["id"], "mia@acme.test", role="member")
    member_session = session_token(container, member.user_id, org["id"])

    def key_for(op: Operation) -> str | None:
        if op.auth == "none":
            return None
        if op.auth in ("platform", "any"):
            return platform_key
        # The permission check comes before the body: use a caller that holds the permission.
        return member_session if op.permission == "seat_requests:create" else owner_key

    operations = body_operations()
    # 16 through operation() and the two check routes; a new one joins this loop by itself.
    assert len(operations) >= 18
    assert {"/v1/authz/check", "/v1/authz/check-batch"} <= {op.path for op in operations}
    for op in operations:
        path = op.path.replace("{org_id}", org["id"])
        for param in op.path_params:
            path = path.replace("{" + param + "}", "x")
        resp = _post_raw(client, op.method, path, key_for(op), DEEP[shape])
        _assert_malformed(resp, f"{op.method.upper()} {op.path} with {shape}")


@pytest.mark.parametrize("path", ["/v1/authz/check", "/v1/authz/check-batch"])
@pytest.mark.parametrize("shape", sorted(DEEP))
def test_check_fast_path_hands_deep_nesting_to_flask(
    container: Container, client: FlaskClient, platform: Api, org: dict[str, Any], path: str, shape: str
) -> None:
    assert container.settings.authz_fast_path
    engine = container.authorizer.engine
    assert engine is not None
    ok = {"org": org["id"], "subject": "usr_" + "1" * 32, "action": "org:read"}
    assert platform.post("/v1/authz/check", ok).status_code == 200
    assert engine.keys.get(hash_secret(platform.key or "")) is not None  # the next call takes the fast path
    _assert_malformed(_post_raw(client, "post", path, platform.key, DEEP[shape]), shape)
    assert platform.post(path, ok if path.endswith("check") else {"checks": [ok]}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/orgs/{org}/members",
        "/v1/orgs/{org}/invitations",
        "/v1/orgs/{org}/seat-requests",
        "/v1/orgs/{org}/audit-logs",
    ],
)
def test_a_deeply_nested_cursor_is_an_invalid_cursor(admin: Api, org: dict[str, Any], path: str) -> None:
    """Cursors are JSON too and go through the same bounded parser (their length caps them at a depth the
    parser survives today; the bound keeps that true if a cap grows)."""
    cursor = base64.urlsafe_b64encode(b"[" * 60 + b"]" * 60).decode().rstrip("=")
    resp = admin.get(path.format(org=org["id"]), query_string={"cursor": cursor})
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert resp.json["errors"][0]["field"] == "cursor"
