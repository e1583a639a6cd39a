"""The pure cores behind the front doors: the tenancy rule, credential kinds, the check body, SCIM Error
bodies and the SSO error page. No Flask app, no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.credentials.resolver import ACCEPTED, SESSION_COOKIE, CredentialResolver, Door, Kind, kind_of
from app.errors import AlreadyMember, Forbidden, MalformedRequest, NotFound, ValidationFailed
from app.rbac.check import CheckBodyInvalid, CheckRequest, answer_batch, answer_check, parse_check
from app.rbac.compiled import Decision
from app.scim.errors import error_body
from app.sso.pages import error_page
from app.tenancy import may_act_in


@dataclass(frozen=True)
class Caller:
    is_platform: bool
    org_id: str | None
    own_subject: str | None = None  # a member's access token: asks about itself only


PLATFORM, ACME, NOBODY = Caller(True, None), Caller(False, "org_acme"), Caller(False, None)


@pytest.mark.parametrize(
    ("caller", "org", "allowed"),
    [
        (PLATFORM, "org_acme", True),
        (PLATFORM, None, True),
        (ACME, "org_acme", True),
        (ACME, "org_other", False),
        (ACME, None, False),
        (ACME, "", False),
        (NOBODY, None, False),
        (NOBODY, "org_acme", False),
    ],
)
def test_tenancy_rule(caller: Caller, org: str | None, allowed: bool) -> None:
    assert may_act_in(caller, org) is allowed


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("tnt_pk_abc", Kind.PLATFORM_KEY),
        ("tnt_ok_abc", Kind.ORG_KEY),
        ("tnt_ses_abc", Kind.SESSION),
        ("tnt_scim_abc", Kind.SCIM_TOKEN),
        ("eyJhbGciOi", Kind.ACCESS_TOKEN),
        ("tnt_inv_abc", None),  # an invitation token is no credential
        ("tnt_", None),
        ("", None),
    ],
)
def test_credential_kinds(token: str, kind: Kind | None) -> None:
    assert kind_of(token) is kind


def test_scim_tokens_are_accepted_only_under_scim_and_sessions_never_there() -> None:
    assert [door for door, kinds in ACCEPTED.items() if Kind.SCIM_TOKEN in kinds] == [Door.SCIM]
    assert ACCEPTED[Door.SCIM] == {Kind.SCIM_TOKEN}
    assert Kind.SESSION not in ACCEPTED[Door.CHECK]


def test_the_session_cookie_counts_under_sso_only() -> None:
    cookies = {SESSION_COOKIE: "tnt_ses_cookie"}
    assert CredentialResolver.presented(Door.SSO, None, cookies) == "tnt_ses_cookie"
    assert CredentialResolver.presented(Door.V1, None, cookies) is None
    assert CredentialResolver.presented(Door.SSO, "Bearer tnt_ses_header", cookies) == "tnt_ses_header"
    assert CredentialResolver.presented(Door.V1, "Basic abc", {}) is None


def decide(org: str, subject: str, action: str, mv: int | None) -> Decision:
    return Decision(action == "org:read", "granted_by_role" if action == "org:read" else "not_granted", 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "(body)"),
        ({"org": "o", "subject": "s"}, "action"),
        ({"org": "o", "subject": "s", "action": "a", "colour": 1}, "colour"),
        ({"org": "", "subject": "s", "action": "a"}, "org"),
        ({"org": "o" * 65, "subject": "s", "action": "a"}, "org"),
        ({"org": "o", "subject": 7, "action": "a"}, "subject"),
        ({"org": "o", "subject": "s", "action": "a", "min_version": -1}, "min_version"),
        ({"org": "o", "subject": "s", "action": "a", "min_version": True}, "min_version"),
        ({"org": "o", "subject": "s", "action": "a", "min_version": 1.5}, "min_version"),
        ({"org": "o\x00", "subject": "s", "action": "a"}, "org"),  # the document forbids NUL in strings
        ({"org": "o", "subject": "s", "action": "\x00a"}, "action"),
    ],
)
def test_invalid_check_bodies_name_their_field(body: Any, field: str) -> None:
    with pytest.raises(CheckBodyInvalid) as refused:
        parse_check(body)
    assert refused.value.field == field


def test_an_integral_float_min_version_is_an_integer() -> None:
    body = {"org": "o", "subject": "s", "action": "a", "min_version": 3.0}
    assert parse_check(body) == CheckRequest("o", "s", "a", 3)


def test_checks_outside_the_callers_org_are_not_accessible_and_never_decided() -> None:
    asked: list[str] = []

    def spy(org: str, subject: str, action: str, mv: int | None) -> Decision:
        asked.append(org)
        return decide(org, subject, action, mv)

    body = {"checks": [{"org": "org_acme", "subject": "u", "action": "org:read"},
                       {"org": "org_other", "subject": "u", "action": "org:read"}]}  # fmt: skip
    out = answer_batch(body, ACME, spy)
    assert out == (
        '{"results":[{"allowed":true,"version":3,"reason":"granted_by_role"},'
        '{"allowed":false,"version":0,"reason":"org_not_accessible"}]}'
    )
    assert asked == ["org_acme"]
    assert answer_check({"org": "org_other", "subject": "u", "action": "org:read"}, PLATFORM, spy).startswith(
        '{"allowed":true'
    )


def test_a_members_token_asks_about_itself_only() -> None:
    asked: list[str] = []

    def spy(org: str, subject: str, action: str, mv: int | None) -> Decision:
        asked.append(subject)
        return Decision(True, "granted_by_role", 3)

    ann = Caller(False, "org_acme", own_subject="usr_ann")
    body = {"checks": [{"org": "org_acme", "subject": "usr_ann", "action": "org:read"},
                       {"org": "org_acme", "subject": "usr_bob", "action": "org:read"},
                       {"org": "org_acme", "subject": "mem_ann", "action": "org:read"},
                       {"org": "org_other", "subject": "usr_ann", "action": "org:read"}]}  # fmt: skip
    assert answer_batch(body, ann, spy) == (
        '{"results":[{"allowed":true,"version":3,"reason":"granted_by_role"},'
        '{"allowed":false,"version":0,"reason":"subject_not_accessible"},'
        '{"allowed":false,"version":0,"reason":"subject_not_accessible"},'
        '{"allowed":false,"version":0,"reason":"org_not_accessible"}]}'
    )
    assert asked == ["usr_ann"]


@pytest.mark.parametrize(
    ("error", "status", "scim_type"),
    [
        (ValidationFailed("bad value"), 400, "invalidValue"),
        (MalformedRequest("not json"), 400, "invalidSyntax"),
        (AlreadyMember("taken"), 409, "uniqueness"),
        (NotFound("no such user"), 404, None),
        (Forbidden("no"), 403, None),
        (ValidationFailed("as 422"), 422, None),
    ],
)
def test_scim_error_bodies(error: Any, status: int, scim_type: str | None) -> None:
    body = error_body(error, status)
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status) and body["detail"] == error.detail
    assert body.get("scimType") == scim_type


def test_a_named_scim_type_wins() -> None:
    error = ValidationFailed("filter")
    error.scim_type = "invalidFilter"  # type: ignore[attr-defined]
    assert error_body(error, 400)["scimType"] == "invalidFilter"


def test_sso_error_pages_escape_and_advise() -> None:
    page = error_page(403, "Forbidden", "<b>you</b> & me", "req-1<")
    assert "&lt;b&gt;you&lt;/b&gt; &amp; me" in page and "<b>" not in page
    assert "administrator" in page and "reference req-1&lt;" in page
    assert "Error 500" in error_page(500, "Internal error", "x", None)
