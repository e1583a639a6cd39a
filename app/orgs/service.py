"""Organisations: create, read, update settings, delete."""

from __future__ import annotations

import re
import secrets as pysecrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target, diff
from app.clock import Clock
from app.credentials.models import ApiKey, ScimToken
from app.domains.errors import VerifiedDomainRequired
from app.domains.models import Domain
from app.errors import Conflict
from app.orgs.lookup import live_org
from app.orgs.members import MemberService
from app.orgs.models import Invitation, LoginSession, Membership, Organization
from app.orgs.seats import SeatService

if TYPE_CHECKING:
    from app.domains.matching import VerifiedDomains

SETTINGS_FIELDS = (
    "name",
    "audit_logs_enabled",
    "audit_retention_days",
    "sso_enforced",
    "auto_join",
    "scim_outside_domains",
)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:60] or "org"


def org_snapshot(org: Organization) -> dict[str, Any]:
    return {f: getattr(org, f) for f in SETTINGS_FIELDS}


class OrgService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        seats: SeatService,
        members: MemberService | None = None,
        domains: VerifiedDomains | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.seats = seats
        self.members = members
        self.domains = domains

    def create(self, name: str, slug: str | None = None) -> Organization:
        """The org with a seat pool per seat type (limit 0 until billing sets one): every way in (REST, the
        CLI, the demo) creates a whole org here, so none can leave one without its pools."""
        now = self.clock.now()
        wanted = slug or slugify(name)
        if self.session.scalars(select(Organization.id).where(Organization.slug == wanted)).first():
            if slug:
                raise Conflict(f"The slug {slug!r} is taken; choose another.", field="slug")
            wanted = f"{wanted[:52]}-{pysecrets.token_hex(3)}"
        org = Organization(name=name, slug=wanted, created_at=now, updated_at=now)
        self.session.add(org)
        self.session.flush()
        self.audit.record(
            AuditAction.ORG_CREATED,
            org_id=org.id,
            targets=[Target("org", org.id, name)],
            changes=diff({}, org_snapshot(org)),
        )
        self.seats.ensure_pools(org.id)  # after the event: the chain head before the pool rows, as seats.py
        return org

    def get(self, org_id: str) -> Organization:
        return live_org(self.session, org_id)

    def update(self, org_id: str, changes: dict[str, Any]) -> Organization:
        org = self.get(org_id)
        before = org_snapshot(org)
        for key in changes:
            if key not in SETTINGS_FIELDS:
                raise ValueError(key)
        self._require_verified_domain(org, changes)
        for key, value in changes.items():
            setattr(org, key, value)
        delta = diff(before, org_snapshot(org))
        if delta:
            org.updated_at = self.clock.now()
            self.audit.record(
                AuditAction.ORG_UPDATED,
                org_id=org.id,
                targets=[Target("org", org.id, org.name)],
                changes=delta,
            )
        return org

    def _require_verified_domain(self, org: Organization, changes: dict[str, Any]) -> None:
        """SSO enforcement and auto-join act on the people of the org's verified domains: turning either
        on needs one (409 verified_domain_required). The chain lock is taken first so a re-check that
        unverifies the org's last domain cannot interleave (it takes the same lock)."""
        enabling = [
            key
            for key, off in (("sso_enforced", False), ("auto_join", "off"))
            if key in changes and changes[key] != off and changes[key] != getattr(org, key)
        ]
        if not enabling:
            return
        self.audit.lock_chain(org.id)
        if self.domains is None or not self.domains.holds_verified_domain(org.id):
            raise VerifiedDomainRequired(
                f"Turning on {' and '.join(enabling)} needs a verified domain: claim one with "
                "POST /v1/orgs/{org}/domains and verify it first.",
                settings=enabling,
            )

    def delete(self, org_id: str) -> None:
        """Members end (seats freed, sessions ended), pending invitations, keys and tokens are revoked;
        the audit trail stays. Keys are revoked row by row through the ORM so every worker's key cache
        hears of it (app/rbac/versioning.py)."""
        if self.members is None:
            raise RuntimeError("OrgService.delete needs the member service")
        org = self.get(org_id)
        self.audit.lock_chain(org_id)  # the org's writers lock in one order: chain head first
        now = self.clock.now()
        members = self.session.scalars(
            select(Membership).where(Membership.org_id == org_id).order_by(Membership.id)
        ).all()
        for member in members:
            self.members.end_membership(member, reason="org_deleted")
        invitations = self.session.scalars(
            select(Invitation).where(Invitation.org_id == org_id, Invitation.status == "pending")
        ).all()
        for invitation in invitations:
            invitation.status, invitation.revoked_at = "revoked", now
        for key in self.session.scalars(
            select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None))
        ):
            key.revoked_at = now
        for token in self.session.scalars(
            select(ScimToken).where(ScimToken.org_id == org_id, ScimToken.revoked_at.is_(None))
        ):
            token.revoked_at = now
        self.session.execute(
            update(LoginSession)
            .where(LoginSession.org_id == org_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        # Its domains are released (no audit event each: org.deleted says it), so another org can claim them.
        domains = self.session.scalars(select(Domain).where(Domain.org_id == org_id)).all()
        for domain in domains:
            self.session.delete(domain)
        org.deleted_at = now
        org.slug = f"{org.slug[:40]}-deleted-{org.id[-8:]}"
        self.audit.record(
            AuditAction.ORG_DELETED,
            org_id=org_id,
            targets=[Target("org", org.id, org.name)],
            data={
                "members_ended": len(members),
                "invitations_revoked": len(invitations),
                "domains_released": len(domains),
            },
        )
        self.session.flush()
