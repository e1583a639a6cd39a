"""/scim/v2/Bulk end to end (RFC 7644 §3.7): bulkIds across users and group members, per-operation results
and transactions, failOnErrors, the advertised limits (413), and the audit events of each operation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.container import Container
from app.orgs.models import Membership
from tests.integration.scim_client import SCIM_JSON, Scim, make_scim_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def scim(client: FlaskClient, container: Container, org: dict[str, Any]) -> Scim:
    return Scim(client, make_scim_token(container, org["id"]))


def _user(bulk_id: str, user_name: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"schemas": [USER], "userName": user_name},
    }


def test_bulk_creates_users_and_a_group_whose_members_are_bulk_ids(
    scim: Scim, container: Container, org: dict[str, Any]
) -> None:
    body = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "eng",
                "data": {
                    "schemas": [GROUP],
                    "displayName": "Engineering",
                    "members": [{"value": "bulkId:ann"}, {"value": "bulkId:ben"}],
                },
            },
            _user("ann", "ann@acme.example"),
            _user("ben", "ben@acme.example"),
            {
                "method": "PATCH",
                "path": "/Users/bulkId:ben",
                "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
            },
        ],
    }
    resp = scim.post("/Bulk", body)
    assert resp.status_code == 200 and resp.mimetype == SCIM_JSON
    results = resp.json["Operations"]
    assert resp.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    assert [(r["method"], r["status"]) for r in results] == [
        ("POST", "201"),
        ("POST", "201"),
        ("POST", "201"),
        ("PATCH", "200"),
    ]
    group, ann, ben = results[0], results[1], results[2]
    for created in (group, ann, ben):
        assert created["location"] == created["response"]["meta"]["location"]
        assert created["version"] == created["response"]["meta"]["version"]
        assert scim.get(created["location"].split("/scim/v2", 1)[1]).status_code == 200
    got = scim.get(f"/Groups/{group['response']['id']}").json
    assert sorted(m["value"] for m in got["members"]) == sorted(
        [ann["response"]["id"], ben["response"]["id"]]
    )
    assert results[3]["response"]["active"] is False
    with container.session_factory() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.org_id == org["id"], AuditEvent.action.like("scim_%")
                )
            )
        )
    assert actions.count("scim_user.provisioned") == 2 and "scim_group.created" in actions
    assert "scim_group.members_added" in actions and "scim_user.deactivated" in actions


def test_each_operation_is_its_own_transaction_and_fail_on_errors_stops(
    scim: Scim, container: Container
) -> None:
    assert scim.post("/Users", {"schemas": [USER], "userName": "taken@acme.example"}).status_code == 201
    body = {
        "schemas": [BULK],
        "failOnErrors": 1,
        "Operations": [
            _user("a", "first@acme.example"),
            _user("b", "taken@acme.example"),  # 409 uniqueness: the one error allowed
            _user("c", "never@acme.example"),
        ],
    }
    results = scim.post("/Bulk", body).json["Operations"]
    assert [r["status"] for r in results] == ["201", "409"]
    assert results[1]["response"]["scimType"] == "uniqueness" and results[1]["bulkId"] == "b"
    names = {r["userName"] for r in scim.get("/Users").json["Resources"]}
    assert names == {"taken@acme.example", "first@acme.example"}  # the first kept, the third never ran

    body["failOnErrors"] = None
    body["Operations"] = [
        _user("d", "second@acme.example"),
        {"method": "DELETE", "path": "/Users/mem_unknown"},
        {"method": "PUT", "path": "/Groups/bulkId:nobody", "data": {"schemas": [GROUP], "displayName": "x"}},
        _user("e", "third@acme.example"),
    ]
    del body["failOnErrors"]
    results = scim.post("/Bulk", body).json["Operations"]
    assert [r["status"] for r in results] == ["201", "404", "409", "201"]
    assert results[1]["location"] == "/Users/mem_unknown"


def test_limits_are_advertised_and_enforced_as_413(scim: Scim, client: FlaskClient) -> None:
    config = scim.get("/ServiceProviderConfig").json["bulk"]
    assert config == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}
    too_many = {"schemas": [BULK], "Operations": [_user(f"u{i}", f"u{i}@x.example") for i in range(1001)]}
    resp = scim.post("/Bulk", too_many)
    assert resp.status_code == 413 and resp.mimetype == SCIM_JSON
    assert resp.json["status"] == "413" and resp.json["scimType"] == "tooMany"
    assert "1000" in resp.json["detail"]
    assert scim.get("/Users").json["totalResults"] == 0  # nothing ran
    padding = "x" * 1048576
    big = json.dumps({"schemas": [BULK], "Operations": [_user("a", "a@x.example")], "pad": padding})
    resp = client.post(
        "/scim/v2/Bulk", data=big, content_type=SCIM_JSON, headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert resp.status_code == 413 and resp.json["status"] == "413"
    assert resp.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert scim.get("/Users").json["totalResults"] == 0


def test_malformed_bulk_requests_are_400(scim: Scim) -> None:
    resp = scim.post("/Bulk", {"Operations": [_user("a", "a@x.example")]})
    assert resp.status_code == 400 and resp.json["scimType"] == "invalidSyntax"
    resp = scim.post("/Bulk", {"schemas": [BULK], "Operations": [{"method": "GET", "path": "/Users"}]})
    assert resp.status_code == 400 and resp.json["scimType"] == "invalidValue"


def test_a_bulk_request_cannot_reach_another_org(
    scim: Scim, client: FlaskClient, container: Container, platform: Any
) -> None:
    other = platform.post("/v1/orgs", {"name": "Other"}).json["id"]
    theirs = Scim(client, make_scim_token(container, other))
    their_user = theirs.post("/Users", {"schemas": [USER], "userName": "z@other.example"}).json["id"]
    body = {
        "schemas": [BULK],
        "Operations": [
            {"method": "DELETE", "path": f"/Users/{their_user}"},
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": {"schemas": [GROUP], "displayName": "G", "members": [{"value": their_user}]},
            },
        ],
    }
    results = scim.post("/Bulk", body).json["Operations"]
    assert results[0]["status"] == "404" and results[1]["status"] == "201"
    assert results[1]["response"].get("members", []) == []
    with container.session_factory() as session:
        assert session.scalar(select(Membership.id).where(Membership.id == their_user)) == their_user
