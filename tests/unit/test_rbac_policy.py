"""The policy files, subject ids, and the NOTIFY payload format."""

from __future__ import annotations

import pytest

from app.rbac.compiled import compile_org, subject_key
from app.rbac.policy import catalogue, custom_role_grantable, templates
from app.rbac.versioning import decode_payload, encode_payload


def test_templates_only_use_catalogued_permissions() -> None:
    known = catalogue()
    for perms in (*templates().roles.values(), *templates().seats.values()):
        assert perms <= known.keys()
    assert set(templates().roles) == {"owner", "admin", "billing", "member"}
    assert templates().seats["pro"] == {"chat:pro_features", "reports:pro_export", "analytics:pro_dashboards"}


def test_no_role_template_grants_a_seat_permission() -> None:
    seat_only = {p.name for p in catalogue().values() if p.granted_by == "seat"}
    for perms in templates().roles.values():
        assert not perms & seat_only


def test_custom_roles_cannot_hold_owner_or_seat_permissions() -> None:
    grantable = custom_role_grantable()
    assert "audit_logs:read" in grantable
    assert not {"org:delete", "owners:manage", "chat:pro_features"} & grantable


@pytest.mark.parametrize(
    ("subject", "valid"),
    [
        ("usr_" + "0" * 32, True),
        ("mem_" + "a" * 32, True),
        ("usr_" + "g" * 32, False),
        ("org_" + "0" * 32, False),
        ("usr_123", False),
        ("role:admin", False),
        ("", False),
    ],
)
def test_subject_key(subject: str, valid: bool) -> None:
    assert (subject_key(subject) is not None) is valid


def test_user_and_member_ids_never_collide() -> None:
    same_hex = "1" * 32
    assert subject_key("usr_" + same_hex) != subject_key("mem_" + same_hex)


def test_member_alias_answers_like_the_user() -> None:
    org, user, member = "org_" + "1" * 32, "usr_" + "2" * 32, "mem_" + "3" * 32
    snap = compile_org(org, 3, [("role:member", "*", "chat:use")], [(user, "role:member", org)],
                       aliases={member: user})  # fmt: skip
    assert snap.decide(member, "chat:use") == snap.decide(user, "chat:use") == (True, "granted_by_role", 3)
    assert snap.decide("mem_" + "4" * 32, "chat:use").reason == "unknown_subject"


def test_notify_payload_round_trips_and_stays_under_the_limit() -> None:
    versions = {f"org_{i:032x}": i for i in range(500)}
    chunks = encode_payload(versions, {"ab" * 32})
    assert len(chunks) > 1 and all(len(c) < 8000 for c in chunks)
    seen: dict[str, int] = {}
    revoked: set[str] = set()
    for chunk in chunks:
        v, r = decode_payload(chunk)
        seen.update(v)
        revoked |= r
    assert seen == versions and revoked == {"ab" * 32}
