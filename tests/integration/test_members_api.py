from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.container import Container
from app.db import transaction
from app.ids import new_id
from app.orgs.models import Membership, SeatRequest
from tests.conftest import Api, make_org_key
from tests.member_factories import add_person, audit_events, membership_count, session_token


def members_path(org: dict[str, Any], member_id: str | None = None) -> str:
    base = f"/v1/orgs/{org['id']}/members"
    return f"{base}/{member_id}" if member_id else base


def seats_used(container: Container, org_id: str) -> int:
    with transaction(container.session_factory) as session:
        return container.services(session).seats.status(org_id, "pro").used


# --- listing ------------
def test_pages_cover_every_member_once_in_id_order(container: Container, admin: Api, org: dict) -> None:
    people = [add_person(container, org["id"], f"p{i}@example.com") for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    sizes = []
    for _ in range(5):
        resp = admin.get(
            members_path(org), query_string={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        assert resp.status_code == 200, resp.json
        sizes.append(len(resp.json["data"]))
        seen += [m["id"] for m in resp.json["data"]]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == sorted(p.member_id for p in people)  # no duplicates, no gaps, stable order


def test_exact_multiple_of_limit_ends_with_null_cursor(container: Container, admin: Api, org: dict) -> None:
    for i in range(4):
        add_person(container, org["id"], f"q{i}@example.com")
    first = admin.get(members_path(org), query_string={"limit": 2}).json
    second = admin.get(members_path(org), query_string={"limit": 2, "cursor": first["next_cursor"]}).json
    assert len(second["data"]) == 2 and second["next_cursor"] is None


def test_member_fields(container: Container, admin: Api, org: dict) -> None:
    p = add_person(container, org["id"], "Ann@Example.com", name="Ann Lee", role="billing", seat="pro")
    body = admin.get(members_path(org, p.member_id)).json
    assert body["id"] == p.member_id and body["user_id"] == p.user_id
    assert body["email"] == "ann@example.com" and body["name"] == "Ann Lee"
    assert (body["role"], body["seat_type"], body["status"], body["source"]) == (
        "billing", "pro", "active", "invitation",
    )  # fmt: skip
    assert body["created_at"] and body["updated_at"]
    listed = admin.get(members_path(org)).json["data"]
    assert listed == [body]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"status": "gone"},
        {"seat_type": "gold"},
        {"sort": "id"},
    ],
)
def test_bad_list_parameters_are_422(admin: Api, org: dict, params: dict) -> None:
    resp = admin.get(members_path(org), query_string=params)
    assert resp.status_code == 422, resp.json
    assert resp.json["errors"][0]["field"] == next(iter(params))


@pytest.mark.parametrize(
    "cursor",
    ["nope", "!!!", "eyJ2IjoxfQ", "eyJ2IjoyLCJhZnRlciI6Im1lbV8xIn0", "eyJ2IjoxLCJhZnRlciI6Im9yZ18xIn0", "é"]
    + ["\t", " ", ""],
)  # garbage, not base64, no 'after', wrong version, another resource's id, non-ASCII; whitespace or nothing
# (stripped to nothing, which is no cursor the API issued: never the first page)
def test_bad_cursor_is_422(admin: Api, org: dict, cursor: str) -> None:
    resp = admin.get(members_path(org), query_string={"cursor": cursor})
    assert resp.status_code == 422 and resp.json["errors"][0]["field"] == "cursor"


def test_filters(container: Container, admin: Api, org: dict) -> None:
    oid = org["id"]
    ann = add_person(container, oid, "ann@acme.test", name="Ann Smith", role="admin", seat="pro")
    bob = add_person(container, oid, "bob@acme.test", name="Bob O'Neil", role="member")
    cy = add_person(container, oid, "cy@other.test", name="Cy", role="member", status="suspended")
    dee = add_person(container, oid, "dee_100%@acme.test", name=None, role="billing", seat="pro")

    def ids(**params: Any) -> set[str]:
        resp = admin.get(members_path(org), query_string=params)
        assert resp.status_code == 200, resp.json
        return {m["id"] for m in resp.json["data"]}

    assert ids(role="member") == {bob.member_id, cy.member_id}
    assert ids(role="owner") == set()
    assert ids(seat_type="pro") == {ann.member_id, dee.member_id}
    assert ids(seat_type="none") == {bob.member_id, cy.member_id}
    assert ids(status="suspended") == {cy.member_id}
    assert ids(status="active") == {ann.member_id, bob.member_id, dee.member_id}
    assert ids(q="SMITH") == {ann.member_id}  # name, case-insensitive
    assert ids(q="Acme.T") == {ann.member_id, bob.member_id, dee.member_id}  # email substring
    assert ids(q="100%") == {dee.member_id}  # LIKE wildcards are literal
    assert ids(q="_") == {dee.member_id}
    assert ids(q="o'n") == {bob.member_id}
    assert ids(q="", role="member") == {bob.member_id, cy.member_id}  # an empty q filters nothing
    assert ids(role="member", status="active", seat_type="none") == {bob.member_id}


