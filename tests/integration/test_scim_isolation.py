"""A SCIM token of org A never reads or changes org B, whatever ids it guesses or knows; and what SCIM's
active=false does to a member: suspended, sessions ended, seat freed, no seat until reactivated."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.container import Container
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import Scim, make_scim_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _org(platform: Api, name: str) -> str:
    resp = platform.post("/v1/orgs", {"name": name})
    assert resp.status_code == 201
    org_id: str = resp.json["id"]
    return org_id


def test_a_token_of_org_a_never_reaches_org_b(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    a, b = _org(platform, "A"), _org(platform, "B")
    scim_a, scim_b = Scim(client, make_scim_token(container, a)), Scim(client, make_scim_token(container, b))
    theirs = scim_b.post("/Users", {"schemas": [USER], "userName": "bob@b.example", "active": True}).json
    their_group = scim_b.post(
        "/Groups", {"schemas": [GROUP], "displayName": "B team", "members": [{"value": theirs["id"]}]}
    ).json
    mine = scim_a.post("/Groups", {"schemas": [GROUP], "displayName": "A team"}).json
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}

    for path in (f"/Users/{theirs['id']}", f"/Groups/{their_group['id']}"):
        assert scim_a.get(path).status_code == 404
        assert (
            scim_a.put(
                path, {"schemas": [USER, GROUP], "userName": "x@a.example", "displayName": "x"}
            ).status_code
            == 404
        )
        assert scim_a.patch(path, patch).status_code == 404
        assert scim_a.delete(path).status_code == 404
    for listing in (
        "/Users",
        "/Groups",
        f'/Users?filter=id eq "{theirs["id"]}"',
        '/Users?filter=userName eq "bob@b.example"',
        f'/Groups?filter=id eq "{their_group["id"]}"',
    ):
        assert scim_a.get(listing).json["totalResults"] == (1 if listing == "/Groups" else 0), listing
    searched = scim_a.post("/.search", {"filter": f'id eq "{theirs["id"]}"'}).json
    assert searched["totalResults"] == 0
    # a known member id of B pushed into A's group is not stored
    pushed = scim_a.patch(
        f"/Groups/{mine['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": theirs["id"]}]}],
        },
    )
    assert pushed.status_code == 200 and "members" not in pushed.json
    # the same userName in A is A's own user (a membership of the same account), not B's
    same = scim_a.post("/Users", {"schemas": [USER], "userName": "bob@b.example", "active": True})
    assert same.status_code == 201 and same.json["id"] != theirs["id"]
    # B is untouched
    assert scim_b.get(f"/Users/{theirs['id']}").json["userName"] == "bob@b.example"
    assert [m["value"] for m in scim_b.get(f"/Groups/{their_group['id']}").json["members"]] == [theirs["id"]]
    # and a SCIM token is no key to /v1
    assert Api(client, scim_a.token).get(f"/v1/orgs/{a}/members").status_code == 401


def test_deactivation_suspends_and_frees_the_seat(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    org = _org(platform, "Seats")
    assert platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 1}).status_code == 200
    admin = Api(client, make_org_key(container, org, "admin"))
    scim = Scim(client, make_scim_token(container, org))
    uid = scim.post("/Users", {"schemas": [USER], "userName": "sam@s.example", "active": True}).json["id"]
    assert admin.put(f"/v1/orgs/{org}/members/{uid}/seat", {"seat_type": "pro"}).status_code == 200

    off = scim.patch(
        f"/Users/{uid}", {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    )
    assert off.status_code == 200 and off.json["active"] is False
    member = admin.get(f"/v1/orgs/{org}/members/{uid}").json
    assert member["status"] == "suspended" and member["seat_type"] is None
    refused = admin.put(f"/v1/orgs/{org}/members/{uid}/seat", {"seat_type": "pro"})
    assert refused.status_code == 409 and refused.json["code"] == "member_suspended"

    scim.patch(
        f"/Users/{uid}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]},
    )
    assert admin.get(f"/v1/orgs/{org}/members/{uid}").json["status"] == "active"
    assert admin.put(f"/v1/orgs/{org}/members/{uid}/seat", {"seat_type": "pro"}).status_code == 200

    events = [e["action"] for e in admin.get(f"/v1/orgs/{org}/audit-logs?limit=100").json["data"]]
    for action in (
        "scim_user.provisioned",
        "scim_user.deactivated",
        "member.suspended",
        "seat.unassigned",
        "scim_user.reactivated",
        "member.reactivated",
    ):
        assert action in events, action


def test_a_seat_cannot_be_transferred_to_a_suspended_member(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    org = _org(platform, "Transfer")
    assert platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 1}).status_code == 200
    admin = Api(client, make_org_key(container, org, "admin"))
    scim = Scim(client, make_scim_token(container, org))
    holder, idle = (
        scim.post("/Users", {"schemas": [USER], "userName": f"{n}@t.example", "active": n == "holder"}).json[
            "id"
        ]
        for n in ("holder", "idle")
    )
    assert (
        admin.get(f"/v1/orgs/{org}/members/{idle}").json["status"] == "suspended"
    )  # POSTed with active=false
    assert admin.put(f"/v1/orgs/{org}/members/{holder}/seat", {"seat_type": "pro"}).status_code == 200
    moved = admin.post(f"/v1/orgs/{org}/seats/pro/transfer", {"from_member": holder, "to_member": idle})
    assert moved.status_code == 409 and moved.json["code"] == "member_suspended"
