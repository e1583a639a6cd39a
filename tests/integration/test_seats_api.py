"""Seats over HTTP, following the help centre's questions: switching a Pro seat between members, more
members than paid seats, needing more seats, a member without a Pro seat asking to upgrade."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from tests.conftest import Api
from tests.integration.seating import MadeMember, add_member, add_members
from tests.member_factories import session_token


def seats_path(org: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/orgs/{org['id']}/seats{suffix}"


def seat_path(org: dict[str, Any], member: MadeMember) -> str:
    return f"/v1/orgs/{org['id']}/members/{member.id}/seat"


def pool(api: Api, org: dict[str, Any]) -> dict[str, Any]:
    resp = api.get(seats_path(org))
    assert resp.status_code == 200, resp.json
    (pro,) = [p for p in resp.json["data"] if p["seat_type"] == "pro"]
    return dict(pro)


def events(container: Container, org_id: str, action: str) -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.org_id == org_id, AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            )
        )


def seat_holders(container: Container, org_id: str) -> int:
    from app.orgs.models import Membership

    with transaction(container.session_factory) as session:
        return int(
            session.scalar(
                select(func.count()).where(Membership.org_id == org_id, Membership.seat_type == "pro")
            )
            or 0
        )


@pytest.fixture
def members(container: Container, org: dict[str, Any]) -> list[MadeMember]:
    return add_members(container, org["id"], 4)


def limit(platform: Api, org: dict[str, Any], value: int) -> Any:
    return platform.put(seats_path(org, "/pro"), {"limit": value})


# --- pools and limits -----------------------------------------------------------------------------
def test_a_new_org_reports_every_seat_type_empty(admin: Api, org: dict[str, Any]) -> None:
    resp = admin.get(seats_path(org))
    assert resp.status_code == 200
    assert resp.json == {
        "data": [
            {"seat_type": "pro", "limit": 0, "used": 0, "available": 0, "over_limit": False, "shortfall": 0}
        ]
    }


def test_billing_sets_the_limit_with_a_platform_key(
    container: Container, platform: Api, admin: Api, owner: Api, org: dict[str, Any]
) -> None:
    resp = limit(platform, org, 25)
    assert resp.status_code == 200
    assert resp.json == {
        "seat_type": "pro",
        "limit": 25,
        "used": 0,
        "available": 25,
        "over_limit": False,
        "shortfall": 0,
    }
    assert pool(admin, org)["limit"] == 25
    # Org keys, even an owner's, cannot buy themselves seats.
    assert limit(admin, org, 100).status_code == 403
    assert limit(owner, org, 100).status_code == 403
    assert pool(admin, org)["limit"] == 25
    (event,) = events(container, org["id"], "seat.limit_changed")
    assert event.changes == {"limit": {"before": 0, "after": 25}}
    # Setting the same limit again changes nothing and records nothing.
    assert limit(platform, org, 25).status_code == 200
    assert len(events(container, org["id"], "seat.limit_changed")) == 1


def test_limit_errors(platform: Api, org: dict[str, Any]) -> None:
    assert platform.put("/v1/orgs/org_unknown/seats/pro", {"limit": 5}).status_code == 404
    unknown_type = platform.put(seats_path(org, "/enterprise"), {"limit": 5})
    assert unknown_type.status_code == 422 and unknown_type.json["errors"][0]["field"] == "seat_type"
    for body in ({"limit": -1}, {"limit": 1_000_001}, {"limit": "5"}, {"limit": 2.5}, {"limit": True}, {}):
        resp = platform.put(seats_path(org, "/pro"), body)
        assert resp.status_code == 422, body
        assert resp.json["errors"][0]["field"] == "limit"
    extra = platform.put(seats_path(org, "/pro"), {"limit": 5, "seats": 5})
    assert extra.status_code == 422 and extra.json["errors"][0]["field"] == "seats"
    assert platform.put(seats_path(org, "/pro"), {"limit": 0}).status_code == 200


def test_a_deleted_org_has_no_seats(platform: Api, owner: Api, org: dict[str, Any]) -> None:
    assert owner.delete(f"/v1/orgs/{org['id']}").status_code == 204
    assert limit(platform, org, 5).status_code == 404
    assert platform.get(seats_path(org)).status_code == 404


# --- assignment -----------------------------------------------------------------------------------
def test_assign_up_to_the_limit_then_409(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 2)
    a, b, c, _ = members
    first = admin.put(seat_path(org, a), {"seat_type": "pro"})
    assert first.status_code == 200
    assert first.json == {
        "id": a.id, "user_id": a.user_id, "email": a.email, "role": "member", "seat_type": "pro",
        "status": "active",
    }  # fmt: skip
    assert admin.put(seat_path(org, b), {"seat_type": "pro"}).status_code == 200
    full = admin.put(seat_path(org, c), {"seat_type": "pro"})
    assert full.status_code == 409
    assert full.headers["Content-Type"] == "application/problem+json"
    assert full.json["code"] == "seat_limit_reached"
    assert (full.json["seat_type"], full.json["limit"], full.json["used"]) == ("pro", 2, 2)
    assert pool(admin, org) == {
        "seat_type": "pro",
        "limit": 2,
        "used": 2,
        "available": 0,
        "over_limit": False,
        "shortfall": 0,
    }
    # Idempotent: assigning a held seat again answers the member and records nothing more, even when full.
    again = admin.put(seat_path(org, a), {"seat_type": "pro"})
    assert again.status_code == 200 and again.json["seat_type"] == "pro"
    assert len(events(container, org["id"], "seat.assigned")) == 2
    assert seat_holders(container, org["id"]) == 2


def test_unassign_frees_the_seat(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 1)
    a, b, *_ = members
    assert admin.put(seat_path(org, a), {"seat_type": "pro"}).status_code == 200
    assert admin.put(seat_path(org, b), {"seat_type": "pro"}).status_code == 409
    freed = admin.delete(seat_path(org, a))
    assert freed.status_code == 200 and freed.json["seat_type"] is None
    assert pool(admin, org)["used"] == 0
    assert admin.put(seat_path(org, b), {"seat_type": "pro"}).status_code == 200
    # Unassigning a seatless member is a no-op, not an error.
    assert admin.delete(seat_path(org, a)).status_code == 200
    (event,) = events(container, org["id"], "seat.unassigned")
    assert event.data["member_id"] == a.id


def test_assignment_validation(
    platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 5)
    path = seat_path(org, members[0])
    for body, field in (
        ({"seat_type": "enterprise"}, "seat_type"),
        ({}, "seat_type"),
        ({"seat_type": 3}, "seat_type"),
        ({"seat_type": "pro", "until": "never"}, "until"),
    ):
        resp = admin.put(path, body)
        assert resp.status_code == 422, body
        assert resp.json["errors"][0]["field"] == field
    bad_json = admin.client.put(
        path, data="{nope", headers={**admin._headers(), "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert (
        admin.put(f"/v1/orgs/{org['id']}/members/mem_unknown/seat", {"seat_type": "pro"}).status_code == 404
    )
    assert pool(admin, org)["used"] == 0


def test_a_member_session_cannot_assign_seats(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 5)
    a = members[0]
    member = admin.as_key(session_token(container, a.user_id, org["id"]))
    assert member.put(seat_path(org, a), {"seat_type": "pro"}).status_code == 403
    assert member.get(seats_path(org)).status_code == 403  # members do not read the pools either
    assert pool(admin, org)["used"] == 0


# --- switching a Pro seat from one member to another ----------------------------------------------
def test_transfer_moves_the_seat_and_keeps_the_count(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 1)
    a, b, *_ = members
    admin.put(seat_path(org, a), {"seat_type": "pro"})
    resp = admin.post(seats_path(org, "/pro/transfer"), {"from_member": a.id, "to_member": b.id})
    assert resp.status_code == 200, resp.json
    assert resp.json["seat_type"] == "pro"
    assert resp.json["from_member"]["id"] == a.id and resp.json["from_member"]["seat_type"] is None
    assert resp.json["to_member"]["id"] == b.id and resp.json["to_member"]["seat_type"] == "pro"
    assert resp.json["to_member"]["email"] == b.email
    assert pool(admin, org) == {
        "seat_type": "pro",
        "limit": 1,
        "used": 1,
        "available": 0,
        "over_limit": False,
        "shortfall": 0,
    }
    (event,) = events(container, org["id"], "seat.transferred")
    assert (event.data["from_member"], event.data["to_member"]) == (a.id, b.id)


def test_transfer_errors_change_nothing(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 2)
    a, b, c, _ = members
    admin.put(seat_path(org, a), {"seat_type": "pro"})
    admin.put(seat_path(org, b), {"seat_type": "pro"})
    path = seats_path(org, "/pro/transfer")
    no_seat = admin.post(path, {"from_member": c.id, "to_member": a.id})
    assert no_seat.status_code == 409 and no_seat.json["code"] == "seat_not_held"
    has_seat = admin.post(path, {"from_member": a.id, "to_member": b.id})
    assert has_seat.status_code == 409 and has_seat.json["code"] == "seat_already_held"
    same = admin.post(path, {"from_member": a.id, "to_member": a.id})
    assert same.status_code == 422 and same.json["errors"][0]["field"] == "to_member"
    assert admin.post(path, {"from_member": a.id, "to_member": "mem_unknown"}).status_code == 404
    assert admin.post(path, {"from_member": "mem_unknown", "to_member": c.id}).status_code == 404
    missing = admin.post(path, {"from_member": a.id})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "to_member"
    unknown_type = admin.post(seats_path(org, "/gold/transfer"), {"from_member": a.id, "to_member": c.id})
    assert unknown_type.status_code == 422 and unknown_type.json["errors"][0]["field"] == "seat_type"
    assert events(container, org["id"], "seat.transferred") == []
    holders = {m.id: admin.get(f"/v1/orgs/{org['id']}/seats").status_code for m in (a, b)}
    assert holders and seat_holders(container, org["id"]) == 2


# --- more members than paid seats -----------------------------------------------------------------
def test_lowering_the_limit_evicts_nobody_and_blocks_new_seats(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 3)
    a, b, c, d = members
    for m in (a, b, c):
        assert admin.put(seat_path(org, m), {"seat_type": "pro"}).status_code == 200
    lowered = limit(platform, org, 1)
    assert lowered.status_code == 200
    assert lowered.json == {
        "seat_type": "pro",
        "limit": 1,
        "used": 3,
        "available": 0,
        "over_limit": True,
        "shortfall": 0,
    }
    assert seat_holders(container, org["id"]) == 3  # nobody lost a seat
    refused = admin.put(seat_path(org, d), {"seat_type": "pro"})
    assert refused.status_code == 409 and refused.json["code"] == "seat_limit_reached"
    assert (refused.json["limit"], refused.json["used"]) == (1, 3)
    # A transfer does not change the count, so it still works over the limit.
    moved = admin.post(seats_path(org, "/pro/transfer"), {"from_member": a.id, "to_member": d.id})
    assert moved.status_code == 200
    # Back to the limit is not under it: still refused until a seat is free.
    admin.delete(seat_path(org, b))
    admin.delete(seat_path(org, c))
    assert pool(admin, org) == {
        "seat_type": "pro",
        "limit": 1,
        "used": 1,
        "available": 0,
        "over_limit": False,
        "shortfall": 0,
    }
    assert admin.put(seat_path(org, a), {"seat_type": "pro"}).status_code == 409
    admin.delete(seat_path(org, d))
    assert admin.put(seat_path(org, a), {"seat_type": "pro"}).status_code == 200
    (event,) = [
        e for e in events(container, org["id"], "seat.limit_changed") if e.changes["limit"]["after"] == 1
    ]
    assert event.data["over_limit"] is True and event.data["used"] == 3


# --- needing more seats ---------------------------------------------------------------------------
def test_billing_raises_the_limit_and_assignment_then_works(
    platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 1)
    a, b, *_ = members
    assert admin.put(seat_path(org, a), {"seat_type": "pro"}).status_code == 200
    assert admin.put(seat_path(org, b), {"seat_type": "pro"}).status_code == 409
    raised = limit(platform, org, 2)
    assert raised.json["available"] == 1
    assert admin.put(seat_path(org, b), {"seat_type": "pro"}).status_code == 200
    assert pool(admin, org)["used"] == 2


# --- a member without a Pro seat asking to upgrade ------------------------------------------------
def requests_path(org: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/orgs/{org['id']}/seat-requests{suffix}"


def as_member(admin: Api, container: Container, org: dict[str, Any], member: MadeMember) -> Api:
    return admin.as_key(session_token(container, member.user_id, org["id"]))


def test_seat_request_approved(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 1)
    a = members[0]
    me = as_member(admin, container, org, a)
    asked = me.post(requests_path(org), {"seat_type": "pro", "message": "I need the reports"})
    assert asked.status_code == 201, asked.json
    assert asked.json["status"] == "pending" and asked.json["member_id"] == a.id
    assert asked.json["message"] == "I need the reports" and asked.json["email"] == a.email
    twice = me.post(requests_path(org), {"seat_type": "pro"})
    assert twice.status_code == 409 and twice.json["code"] == "seat_request_pending"
    pending = admin.get(requests_path(org) + "?status=pending")
    assert [r["id"] for r in pending.json["data"]] == [asked.json["id"]]
    approved = admin.post(requests_path(org, f"/{asked.json['id']}/approve"))
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["decided_at"]
    assert pool(admin, org)["used"] == 1
    assert admin.get(requests_path(org) + "?status=pending").json["data"] == []
    (assigned,) = events(container, org["id"], "seat.assigned")
    assert assigned.data["reason"] == "request_approved"
    assert len(events(container, org["id"], "seat.requested")) == 1
    assert len(events(container, org["id"], "seat.request_approved")) == 1
    # Holding the seat now, the member cannot ask again; a decided request cannot be decided again.
    held = me.post(requests_path(org), {"seat_type": "pro"})
    assert held.status_code == 409 and held.json["code"] == "seat_already_held"
    redo = admin.post(requests_path(org, f"/{asked.json['id']}/deny"), {})
    assert redo.status_code == 409 and redo.json["code"] == "seat_request_decided"


def test_seat_request_denied_with_a_reason(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 5)
    me = as_member(admin, container, org, members[0])
    asked = me.post(requests_path(org), {"seat_type": "pro"}).json
    denied = admin.post(requests_path(org, f"/{asked['id']}/deny"), {"reason": "Budget is frozen"})
    assert denied.status_code == 200
    assert denied.json["status"] == "denied" and denied.json["reason"] == "Budget is frozen"
    assert denied.json["decided_by"]
    assert pool(admin, org)["used"] == 0
    (event,) = events(container, org["id"], "seat.request_denied")
    assert event.data["reason"] == "Budget is frozen"
    late = admin.post(requests_path(org, f"/{asked['id']}/approve"))
    assert late.status_code == 409 and late.json["code"] == "seat_request_decided"
    # Denied is not pending: the member may ask again.
    assert me.post(requests_path(org), {"seat_type": "pro"}).status_code == 201
    bare = admin.post(requests_path(org, f"/{asked['id']}x/deny"), {})
    assert bare.status_code == 404


def test_seat_request_when_the_pool_is_full_stays_pending(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    limit(platform, org, 1)
    a, b, *_ = members
    admin.put(seat_path(org, a), {"seat_type": "pro"})
    asked = as_member(admin, container, org, b).post(requests_path(org), {"seat_type": "pro"}).json
    full = admin.post(requests_path(org, f"/{asked['id']}/approve"))
    assert full.status_code == 409 and full.json["code"] == "seat_limit_reached"
    listed = admin.get(requests_path(org) + "?status=pending").json["data"]
    assert [(r["id"], r["status"]) for r in listed] == [(asked["id"], "pending")]
    assert events(container, org["id"], "seat.request_approved") == []
    # Billing raises the limit; the same request can now be approved.
    limit(platform, org, 2)
    assert admin.post(requests_path(org, f"/{asked['id']}/approve")).json["status"] == "approved"


def test_seat_request_rules_and_validation(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    me = as_member(admin, container, org, members[0])
    assert admin.post(requests_path(org), {"seat_type": "pro"}).status_code == 403  # an org key is no member
    unknown = me.post(requests_path(org), {"seat_type": "platinum"})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "seat_type"
    long = me.post(requests_path(org), {"seat_type": "pro", "message": "x" * 1001})
    assert long.status_code == 422 and long.json["errors"][0]["field"] == "message"
    asked = me.post(requests_path(org), {"seat_type": "pro"}).json
    assert me.get(requests_path(org)).status_code == 403  # members cannot read the queue
    assert me.post(requests_path(org, f"/{asked['id']}/approve")).status_code == 403  # nor decide
    bad_status = admin.get(requests_path(org) + "?status=maybe")
    assert bad_status.status_code == 422 and bad_status.json["errors"][0]["field"] == "status"
    bad_cursor = admin.get(requests_path(org) + "?cursor=garbage")
    assert bad_cursor.status_code == 422 and bad_cursor.json["errors"][0]["field"] == "cursor"


def test_seat_requests_page_with_a_cursor(container: Container, admin: Api, org: dict[str, Any]) -> None:
    people = add_members(container, org["id"], 5, prefix="asker")
    ids = []
    for person in people:
        resp = as_member(admin, container, org, person).post(requests_path(org), {"seat_type": "pro"})
        ids.append(resp.json["id"])
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = admin.get(requests_path(org) + query).json
        seen += [r["id"] for r in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    admin.post(requests_path(org, f"/{ids[0]}/deny"), {})
    denied = admin.get(requests_path(org) + "?status=denied").json
    assert [r["id"] for r in denied["data"]] == [ids[0]] and denied["next_cursor"] is None


# --- tenant isolation -----------------------------------------------------------------------------
def test_another_orgs_members_and_requests_are_not_found(
    container: Container, platform: Api, admin: Api, org: dict[str, Any], members: list[MadeMember]
) -> None:
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    limit(platform, org, 5)
    limit(platform, other, 5)
    stranger = add_member(container, other["id"], "stranger@example.com")
    other_request = (
        as_member(admin, container, other, stranger).post(requests_path(other), {"seat_type": "pro"}).json
    )
    # Our org's paths with their ids: 404, and nothing of theirs changes.
    assert admin.put(seat_path(org, stranger), {"seat_type": "pro"}).status_code == 404
    assert admin.delete(seat_path(org, stranger)).status_code == 404
    cross = admin.post(
        seats_path(org, "/pro/transfer"), {"from_member": members[0].id, "to_member": stranger.id}
    )
    assert cross.status_code == 404
    assert admin.post(requests_path(org, f"/{other_request['id']}/approve")).status_code == 404
    assert admin.post(requests_path(org, f"/{other_request['id']}/deny"), {}).status_code == 404
    # Their org's paths with our key: 404, never their data.
    for resp in (
        admin.get(seats_path(other)),
        admin.put(seat_path(other, stranger), {"seat_type": "pro"}),
        admin.get(requests_path(other)),
    ):
        assert resp.status_code == 404
        assert stranger.email not in resp.get_data(as_text=True)
    assert pool(platform, other)["used"] == 0
    # A member's session is bound to its org.
    mine = as_member(admin, container, org, members[0])
    assert mine.post(requests_path(other), {"seat_type": "pro"}).status_code == 404


def test_openapi_describes_the_seat_operations(client: Any) -> None:
    paths = client.get("/openapi.json").json["paths"]
    assert set(paths["/v1/orgs/{org_id}/seats/{seat_type}"]) == {"put"}
    assert "409" in paths["/v1/orgs/{org_id}/members/{member_id}/seat"]["put"]["responses"]
    assert {"get", "post"} <= set(paths["/v1/orgs/{org_id}/seat-requests"])
    assert "post" in paths["/v1/orgs/{org_id}/seat-requests/{request_id}/approve"]
