"""Domains: claim, verify over DNS TXT, recheck, list, release. What a verified domain answers for SSO and
SCIM is ``app/domains/matching.py``.

Lock order (as everywhere, app/orgs/seats.py): the org's audit chain head first, then, on PostgreSQL, an
advisory lock on the registrable domain (``eng.acme.co.uk`` -> ``acme.co.uk``), then the domain row. The
advisory lock makes the parent/child rule (a subdomain of another org's verified domain is theirs) hold when
two orgs verify at once; the partial unique index ``uq_domains_verified_name`` is the database's own
guarantee that a name is verified by one org at most, whatever the code above it does.

A DNS lookup may take seconds (``TENANTRY_DNS_TIMEOUT``): it never runs inside a transaction. Verification is
:meth:`DomainService.begin_verification` (read, rate limit), then the caller ends its transaction, then
:meth:`DomainService.finish_verification` (look up, then record the result in a new transaction).
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target, diff
from app.clock import Clock
from app.config import Settings
from app.db import is_postgres
from app.domains import eligibility
from app.domains.dns import TxtResolver
from app.domains.errors import (
    ConsumerDomainRefused,
    DomainAlreadyClaimed,
    DomainTaken,
    InvalidDomain,
    PublicSuffixRefused,
)
from app.domains.matching import VerifiedDomains
from app.domains.models import PENDING, UNVERIFIED, VERIFIED, Domain
from app.domains.txt import (
    ChallengeRecord,
    InvalidDomainName,
    Reason,
    Verdict,
    judge,
    normalize_domain,
    self_and_parents,
)
from app.errors import NotFound
from app.ids import plausible_id
from app.orgs.lookup import live_org
from app.orgs.models import Organization
from app.pagination import decode_cursor, encode_cursor
from app.ratelimit import RateLimiter, Rule

# Org settings that only make sense while the org holds a verified domain, and their "off" values.
UNLOCKED_SETTINGS: dict[str, object] = {"sso_enforced": False, "auto_join": "off"}


def new_challenge_token() -> str:
    """160 random bits, base32 in lower case: safe in any DNS console, case-insensitive to compare."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True)
class RecheckPolicy:
    interval: timedelta  # between re-checks of a verified domain
    retry: timedelta  # between re-checks while the record is missing or DNS fails
    grace: timedelta  # how long the record may be missing before the domain is unverified

    @classmethod
    def from_settings(cls, settings: Settings) -> RecheckPolicy:
        return cls(
            timedelta(seconds=settings.domain_recheck_interval),
            timedelta(seconds=settings.domain_recheck_retry),
            timedelta(seconds=settings.domain_grace_period),
        )

    def next_check(self, now: datetime, jitter: float) -> datetime:
        """Somewhere in the last quarter of the interval: domains verified together drift apart, so the
        worker never re-checks them all at once."""
        return now + self.interval * (1 - 0.25 * jitter)


@dataclass(frozen=True)
class PendingCheck:
    """What a verification needs once the transaction is over: which record to look for."""

    org_id: str
    domain_id: str
    name: str
    token: str

    @property
    def record(self) -> ChallengeRecord:
        return ChallengeRecord.for_domain(self.name, self.token)


def look_up(resolver: TxtResolver, check: PendingCheck) -> Verdict:
    """Ask DNS for the challenge record and judge the answer (network only, no database)."""
    record = check.record
    return judge(resolver.lookup_txt(record.name), record.value, record.name)


@dataclass(frozen=True)
class VerificationResult:
    domain: Domain
    verdict: Verdict
    checked_at: datetime


@dataclass(frozen=True)
class RecheckOutcome:
    """One re-verification: ``result`` is ok, recovered, transient, failing, unverified or skipped;
    ``notice`` (failing, unverified) asks the caller to mail the owners once the change is committed."""

    result: str
    domain: Domain | None = None
    reason: Reason | None = None
    notice: str | None = None
    unverify_after: datetime | None = None
    withdrawn: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainPageResult:
    items: list[Domain]
    next_cursor: str | None


