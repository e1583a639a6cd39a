"""The independent review's findings (issue 7), replayed as an attacker would: each must now fail.

1. Cross-org account takeover through invitations: an admin of any org invited another org's member, read the
   token from the answer and accepted it into the victim's account.
2. Escalation through custom roles and keys: ``members:update`` made oneself admin, ``invitations:create``
   invited an admin, ``api_keys:manage`` created an admin key, an admin key revoked an owner's key.
Then the grant rule itself, driven by a property test through every path that gives or takes a role.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.container import Container
from app.rbac.permissions import OWNER, ROLE_PERMISSIONS, SELF_SERVICE
from app.rbac.policy import custom_role_grantable
from tests.conftest import Api, make_org_key
from tests.mailbox import mailed_token
from tests.member_factories import add_person, audit_events, session_token


def invite(api: Api, org_id: str, email: str, role: str = "member", **extra: Any) -> Any:
    return api.post(f"/v1/orgs/{org_id}/invitations", {"email": email, "role": role, **extra})


def accept(client: FlaskClient, token: str, session: str | None = None) -> Any:
    return Api(client, session).post("/v1/invitations/accept", {"token": token})


# --- 1. account takeover ---------------------------------------------------------------------------------
def test_takeover_through_an_invitation_fails(
    client: FlaskClient, container: Container, platform: Api, org: dict[str, Any]
) -> None:
    victim = add_person(container, org["id"], "victim@example.com", role="owner")
    attacker_org = platform.post("/v1/orgs", {"name": "Evil Corp"}).json
    attacker = Api(client, make_org_key(container, attacker_org["id"], "owner"))

    invited = invite(attacker, attacker_org["id"], "victim@example.com")
    assert invited.status_code == 201
    assert invited.json["token"] is None and invited.json["accept_url"] is None
    assert "tnt_inv_" not in invited.get_data(as_text=True)
    # Asking for it is refused to every org-level caller.
    for who in (attacker, Api(client, session_token(container, victim.user_id, org["id"]))):
        asked = invite(
            who, attacker_org["id"] if who is attacker else org["id"], "x@example.com", return_token=True
        )
        assert asked.status_code == 403 and asked.json["reason"] == "token_platform_only"
    resend = attacker.post(
        f"/v1/orgs/{attacker_org['id']}/invitations/{invited.json['id']}/resend", {"return_token": True}
    )
    assert resend.status_code == 403

    # Even the mailed token (only the victim's mailbox has it) cannot open the victim's account.
    token = mailed_token(attacker, "victim@example.com")
    refused = accept(client, token)
    assert refused.status_code == 401 and refused.json["code"] == "sign_in_required"
    assert "session_token" not in refused.json
    victim_session = Api(client, session_token(container, victim.user_id, org["id"]))
    assert len(victim_session.get("/v1/me").json["memberships"]) == 1  # nothing joined, nothing deleted


def test_platform_key_may_ask_for_the_token_and_that_is_audited(platform: Api, org: dict[str, Any]) -> None:
    resp = invite(platform, org["id"], "backend@example.com", return_token=True)
    assert resp.status_code == 201 and resp.json["token_returned"] is True
    assert resp.json["token"].startswith("tnt_inv_") and resp.json["token"] in resp.json["accept_url"]
    plain = invite(platform, org["id"], "mail@example.com")
    assert plain.json["token"] is None and plain.json["token_returned"] is False
    events = platform.get(f"/v1/orgs/{org['id']}/audit-logs?action=member.invited").json["data"]
    returned = {e["targets"][0]["name"]: e["data"]["token_returned"] for e in events}
    assert returned == {"backend@example.com": True, "mail@example.com": False}
    bad = invite(platform, org["id"], "b@example.com", return_token="yes")
    assert bad.status_code == 422  # a strict JSON boolean


def test_sessions_without_account_proof_act_in_their_org_only(
    client: FlaskClient, container: Container, org: dict[str, Any]
) -> None:
    person = add_person(container, org["id"], "legacy@example.com", role="admin")
    legacy = Api(client, session_token(container, person.user_id, org["id"], account_proof=None))
    assert legacy.get(f"/v1/orgs/{org['id']}/members").status_code == 200
    for method in ("GET", "DELETE"):
        resp = legacy.call(method, "/v1/me")
        assert resp.status_code == 403 and resp.json["code"] == "account_proof_required"
    proven = Api(client, session_token(container, person.user_id, org["id"]))
    assert proven.get("/v1/me").status_code == 200


def test_a_used_token_of_a_removed_member_stays_used(
    client: FlaskClient, admin: Api, org: dict[str, Any]
) -> None:
    invite(admin, org["id"], "gone@example.com")
    token = mailed_token(admin, "gone@example.com")
    joined = accept(client, token)
    assert joined.status_code == 201
    assert admin.delete(f"/v1/orgs/{org['id']}/members/{joined.json['id']}").status_code == 204
    again = accept(client, token)
    assert again.status_code == 410 and again.json["code"] == "invitation_used"


@pytest.fixture
def tight_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"invitation_accept_rate_ip": "5/minute", "invitation_accept_rate_token": "3/minute"}
    )


@pytest.fixture
def tight_client(tight_settings: Settings) -> Iterator[FlaskClient]:
    from app import create_app
    from tests.conftest import _truncate
    from tests.mailbox import Mailbox

    c = Container.build(tight_settings, mailer=Mailbox())
    yield create_app(tight_settings, c).test_client()
    _truncate(c)
    c.engine.dispose()


def test_accept_attempts_are_rate_limited_per_token_and_per_ip(tight_client: FlaskClient) -> None:
    anonymous = Api(tight_client, None)
    guesses = [
        anonymous.post("/v1/invitations/accept", {"token": "tnt_inv_guessAAAAAAAAAA"}) for _ in range(4)
    ]
    assert [r.status_code for r in guesses] == [404, 404, 404, 429]
    limited = guesses[-1]
    assert limited.json["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Other tokens from the same address: the per-IP budget (5) runs out too.
    others = [anonymous.post("/v1/invitations/accept", {"token": f"tnt_inv_{n}other"}) for n in range(3)]
    assert [r.status_code for r in others] == [404, 429, 429]
    from_elsewhere = tight_client.post(
        "/v1/invitations/accept",
        json={"token": "tnt_inv_fresh1"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert from_elsewhere.status_code == 404


# --- 2. escalation ---------------------------------------------------------------------------------------
@pytest.fixture
def owner_key(container: Container, org: dict[str, Any]) -> str:
    return make_org_key(container, org["id"], "owner")


def custom_member(
    client: FlaskClient, container: Container, org_id: str, owner_key: str, name: str, permissions: list[str]
) -> tuple[Api, Any]:
    created = Api(client, owner_key).post(
        f"/v1/orgs/{org_id}/roles", {"name": name, "permissions": permissions}
    )
    assert created.status_code == 201, created.json
    person = add_person(container, org_id, f"{name}@example.com", role=name)
    return Api(client, session_token(container, person.user_id, org_id)), person


def test_members_update_does_not_make_oneself_or_others_admin(
    client: FlaskClient, container: Container, org: dict[str, Any], owner_key: str
) -> None:
    api, me = custom_member(
        client, container, org["id"], owner_key, "editor", ["members:read", "members:update"]
    )
    reader = Api(client, owner_key).post(
        f"/v1/orgs/{org['id']}/roles", {"name": "reader", "permissions": ["members:read"]}
    )
    assert reader.status_code == 201
    other = add_person(container, org["id"], "other@example.com", role="reader")
    base = f"/v1/orgs/{org['id']}/members"
    own = api.patch(f"{base}/{me.member_id}", {"role": "admin"})
    assert own.status_code == 403 and own.json["reason"] == "own_role"
    theirs = api.patch(f"{base}/{other.member_id}", {"role": "admin"})
    assert theirs.status_code == 403 and theirs.json["reason"] == "escalation"
    # A plain member holds chat:use and chat:history, which the editor does not: not even that.
    assert api.patch(f"{base}/{other.member_id}", {"role": "member"}).status_code == 403
    # Within what it holds, the role works: reader (members:read) to editor and back.
    assert api.patch(f"{base}/{other.member_id}", {"role": "editor"}).status_code == 200
    assert api.patch(f"{base}/{other.member_id}", {"role": "reader"}).status_code == 200


def test_invitations_create_does_not_invite_admins_or_give_seats(
    client: FlaskClient, container: Container, org: dict[str, Any], owner_key: str
) -> None:
    api, _ = custom_member(client, container, org["id"], owner_key, "recruiter", ["invitations:create"])
    admin_invite = invite(api, org["id"], "friend@example.com", "admin")
    assert admin_invite.status_code == 403 and admin_invite.json["reason"] == "escalation"
    seat_invite = invite(api, org["id"], "friend@example.com", "recruiter", seat_type="pro")
    assert seat_invite.status_code == 403
    assert invite(api, org["id"], "friend@example.com", "recruiter").status_code == 201


def test_api_keys_manage_does_not_create_admin_keys(
    client: FlaskClient, container: Container, org: dict[str, Any], owner_key: str
) -> None:
    api, _ = custom_member(client, container, org["id"], owner_key, "keymaster", ["api_keys:manage"])
    made = api.post(f"/v1/orgs/{org['id']}/api-keys", {"name": "x", "role": "admin"})
    assert made.status_code == 403 and made.json["reason"] == "escalation"
    assert api.post(f"/v1/orgs/{org['id']}/api-keys", {"name": "x", "role": "owner"}).status_code == 403
    scim = Api(client, owner_key).post(
        f"/v1/orgs/{org['id']}/roles", {"name": "prov", "permissions": ["scim:manage"]}
    )
    assert scim.status_code == 201
    prov = add_person(container, org["id"], "prov@example.com", role="prov")
    token = Api(client, session_token(container, prov.user_id, org["id"])).post(
        f"/v1/orgs/{org['id']}/scim-tokens", {"name": "okta"}
    )
    assert token.status_code == 403  # a SCIM token acts as admin


def test_admin_key_cannot_revoke_an_owner_key(
    client: FlaskClient, container: Container, admin: Api, org: dict[str, Any], owner_key: str
) -> None:
    owners = Api(client, owner_key).get(f"/v1/orgs/{org['id']}/api-keys").json["data"]
    [owner_key_id] = [k["id"] for k in owners if k["role"] == "owner"]
    refused = admin.delete(f"/v1/orgs/{org['id']}/api-keys/{owner_key_id}")
    assert refused.status_code == 403
    assert Api(client, owner_key).get(f"/v1/orgs/{org['id']}").status_code == 200  # still works
    assert not audit_events(container, "api_key.revoked")


# --- the rule, through every path ------------------------------------------------------------------------
GRANTABLE = sorted(custom_role_grantable())
BUILTIN = ["owner", "admin", "billing", "member"]
KEY_ROLES = ("owner", "admin")  # the roles an org API key may act with
OPS = ["change_role", "invite", "create_key", "revoke_key", "remove", "suspend"]
OP_PERMISSION = {
    "change_role": "members:update",
    "invite": "invitations:create",
    "create_key": "api_keys:manage",
    "revoke_key": "api_keys:manage",
    "remove": "members:remove",
    "suspend": "members:update",
}


def may_grant(held: frozenset[str] | None, role_permissions: frozenset[str], role: str) -> bool:
    """The spec: a caller grants, creates or revokes only a role whose permissions it holds all of; only
    owners touch owners."""
    if held is None:
        return True
    needed = set(role_permissions - SELF_SERVICE) | ({"owners:manage"} if role == OWNER else set())
    return needed <= held


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    caller_kind=st.sampled_from(["platform", "org_key", "session"]),
    caller_role=st.sampled_from([*BUILTIN, "custom"]),
    caller_perms=st.sets(st.sampled_from(GRANTABLE), max_size=8),
    target_role=st.sampled_from([*BUILTIN, "custom2"]),
    target_perms=st.sets(st.sampled_from(GRANTABLE), max_size=6),
    new_role=st.sampled_from([*BUILTIN, "custom2"]),
    op=st.sampled_from(OPS),
    self_target=st.booleans(),
)
def test_every_path_that_gives_or_takes_a_role_follows_one_rule(
    client: FlaskClient,
    container: Container,
    platform: Api,
    caller_kind: str,
    caller_role: str,
    caller_perms: set[str],
    target_role: str,
    target_perms: set[str],
    new_role: str,
    op: str,
    self_target: bool,
) -> None:
    n = next(COUNTER)
    org = platform.post("/v1/orgs", {"name": f"Prop {n}"}).json
    o = org["id"]
    owner = Api(client, make_org_key(container, o, "owner"))
    add_person(container, o, f"spare-owner-{n}@example.com", role="owner")  # never the last owner
    roles: dict[str, frozenset[str]] = {r: ROLE_PERMISSIONS[r] for r in BUILTIN}
    for name, perms in (("custom", caller_perms), ("custom2", target_perms)):
        perms = perms or {"org:read"}
        assert (
            owner.post(f"/v1/orgs/{o}/roles", {"name": name, "permissions": sorted(perms)}).status_code == 201
        )
        roles[name] = frozenset(perms)

    held: frozenset[str] | None
    if caller_kind == "platform":
        api, held, me = platform, None, None
    elif caller_kind == "org_key":
        role = caller_role if caller_role in BUILTIN else "admin"
        api, held, me = Api(client, make_org_key(container, o, role)), roles[role], None
    else:
        me = add_person(container, o, f"caller-{n}@example.com", role=caller_role)
        api, held = Api(client, session_token(container, me.user_id, o)), roles[caller_role]
    if self_target and me is not None and op in ("change_role", "suspend"):
        target = me
        target_role = caller_role
    else:
        target = add_person(container, o, f"target-{n}@example.com", role=target_role)

    def holds(permission: str) -> bool:
        return held is None or permission in held

    base = f"/v1/orgs/{o}"
    if op == "change_role":
        resp = api.patch(f"{base}/members/{target.member_id}", {"role": new_role})
        expected = holds("members:update") and (
            new_role == target_role
            or (
                (me is None or target.user_id != me.user_id)
                and may_grant(held, roles[target_role], target_role)
                and may_grant(held, roles[new_role], new_role)
            )
        )
    elif op == "invite":
        resp = api.post(f"{base}/invitations", {"email": f"new-{n}@example.com", "role": new_role})
        expected = holds("invitations:create") and may_grant(held, roles[new_role], new_role)
    elif op == "create_key":
        key_role = new_role if new_role in KEY_ROLES else "admin"
        resp = api.post(f"{base}/api-keys", {"name": "k", "role": key_role})
        expected = holds("api_keys:manage") and may_grant(held, roles[key_role], key_role)
    elif op == "revoke_key":
        key_role = target_role if target_role in KEY_ROLES else "admin"
        key = owner.post(f"{base}/api-keys", {"name": "victim", "role": key_role}).json
        resp = api.delete(f"{base}/api-keys/{key['id']}")
        expected = holds("api_keys:manage") and may_grant(held, roles[key_role], key_role)
    elif op == "remove":
        resp = api.delete(f"{base}/members/{target.member_id}")
        expected = holds("members:remove") and may_grant(held, roles[target_role], target_role)
    else:  # suspend
        resp = api.patch(f"{base}/members/{target.member_id}", {"status": "suspended"})
        expected = holds("members:update") and may_grant(held, roles[target_role], target_role)

    assert resp.status_code < 300 if expected else resp.status_code in (403, 404), (
        op,
        caller_kind,
        caller_role,
        sorted(held or []),
        target_role,
        new_role,
        resp.status_code,
        resp.json,
    )


COUNTER = itertools.count()
