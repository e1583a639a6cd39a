"""A suspended member is given no seat by any path (409 member_suspended): assignment, transfer, approval of
a request made before the suspension, a mapped group (the SCIM request succeeds, the event says why), and a
SCIM reactivation takes one back only when there is room."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from app.container import Container
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import Scim, make_scim_token
from tests.integration.test_seats_flow import join, ok

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_a_request_approved_after_its_member_was_suspended_is_refused(platform: Api) -> None:
    org_id = ok(platform.post("/v1/orgs", {"name": "Suspenders"}), 201)["id"]
    admin = platform.as_key(ok(platform.post(f"/v1/orgs/{org_id}/api-keys", {"role": "admin"}), 201)["key"])
    ok(platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 5}))
    ann = join(admin, org_id, "ann@susp.example")
    asked = ok(
        admin.as_key(ann["session_token"]).post(f"/v1/orgs/{org_id}/seat-requests", {"seat_type": "pro"}), 201
    )
    ok(admin.patch(f"/v1/orgs/{org_id}/members/{ann['id']}", {"status": "suspended"}))
    refused = admin.post(f"/v1/orgs/{org_id}/seat-requests/{asked['id']}/approve")
    assert refused.status_code == 409 and refused.json["code"] == "member_suspended"
    assert ok(admin.get(f"/v1/orgs/{org_id}/members/{ann['id']}"))["seat_type"] is None
    pending = ok(admin.get(f"/v1/orgs/{org_id}/seat-requests?status=pending"))["data"]
    assert [r["id"] for r in pending] == [asked["id"]]  # still pending: approve once reactivated
    ok(admin.patch(f"/v1/orgs/{org_id}/members/{ann['id']}", {"status": "active"}))
    assert ok(admin.post(f"/v1/orgs/{org_id}/seat-requests/{asked['id']}/approve"))["status"] == "approved"


def test_a_mapped_group_gives_a_suspended_member_no_seat_until_reactivated(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    org = ok(platform.post("/v1/orgs", {"name": "Mapped suspenders"}), 201)["id"]
    ok(platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 1}))
    admin = Api(client, make_org_key(container, org, "admin"))
    scim = Scim(client, make_scim_token(container, org))
    sam = scim.post("/Users", {"schemas": [USER], "userName": "sam@susp.example", "active": False}).json["id"]
    gid = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Pro"}).json["id"]
    ok(admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "seat_type": "pro"}), 201)
    add = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": sam}]}]}
    assert scim.patch(f"/Groups/{gid}", add).status_code == 200
    assert ok(admin.get(f"/v1/orgs/{org}/members/{sam}"))["seat_type"] is None
    events = ok(admin.get(f"/v1/orgs/{org}/audit-logs?action=scim_group_mapping.applied&limit=5"))["data"]
    assert [e["data"]["seat_outcome"] for e in events] == ["member_suspended"]
    pool: dict[str, Any] = ok(admin.get(f"/v1/orgs/{org}/seats"))["data"][0]
    assert (pool["used"], pool["shortfall"]) == (0, 0)  # a suspended member is not wanted

    on = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]}
    assert scim.patch(f"/Users/{sam}", on).status_code == 200
    assert ok(admin.get(f"/v1/orgs/{org}/members/{sam}"))["seat_type"] == "pro"  # room: the mapping reseats
