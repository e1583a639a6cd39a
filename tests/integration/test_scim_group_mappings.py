"""Group mappings: joining a mapped group grants its role and seat in the same request, leaving takes back
what no other group still grants; a full pool never fails the SCIM request (an event says why); a mapping
never grants more than its creator holds."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.container import Container
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import Scim, make_scim_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def setup(client: FlaskClient, container: Container, platform: Api) -> tuple[str, Api, Scim]:
    org = platform.post("/v1/orgs", {"name": "Mapped"}).json["id"]
    assert platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 1}).status_code == 200
    return (
        org,
        Api(client, make_org_key(container, org, "admin")),
        Scim(client, make_scim_token(container, org)),
    )


def _members(scim: Scim, gid: str, op: str, ids: list[str]) -> Any:
    value = [{"value": i} for i in ids]
    resp = scim.patch(
        f"/Groups/{gid}", {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": value}]}
    )
    assert resp.status_code == 200, resp.json
    return resp


def test_joining_and_leaving_a_mapped_group(setup: tuple[str, Api, Scim]) -> None:
    org, admin, scim = setup
    ann, bob = (
        scim.post("/Users", {"schemas": [USER], "userName": f"{n}@m.example", "active": True}).json["id"]
        for n in ("ann", "bob")
    )
    gid = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Admins"}).json["id"]
    mapping = admin.post(
        f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "role": "admin", "seat_type": "pro"}
    )
    assert mapping.status_code == 201, mapping.json
    assert admin.get(f"/v1/orgs/{org}/group-mappings").json["data"][0]["id"] == mapping.json["id"]

    _members(scim, gid, "add", [ann, bob])  # one seat for two: the request still succeeds
    got = {m: admin.get(f"/v1/orgs/{org}/members/{m}").json for m in (ann, bob)}
    assert got[ann]["role"] == got[bob]["role"] == "admin"
    assert sorted(str(g["seat_type"]) for g in got.values()) == ["None", "pro"]
    events = admin.get(f"/v1/orgs/{org}/audit-logs?action=scim_group_mapping.applied&limit=10").json["data"]
    outcomes = sorted(e["data"]["seat_outcome"] for e in events)
    assert outcomes == ["assigned", "shortfall"]

    seated = ann if got[ann]["seat_type"] == "pro" else bob
    _members(scim, gid, "remove", [seated])
    after = admin.get(f"/v1/orgs/{org}/members/{seated}").json
    assert after["role"] == "member" and after["seat_type"] is None


def _pro(admin: Api, org: str) -> dict[str, Any]:
    pools = admin.get(f"/v1/orgs/{org}/seats").json["data"]
    pool: dict[str, Any] = next(p for p in pools if p["seat_type"] == "pro")
    return pool


def test_the_seats_endpoint_shows_the_shortfall_of_a_full_pool(
    setup: tuple[str, Api, Scim], platform: Api
) -> None:
    """Three members pushed into a group mapped to `pro` with one seat: every SCIM request succeeds, one
    member is seated, the two others are the pool's shortfall until billing raises the limit."""
    org, admin, scim = setup
    ids = [
        scim.post("/Users", {"schemas": [USER], "userName": f"u{i}@m.example", "active": True}).json["id"]
        for i in range(3)
    ]
    gid = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Sales"}).json["id"]
    assert (
        admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "seat_type": "pro"}).status_code == 201
    )
    assert _pro(admin, org)["shortfall"] == 0
    _members(scim, gid, "add", ids)
    pool = _pro(admin, org)
    assert (pool["used"], pool["available"], pool["shortfall"]) == (1, 0, 2)
    events = admin.get(f"/v1/orgs/{org}/audit-logs?action=scim_group_mapping.applied&limit=10").json["data"]
    assert sorted(e["data"]["seat_outcome"] for e in events) == ["assigned", "shortfall", "shortfall"]

    # A suspended member is not wanted; a member that leaves the group is not wanted either.
    unseated = [m for m in ids if admin.get(f"/v1/orgs/{org}/members/{m}").json["seat_type"] is None]
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert scim.patch(f"/Users/{unseated[0]}", deactivate).status_code == 200
    assert _pro(admin, org)["shortfall"] == 1
    _members(scim, gid, "remove", [unseated[1]])
    assert _pro(admin, org)["shortfall"] == 0
    # The limit response reports it too.
    _members(scim, gid, "add", [unseated[1]])
    raised = platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 1})
    assert raised.status_code == 200 and raised.json["shortfall"] == 1


def test_a_mapping_never_grants_more_than_its_creator_holds(setup: tuple[str, Api, Scim]) -> None:
    org, admin, scim = setup
    gid = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Owners"}).json["id"]
    refused = admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "role": "owner"})
    assert refused.status_code == 403
    assert admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid}).status_code == 422
    assert (
        admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": "grp_00ff", "role": "admin"}).status_code
        == 404
    )
    made = admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "seat_type": "pro"}).json
    assert (
        admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "role": "admin"}).json["code"]
        == "group_mapping_exists"
    )
    assert admin.delete(f"/v1/orgs/{org}/group-mappings/{made['id']}").status_code == 204
    assert admin.get(f"/v1/orgs/{org}/group-mappings/{made['id']}").status_code == 404


def test_reactivation_takes_the_mapped_seat_again(setup: tuple[str, Api, Scim]) -> None:
    org, admin, scim = setup
    uid = scim.post("/Users", {"schemas": [USER], "userName": "cy@m.example", "active": True}).json["id"]
    gid = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Pro", "members": [{"value": uid}]}).json[
        "id"
    ]
    admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "seat_type": "pro"})
    assert admin.get(f"/v1/orgs/{org}/members/{uid}").json["seat_type"] == "pro"  # applied to current members
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    scim.patch(f"/Users/{uid}", off)
    assert admin.get(f"/v1/orgs/{org}/members/{uid}").json["seat_type"] is None
    scim.patch(
        f"/Users/{uid}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]},
    )
    assert admin.get(f"/v1/orgs/{org}/members/{uid}").json["seat_type"] == "pro"