def test_filters_apply_across_pages(container: Container, admin: Api, org: dict) -> None:
    wanted = {add_person(container, org["id"], f"w{i}@acme.test", role="admin").member_id for i in range(5)}
    for i in range(4):
        add_person(container, org["id"], f"x{i}@acme.test")
    got: list[str] = []
    params: dict[str, Any] = {"limit": 2, "role": "admin"}
    while True:
        body = admin.get(members_path(org), query_string=params).json
        got += [m["id"] for m in body["data"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert sorted(got) == sorted(wanted) and len(got) == 5


# --- tenant isolation ------------
def test_member_of_another_org_is_not_found(
    container: Container, admin: Api, platform: Api, org: dict
) -> None:
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    stranger = add_person(container, other["id"], "s@other.test", name="Stranger")
    mine = add_person(container, org["id"], "m@acme.test")
    assert admin.get(members_path(org, stranger.member_id)).status_code == 404
    assert admin.patch(members_path(org, stranger.member_id), {"role": "admin"}).status_code == 404
    assert admin.delete(members_path(org, stranger.member_id)).status_code == 404
    assert admin.get(members_path(other)).status_code == 404
    assert admin.get(members_path(other, stranger.member_id)).status_code == 404
    listing = admin.get(members_path(org)).get_data(as_text=True)
    assert "Stranger" not in listing and mine.member_id in listing
    assert membership_count(container, id=stranger.member_id, role="member") == 1  # untouched


def test_unknown_org_and_member_are_404(platform: Api, admin: Api, org: dict) -> None:
    assert platform.get(f"/v1/orgs/{new_id('org')}/members").status_code == 404
    assert admin.get(members_path(org, new_id("mem"))).status_code == 404
    assert admin.get(members_path(org, "mem_%00x")).status_code == 404


# --- roles ------------
def test_admin_changes_a_role_and_it_is_audited(container: Container, admin: Api, org: dict) -> None:
    p = add_person(container, org["id"], "m@acme.test")
    resp = admin.patch(members_path(org, p.member_id), {"role": "admin"})
    assert resp.status_code == 200 and resp.json["role"] == "admin"
    [event] = audit_events(container, "member.role_changed", org_id=org["id"])
    assert event.changes == {"role": {"before": "member", "after": "admin"}}
    assert {"type": "member", "id": p.member_id} in event.targets
    # The same role again changes nothing and records nothing.
    assert admin.patch(members_path(org, p.member_id), {"role": "admin"}).status_code == 200
    assert len(audit_events(container, "member.role_changed", org_id=org["id"])) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({"role": "superuser"}, "role"), ({"status": "gone"}, "status"), ({"rank": 1}, "rank")],
)
def test_bad_patch_is_422(container: Container, admin: Api, org: dict, body: dict, field: str) -> None:
    p = add_person(container, org["id"], "m@acme.test")
    resp = admin.patch(members_path(org, p.member_id), body)
    assert resp.status_code == 422 and resp.json["errors"][0]["field"] == field
    assert membership_count(container, id=p.member_id, role="member", status="active") == 1


def test_only_owners_grant_or_take_owner(container: Container, admin: Api, owner: Api, org: dict) -> None:
    p = add_person(container, org["id"], "m@acme.test")
    first = add_person(container, org["id"], "o@acme.test", role="owner")
    refused = admin.patch(members_path(org, p.member_id), {"role": "owner"})
    assert refused.status_code == 403 and "owners:manage" in refused.json["detail"]
    assert owner.patch(members_path(org, p.member_id), {"role": "owner"}).json["role"] == "owner"
    # An admin can neither demote, suspend nor remove an owner, even when owners remain.
    assert admin.patch(members_path(org, first.member_id), {"role": "member"}).status_code == 403
    assert admin.patch(members_path(org, first.member_id), {"status": "suspended"}).status_code == 403
    assert admin.delete(members_path(org, first.member_id)).status_code == 403
    assert membership_count(container, org_id=org["id"], role="owner", status="active") == 2