class DomainService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        resolver: TxtResolver,
        limiter: RateLimiter,
        policy: RecheckPolicy,
        verify_rule: Rule,
        new_token: Callable[[], str] = new_challenge_token,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.resolver = resolver
        self.limiter = limiter
        self.policy = policy
        self.verify_rule = verify_rule
        self.new_token = new_token
        self.jitter = jitter

    # --- claiming ----------------------------------------------------------------------------------------
    def claim(self, org_id: str, raw_name: str) -> Domain:
        """A pending claim with its challenge token. 422 for a malformed name, a public suffix or a consumer
        mail domain; 409 when this org claimed it already, or when another org holds a parent of it
        verified (a subdomain is theirs). The very name another org holds may be claimed: it stays pending,
        and verifying it is refused while they hold it (their claim may lapse; the DNS decides then)."""
        live_org(self.session, org_id)
        name = self._claimable(raw_name)
        self.audit.lock_chain(org_id)
        existing = self.session.scalars(
            select(Domain).where(Domain.org_id == org_id, Domain.name == name)
        ).one_or_none()
        if existing is not None:
            raise DomainAlreadyClaimed(
                f"This organisation already claimed {name}.", domain=name, domain_id=existing.id
            )
        self._refuse_if_taken(org_id, name, parents_only=True)
        domain = Domain(
            org_id=org_id, name=name, status=PENDING, token=self.new_token(), created_at=self.clock.now()
        )
        self.session.add(domain)
        self.session.flush()
        record = ChallengeRecord.for_domain(name, domain.token)
        self.audit.record(
            AuditAction.DOMAIN_CLAIMED,
            org_id=org_id,
            targets=[Target("domain", domain.id, name)],
            data={"domain": name, "record_name": record.name},
        )
        return domain

    # --- reading -----------------------------------------------------------------------------------------
    def get(self, org_id: str, domain_id: str) -> Domain:
        domain = self.session.get(Domain, domain_id) if plausible_id(domain_id) else None
        if domain is None or domain.org_id != org_id:
            raise NotFound(f"Domain {domain_id} not found")
        return domain

    def list_domains(self, org_id: str, *, cursor: str | None = None, limit: int = 50) -> DomainPageResult:
        live_org(self.session, org_id)
        stmt = select(Domain).where(Domain.org_id == org_id)
        if cursor:
            stmt = stmt.where(Domain.id > decode_cursor(cursor, id_prefix="dom_"))
        rows = list(self.session.scalars(stmt.order_by(Domain.id).limit(limit + 1)))
        items = rows[:limit]
        more = len(rows) > limit
        return DomainPageResult(items, encode_cursor(items[-1].id) if more and items else None)

    @staticmethod
    def record_of(domain: Domain) -> ChallengeRecord:
        return ChallengeRecord.for_domain(domain.name, domain.token)

    # --- verifying ---------------------------------------------------------------------------------------
    def begin_verification(self, org_id: str, domain_id: str) -> PendingCheck:
        """404 for an unknown domain, 429 past the per-domain attempt budget; writes nothing."""
        domain = self.get(org_id, domain_id)
        self.limiter.hit(
            self.verify_rule,
            domain.id,
            detail=f"Too many verification attempts for {domain.name}; DNS changes take time to appear.",
        )
        return PendingCheck(org_id, domain.id, domain.name, domain.token)

    def finish_verification(self, check: PendingCheck) -> VerificationResult:
        """Look the record up (call with no transaction open), then record the outcome."""
        verdict = self.lookup(check)
        return self.record_verification(check, verdict)

    def lookup(self, check: PendingCheck) -> Verdict:
        return look_up(self.resolver, check)

    def record_verification(self, check: PendingCheck, verdict: Verdict) -> VerificationResult:
        self.audit.lock_chain(check.org_id)
        domain = self._locked(check.org_id, check.domain_id)
        now = self.clock.now()
        domain.last_checked_at = now
        target = Target("domain", domain.id, domain.name)
        if not verdict.verified:
            domain.last_error = verdict.reason.value
            self.session.flush()
            self.audit.record(
                AuditAction.DOMAIN_VERIFICATION_FAILED,
                org_id=check.org_id,
                targets=[target],
                data={"domain": domain.name, "reason": verdict.reason.value, "status": domain.status},
                outcome="failure",
                reason=verdict.reason.value,
            )
            return VerificationResult(domain, verdict, now)
        domain.last_error = None
        domain.next_check_at = self.policy.next_check(now, self.jitter())
        if domain.status == VERIFIED:  # checked again by hand: a fresh success, nothing changes hands
            if domain.failing_since is not None:
                self._recovered(domain)
            self.session.flush()
            return VerificationResult(domain, verdict, now)
        name = domain.name  # read now: a failed flush expires the row
        self._lock_registrable(name)
        self._refuse_if_taken(check.org_id, name)
        before = domain.status
        domain.status, domain.verified_at, domain.failing_since = VERIFIED, now, None
        try:
            self.session.flush()  # the unique index decides a race the check above could not see
        except IntegrityError:
            raise self._taken(name) from None  # the boundary rolls the transaction back
        self.audit.record(
            AuditAction.DOMAIN_VERIFIED,
            org_id=check.org_id,
            targets=[target],
            changes={"status": {"before": before, "after": VERIFIED}},
            data={
                "domain": domain.name,
                "record_name": self.record_of(domain).name,
                "previous_status": before,
            },
        )
        return VerificationResult(domain, verdict, now)

    # --- re-verifying (the worker: app/domains/recheck.py) --------------------------------------------------
    def lease_due(self, limit: int) -> list[PendingCheck]:
        """Verified domains whose re-check is due, oldest first; each is leased (its next check pushed one
        retry interval ahead) so a second worker does not take it while this one looks it up."""
        now = self.clock.now()
        stmt = (
            select(Domain)
            .where(
                Domain.status == VERIFIED, or_(Domain.next_check_at.is_(None), Domain.next_check_at <= now)
            )
            .order_by(Domain.next_check_at, Domain.id)
            .limit(limit)
        )
        if is_postgres(self.session):
            stmt = stmt.with_for_update(skip_locked=True)
        due = list(self.session.scalars(stmt))
        for domain in due:
            domain.next_check_at = now + self.policy.retry
        self.session.flush()
        return [PendingCheck(d.org_id, d.id, d.name, d.token) for d in due]

    def recheck(self, check: PendingCheck, verdict: Verdict) -> RecheckOutcome:
        """Apply one re-check. Found: stays verified (recovered if it was failing). Timeout or SERVFAIL:
        nothing changes but the next check comes sooner; they never start or end a grace period. Missing
        (nxdomain, no TXT record, other token): the grace period starts, and once a missing record has
        been seen for the whole of it, the domain is unverified and what it unlocked is withdrawn."""
        self.audit.lock_chain(check.org_id)
        try:
            domain = self._locked(check.org_id, check.domain_id)
        except NotFound:
            return RecheckOutcome("skipped")
        if domain.status != VERIFIED or domain.token != check.token:
            return RecheckOutcome("skipped", domain)  # released or changed while we looked
        now = self.clock.now()
        domain.last_checked_at = now
        if verdict.verified:
            domain.last_error = None
            failing = domain.failing_since is not None
            self._recovered(domain)
            domain.next_check_at = self.policy.next_check(now, self.jitter())
            self.session.flush()
            return RecheckOutcome("recovered" if failing else "ok", domain)
        reason = verdict.reason
        domain.last_error = reason.value
        if reason.transient:
            domain.next_check_at = now + self.policy.retry
            self.session.flush()
            return RecheckOutcome("transient", domain, reason)
        target = Target("domain", domain.id, domain.name)
        if domain.failing_since is None:
            domain.failing_since = now
            deadline = now + self.policy.grace
            domain.next_check_at = min(now + self.policy.retry, deadline)
            self.session.flush()
            self.audit.record(
                AuditAction.DOMAIN_RECHECK_FAILING,
                org_id=domain.org_id,
                targets=[target],
                data={
                    "domain": domain.name,
                    "reason": reason.value,
                    "failing_since": now.isoformat(),
                    "unverify_after": deadline.isoformat(),
                },
            )
            return RecheckOutcome("failing", domain, reason, notice="failing", unverify_after=deadline)
        failing_since = domain.failing_since
        deadline = failing_since + self.policy.grace
        if now < deadline:
            domain.next_check_at = min(now + self.policy.retry, deadline)
            self.session.flush()
            return RecheckOutcome("failing", domain, reason, unverify_after=deadline)
        domain.status, domain.next_check_at = UNVERIFIED, None
        self.session.flush()
        withdrawn = self.withdraw_unlocked(domain.org_id, "domain_unverified")
        self.audit.record(
            AuditAction.DOMAIN_UNVERIFIED,
            org_id=domain.org_id,
            targets=[target],
            changes={"status": {"before": VERIFIED, "after": UNVERIFIED}},
            data={
                "domain": domain.name,
                "reason": reason.value,
                "failing_since": failing_since.isoformat(),
                "withdrawn": withdrawn,
            },
        )
        return RecheckOutcome("unverified", domain, reason, notice="unverified", withdrawn=tuple(withdrawn))

    # --- releasing ---------------------------------------------------------------------------------------
    def delete(self, org_id: str, domain_id: str) -> list[str]:
        """Release the claim; when it was the org's last verified domain, SSO enforcement and auto-join are
        turned off. Returns the settings withdrawn."""
        self.audit.lock_chain(org_id)
        domain = self._locked(org_id, domain_id)
        name, status = domain.name, domain.status
        self.session.delete(domain)
        self.session.flush()
        withdrawn = self.withdraw_unlocked(org_id, "domain_deleted") if status == VERIFIED else []
        self.audit.record(
            AuditAction.DOMAIN_DELETED,
            org_id=org_id,
            targets=[Target("domain", domain_id, name)],
            data={"domain": name, "status": status, "withdrawn": withdrawn},
        )
        return withdrawn

    def withdraw_unlocked(self, org_id: str, reason: str) -> list[str]:
        """Turn off what a verified domain unlocked, if the org holds none any more (caller holds the org's
        chain lock). Records ``org.updated`` with the reason; returns the settings turned off."""
        if VerifiedDomains(self.session).holds_verified_domain(org_id):
            return []
        org = self.session.get(Organization, org_id)
        if org is None:
            return []
        before = {key: getattr(org, key) for key in UNLOCKED_SETTINGS}
        for key, off in UNLOCKED_SETTINGS.items():
            setattr(org, key, off)
        changes = diff(before, {key: getattr(org, key) for key in UNLOCKED_SETTINGS})
        if not changes:
            return []
        org.updated_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.ORG_UPDATED,
            org_id=org_id,
            targets=[Target("org", org.id, org.name)],
            changes=changes,
            data={"reason": reason},
        )
        return sorted(changes)

    # --- helpers -----------------------------------------------------------------------------------------
    def _claimable(self, raw_name: str) -> str:
        try:
            name = normalize_domain(raw_name, min_labels=1)  # a bare TLD is refused as a public suffix
        except InvalidDomainName as exc:
            raise self._invalid(str(exc)) from None
        refusal = eligibility.refusal_for(name)
        if refusal is eligibility.Refusal.PUBLIC_SUFFIX:
            raise PublicSuffixRefused(
                f"{name} is a public suffix: names under it belong to unrelated owners. "
                f"Claim your own domain, such as yourcompany.{name}.",
                domain=name,
                errors=[{"field": "domain", "message": "public suffix"}],
            )
        if refusal is eligibility.Refusal.CONSUMER_DOMAIN:
            provider = eligibility.consumer_domain_of(name)
            raise ConsumerDomainRefused(
                f"{name} belongs to a consumer mail provider ({provider}): its addresses belong to unrelated "
                "people. Claim your organisation's own domain.",
                domain=name,
                errors=[{"field": "domain", "message": "consumer mail domain"}],
            )
        if "." not in name:
            raise self._invalid("Give a full domain name with a dot, such as example.com.")
        return name

    @staticmethod
    def _invalid(message: str) -> InvalidDomain:
        return InvalidDomain(message, errors=[{"field": "domain", "message": message}])

    def _refuse_if_taken(self, org_id: str, name: str, *, parents_only: bool = False) -> None:
        covering = self_and_parents(name)[1:] if parents_only else self_and_parents(name)
        if not covering:
            return
        holder = self.session.scalars(
            select(Domain.name).where(
                Domain.status == VERIFIED,
                Domain.name.in_(covering),
                Domain.org_id != org_id,
            )
        ).first()
        if holder is not None:
            raise self._taken(name, holder)

    @staticmethod
    def _taken(name: str, holder: str | None = None) -> DomainTaken:
        held = name if holder in (None, name) else f"{holder}, which covers {name},"
        return DomainTaken(f"Another organisation has verified {held} already.", domain=name)

    def _lock_registrable(self, name: str) -> None:
        """Serialise verifications under one registrable domain (PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises every writer)."""
        if is_postgres(self.session):
            key = eligibility.registrable_domain(name)
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"domain:{key}"}
            )

    def _recovered(self, domain: Domain) -> None:
        failing_since = domain.failing_since
        domain.failing_since = None
        if failing_since is not None:
            self.audit.record(
                AuditAction.DOMAIN_RECHECK_RECOVERED,
                org_id=domain.org_id,
                targets=[Target("domain", domain.id, domain.name)],
                data={"domain": domain.name, "failing_since": failing_since.isoformat()},
            )

    def _locked(self, org_id: str, domain_id: str) -> Domain:
        if not plausible_id(domain_id):
            raise NotFound(f"Domain {domain_id} not found")
        stmt = select(Domain).where(Domain.id == domain_id, Domain.org_id == org_id)
        if is_postgres(self.session):
            stmt = stmt.with_for_update()
        domain = self.session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
        if domain is None:
            raise NotFound(f"Domain {domain_id} not found")
        return domain
