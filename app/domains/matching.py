"""What a verified domain answers for sign-in and provisioning: which org an address belongs to by domain
(home-realm discovery), whether an identity's email is the org's, whether an org holds any verified domain.

Reads only; the domains' lifecycle (claim, verify, recheck, release) is ``app/domains/service.py``. The most
specific verified domain covering an address decides: ``ann@eu.acme.com`` belongs to the org of
``eu.acme.com`` if that is verified, else to the org of ``acme.com``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domains.models import VERIFIED, Domain
from app.domains.txt import email_domain, self_and_parents
from app.orgs.models import Organization


@dataclass(frozen=True)
class DomainMatch:
    """The org whose verified domain covers an email address, and that domain."""

    org_id: str
    domain: str


class VerifiedDomains:
    def __init__(self, session: Session) -> None:
        self.session = session

    def holds_verified_domain(self, org_id: str) -> bool:
        stmt = select(func.count()).where(Domain.org_id == org_id, Domain.status == VERIFIED)
        return bool(self.session.scalar(stmt))

    def org_for_email(self, email: str) -> DomainMatch | None:
        """Home-realm discovery: the org holding the most specific verified domain that covers the address,
        or None."""
        name = email_domain(email)
        if name is None:
            return None
        rows = self.session.execute(
            select(Domain.org_id, Domain.name)
            .join(Organization, Organization.id == Domain.org_id)
            .where(
                Domain.status == VERIFIED,
                Domain.name.in_(self_and_parents(name)),
                Organization.deleted_at.is_(None),
            )
        ).all()
        if not rows:
            return None
        org_id, domain = max(rows, key=lambda row: len(row[1]))
        return DomainMatch(org_id, domain)

    def email_in_verified_domain(self, org_id: str, email: str) -> bool:
        """Whether an identity's email belongs to ``org_id`` by domain (SSO and SCIM ask before trusting an
        IdP's assertion): the org must hold the most specific verified domain covering it."""
        match = self.org_for_email(email)
        return match is not None and match.org_id == org_id