def test_last_owner_cannot_be_demoted_suspended_or_removed(
    container: Container, owner: Api, org: dict
) -> None:
    last = add_person(container, org["id"], "o@acme.test", role="owner", seat="pro")
    for resp in (
        owner.patch(members_path(org, last.member_id), {"role": "admin"}),
        owner.patch(members_path(org, last.member_id), {"status": "suspended"}),
        owner.delete(members_path(org, last.member_id)),
    ):
        assert resp.status_code == 409 and resp.json["code"] == "last_owner", resp.json
    assert membership_count(container, id=last.member_id, role="owner", status="active", seat_type="pro") == 1
    assert audit_events(container, "member.role_changed") == []
    assert audit_events(container, "member.removed") == []
    # With a second owner, the first can step down; then the second is the last.
    second = add_person(container, org["id"], "o2@acme.test", role="owner")
    assert owner.patch(members_path(org, last.member_id), {"role": "admin"}).status_code == 200
    assert owner.patch(members_path(org, second.member_id), {"role": "admin"}).status_code == 409


def test_a_suspended_owner_does_not_count(container: Container, owner: Api, org: dict) -> None:
    active = add_person(container, org["id"], "a@acme.test", role="owner")
    add_person(container, org["id"], "s@acme.test", role="owner", status="suspended")
    resp = owner.patch(members_path(org, active.member_id), {"role": "member"})
    assert resp.status_code == 409 and resp.json["code"] == "last_owner"


def test_demote_and_suspend_together_checks_owner_once(container: Container, owner: Api, org: dict) -> None:
    add_person(container, org["id"], "a@acme.test", role="owner")
    other = add_person(container, org["id"], "b@acme.test", role="owner")
    resp = owner.patch(members_path(org, other.member_id), {"role": "member", "status": "suspended"})
    assert resp.status_code == 200 and (resp.json["role"], resp.json["status"]) == ("member", "suspended")


# --- members acting through sessions ------------
def test_member_session_can_list_but_not_change(container: Container, client: Any, org: dict) -> None:
    me = add_person(container, org["id"], "me@acme.test")
    other = add_person(container, org["id"], "other@acme.test")
    api = Api(client, session_token(container, me.user_id, org["id"]))
    assert api.get(members_path(org)).status_code == 200
    assert api.get(members_path(org, other.member_id)).status_code == 200
    assert api.patch(members_path(org, me.member_id), {"role": "admin"}).status_code == 403
    assert api.delete(members_path(org, other.member_id)).status_code == 403
    assert membership_count(container, id=me.member_id, role="member") == 1


def test_admin_session_changes_roles_but_not_owner(container: Container, client: Any, org: dict) -> None:
    boss = add_person(container, org["id"], "boss@acme.test", role="admin")
    p = add_person(container, org["id"], "p@acme.test")
    api = Api(client, session_token(container, boss.user_id, org["id"]))
    assert api.patch(members_path(org, p.member_id), {"role": "admin"}).json["role"] == "admin"
    assert api.patch(members_path(org, p.member_id), {"role": "owner"}).status_code == 403
    # billing carries billing:manage, which an admin does not hold: no escalation by proxy.
    refused = api.patch(members_path(org, p.member_id), {"role": "billing"})
    assert refused.status_code == 403 and refused.json["missing"] == ["billing:manage"]
    [event] = audit_events(container, "member.role_changed")
    assert (event.actor_type, event.actor_id) == ("user", boss.user_id)


