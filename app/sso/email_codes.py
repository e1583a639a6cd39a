"""Sign-in by email one-time code: ``start`` mails a code, ``verify`` checks it and opens a session.

- A code is 6 to 8 digits (``TENANTRY_EMAIL_CODE_DIGITS``), lives ``TENANTRY_EMAIL_CODE_TTL`` seconds, is
  stored as an HMAC under a key derived from the secret key, and is used once: the consuming UPDATE is
  conditional, so of two verifications racing with the right code exactly one opens a session. A new code
  for an address replaces the live one; ``TENANTRY_EMAIL_CODE_MAX_ATTEMPTS`` wrong tries burn it.
- ``start`` answers the same for every well-formed address (a code is made and mailed whether or not an
  account exists), so it tells nothing about who has an account; it is rate limited per address and per IP.
- Which org: the ``org`` asked for, else the person's one active membership; with none, the org whose verified
  domain covers the address if its ``auto_join`` setting is ``auto_join`` (the person joins as a member,
  source ``domain``). Several memberships and no ``org``: 409 naming them, and the code stays usable.
- SSO enforcement: when the org enforces SSO and holds the verified domain of the address, only an owner may
  sign in by code (break-glass, recorded as ``session.break_glass``); everyone else is sent to their IdP.

Every refusal after the rate limits is raised as :class:`EmailCodeRefused`, which carries the org to record it
in (when the address can be attributed to one) and the reason; the view commits the attempt counter, records
the failure through the aggregation of ``app/audit/failures.py``, and answers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import Actor, AuditRecorder, Target
from app.clock import Clock
from app.config import Settings
from app.crypto.sealing import derive_key
from app.domains.matching import VerifiedDomains
from app.errors import AppError, Conflict
from app.mail import Mailer
from app.orgs.accounts import AccountService, normalize_email
from app.orgs.members import MemberService
from app.orgs.models import Membership, Organization, User
from app.orgs.sessions import IssuedSession, SessionService
from app.ratelimit import RateLimiter, Rule
from app.rbac.permissions import MEMBER, OWNER
from app.sso.email_code_models import EmailCode
from app.sso.enforcement import BREAK_GLASS_METHODS, sso_required

METHOD = "email_code"
AUTO_JOIN = "auto_join"


class EmailCodeRefused(AppError):
    """The code or the sign-in it asks for is refused; ``reason`` is the audit log's short code."""

    status, code, title = 401, "email_code_refused", "Code refused"

    def __init__(self, detail: str, *, reason: str, org_id: str | None = None, user_id: str | None = None):
        super().__init__(detail, reason=reason)
        self.reason, self.org_id, self.user_id = reason, org_id, user_id


class SsoRequired(EmailCodeRefused):
    status, code, title = 403, "sso_required", "Sign in with SSO"


class NotAMember(EmailCodeRefused):
    status, code, title = 403, "no_organisation", "No organisation to sign in to"


class OrgChoiceRequired(Conflict):
    code, title = "org_choice_required", "Choose an organisation"


@dataclass(frozen=True)
class EmailCodePolicy:
    ttl: timedelta
    digits: int
    max_attempts: int
    start_per_email: Rule
    start_per_ip: Rule
    verify_per_ip: Rule

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailCodePolicy:
        return cls(
            ttl=timedelta(seconds=settings.email_code_ttl),
            digits=settings.email_code_digits,
            max_attempts=settings.email_code_max_attempts,
            start_per_email=Rule("email_code_start_email", settings.email_code_rate_email),
            start_per_ip=Rule("email_code_start_ip", settings.email_code_rate_ip),
            verify_per_ip=Rule("email_code_verify_ip", settings.email_code_rate_ip),
        )


@dataclass(frozen=True)
class PendingCode:
    """A code made by ``start``, to be mailed once the transaction has committed."""

    email: str
    code: str
    expires_in: int


@dataclass(frozen=True)
class SignedIn:
    session: IssuedSession
    org_id: str
    user_id: str
    break_glass: bool
    joined: bool


