from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.ids import new_id
from app.orgs.models import Invitation, LoginSession, Membership, User
from tests.conftest import Api, make_org_key
from tests.member_factories import add_person, audit_events, membership_count, session_token


def new_org(platform: Api, name: str) -> dict[str, Any]:
    resp = platform.post("/v1/orgs", {"name": name})
    assert resp.status_code == 201
    body: dict[str, Any] = resp.json
    return body


def as_session(client: FlaskClient, container: Container, user_id: str, org_id: str) -> Api:
    return Api(client, session_token(container, user_id, org_id))


def snapshot(container: Container) -> dict[str, Any]:
    """Everything an account deletion could touch."""
    with container.session_factory() as session:
        return {
            "users": sorted((u.id, u.email, u.name, u.deleted_at) for u in session.scalars(select(User))),
            "members": sorted(
                (m.id, m.role, m.seat_type, m.status) for m in session.scalars(select(Membership))
            ),
            "sessions": sorted((s.id, s.revoked_at) for s in session.scalars(select(LoginSession))),
            "events": session.scalar(select(func.count()).select_from(AuditEvent)),
        }


# --- /v1/me ------------
def test_one_account_sees_both_orgs(container: Container, client: FlaskClient, platform: Api) -> None:
    acme, globex = new_org(platform, "Acme"), new_org(platform, "Globex")
    a = add_person(container, acme["id"], "Ann@Example.com", name="Ann", role="admin", seat="pro")
    g = add_person(container, globex["id"], "ann@example.COM")  # the same account, case-folded
    add_person(container, globex["id"], "bob@example.com", role="owner")
    assert a.user_id == g.user_id
    resp = as_session(client, container, a.user_id, acme["id"]).get("/v1/me")
    assert resp.status_code == 200, resp.json
    assert resp.json == {
        "id": a.user_id,
        "email": "ann@example.com",
        "name": "Ann",
        "memberships": [
            {"org_id": acme["id"], "org_name": "Acme", "member_id": a.member_id, "role": "admin",
             "seat_type": "pro", "status": "active"},
            {"org_id": globex["id"], "org_name": "Globex", "member_id": g.member_id, "role": "member",
             "seat_type": None, "status": "active"},
        ],
    }  # fmt: skip
    # The session is still bound to its org: the other org's members are not readable with it.
    api = as_session(client, container, a.user_id, acme["id"])
    assert api.get(f"/v1/orgs/{globex['id']}/members").status_code == 404


def test_me_needs_a_member_session(client: FlaskClient, admin: Api, platform: Api) -> None:
    for api in (admin, platform):
        resp = api.get("/v1/me")
        assert resp.status_code == 403 and "session" in resp.json["detail"]
        assert api.delete("/v1/me").status_code == 403
        assert api.post("/v1/logout").status_code == 403
    assert client.get("/v1/me").status_code == 401


# --- logout ------------
def test_logout_ends_only_the_current_session(container: Container, client: FlaskClient, org: dict) -> None:
    p = add_person(container, org["id"], "p@acme.test")
    one = as_session(client, container, p.user_id, org["id"])
    two = as_session(client, container, p.user_id, org["id"])
    assert one.post("/v1/logout").status_code == 204
    assert one.get("/v1/me").status_code == 401
    assert two.get("/v1/me").status_code == 200
    [event] = audit_events(container, "session.ended", org_id=org["id"])
    assert event.actor_id == p.user_id and event.data == {"reason": "logout"}