def test_suspension_ends_sessions(container: Container, admin: Api, client: Any, org: dict) -> None:
    p = add_person(container, org["id"], "p@acme.test")
    api = Api(client, session_token(container, p.user_id, org["id"]))
    assert api.get(members_path(org)).status_code == 200
    resp = admin.patch(members_path(org, p.member_id), {"status": "suspended"})
    assert resp.status_code == 200 and resp.json["status"] == "suspended"
    assert api.get(members_path(org)).status_code == 401
    [event] = audit_events(container, "member.suspended")
    assert event.data["sessions_ended"] == 1
    # Reactivation does not revive the ended session; a new login works.
    assert admin.patch(members_path(org, p.member_id), {"status": "active"}).json["status"] == "active"
    assert api.get(members_path(org)).status_code == 401
    fresh = Api(client, session_token(container, p.user_id, org["id"]))
    assert fresh.get(members_path(org)).status_code == 200
    assert len(audit_events(container, "member.reactivated")) == 1


# --- removal ------------
def test_removal_frees_seat_ends_sessions_and_drops_requests(
    container: Container, admin: Api, client: Any, platform: Api, org: dict
) -> None:
    p = add_person(container, org["id"], "p@acme.test", seat="pro")
    keep = add_person(container, org["id"], "keep@acme.test", seat="pro")
    other = platform.post("/v1/orgs", {"name": "Other"}).json
    add_person(container, other["id"], "p@acme.test")  # same account elsewhere
    with transaction(container.session_factory) as session:
        session.add(
            SeatRequest(
                org_id=org["id"], membership_id=keep.member_id, seat_type="pro", status="pending",
                created_at=container.clock.now(),
            )
        )  # fmt: skip
        session.add(
            SeatRequest(
                org_id=org["id"], membership_id=p.member_id, seat_type="pro", status="pending",
                created_at=container.clock.now(),
            )
        )  # fmt: skip
    here = Api(client, session_token(container, p.user_id, org["id"]))
    there = Api(client, session_token(container, p.user_id, other["id"]))
    assert seats_used(container, org["id"]) == 2

    assert admin.delete(members_path(org, p.member_id)).status_code == 204

    assert seats_used(container, org["id"]) == 1
    assert admin.get(members_path(org, p.member_id)).status_code == 404
    assert here.get(members_path(org)).status_code == 401  # ended
    assert there.get(members_path(other)).status_code == 200  # the other org's session lives on
    [unassigned] = audit_events(container, "seat.unassigned", org_id=org["id"])
    assert unassigned.data["member_id"] == p.member_id
    [removed] = audit_events(container, "member.removed", org_id=org["id"])
    assert removed.data["user_id"] == p.user_id and removed.data["seat_type"] == "pro"
    with container.session_factory() as session:
        requests = session.scalars(select(SeatRequest.membership_id)).all()
        assert requests == [keep.member_id]
        assert session.get(Membership, p.member_id) is None
    assert admin.delete(members_path(org, p.member_id)).status_code == 404


def test_owner_removes_another_owner(container: Container, org: dict, client: Any) -> None:
    me = add_person(container, org["id"], "me@acme.test", role="owner")
    them = add_person(container, org["id"], "them@acme.test", role="owner")
    api = Api(client, session_token(container, me.user_id, org["id"]))
    assert api.delete(members_path(org, them.member_id)).status_code == 204
    assert api.delete(members_path(org, me.member_id)).json["code"] == "last_owner"


def test_org_key_with_member_role_is_refused(container: Container, client: Any, org: dict) -> None:
    p = add_person(container, org["id"], "p@acme.test")
    api = Api(client, make_org_key(container, org["id"], "member"))
    assert api.get(members_path(org)).status_code == 200
    assert api.delete(members_path(org, p.member_id)).status_code == 403


def test_custom_roles_can_be_granted_without_escalation(container: Container, client: Any, org: dict) -> None:
    from app.credentials.principal import Principal

    with transaction(container.session_factory) as session:
        roles = container.services(session).roles
        platform = Principal("platform", "key_test", "tests")
        roles.create(org["id"], platform, "auditor", "reads audit logs", ["audit_logs:read"])
    p = add_person(container, org["id"], "p@acme.test")
    billing = add_person(container, org["id"], "b@acme.test", role="billing")
    admin = Api(client, make_org_key(container, org["id"], "admin"))
    assert admin.patch(members_path(org, p.member_id), {"role": "auditor"}).json["role"] == "auditor"
    # Billing may not update members at all; an admin cannot grant a role the org does not have.
    as_billing = Api(client, session_token(container, billing.user_id, org["id"]))
    assert as_billing.patch(members_path(org, p.member_id), {"role": "member"}).status_code == 403
    unknown = admin.patch(members_path(org, p.member_id), {"role": "ghost"})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "role"
