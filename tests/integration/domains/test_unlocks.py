"""What a verified domain unlocks: the SSO-enforcement and auto-join settings, home-realm discovery, and the
check SSO and SCIM make that an identity's email belongs to the org."""

from __future__ import annotations

from typing import Any

import pytest

from app.container import Container
from app.db import transaction
from app.domains.matching import DomainMatch
from tests.conftest import Api
from tests.dns_server import DnsTestServer
from tests.integration.domains.conftest import claim, claim_and_verify, events, publish, verify


def patch_org(api: Api, org_id: str, body: dict[str, Any]) -> Any:
    return api.patch(f"/v1/orgs/{org_id}", body)


@pytest.mark.parametrize(
    "body",
    [{"sso_enforced": True}, {"auto_join": "invite_only"}, {"auto_join": "auto_join"}],
)
def test_settings_need_a_verified_domain(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, body: dict[str, Any]
) -> None:
    claim(admin, org["id"], "acme-corp.com")  # pending is not enough
    refused = patch_org(admin, org["id"], body)
    assert refused.status_code == 409 and refused.json["code"] == "verified_domain_required"
    assert refused.json["settings"] == list(body)
    org_now = admin.get(f"/v1/orgs/{org['id']}").json
    assert (org_now["sso_enforced"], org_now["auto_join"]) == (False, "off")

    claim_and_verify(admin, dns, org["id"], "acme-labs.com")
    allowed = patch_org(admin, org["id"], body)
    assert allowed.status_code == 200 and all(allowed.json[k] == v for k, v in body.items())


def test_turning_settings_off_or_other_fields_never_needs_a_domain(admin: Api, org: dict[str, Any]) -> None:
    body = {"sso_enforced": False, "auto_join": "off", "name": "Acme Ltd"}
    resp = patch_org(admin, org["id"], body)
    assert resp.status_code == 200 and resp.json["name"] == "Acme Ltd"
    assert patch_org(admin, org["id"], {"auto_join": "sometimes"}).status_code == 422


def test_releasing_the_last_verified_domain_withdraws_the_settings(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Container
) -> None:
    first = claim_and_verify(admin, dns, org["id"], "acme-corp.com")
    second = claim_and_verify(admin, dns, org["id"], "acme-labs.com")
    assert patch_org(admin, org["id"], {"sso_enforced": True, "auto_join": "invite_only"}).status_code == 200

    assert admin.delete(f"/v1/orgs/{org['id']}/domains/{first['id']}").status_code == 204
    assert admin.get(f"/v1/orgs/{org['id']}").json["sso_enforced"] is True  # one verified domain left

    assert admin.delete(f"/v1/orgs/{org['id']}/domains/{second['id']}").status_code == 204
    after = admin.get(f"/v1/orgs/{org['id']}").json
    assert (after["sso_enforced"], after["auto_join"]) == (False, "off")
    deleted = events(container, org["id"], "domain.deleted")
    assert [e.data["withdrawn"] for e in deleted] == [[], ["auto_join", "sso_enforced"]]
    withdrawal = events(container, org["id"], "org.updated")[-1]
    assert withdrawal.data == {"reason": "domain_deleted"}
    assert withdrawal.actor_type == "api_key"  # the admin's release caused it


def test_org_deletion_releases_its_domains(
    owner: Api,
    rival: Api,
    org: dict[str, Any],
    rival_org: dict[str, Any],
    dns: DnsTestServer,
    container: Container,
) -> None:
    claim_and_verify(owner, dns, org["id"], "acme-corp.com")
    theirs = claim(rival, rival_org["id"], "acme-corp.com")
    publish(dns, theirs)
    assert verify(rival, rival_org["id"], theirs["id"]).status_code == 409
    assert owner.delete(f"/v1/orgs/{org['id']}").status_code == 204
    assert events(container, org["id"], "org.deleted")[0].data["domains_released"] == 1
    assert verify(rival, rival_org["id"], theirs["id"]).json["status"] == "verified"


def discovery(container: Container, email: str) -> DomainMatch | None:
    with transaction(container.session_factory) as session:
        return container.services(session).verified_domains.org_for_email(email)


def belongs(container: Container, org_id: str, email: str) -> bool:
    with transaction(container.session_factory) as session:
        return container.services(session).verified_domains.email_in_verified_domain(org_id, email)


def test_home_realm_discovery_covers_subdomains_and_prefers_the_most_specific(
    admin: Api,
    rival: Api,
    org: dict[str, Any],
    rival_org: dict[str, Any],
    dns: DnsTestServer,
    container: Container,
) -> None:
    claim_and_verify(admin, dns, org["id"], "acme-corp.com")
    claim(admin, org["id"], "acme-pending.com")
    claim_and_verify(rival, dns, rival_org["id"], "rival-corp.com")

    acme = DomainMatch(org["id"], "acme-corp.com")
    assert discovery(container, "ann@acme-corp.com") == acme
    assert discovery(container, "Ann@EU.Sales.ACME-corp.com") == acme  # subdomains are covered
    assert discovery(container, "bob@rival-corp.com") == DomainMatch(rival_org["id"], "rival-corp.com")
    assert discovery(container, "ann@acme-pending.com") is None  # pending proves nothing
    assert discovery(container, "ann@notacme-corp.com") is None  # a suffix match is not a subdomain
    assert discovery(container, "not-an-email") is None

    assert belongs(container, org["id"], "ann@eu.acme-corp.com")
    assert not belongs(container, rival_org["id"], "ann@eu.acme-corp.com")
    assert not belongs(container, org["id"], "bob@rival-corp.com")
    assert not belongs(container, org["id"], "ann@gmail.com")


def test_a_verified_subdomain_of_another_org_wins_for_its_addresses(
    admin: Api,
    rival: Api,
    org: dict[str, Any],
    rival_org: dict[str, Any],
    dns: DnsTestServer,
    container: Container,
) -> None:
    # The rival verified eu.acme-corp.com first; then acme-corp.com is verified by its DNS owner.
    claim_and_verify(rival, dns, rival_org["id"], "eu.acme-corp.com")
    claim_and_verify(admin, dns, org["id"], "acme-corp.com")
    assert discovery(container, "ann@eu.acme-corp.com") == DomainMatch(rival_org["id"], "eu.acme-corp.com")
    assert discovery(container, "ann@us.acme-corp.com") == DomainMatch(org["id"], "acme-corp.com")
    assert not belongs(container, org["id"], "ann@eu.acme-corp.com")
