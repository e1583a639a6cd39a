"""Claim and verify domains over HTTP against a real DNS server: reasons, refusals, uniqueness, release."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import Api
from tests.dns_server import DnsTestServer, silent_dns_server
from tests.integration.domains.conftest import (
    actions,
    claim,
    claim_and_verify,
    events,
    publish,
    verify,
)


def domains_path(org_id: str) -> str:
    return f"/v1/orgs/{org_id}/domains"


def test_claim_answers_the_record_to_publish(admin: Api, org: dict[str, Any], container: Any) -> None:
    domain = claim(admin, org["id"], "  Bücher-Acme.DE. ")
    assert domain["id"].startswith("dom_")
    assert domain["domain"] == "xn--bcher-acme-9db.de" and domain["display_name"] == "bücher-acme.de"
    assert domain["status"] == "pending" and domain["verified_at"] is None
    record = domain["txt_record"]
    assert record["name"] == "_tenantry-challenge.xn--bcher-acme-9db.de" and record["type"] == "TXT"
    token = record["value"].removeprefix("tenantry-domain-verification=")
    assert len(token) == 32 and token.isalnum() and token == token.lower()
    assert claim(admin, org["id"], "other-acme.com")["txt_record"]["value"] != record["value"]
    claimed = events(container, org["id"], "domain.")[0]
    assert claimed.action == "domain.claimed" and claimed.data["domain"] == "xn--bcher-acme-9db.de"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("com", "public_suffix"),
        ("co.uk", "public_suffix"),
        ("github.io", "public_suffix"),
        ("gmail.com", "consumer_domain"),
        ("Outlook.com", "consumer_domain"),
        ("yahoo.com", "consumer_domain"),
        ("icloud.com", "consumer_domain"),
        ("proton.me", "consumer_domain"),
        ("eu.gmail.com", "consumer_domain"),
        ("ann@acme.com", "invalid_domain"),
        ("acme", "invalid_domain"),
        ("ac_me.com", "invalid_domain"),
    ],
)
def test_claims_that_are_refused(admin: Api, org: dict[str, Any], name: str, code: str) -> None:
    resp = admin.post(domains_path(org["id"]), {"domain": name})
    assert resp.status_code == 422 and resp.json["code"] == code, resp.json
    assert resp.mimetype == "application/problem+json"
    assert admin.get(domains_path(org["id"])).json["data"] == []


def test_a_name_is_claimed_once_per_org(admin: Api, org: dict[str, Any]) -> None:
    first = claim(admin, org["id"], "acme-corp.com")
    again = admin.post(domains_path(org["id"]), {"domain": "ACME-corp.com."})
    assert again.status_code == 409 and again.json["code"] == "domain_already_claimed"
    assert again.json["domain_id"] == first["id"]


def test_published_record_verifies(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Any
) -> None:
    domain = claim(admin, org["id"], "acme-corp.com")
    dns.zone.set_txt(domain["txt_record"]["name"], "v=spf1 -all", domain["txt_record"]["value"])
    resp = verify(admin, org["id"], domain["id"])
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["status"] == "verified" and body["verified_at"] and body["last_error"] is None
    assert body["verification"]["result"] == "verified" and body["verification"]["verified"] is True
    assert body["next_check_at"] > body["verified_at"]
    assert admin.get(f"{domains_path(org['id'])}/{domain['id']}").json["status"] == "verified"
    verified = events(container, org["id"], "domain.verified")[0]
    assert verified.changes == {"status": {"before": "pending", "after": "verified"}}
    # The resolver asked the configured server for exactly the record name.
    assert ("_tenantry-challenge.acme-corp.com", "TXT", "udp") in dns.zone.queries


def test_value_split_into_255_byte_strings_verifies(
    admin: Api, org: dict[str, Any], dns: DnsTestServer
) -> None:
    domain = claim(admin, org["id"], "split-acme.com")
    value = domain["txt_record"]["value"]
    dns.zone.set_txt(domain["txt_record"]["name"], [value[:10], value[10:25], value[25:]])
    assert verify(admin, org["id"], domain["id"]).json["verification"]["result"] == "verified"


@pytest.mark.parametrize(
    ("zone_setup", "result"),
    [
        ("nothing", "nxdomain"),
        ("name_without_txt", "no_txt_record"),
        ("other_token", "token_mismatch"),
        ("servfail", "servfail"),
    ],
)
def test_failed_verification_says_why_and_is_recorded(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Any, zone_setup: str, result: str
) -> None:
    domain = claim(admin, org["id"], "acme-corp.com")
    name = domain["txt_record"]["name"]
    if zone_setup == "name_without_txt":
        dns.zone.set_txt(name)
    elif zone_setup == "other_token":
        dns.zone.set_txt(name, "tenantry-domain-verification=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    elif zone_setup == "servfail":
        dns.zone.fail(name)
    resp = verify(admin, org["id"], domain["id"])
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "pending"
    assert resp.json["verification"]["result"] == result and resp.json["verification"]["verified"] is False
    assert name in resp.json["verification"]["detail"]
    stored = admin.get(f"{domains_path(org['id'])}/{domain['id']}").json
    assert stored["last_error"] == result and stored["last_checked_at"] is not None
    failed = events(container, org["id"], "domain.verification_failed")[0]
    assert failed.outcome == "failure" and failed.reason == result and failed.data["reason"] == result


@pytest.fixture
def silent() -> Iterator[DnsTestServer]:
    with silent_dns_server() as server:
        yield server


class TestTimeout:
    @pytest.fixture
    def settings(self, settings: Settings, silent: DnsTestServer) -> Settings:
        return settings.model_copy(update={"dns_port": silent.port, "dns_timeout": 0.3})

    def test_a_server_that_never_answers_is_a_timeout(self, admin: Api, org: dict[str, Any]) -> None:
        domain = claim(admin, org["id"], "acme-corp.com")
        resp = verify(admin, org["id"], domain["id"])
        assert resp.status_code == 200
        assert resp.json["verification"]["result"] == "timeout" and resp.json["status"] == "pending"


class TestRateLimit:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"domain_verify_rate": "2/hour"})

    def test_attempts_are_limited_per_domain(self, admin: Api, org: dict[str, Any]) -> None:
        first = claim(admin, org["id"], "acme-corp.com")
        second = claim(admin, org["id"], "acme-labs.com")
        assert verify(admin, org["id"], first["id"]).status_code == 200
        assert verify(admin, org["id"], first["id"]).status_code == 200
        limited = verify(admin, org["id"], first["id"])
        assert limited.status_code == 429 and limited.json["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 3600
        assert verify(admin, org["id"], second["id"]).status_code == 200  # another domain, its own budget


def test_a_domain_is_verified_by_one_org_only(
    admin: Api, rival: Api, org: dict[str, Any], rival_org: dict[str, Any], dns: DnsTestServer
) -> None:
    claim_and_verify(admin, dns, org["id"], "acme-corp.com")
    # The rival may claim it (pending) and even publish its own token, but not verify it.
    theirs = claim(rival, rival_org["id"], "acme-corp.com")
    publish(dns, theirs)
    taken = verify(rival, rival_org["id"], theirs["id"])
    assert taken.status_code == 409 and taken.json["code"] == "domain_taken"
    assert rival.get(f"{domains_path(rival_org['id'])}/{theirs['id']}").json["status"] == "pending"
    # Subdomains are covered: the rival cannot claim one.
    sub = rival.post(domains_path(rival_org["id"]), {"domain": "eu.acme-corp.com"})
    assert sub.status_code == 409 and sub.json["code"] == "domain_taken"


def test_releasing_a_domain_lets_another_org_verify_it(
    admin: Api, rival: Api, org: dict[str, Any], rival_org: dict[str, Any], dns: DnsTestServer, container: Any
) -> None:
    ours = claim_and_verify(admin, dns, org["id"], "acme-corp.com")
    theirs = claim(rival, rival_org["id"], "acme-corp.com")
    publish(dns, theirs)
    assert admin.delete(f"{domains_path(org['id'])}/{ours['id']}").status_code == 204
    assert admin.get(f"{domains_path(org['id'])}/{ours['id']}").status_code == 404
    assert verify(rival, rival_org["id"], theirs["id"]).json["status"] == "verified"
    deleted = events(container, org["id"], "domain.deleted")[0]
    assert deleted.data == {"domain": "acme-corp.com", "status": "verified", "withdrawn": []}


def test_an_org_sees_only_its_own_domains(
    admin: Api, rival: Api, org: dict[str, Any], rival_org: dict[str, Any]
) -> None:
    ours = claim(admin, org["id"], "acme-corp.com")
    claim(rival, rival_org["id"], "rival-corp.com")
    assert [d["id"] for d in admin.get(domains_path(org["id"])).json["data"]] == [ours["id"]]
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/verify")):
        resp = rival.call(method, f"{domains_path(rival_org['id'])}/{ours['id']}{suffix}")
        assert resp.status_code == 404, (method, suffix)
    assert rival.get(domains_path(org["id"])).status_code == 404  # another org: not even its existence


def test_list_pages_with_a_cursor(admin: Api, org: dict[str, Any]) -> None:
    ids = [claim(admin, org["id"], f"acme-{i}.com")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = admin.get(domains_path(org["id"]) + query).json
        seen += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_members_cannot_manage_domains(client: Any, container: Any, org: dict[str, Any]) -> None:
    from tests.conftest import make_org_key

    member = Api(client, make_org_key(container, org["id"], "member"))
    assert member.post(domains_path(org["id"]), {"domain": "acme-corp.com"}).status_code == 403
    assert actions(container, org["id"], "domain.") == []


def test_the_database_refuses_a_second_verified_row_on_this_backend(
    admin: Api, rival: Api, org: dict[str, Any], rival_org: dict[str, Any], container: Any
) -> None:
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from app.db import transaction
    from app.domains.models import Domain

    ids = [
        claim(admin, org["id"], "acme-corp.com")["id"],
        claim(rival, rival_org["id"], "acme-corp.com")["id"],
    ]
    with transaction(container.session_factory) as session:
        session.execute(update(Domain).where(Domain.id == ids[0]).values(status="verified"))
    with pytest.raises(IntegrityError), transaction(container.session_factory) as session:
        session.execute(update(Domain).where(Domain.id == ids[1]).values(status="verified"))
    with transaction(container.session_factory) as session:  # unverified and pending rows never collide
        session.execute(update(Domain).where(Domain.id == ids[0]).values(status="unverified"))
        session.execute(update(Domain).where(Domain.id == ids[1]).values(status="unverified"))