# --- account deletion ------------
def test_delete_me_ends_memberships_and_erases(
    container: Container, client: FlaskClient, platform: Api
) -> None:
    acme, globex = new_org(platform, "Acme"), new_org(platform, "Globex")
    add_person(container, acme["id"], "boss@acme.test", role="owner")
    add_person(container, globex["id"], "boss@globex.test", role="owner")
    a = add_person(container, acme["id"], "gone@example.com", name="Gone Person", seat="pro")
    g = add_person(container, globex["id"], "gone@example.com", role="admin")
    here = as_session(client, container, a.user_id, acme["id"])
    there = as_session(client, container, a.user_id, globex["id"])
    with transaction(container.session_factory) as session:
        assert container.services(session).seats.status(acme["id"], "pro").used == 1

    assert here.delete("/v1/me").status_code == 204

    assert here.get("/v1/me").status_code == 401 and there.get("/v1/me").status_code == 401
    assert membership_count(container, user_id=a.user_id) == 0
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        assert svc.seats.status(acme["id"], "pro").used == 0
        user = session.get_one(User, a.user_id)
        assert user.email == f"erased-{a.user_id}@invalid" and user.name is None
        assert user.deleted_at is not None
        assert svc.accounts.find_by_email("gone@example.com") is None
        assert "Gone Person" not in repr(session.execute(select(User.email, User.name)).all())
    [deleted] = audit_events(container, "user.deleted")
    assert deleted.org_id is None and deleted.chain == "_platform"
    assert deleted.actor_id == a.user_id and deleted.data["initiated_by"] == "self"
    assert deleted.data["sessions_ended"] == 2 and deleted.data["memberships_ended"] == 2
    assert sorted(deleted.data["org_ids"]) == sorted([acme["id"], globex["id"]])
    removed = {e.org_id: e for e in audit_events(container, "member.removed")}
    assert removed.keys() == {acme["id"], globex["id"]}
    assert removed[acme["id"]].data["reason"] == "account_deleted"
    assert [e.data["member_id"] for e in audit_events(container, "seat.unassigned")] == [a.member_id]
    assert g.member_id not in {m["id"] for m in platform.get(f"/v1/orgs/{globex['id']}/members").json["data"]}


def test_a_new_invitation_with_the_old_email_makes_a_new_account(
    container: Container, client: FlaskClient, org: dict
) -> None:
    add_person(container, org["id"], "boss@acme.test", role="owner")
    old = add_person(container, org["id"], "again@example.com")
    assert as_session(client, container, old.user_id, org["id"]).delete("/v1/me").status_code == 204
    new = add_person(container, org["id"], "Again@example.com")
    assert new.user_id != old.user_id and new.email == "again@example.com"


def test_last_owner_cannot_delete_the_account(
    container: Container, client: FlaskClient, platform: Api
) -> None:
    acme, globex, initech = (new_org(platform, n) for n in ("Acme", "Globex", "Initech"))
    me = add_person(container, acme["id"], "me@example.com", role="owner", seat="pro")
    add_person(container, globex["id"], "me@example.com", role="owner")
    add_person(container, initech["id"], "me@example.com", role="owner")
    add_person(container, initech["id"], "co@example.com", role="owner")  # Initech has another owner
    add_person(container, globex["id"], "sus@example.com", role="owner", status="suspended")  # does not count
    api = as_session(client, container, me.user_id, acme["id"])
    before = snapshot(container)

    resp = api.delete("/v1/me")
    assert resp.status_code == 409 and resp.json["code"] == "last_owner"
    assert sorted(resp.json["orgs"], key=lambda o: o["name"]) == [
        {"id": acme["id"], "name": "Acme"},
        {"id": globex["id"], "name": "Globex"},
    ]
    assert "Acme" in resp.json["detail"] and "Globex" in resp.json["detail"]
    assert "Initech" not in resp.json["detail"] and "owner" in resp.json["detail"]
    platform_resp = platform.delete(f"/v1/accounts/{me.user_id}")
    assert platform_resp.status_code == 409 and len(platform_resp.json["orgs"]) == 2
    assert snapshot(container) == before  # nothing half-written
    assert api.get("/v1/me").status_code == 200

    # Hand over ownership, then it works.
    for org in (acme, globex):
        successor = add_person(container, org["id"], f"next@{org['slug']}.test")
        assert (
            platform.patch(
                f"/v1/orgs/{org['id']}/members/{successor.member_id}", {"role": "owner"}
            ).status_code
            == 200
        )
    assert api.delete("/v1/me").status_code == 204
    assert membership_count(container, user_id=me.user_id) == 0


