"""Invitations over HTTP: create, list, revoke, resend, accept, and every refusal on the way.

The module runs on a frozen clock so expiry is tested exactly, without sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.mail import LogMailer
from app.orgs.models import Invitation, Membership, User
from tests.conftest import Api, _truncate, make_org_key, make_platform_key
from tests.mailbox import Mailbox, mailbox_of, mailed_token
from tests.member_factories import add_person, session_token

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def container(settings: Settings, clock: FrozenClock) -> Iterator[Container]:
    c = Container.build(settings, clock=clock, mailer=Mailbox())
    yield c
    _truncate(c)
    c.engine.dispose()


@pytest.fixture
def anonymous(client: FlaskClient) -> Api:
    return Api(client, None)


def invite(api: Api, org_id: str, email: str, role: str = "member", **extra: Any) -> dict[str, Any]:
    """Invite, and read the token from the mail the invitee received (the answer never carries it)."""
    resp = api.post(f"/v1/orgs/{org_id}/invitations", {"email": email, "role": role, **extra})
    assert resp.status_code == 201, resp.json
    data: dict[str, Any] = resp.json
    assert data["token"] is None and data["token_returned"] is False
    data["token"] = mailed_token(api, email)
    return data


def accept(api: Api, token: str, **extra: Any) -> Any:
    return api.as_key(None).post("/v1/invitations/accept", {"token": token, **extra})


def actions(container: Container, org_id: str) -> list[str]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq)
            )
        )


def audit_rows(container: Container, org_id: str) -> list[AuditEvent]:
    with container.session_factory() as session:
        stmt = select(AuditEvent).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq)
        return list(session.scalars(stmt))


def set_pro_limit(container: Container, org_id: str, limit: int) -> None:
    with transaction(container.session_factory) as session:
        container.services(session).seats.set_limit(org_id, "pro", limit)


def count(container: Container, model: Any, *where: Any) -> int:
    with transaction(container.session_factory) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_invite_then_accept_creates_account_membership_and_session(
    owner: Api, org: dict[str, Any], container: Container
) -> None:
    admin = owner  # billing carries billing:manage, which only owners hold
    created = invite(admin, org["id"], "New.Person@Example.COM", "billing")
    assert created["token"].startswith("tnt_inv_")
    [mail] = mailbox_of(admin).to("new.person@example.com")
    assert f"http://127.0.0.1:8000/invitations/accept?token={created['token']}" in mail.body
    assert created["email"] == "new.person@example.com"
    assert created["status"] == "pending" and created["delivery"] == "sent"
    assert created["expires_at"].startswith("2026-03-09T09:00:00")  # 7 days by default
    with transaction(container.session_factory) as session:
        stored = session.get_one(Invitation, created["id"])
        assert stored.token_hash != created["token"] and created["token"] not in stored.token_hash

    resp = accept(admin, created["token"], name="New Person")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert {k: body[k] for k in ("org_id", "email", "role", "seat_type", "status")} == {
        "org_id": org["id"],
        "email": "new.person@example.com",
        "role": "billing",
        "seat_type": None,
        "status": "active",
    }
    assert body["id"].startswith("mem_") and body["user_id"].startswith("usr_")
    assert body["expires_in"] > 0 and body["account"] == "created"

    session_api = admin.as_key(body["session_token"])
    assert session_api.get(f"/v1/orgs/{org['id']}").status_code == 200
    # The mailed token proved control of the address: the session acts as the new account.
    assert session_api.get("/v1/me").json["email"] == "new.person@example.com"

    listed = admin.get(f"/v1/orgs/{org['id']}/invitations").json["data"]
    assert [(i["id"], i["status"], i["accepted_user_id"]) for i in listed] == [
        (created["id"], "accepted", body["user_id"])
    ]
    recorded = actions(container, org["id"])
    assert recorded.index("member.invited") < recorded.index("user.created") < recorded.index("member.added")
    assert recorded[-1] == "invitation.accepted"


def test_token_is_single_use(admin: Api, org: dict[str, Any]) -> None:
    created = invite(admin, org["id"], "once@example.com")
    assert accept(admin, created["token"]).status_code == 201
    again = accept(admin, created["token"])
    assert again.status_code == 410 and again.json["code"] == "invitation_used"


def test_pending_invitation_blocks_until_it_expires(
    admin: Api, org: dict[str, Any], clock: FrozenClock
) -> None:
    first = invite(admin, org["id"], "dup@example.com", expires_in_days=2)
    dup = admin.post(f"/v1/orgs/{org['id']}/invitations", {"email": "DUP@example.com", "role": "member"})
    assert dup.status_code == 409 and dup.json["code"] == "invitation_pending"
    assert dup.json["invitation_id"] == first["id"]

    clock.advance(timedelta(days=2))
    assert admin.get(f"/v1/orgs/{org['id']}/invitations").json["data"][0]["status"] == "expired"
    second = invite(admin, org["id"], "dup@example.com")
    statuses = {i["id"]: i["status"] for i in admin.get(f"/v1/orgs/{org['id']}/invitations").json["data"]}
    assert statuses == {first["id"]: "expired", second["id"]: "pending"}
    assert accept(admin, first["token"]).status_code == 410
    assert accept(admin, second["token"]).status_code == 201


def test_inviting_an_existing_member_is_409(admin: Api, org: dict[str, Any]) -> None:
    created = invite(admin, org["id"], "member@example.com")
    assert accept(admin, created["token"]).status_code == 201
    resp = admin.post(f"/v1/orgs/{org['id']}/invitations", {"email": "Member@Example.com", "role": "admin"})
    assert resp.status_code == 409 and resp.json["code"] == "already_member"


def test_expired_token_is_410_and_writes_nothing(
    admin: Api, org: dict[str, Any], clock: FrozenClock, container: Container
) -> None:
    created = invite(admin, org["id"], "late@example.com", expires_in_days=1)
    clock.advance(timedelta(days=1))  # the expiry instant itself is already too late
    resp = accept(admin, created["token"])
    assert resp.status_code == 410 and resp.json["code"] == "invitation_expired"
    assert count(container, User, User.email == "late@example.com") == 0


def test_token_accepted_just_before_expiry(admin: Api, org: dict[str, Any], clock: FrozenClock) -> None:
    created = invite(admin, org["id"], "ontime@example.com", expires_in_days=1)
    clock.advance(timedelta(days=1, seconds=-1))
    assert accept(admin, created["token"]).status_code == 201


def test_revoke(admin: Api, org: dict[str, Any], container: Container, platform: Api) -> None:
    created = invite(admin, org["id"], "revoked@example.com")
    path = f"/v1/orgs/{org['id']}/invitations/{created['id']}"
    assert admin.delete(path).status_code == 204
    assert admin.delete(path).status_code == 204  # idempotent, recorded once
    assert actions(container, org["id"]).count("invitation.revoked") == 1
    resp = accept(admin, created["token"])
    assert resp.status_code == 404 and resp.json["code"] == "not_found"
    listed = admin.get(f"/v1/orgs/{org['id']}/invitations", query_string={"status": "revoked"}).json
    assert [i["id"] for i in listed["data"]] == [created["id"]]

    used = invite(admin, org["id"], "used@example.com")
    assert accept(admin, used["token"]).status_code == 201
    resp = admin.delete(f"/v1/orgs/{org['id']}/invitations/{used['id']}")
    assert resp.status_code == 409 and resp.json["code"] == "invitation_not_pending"

    other = platform.post("/v1/orgs", {"name": "Other"}).json
    other_admin = admin.as_key(make_org_key(container, other["id"]))
    assert other_admin.delete(f"/v1/orgs/{other['id']}/invitations/{created['id']}").status_code == 404
    assert other_admin.get(f"/v1/orgs/{org['id']}/invitations").status_code == 404


def test_unknown_and_malformed_tokens_are_404_alike(admin: Api, org: dict[str, Any]) -> None:
    invite(admin, org["id"], "someone@example.com")
    details = set()
    for token in ("nonsense", "tnt_inv_" + "A" * 43, "tnt_ok_" + "A" * 43, "tnt_inv_\u0001x"):
        resp = accept(admin, token)
        if resp.status_code == 422:  # control characters are refused as input
            continue
        assert resp.status_code == 404, token
        details.add(resp.json["detail"])
    assert len(details) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "a@example.com", "role": "member", "expires_in_days": 0}, "expires_in_days"),
        ({"email": "a@example.com", "role": "member", "expires_in_days": 31}, "expires_in_days"),
        ({"email": "a@example.com", "role": "superuser"}, "role"),
        ({"email": "a@example.com", "role": "member", "seat_type": "gold"}, "seat_type"),
        ({"email": "a@example.com", "role": "member", "colour": "red"}, "colour"),
        ({"role": "member"}, "email"),
    ],
)
def test_invalid_invitations_are_422_naming_the_field(
    admin: Api, org: dict[str, Any], payload: dict[str, Any], field: str
) -> None:
    resp = admin.post(f"/v1/orgs/{org['id']}/invitations", payload)
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == [field]


def test_accept_refuses_unknown_fields(admin: Api) -> None:
    resp = admin.as_key(None).post("/v1/invitations/accept", {"token": "tnt_inv_x", "role": "owner"})
    assert resp.status_code == 422 and resp.json["errors"][0]["field"] == "role"


def test_only_owners_invite_owners(admin: Api, owner: Api, org: dict[str, Any]) -> None:
    resp = admin.post(f"/v1/orgs/{org['id']}/invitations", {"email": "boss@example.com", "role": "owner"})
    assert resp.status_code == 403
    created = invite(owner, org["id"], "boss@example.com", "owner")
    # An admin must not obtain a fresh owner token by resending either.
    assert admin.post(f"/v1/orgs/{org['id']}/invitations/{created['id']}/resend").status_code == 403
    accepted = accept(owner, created["token"])
    assert accepted.status_code == 201 and accepted.json["role"] == "owner"


def test_member_session_cannot_invite(admin: Api, org: dict[str, Any]) -> None:
    created = invite(admin, org["id"], "plain@example.com")
    session = admin.as_key(accept(admin, created["token"]).json["session_token"])
    resp = session.post(f"/v1/orgs/{org['id']}/invitations", {"email": "x@example.com", "role": "member"})
    assert resp.status_code == 403
    assert admin.as_key(None).get(f"/v1/orgs/{org['id']}/invitations").status_code == 401


def test_resend_issues_a_new_token_and_expiry(
    admin: Api, org: dict[str, Any], clock: FrozenClock, container: Container
) -> None:
    created = invite(admin, org["id"], "again@example.com", expires_in_days=1)
    clock.advance(timedelta(days=3))  # already expired: resending revives it
    path = f"/v1/orgs/{org['id']}/invitations/{created['id']}/resend"
    resent = admin.post(path, {"expires_in_days": 14})
    assert resent.status_code == 200, resent.json
    assert resent.json["id"] == created["id"] and resent.json["status"] == "pending"
    assert resent.json["token"] is None  # mailed again, never shown to an org key
    new_token = mailed_token(admin, "again@example.com")
    assert new_token != created["token"]
    assert resent.json["expires_at"].startswith("2026-03-19T09:00:00")
    assert actions(container, org["id"]).count("invitation.resent") == 1

    assert accept(admin, created["token"]).status_code == 404  # the old token stopped working
    assert accept(admin, new_token).status_code == 201
    again = admin.post(path)
    assert again.status_code == 409 and again.json["code"] == "invitation_not_pending"

    revoked = invite(admin, org["id"], "gone@example.com")
    admin.delete(f"/v1/orgs/{org['id']}/invitations/{revoked['id']}")
    assert admin.post(f"/v1/orgs/{org['id']}/invitations/{revoked['id']}/resend").status_code == 409
    assert admin.post(f"/v1/orgs/{org['id']}/invitations/inv_nope/resend").status_code == 404


def test_list_filters_and_paginates(admin: Api, org: dict[str, Any], clock: FrozenClock) -> None:
    ids = [invite(admin, org["id"], f"p{n}@example.com", expires_in_days=1 + n)["id"] for n in range(5)]
    path = f"/v1/orgs/{org['id']}/invitations"
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get(path, query_string=params).json
        seen += [i["id"] for i in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    clock.advance(timedelta(days=2, hours=1))  # the first two are past their expiry
    expired = admin.get(path, query_string={"status": "expired"}).json["data"]
    pending = admin.get(path, query_string={"status": "pending"}).json["data"]
    assert [i["id"] for i in expired] == ids[:2] and [i["id"] for i in pending] == ids[2:]

    for bad in ({"cursor": "garbage"}, {"status": "sleeping"}, {"limit": 0}, {"colour": "red"}):
        assert admin.get(path, query_string=bad).status_code == 422, bad


def test_accept_with_a_seat_when_the_pool_is_full_writes_nothing(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    set_pro_limit(container, org["id"], 1)
    first = invite(admin, org["id"], "first@example.com", seat_type="pro")
    taken = accept(admin, first["token"])
    assert taken.status_code == 201 and taken.json["seat_type"] == "pro"

    second = invite(admin, org["id"], "second@example.com", seat_type="pro")
    changes = AuditEvent.action != "invitation.accept_failed"
    events_before = count(container, AuditEvent, changes)
    resp = accept(admin, second["token"], name="Second")
    assert resp.status_code == 409 and resp.json["code"] == "seat_limit_reached"
    assert count(container, User, User.email == "second@example.com") == 0
    assert count(container, Membership, Membership.org_id == org["id"]) == 1
    assert count(container, AuditEvent, changes) == events_before  # only the refusal is recorded
    [refusal] = [e for e in audit_rows(container, org["id"]) if e.action == "invitation.accept_failed"]
    assert (refusal.outcome, refusal.reason) == ("failure", "seat_limit_reached")
    listed = admin.get(f"/v1/orgs/{org['id']}/invitations", query_string={"status": "pending"}).json
    assert [i["id"] for i in listed["data"]] == [second["id"]]

    set_pro_limit(container, org["id"], 2)  # billing raises the limit: the same token now works
    resp = accept(admin, second["token"])
    assert resp.status_code == 201 and resp.json["seat_type"] == "pro"


def test_existing_account_joins_only_with_its_own_proven_session(
    admin: Api, org: dict[str, Any], platform: Api, container: Container
) -> None:
    first = invite(admin, org["id"], "shared@example.com")
    joined = accept(admin, first["token"], name="Shared Person").json
    assert joined["account"] == "created"

    other = platform.post("/v1/orgs", {"name": "Second Org"}).json
    other_admin = admin.as_key(make_org_key(container, other["id"]))
    second = invite(other_admin, other["id"], "SHARED@example.com", "admin")
    stranger = add_person(container, org["id"], "stranger@example.com")
    events_before = count(container, AuditEvent, AuditEvent.action != "invitation.accept_failed")

    # The token alone does not add an existing account: the answer says so and writes nothing.
    alone = accept(admin, second["token"], name="Someone Else")
    assert alone.status_code == 401 and alone.json["code"] == "sign_in_required"
    assert alone.json["account"] == "existing" and "sign in" in alone.json["detail"]
    # Another account's session, or a session that never proved its account, is refused too.
    stranger_session = admin.as_key(session_token(container, stranger.user_id, org["id"]))
    as_stranger = stranger_session.post("/v1/invitations/accept", {"token": second["token"]})
    assert as_stranger.status_code == 403 and as_stranger.json["code"] == "invitation_for_another_account"
    legacy = admin.as_key(session_token(container, joined["user_id"], org["id"], account_proof=None))
    unproven = legacy.post("/v1/invitations/accept", {"token": second["token"]})
    assert unproven.status_code == 403 and unproven.json["code"] == "account_proof_required"
    assert count(container, Membership, Membership.org_id == other["id"]) == 0
    assert count(container, AuditEvent, AuditEvent.action != "invitation.accept_failed") == events_before
    failed = actions(container, other["id"]).count("invitation.accept_failed")
    assert failed >= 1  # refused attempts feed the failure aggregation of the invitation's org

    # The account's own session (proven: it was opened by the mailed token) accepts.
    own = admin.as_key(joined["session_token"])
    resp = own.post("/v1/invitations/accept", {"token": second["token"], "name": "Someone Else"})
    assert resp.status_code == 201, resp.json
    assert resp.json["account"] == "existing"
    assert resp.json["user_id"] == joined["user_id"] and resp.json["org_id"] == other["id"]
    assert resp.json["role"] == "admin"
    assert count(container, User, User.email == "shared@example.com") == 1
    with transaction(container.session_factory) as session:
        assert session.get_one(User, joined["user_id"]).name == "Shared Person"
    # Each session is bound to its own org.
    second_session = admin.as_key(resp.json["session_token"])
    assert second_session.get(f"/v1/orgs/{other['id']}").status_code == 200
    assert second_session.get(f"/v1/orgs/{org['id']}").status_code == 404
    assert second_session.get("/v1/me").status_code == 200


def test_accept_when_already_a_member_is_409_and_keeps_the_invitation(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    created = invite(admin, org["id"], "direct@example.com")
    # joined meanwhile another way (e.g. SCIM), and signed in
    person = add_person(container, org["id"], "direct@example.com")
    signed_in = admin.as_key(session_token(container, person.user_id, org["id"]))
    resp = signed_in.post("/v1/invitations/accept", {"token": created["token"]})
    assert resp.status_code == 409 and resp.json["code"] == "already_member"
    listed = admin.get(f"/v1/orgs/{org['id']}/invitations").json["data"]
    assert listed[0]["status"] == "pending"


def test_log_mailer_prints_the_accept_link(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = Container.build(settings, clock=clock)  # no SMTP: the development mailer writes mail to the log
    assert isinstance(c.mailer, LogMailer)
    try:
        api = Api(create_app(settings, c).test_client(), make_platform_key(c))
        org = api.post("/v1/orgs", {"name": "Dev"}).json
        caplog.set_level(logging.INFO, logger="tenantry.mail")
        created = api.post(
            f"/v1/orgs/{org['id']}/invitations",
            {"email": "dev@example.com", "role": "member", "return_token": True},
        ).json
        bodies = [r.__dict__.get("body", "") for r in caplog.records if r.name == "tenantry.mail"]
        assert any(created["accept_url"] in body for body in bodies)
    finally:
        _truncate(c)
        c.engine.dispose()


def test_odd_ids_in_the_path_are_404_not_5xx(platform: Api, org: dict[str, Any]) -> None:
    base = f"/v1/orgs/{org['id']}/invitations"
    assert platform.delete(f"{base}/inv_%00x").status_code == 404
    assert platform.post(f"{base}/{'x' * 300}/resend").status_code == 404
    assert platform.get("/v1/orgs/org_%00/invitations").status_code == 404
    resp = platform.post("/v1/orgs/org_%00/invitations", {"email": "a@example.com", "role": "member"})
    assert resp.status_code == 404
