"""Sign-in by email one-time code: the code mailed, its expiry, single use, tries, rate limits, no account
enumeration, which org, auto-join by verified domain, SSO enforcement with the owners' audited break-glass."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.clock import FrozenClock
from app.container import Container
from app.db import transaction
from app.domains.models import Domain
from app.orgs.models import LoginSession, Membership, Organization
from tests.conftest import Api
from tests.mailbox import mailbox_of
from tests.member_factories import Person, add_person, audit_events
from tests.support import run_together

JSON = {"Accept": "application/json"}
CODE = re.compile(r"sign-in code is (\d{6,8})")


def start(client: FlaskClient, email: str, **extra: Any) -> Any:
    return client.post("/sso/email/start", json={"email": email, **extra}, headers=JSON)


def verify(client: FlaskClient, email: str, code: str, **extra: Any) -> Any:
    return client.post("/sso/email/verify", json={"email": email, "code": code, **extra}, headers=JSON)


def mailed_code(client: FlaskClient, email: str) -> str:
    message = mailbox_of(client).to(email)[-1]
    match = CODE.search(message.body)
    assert match, message.body
    assert match.group(1) in message.subject
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture
def ann(container: Container, org: dict[str, Any]) -> Person:
    return add_person(container, org["id"], "ann@acme.example.com")


def test_a_mailed_code_opens_a_session_and_sets_the_cookie(
    client: FlaskClient, org: dict[str, Any], ann: Person, container: Container
) -> None:
    assert start(client, "Ann@Acme.example.com").status_code == 202
    code = mailed_code(client, "ann@acme.example.com")
    assert len(code) == 6
    resp = verify(client, "ann@acme.example.com", code)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["org_id"] == org["id"] and body["user_id"] == ann.user_id and body["break_glass"] is False
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"tenantry_session={body['session_token']};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http base URL
    # The session works as a bearer under /v1, proves the account (/v1/me), and the cookie under /sso.
    session = Api(client, body["session_token"])
    assert session.get("/v1/me").json["email"] == "ann@acme.example.com"
    assert client.get("/sso/session").json["user_id"] == ann.user_id
    with container.session_factory() as db:
        row = db.scalars(select(LoginSession).where(LoginSession.id == body["session_id"])).one()
    assert (row.method, row.account_proof) == ("email_code", "email_code")
    [started] = audit_events(container, "session.started", org_id=org["id"])
    assert started.data == {"method": "email_code", "account_proof": "email_code", "break_glass": False,
                            "joined": False}  # fmt: skip
    # Used once: the same code never opens a second session.
    again = verify(client, "ann@acme.example.com", code)
    assert again.status_code == 401 and again.json["code"] == "email_code_refused"


def test_start_answers_alike_for_any_address_and_mails_nothing_that_tells(
    client: FlaskClient, ann: Person
) -> None:
    known, unknown = start(client, "ann@acme.example.com"), start(client, "nobody@nowhere.example.org")
    assert (known.status_code, known.json) == (unknown.status_code, unknown.json)
    first, second = (
        mailbox_of(client).to("ann@acme.example.com")[-1],
        mailbox_of(client).to("nobody@nowhere.example.org")[-1],
    )
    assert CODE.sub("", first.body) == CODE.sub("", second.body)
    # Without a membership the code proves the address, and only then is told there is no org.
    refused = verify(client, "nobody@nowhere.example.org", mailed_code(client, "nobody@nowhere.example.org"))
    assert refused.status_code == 403 and refused.json["code"] == "no_organisation"


def test_codes_expire(client: FlaskClient, ann: Person, container: Container) -> None:
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    start(client, "ann@acme.example.com")
    code = mailed_code(client, "ann@acme.example.com")
    clock.advance(timedelta(seconds=600))
    resp = verify(client, "ann@acme.example.com", code)
    assert resp.status_code == 401 and "expired" in resp.json["detail"]


def test_five_wrong_tries_burn_the_code_and_each_is_audited_in_the_org(
    client: FlaskClient, org: dict[str, Any], ann: Person, container: Container
) -> None:
    start(client, "ann@acme.example.com")
    code = mailed_code(client, "ann@acme.example.com")
    for _ in range(5):
        resp = verify(client, "ann@acme.example.com", wrong(code))
        assert resp.status_code == 401 and "wrong" in resp.json["detail"]
    burnt = verify(client, "ann@acme.example.com", code)
    assert burnt.status_code == 401 and "expired, used or unknown" in burnt.json["detail"]
    failed = audit_events(container, "auth.failed", org_id=org["id"])
    reasons = [e.reason for e in failed]
    assert reasons == [
        "email code: code_wrong",
        "email code: code_expired_or_unknown",
    ]  # aggregated per minute
    assert failed[0].actor_id == ann.user_id and failed[0].data["login_method"] == "email_code"


def test_a_new_code_replaces_the_old_one(client: FlaskClient, ann: Person) -> None:
    start(client, "ann@acme.example.com")
    old = mailed_code(client, "ann@acme.example.com")
    start(client, "ann@acme.example.com")
    new = mailed_code(client, "ann@acme.example.com")
    if old != new:
        assert verify(client, "ann@acme.example.com", old).status_code == 401
    assert verify(client, "ann@acme.example.com", new).status_code == 200


def test_start_is_rate_limited_per_address_and_per_ip(client: FlaskClient, container: Container) -> None:
    for _ in range(5):
        assert start(client, "flood@acme.example.com").status_code == 202
    limited = start(client, "flood@acme.example.com")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json["code"] == "rate_limited"
    assert len(mailbox_of(client).to("flood@acme.example.com")) == 5
    # Another address from the same IP still works until the IP's own budget (30 per 15 minutes) is spent:
    # the six calls above count, the refused one too.
    for i in range(24):
        assert start(client, f"p{i}@acme.example.com").status_code == 202
    assert start(client, "last@acme.example.com").status_code == 429


def test_several_orgs_need_a_choice_and_the_code_survives_it(
    client: FlaskClient, platform: Api, org: dict[str, Any], ann: Person, container: Container
) -> None:
    other = platform.post("/v1/orgs", {"name": "Globex"}).json
    add_person(container, other["id"], "ann@acme.example.com")
    start(client, "ann@acme.example.com")
    code = mailed_code(client, "ann@acme.example.com")
    choose = verify(client, "ann@acme.example.com", code)
    assert choose.status_code == 409 and choose.json["code"] == "org_choice_required"
    assert {o["id"] for o in choose.json["orgs"]} == {org["id"], other["id"]}
    chosen = verify(client, "ann@acme.example.com", code, org=other["id"])
    assert chosen.status_code == 200 and chosen.json["org_id"] == other["id"]


def test_a_suspended_member_is_refused(
    client: FlaskClient, org: dict[str, Any], container: Container
) -> None:
    add_person(container, org["id"], "sue@acme.example.com", status="suspended")
    start(client, "sue@acme.example.com")
    resp = verify(client, "sue@acme.example.com", mailed_code(client, "sue@acme.example.com"))
    assert resp.status_code == 401 and "suspended" in resp.json["detail"]
    [failed] = audit_events(container, "auth.failed", org_id=org["id"])
    assert failed.reason == "email code: membership_suspended"


def verified_domain(container: Container, org_id: str, name: str, **org_settings: Any) -> None:
    """A domain the org verified (the DNS part is domains' own tests), and org settings that need one."""
    now = container.clock.now()
    with transaction(container.session_factory) as session:
        session.add(
            Domain(
                org_id=org_id, name=name, status="verified", token="t" * 32, created_at=now, verified_at=now
            )
        )
        session.execute(update(Organization).where(Organization.id == org_id).values(**org_settings))


def test_auto_join_adds_a_person_of_a_verified_domain_as_a_member(
    client: FlaskClient, org: dict[str, Any], container: Container
) -> None:
    verified_domain(container, org["id"], "acme.example.com", auto_join="auto_join")
    start(client, "new@acme.example.com")
    resp = verify(client, "new@acme.example.com", mailed_code(client, "new@acme.example.com"))
    assert resp.status_code == 200, resp.json
    assert resp.json["org_id"] == org["id"] and resp.json["joined"] is True
    with container.session_factory() as db:
        member = db.scalars(select(Membership).where(Membership.user_id == resp.json["user_id"])).one()
    assert (member.role, member.source, member.status) == ("member", "domain", "active")
    [added] = audit_events(container, "member.added", org_id=org["id"])
    assert added.data["source"] == "domain"


@pytest.mark.parametrize("policy", ["off", "invite_only"])
def test_without_auto_join_a_domain_does_not_let_anyone_in(
    client: FlaskClient, org: dict[str, Any], container: Container, policy: str
) -> None:
    verified_domain(container, org["id"], "acme.example.com", auto_join=policy)
    start(client, "new@acme.example.com")
    resp = verify(client, "new@acme.example.com", mailed_code(client, "new@acme.example.com"), org=org["id"])
    assert resp.status_code == 403 and resp.json["code"] == "no_organisation"


def test_sso_enforcement_refuses_members_and_lets_owners_break_glass(
    client: FlaskClient, org: dict[str, Any], container: Container
) -> None:
    member = add_person(container, org["id"], "mem@acme.example.com")
    owner = add_person(container, org["id"], "own@acme.example.com", role="owner")
    outsider = add_person(container, org["id"], "contractor@elsewhere.example.net")
    verified_domain(container, org["id"], "acme.example.com", sso_enforced=True)
    start(client, "mem@acme.example.com")
    refused = verify(client, "mem@acme.example.com", mailed_code(client, "mem@acme.example.com"))
    assert refused.status_code == 403 and refused.json["code"] == "sso_required"
    assert "Set-Cookie" not in refused.headers
    [failed] = audit_events(container, "auth.failed", org_id=org["id"])
    assert failed.reason == "email code: sso_enforced" and failed.actor_id == member.user_id
    start(client, "own@acme.example.com")
    glass = verify(client, "own@acme.example.com", mailed_code(client, "own@acme.example.com"))
    assert glass.status_code == 200 and glass.json["break_glass"] is True
    [event] = audit_events(container, "session.break_glass", org_id=org["id"])
    assert event.actor_id == owner.user_id
    assert event.data == {"method": "email_code", "email_domain": "acme.example.com", "role": "owner"}
    # An address outside the org's verified domains is not covered by enforcement.
    start(client, "contractor@elsewhere.example.net")
    assert (
        verify(client, "contractor@elsewhere.example.net", mailed_code(client, outsider.email)).status_code
        == 200
    )


def test_a_form_post_gets_a_page_and_a_cross_site_post_is_refused(client: FlaskClient, ann: Person) -> None:
    page = client.post("/sso/email/start", data={"email": "ann@acme.example.com"})
    assert page.status_code == 202 and page.mimetype == "text/html" and "Check your email" in page.text
    code = mailed_code(client, "ann@acme.example.com")
    evil = client.post(
        "/sso/email/verify",
        data={"email": "ann@acme.example.com", "code": code},
        headers={"Origin": "https://evil.example.net"},
    )
    assert evil.status_code == 403 and "Set-Cookie" not in evil.headers and evil.mimetype == "text/html"
    ok = client.post(
        "/sso/email/verify",
        data={"email": "ann@acme.example.com", "code": code},
        headers={"Origin": "http://localhost"},
    )
    assert (
        ok.status_code == 200 and "signed in" in ok.text and "tenantry_session=" in ok.headers["Set-Cookie"]
    )
    assert "tnt_ses_" not in ok.text  # the page never shows the session token
    bad = client.post("/sso/email/verify", data={"email": "not-an-email", "code": "12"}, headers=JSON)
    assert bad.status_code == 422 and {e["field"] for e in bad.json["errors"]} == {"email", "code"}


def test_two_verifications_racing_with_the_right_code_open_one_session(
    client: FlaskClient, ann: Person, container: Container
) -> None:
    start(client, "ann@acme.example.com")
    code = mailed_code(client, "ann@acme.example.com")
    app = client.application

    def attempt() -> str:
        resp = app.test_client().post(
            "/sso/email/verify", json={"email": "ann@acme.example.com", "code": code}, headers=JSON
        )
        return str(resp.status_code)

    outcomes = run_together([attempt] * 4)
    assert outcomes["200"] == 1, outcomes
    with container.session_factory() as db:
        assert len(db.scalars(select(LoginSession).where(LoginSession.user_id == ann.user_id)).all()) == 1