def test_platform_deletes_an_account(container: Container, admin: Api, platform: Api, org: dict) -> None:
    p = add_person(container, org["id"], "p@acme.test", seat="pro")
    assert admin.delete(f"/v1/accounts/{p.user_id}").status_code == 403  # an org key cannot
    assert platform.delete(f"/v1/accounts/{new_id('usr')}").status_code == 404
    assert platform.delete(f"/v1/accounts/{p.user_id}").status_code == 204
    assert platform.delete(f"/v1/accounts/{p.user_id}").status_code == 404  # already gone
    [deleted] = audit_events(container, "user.deleted")
    assert deleted.actor_type == "api_key" and deleted.data["initiated_by"] == "platform"
    assert admin.get(f"/v1/orgs/{org['id']}/members/{p.member_id}").status_code == 404
    assert admin.get(f"/v1/orgs/{org['id']}/members", query_string={"q": "p@acme"}).json["data"] == []


def test_deleting_an_account_erases_its_email_from_every_invitation(
    container: Container, client: FlaskClient, platform: Api
) -> None:
    acme, globex, initech = (new_org(platform, n) for n in ("Acme", "Globex", "Initech"))
    orgs = (acme, globex, initech)
    admins = {o["id"]: Api(client, make_org_key(container, o["id"], "admin")) for o in orgs}

    def invite(org: dict[str, Any], email: str) -> str:
        resp = admins[org["id"]].post(f"/v1/orgs/{org['id']}/invitations", {"email": email, "role": "member"})
        assert resp.status_code == 201, resp.json
        invitation_id: str = resp.json["id"]
        return invitation_id

    accepted = invite(acme, "gone@example.com")  # how the account joined Acme (marked accepted below)
    gone = add_person(container, acme["id"], "Gone@Example.com")
    with transaction(container.session_factory) as session:
        row = session.get_one(Invitation, accepted)
        row.status, row.accepted_user_id = "accepted", gone.user_id
    pending = invite(globex, "GONE@example.com")
    other = invite(globex, "stays@example.com")
    revoked = invite(initech, "gone@example.com")
    assert admins[initech["id"]].delete(f"/v1/orgs/{initech['id']}/invitations/{revoked}").status_code == 204

    assert platform.delete(f"/v1/accounts/{gone.user_id}").status_code == 204

    placeholder = f"erased-{gone.user_id}@invalid"
    listed: dict[str, dict[str, Any]] = {}
    for org in orgs:
        resp = admins[org["id"]].get(f"/v1/orgs/{org['id']}/invitations")
        assert resp.status_code == 200
        assert "gone@example.com" not in resp.get_data(as_text=True).lower()
        listed |= {i["id"]: i for i in resp.json["data"]}
    assert {k: (listed[k]["email"], listed[k]["status"]) for k in (accepted, pending, revoked, other)} == {
        accepted: (placeholder, "accepted"),
        pending: (placeholder, "revoked"),  # its addressee is gone
        revoked: (placeholder, "revoked"),
        other: ("stays@example.com", "pending"),
    }
    # The stored target name is a sealed token (app/audit/personal.py); the audit log shows its value.
    page = admins[globex["id"]].get(f"/v1/orgs/{globex['id']}/audit-logs?action=invitation.revoked").json
    [event] = [e for e in page["data"] if e["targets"][0]["id"] == pending]
    assert event["targets"] == [{"type": "invitation", "id": pending, "name": placeholder}]
    assert event["changes"] == {"status": {"before": "pending", "after": "revoked"}}
    [deleted] = audit_events(container, "user.deleted")
    assert "invitation_emails" in deleted.data["erased"]
    # The address is free again: a new invitation to it is a new one.
    assert invite(globex, "gone@example.com") not in listed
