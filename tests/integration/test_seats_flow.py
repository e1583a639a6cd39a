"""The whole seat story over HTTP only, as a customer and billing live it: org, org key, invitations,
seats up to the limit, 409 past it, transfer, a member removed (seat freed), a member asking for a seat,
billing lowering the limit (over_limit, nobody evicted)."""

from __future__ import annotations

from typing import Any

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from tests.conftest import Api
from tests.mailbox import mailed_token


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.json
    return resp.json


def pro(api: Api, org_id: str) -> dict[str, Any]:
    (pool,) = ok(api.get(f"/v1/orgs/{org_id}/seats"))["data"]
    return dict(pool)


def join(admin: Api, org_id: str, email: str, **extra: Any) -> dict[str, Any]:
    ok(admin.post(f"/v1/orgs/{org_id}/invitations", {"email": email, "role": "member", **extra}), 201)
    member: dict[str, Any] = ok(
        admin.as_key(None).post("/v1/invitations/accept", {"token": mailed_token(admin, email)}), 201
    )
    return member


def test_seats_from_invitation_to_over_limit(container: Container, platform: Api) -> None:
    org_id = ok(platform.post("/v1/orgs", {"name": "Initech"}), 201)["id"]
    admin = platform.as_key(ok(platform.post(f"/v1/orgs/{org_id}/api-keys", {"role": "admin"}), 201)["key"])
    assert ok(platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 2}))["available"] == 2

    ann = join(admin, org_id, "ann@initech.example", seat_type="pro")  # takes a seat on acceptance
    bob = join(admin, org_id, "bob@initech.example")
    cat = join(admin, org_id, "cat@initech.example")
    assert ann["seat_type"] == "pro" and pro(admin, org_id)["used"] == 1

    seat = f"/v1/orgs/{org_id}/members/{{}}/seat"
    assert ok(admin.put(seat.format(bob["id"]), {"seat_type": "pro"}))["seat_type"] == "pro"
    full = admin.put(seat.format(cat["id"]), {"seat_type": "pro"})
    assert full.status_code == 409 and full.json["code"] == "seat_limit_reached"

    # Switching a Pro seat from one member to another.
    moved = ok(
        admin.post(
            f"/v1/orgs/{org_id}/seats/pro/transfer", {"from_member": ann["id"], "to_member": cat["id"]}
        )
    )
    assert (moved["from_member"]["seat_type"], moved["to_member"]["seat_type"]) == (None, "pro")
    assert pro(admin, org_id)["used"] == 2

    # Removing a member frees the seat.
    assert admin.delete(f"/v1/orgs/{org_id}/members/{bob['id']}").status_code == 204
    assert pro(admin, org_id) == {
        "seat_type": "pro",
        "limit": 2,
        "used": 1,
        "available": 1,
        "over_limit": False,
        "shortfall": 0,
    }

    # A member without a Pro seat asks; an admin approves.
    ann_session = admin.as_key(ann["session_token"])
    asked = ok(
        ann_session.post(f"/v1/orgs/{org_id}/seat-requests", {"seat_type": "pro", "message": "please"}), 201
    )
    assert ok(admin.post(f"/v1/orgs/{org_id}/seat-requests/{asked['id']}/approve"))["status"] == "approved"
    assert pro(admin, org_id)["used"] == 2

    # A pending request goes with its member.
    dan = join(admin, org_id, "dan@initech.example")
    ok(admin.as_key(dan["session_token"]).post(f"/v1/orgs/{org_id}/seat-requests", {"seat_type": "pro"}), 201)
    assert admin.delete(f"/v1/orgs/{org_id}/members/{dan['id']}").status_code == 204
    assert ok(admin.get(f"/v1/orgs/{org_id}/seat-requests?status=pending"))["data"] == []

    # More members than paid seats: billing lowers the limit; nobody is evicted, new seats are refused.
    lowered = ok(platform.put(f"/v1/orgs/{org_id}/seats/pro", {"limit": 1}))
    assert lowered == {
        "seat_type": "pro",
        "limit": 1,
        "used": 2,
        "available": 0,
        "over_limit": True,
        "shortfall": 0,
    }
    assert pro(admin, org_id)["over_limit"] is True
    eve = join(admin, org_id, "eve@initech.example")
    assert admin.put(seat.format(eve["id"]), {"seat_type": "pro"}).status_code == 409

    with transaction(container.session_factory) as session:
        seat_actions = [
            e.action
            for e in session.query(AuditEvent).filter(AuditEvent.org_id == org_id).order_by(AuditEvent.seq)
            if e.action.startswith("seat.")
        ]
    assert seat_actions == [
        "seat.limit_changed",
        "seat.assigned",  # ann, on acceptance
        "seat.assigned",  # bob
        "seat.transferred",
        "seat.unassigned",  # bob removed
        "seat.requested",
        "seat.assigned",  # ann, approved
        "seat.request_approved",
        "seat.requested",  # dan, then removed
        "seat.limit_changed",
    ]
