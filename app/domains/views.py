"""``/v1/orgs/{org}/domains``: claim, list, read, verify over DNS TXT, release."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.domains.schemas import DomainCreate, DomainListQuery, DomainOut, DomainPage, DomainVerified
from app.web import db_session, services


@operation(
    v1,
    "/orgs/<org_id>/domains",
    "POST",
    summary="Claim a domain",
    tag="domains",
    permission="domains:manage",
    body=DomainCreate,
    response=DomainOut,
    status=201,
    errors=(403, 404, 409, 422),
    description="Answers the TXT record to publish. 422 `invalid_domain`, `public_suffix` or "
    "`consumer_domain`; 409 `domain_already_claimed`, or `domain_taken` when another organisation holds "
    "the name or a parent of it verified.",
)
def claim_domain(org_id: str, body: DomainCreate) -> DomainOut:
    return DomainOut.of(services().domains.claim(org_id, body.domain))


@operation(
    v1,
    "/orgs/<org_id>/domains",
    "GET",
    summary="List the organisation's domains",
    tag="domains",
    permission="domains:manage",
    query=DomainListQuery,
    response=DomainPage,
    errors=(404, 422),
)
def list_domains(org_id: str, query: DomainListQuery) -> DomainPage:
    page = services().domains.list_domains(org_id, cursor=query.cursor, limit=query.limit)
    return DomainPage(data=[DomainOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@operation(
    v1,
    "/orgs/<org_id>/domains/<domain_id>",
    "GET",
    summary="Read a domain",
    tag="domains",
    permission="domains:manage",
    response=DomainOut,
    errors=(404,),
)
def get_domain(org_id: str, domain_id: str) -> DomainOut:
    return DomainOut.of(services().domains.get(org_id, domain_id))


@operation(
    v1,
    "/orgs/<org_id>/domains/<domain_id>/verify",
    "POST",
    summary="Verify a domain by its DNS TXT record",
    tag="domains",
    permission="domains:manage",
    response=DomainVerified,
    errors=(404, 409, 429),
    description="Looks the TXT record up now. 200 with `verification.result`: verified, or nxdomain, "
    "no_txt_record, token_mismatch, timeout, servfail. 409 `domain_taken` when another organisation "
    "verified it first; 429 with Retry-After past the attempts allowed per domain.",
)
def verify_domain(org_id: str, domain_id: str) -> DomainVerified:
    domains = services().domains
    check = domains.begin_verification(org_id, domain_id)
    db_session().commit()  # no transaction (nor SQLite's write lock) is held while DNS answers
    return DomainVerified.of_result(domains.finish_verification(check))


@operation(
    v1,
    "/orgs/<org_id>/domains/<domain_id>",
    "DELETE",
    summary="Release a domain",
    tag="domains",
    permission="domains:manage",
    status=204,
    errors=(404,),
    description="When it was the organisation's last verified domain, SSO enforcement and auto-join "
    "are turned off.",
)
def delete_domain(org_id: str, domain_id: str) -> None:
    services().domains.delete(org_id, domain_id)