@dataclass
class _Target:
    org: Organization
    member: Membership | None  # None: joining by verified domain
    user: User | None
    break_glass: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def new_code(digits: int, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    return str(randbelow(10**digits)).zfill(digits)


class EmailCodeService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        mailer: Mailer,
        limiter: RateLimiter,
        accounts: AccountService,
        members: MemberService,
        domains: VerifiedDomains,
        sessions: SessionService,
        secret_key: str,
        policy: EmailCodePolicy,
        randbelow: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.mailer = mailer
        self.limiter = limiter
        self.accounts = accounts
        self.members = members
        self.domains = domains
        self.sessions = sessions
        self.hmac_key = derive_key(secret_key, "sso/email-codes")  # the HMAC key of the codes
        self.policy = policy
        self.randbelow = randbelow

    def code_hash(self, email: str, code: str) -> str:
        return hmac.new(self.hmac_key, f"{email}\x1f{code}".encode(), hashlib.sha256).hexdigest()

    # --- start -------------------------------------------------------------------------------------------
    def start(self, email: str, ip: str | None) -> PendingCode:
        """Make a code for ``email`` (replacing its live one). The same for every address: no lookup."""
        address = normalize_email(email)
        self.limiter.hit(self.policy.start_per_ip, ip or "unknown")
        self.limiter.hit(self.policy.start_per_email, address)
        now = self.clock.now()
        self.session.execute(
            update(EmailCode)
            .where(EmailCode.email == address, EmailCode.used_at.is_(None))
            .values(used_at=now)
        )
        code = new_code(self.policy.digits, self.randbelow)
        self.session.add(
            EmailCode(
                email=address,
                code_hash=self.code_hash(address, code),
                attempts=0,
                created_at=now,
                expires_at=now + self.policy.ttl,
            )
        )
        self.session.flush()
        return PendingCode(address, code, int(self.policy.ttl.total_seconds()))

    def deliver(self, pending: PendingCode) -> None:
        """Mail the code (after commit). Raises ``MailDeliveryError``; the view logs it and answers alike."""
        minutes = max(1, pending.expires_in // 60)
        self.mailer.send(
            pending.email,
            f"Your Tenantry sign-in code: {pending.code}",
            f"Your sign-in code is {pending.code}\n\n"
            f"It works once, for {minutes} minutes. If you did not ask to sign in, ignore this message: "
            "nobody can sign in without the code.\n",
        )

    # --- verify ------------------------------------------------------------------------------------------
    def verify(self, email: str, code: str, org_id: str | None, ip: str | None) -> SignedIn:
        address = normalize_email(email)
        self.limiter.hit(self.policy.verify_per_ip, ip or "unknown")
        now = self.clock.now()
        row = self.session.scalars(
            select(EmailCode)
            .where(EmailCode.email == address, EmailCode.used_at.is_(None))
            .order_by(EmailCode.created_at.desc())
            .limit(1)
        ).one_or_none()
        if row is None or row.expires_at <= now or row.attempts >= self.policy.max_attempts:
            raise self._refused(
                address, org_id, "code_expired_or_unknown", "The code is expired, used or unknown."
            )
        if not hmac.compare_digest(row.code_hash, self.code_hash(address, code.strip())):
            self._count_wrong_try(row.id)
            raise self._refused(address, org_id, "code_wrong", "The code is wrong. Check it and try again.")
        target = self._target(address, org_id)
        consumed = self.session.execute(
            update(EmailCode)
            .where(
                EmailCode.id == row.id,
                EmailCode.used_at.is_(None),
                EmailCode.attempts < self.policy.max_attempts,
                EmailCode.expires_at > now,
            )
            .values(used_at=now)
        )
        if getattr(consumed, "rowcount", 0) != 1:  # another request used it first
            raise self._refused(address, org_id, "code_used", "The code is expired, used or unknown.")
        return self._sign_in(address, target)

    def _count_wrong_try(self, code_id: str) -> None:
        """One more wrong try, atomically; the last allowed one burns the code."""
        self.session.execute(
            update(EmailCode)
            .where(EmailCode.id == code_id, EmailCode.used_at.is_(None))
            .values(attempts=EmailCode.attempts + 1)
        )
        self.session.execute(
            update(EmailCode)
            .where(EmailCode.id == code_id, EmailCode.attempts >= self.policy.max_attempts)
            .values(used_at=self.clock.now())
        )

    def _memberships(self, user: User) -> list[tuple[Membership, Organization]]:
        rows = self.session.execute(
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.org_id)
            .where(Membership.user_id == user.id, Organization.deleted_at.is_(None))
            .order_by(Organization.name, Organization.id)
        ).tuples()
        return list(rows)

    def _target(self, address: str, org_id: str | None) -> _Target:
        """The org this sign-in goes to, and whether SSO enforcement lets it through. Reads only."""
        user = self.accounts.find_by_email(address)
        held = self._memberships(user) if user is not None else []
        if org_id is not None:
            chosen = next(((m, o) for m, o in held if o.id == org_id), None)
            if chosen is not None:
                target = _Target(chosen[1], chosen[0], user)
            else:
                org = self.session.get(Organization, org_id)
                if org is None or org.deleted_at is not None or not self._may_join(org, address):
                    raise NotAMember(
                        "This address cannot sign in to that organisation: ask its admin for an invitation.",
                        reason="not_a_member",
                    )
                target = _Target(org, None, user)
        else:
            active = [(m, o) for m, o in held if m.status == "active"]
            if len(active) > 1:
                raise OrgChoiceRequired(
                    "This address belongs to several organisations: send the one to sign in to as 'org'.",
                    orgs=[{"id": o.id, "name": o.name} for _, o in active],
                )
            if len(active) == 1:
                target = _Target(active[0][1], active[0][0], user)
            elif held:
                target = _Target(held[0][1], held[0][0], user)  # suspended: refused below, in its org
            else:
                match = self.domains.org_for_email(address)
                org = self.session.get(Organization, match.org_id) if match else None
                if org is None or not self._may_join(org, address):
                    raise NotAMember(
                        "No organisation lets this address sign in: ask an admin for an invitation.",
                        reason="no_organisation",
                    )
                target = _Target(org, None, user)
        if target.member is not None and target.member.status != "active":
            raise EmailCodeRefused(
                "Your membership is suspended.",
                reason="membership_suspended",
                org_id=target.org.id,
                user_id=target.member.user_id,
            )
        if sso_required(self.session, self.domains, target.org.id, address):
            owner = target.member is not None and target.member.role == OWNER
            if not (owner and METHOD in BREAK_GLASS_METHODS):
                raise SsoRequired(
                    "Your organisation requires single sign-on: sign in through your identity provider.",
                    reason="sso_enforced",
                    org_id=target.org.id,
                    user_id=user.id if user else None,
                )
            target.break_glass = True
        return target

    def _may_join(self, org: Organization, address: str) -> bool:
        return org.auto_join == AUTO_JOIN and self.domains.email_in_verified_domain(org.id, address)

    def _sign_in(self, address: str, target: _Target) -> SignedIn:
        org = target.org
        self.audit.lock_chain(org.id)
        joined = target.member is None
        if target.member is None:
            user, _ = self.accounts.get_or_create(address, org_id=org.id)
            member = self.members.add(org.id, user, MEMBER, source="domain")
        else:
            member = target.member
            user = self.accounts.get(member.user_id)
        issued = self.sessions.issue(user.id, org.id, METHOD, account_proof=METHOD)
        targets = [Target("session", issued.id), Target("user", user.id, user.email)]
        actor = Actor("user", user.id, user.name or user.email)
        self.audit.record(
            AuditAction.SESSION_STARTED,
            org_id=org.id,
            targets=targets,
            actor=actor,
            data={
                "method": METHOD,
                "account_proof": METHOD,
                "break_glass": target.break_glass,
                "joined": joined,
            },
        )
        if target.break_glass:
            self.audit.record(
                AuditAction.SESSION_BREAK_GLASS,
                org_id=org.id,
                targets=targets,
                actor=actor,
                data={"method": METHOD, "email_domain": address.rpartition("@")[2], "role": member.role},
            )
        return SignedIn(issued, org.id, user.id, target.break_glass, joined)

    def _refused(self, address: str, org_id: str | None, reason: str, detail: str) -> EmailCodeRefused:
        """A refused code, attributed to the org the address would sign in to when that is unambiguous."""
        user = self.accounts.find_by_email(address)
        org = None
        if user is not None:
            active = [o.id for m, o in self._memberships(user) if m.status == "active"]
            if org_id is not None and org_id in active:
                org = org_id
            elif org_id is None and len(active) == 1:
                org = active[0]
        return EmailCodeRefused(detail, reason=reason, org_id=org, user_id=user.id if user else None)
