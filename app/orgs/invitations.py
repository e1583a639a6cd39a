"""Invitations: invite by email, list, revoke, resend, accept with the token.

The token is a random secret (``tnt_inv_…``) mailed to the invitee; only its SHA-256 is stored. It proves
control of the email address only because it travels by email: it is never shown to an org-level caller (an
org key or a member session could otherwise invite someone else's address and accept in their place). A
platform key, the product's own backend that may deliver the mail itself, may ask for it explicitly, and the
``member.invited`` event says it did.

Accepting with the token alone may only create a new account. When the address already has an account, the
token is not enough: the caller must also present a session of that account which proved control of it
(``account_proof``), so an invitation can never hand one org's admin another org's member. Accepting adds the
membership, takes the invited seat through ``SeatService.take`` and starts a session, all in the caller's
transaction: if any step is refused (seat limit, already a member) nothing is written and the invitation stays
pending.

Mail is not transactional. ``deliver`` runs after the invitation is committed and only records the outcome,
so a mail server being down never loses an invitation; the admin resends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import quote

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.failures import Failure
from app.audit.recorder import Actor, AuditRecorder, Target
from app.clock import Clock
from app.credentials import secrets
from app.credentials.principal import Principal
from app.db import is_postgres
from app.errors import (
    AccountProofRequired,
    AlreadyMember,
    AppError,
    Forbidden,
    InvitationExpired,
    InvitationForAnotherAccount,
    InvitationNotPending,
    InvitationPending,
    InvitationUsed,
    NotFound,
    SignInRequired,
    ValidationFailed,
)
from app.ids import plausible_id
from app.mail import MailDeliveryError, Mailer
from app.orgs.accounts import AccountService, normalize_email
from app.orgs.lookup import live_org
from app.orgs.members import MemberService
from app.orgs.models import Invitation, Membership, Organization, User
from app.orgs.seats import SeatService, check_seat_type
from app.orgs.sessions import IssuedSession, SessionService
from app.pagination import decode_cursor, encode_cursor
from app.rbac.permissions import BUILTIN_ROLES, Authorizer, check_grant
from app.rbac.service import RoleService

log = logging.getLogger("tenantry.invitations")

PENDING, ACCEPTED, REVOKED, EXPIRED = "pending", "accepted", "revoked", "expired"
# One message for unknown, revoked and malformed tokens: never reveal which it was.
NOT_VALID = "This invitation is not valid. Ask the organisation for a new one."


# How an acceptance proved control of the account, stored on the session it opens (``account_proof``).
PROOF_INVITATION_EMAIL = "invitation_email"  # the mailed token, for an account it creates
PROOF_SESSION = "session"  # an existing, proven session of the account

AccountCase = Literal["created", "existing"]
ANONYMOUS = Actor("system", None, "anonymous (invitation link)")


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation with its token, which exists only here (and in the mail): it is stored hashed.

    ``token_returned``: the caller (a platform key) asked for the token in the answer."""

    invitation: Invitation
    token: str
    accept_url: str
    token_returned: bool = False


# Whether a way in other than SSO may sign ``email`` in to an org: (org_id, email, method, role) -> None, or
# raises (SSO enforcement, app/sso/enforcement.py).
LoginPolicy = Callable[[str, str, str, str | None], None]


@dataclass(frozen=True)
class Acceptance:
    member: Membership
    user: User
    session: IssuedSession
    account: AccountCase  # a new account was created, or an existing one signed in to accept


@dataclass(frozen=True)
class InvitationPageResult:
    items: list[Invitation]
    next_cursor: str | None


class InvitationService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        authorizer: Authorizer,
        accounts: AccountService,
        members: MemberService,
        seats: SeatService,
        sessions: SessionService,
        mailer: Mailer,
        base_url: str,
        default_ttl_days: int,
        login_policy: LoginPolicy | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer
        self.accounts = accounts
        self.members = members
        self.seats = seats
        self.sessions = sessions
        self.mailer = mailer
        self.base_url = base_url.rstrip("/")
        self.default_ttl = default_ttl_days
        self.login_policy = login_policy

    # --- reading -----------------------------------------------------------------------------------------
    def status_of(self, invitation: Invitation) -> str:
        """The status a caller sees: a pending invitation past its expiry is ``expired``."""
        if invitation.status == PENDING and invitation.expires_at <= self.clock.now():
            return EXPIRED
        return invitation.status

    def get(self, org_id: str, invitation_id: str) -> Invitation:
        invitation = self.session.get(Invitation, invitation_id) if plausible_id(invitation_id) else None
        if invitation is None or invitation.org_id != org_id:
            raise NotFound(f"Invitation {invitation_id} not found")
        return invitation

    def list(
        self, org_id: str, *, status: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> InvitationPageResult:
        live_org(self.session, org_id)
        now = self.clock.now()
        stmt = select(Invitation).where(Invitation.org_id == org_id)
        if status == PENDING:
            stmt = stmt.where(Invitation.status == PENDING, Invitation.expires_at > now)
        elif status == EXPIRED:
            stmt = stmt.where(
                or_(
                    Invitation.status == EXPIRED,
                    and_(Invitation.status == PENDING, Invitation.expires_at <= now),
                )
            )
        elif status is not None:
            stmt = stmt.where(Invitation.status == status)
        if cursor:
            stmt = stmt.where(Invitation.id > decode_cursor(cursor, id_prefix="inv_"))
        rows = list(self.session.scalars(stmt.order_by(Invitation.id).limit(limit + 1)))
        more = len(rows) > limit
        items = rows[:limit]
        return InvitationPageResult(items, encode_cursor(items[-1].id) if more and items else None)

    # --- inviting ----------------------------------------------------------------------------------------
    def create(
        self,
        principal: Principal,
        org_id: str,
        email: str,
        role: str,
        *,
        seat_type: str | None = None,
        expires_in_days: int | None = None,
        return_token: bool = False,
    ) -> IssuedInvitation:
        """A pending invitation; 409 if the person is a member or already has a live invitation here.

        ``return_token``: only a platform key may have the token returned (it then delivers it itself)."""
        live_org(self.session, org_id)
        self._check_token_disclosure(principal, return_token)
        self._check_role(principal, org_id, role, seat_type)
        if seat_type is not None:
            check_seat_type(seat_type)
        email = normalize_email(email)
        self._refuse_member(org_id, email)
        previous = self._pending_for(org_id, email)
        if previous is not None:
            if previous.expires_at > self.clock.now():
                raise InvitationPending(
                    f"{email} already has a pending invitation; resend or revoke it.",
                    invitation_id=previous.id,
                )
            previous.status = EXPIRED  # an expired invitation does not block a new one
            self.session.flush()
        token = secrets.new_secret("invitation")
        now = self.clock.now()
        invitation = Invitation(
            org_id=org_id,
            email=email,
            role=role,
            seat_type=seat_type,
            token_hash=secrets.hash_secret(token),
            status=PENDING,
            invited_by=self.audit.actor.id,
            expires_at=now + timedelta(days=self._ttl_days(expires_in_days)),
            created_at=now,
            delivery="pending",
        )
        self.session.add(invitation)
        self.session.flush()
        self.audit.record(
            AuditAction.MEMBER_INVITED,
            org_id=org_id,
            targets=[Target("invitation", invitation.id, email)],
            data={
                "invitation_id": invitation.id,
                "email": email,
                "role": role,
                "seat_type": seat_type,
                "expires_at": invitation.expires_at.isoformat(),
                "token_returned": return_token,
            },
        )
        return IssuedInvitation(invitation, token, self.accept_url(token), return_token)

    def revoke(self, org_id: str, invitation_id: str) -> Invitation:
        """Revoked invitations answer 404 on accept; revoking twice is a no-op; accepted ones: 409."""
        invitation = self.get(org_id, invitation_id)
        if invitation.status == REVOKED:
            return invitation
        if invitation.status == ACCEPTED:
            raise InvitationNotPending(
                "This invitation was already accepted; remove the member instead.", invitation_status=ACCEPTED
            )
        before = self.status_of(invitation)
        invitation.status = REVOKED
        invitation.revoked_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.INVITATION_REVOKED,
            org_id=org_id,
            targets=[Target("invitation", invitation.id, invitation.email)],
            changes={"status": {"before": before, "after": REVOKED}},
        )
        return invitation

    def resend(
        self,
        principal: Principal,
        org_id: str,
        invitation_id: str,
        *,
        expires_in_days: int | None = None,
        return_token: bool = False,
    ) -> IssuedInvitation:
        """A new token (the old one stops working) and a new expiry; only for pending invitations."""
        self._check_token_disclosure(principal, return_token)
        invitation = self.get(org_id, invitation_id)
        self._check_role(principal, org_id, invitation.role, invitation.seat_type)
        if invitation.status != PENDING:
            raise InvitationNotPending(
                f"Only pending invitations can be resent; this one is {invitation.status}.",
                invitation_status=invitation.status,
            )
        self._refuse_member(org_id, invitation.email)
        token = secrets.new_secret("invitation")
        before = invitation.expires_at
        invitation.token_hash = secrets.hash_secret(token)
        invitation.expires_at = self.clock.now() + timedelta(days=self._ttl_days(expires_in_days))
        invitation.delivery, invitation.sent_at = "pending", None
        self.session.flush()
        self.audit.record(
            AuditAction.INVITATION_RESENT,
            org_id=org_id,
            targets=[Target("invitation", invitation.id, invitation.email)],
            changes={
                "expires_at": {"before": before.isoformat(), "after": invitation.expires_at.isoformat()}
            },
            data={"token_returned": return_token},
        )
        return IssuedInvitation(invitation, token, self.accept_url(token), return_token)

    def deliver(self, issued: IssuedInvitation) -> str:
        """Mail the invitation; call after the invitation is committed. Records and returns the outcome."""
        invitation = issued.invitation
        org = self.session.get(Organization, invitation.org_id)
        subject, body = self._message(issued, org.name if org else "an organisation")
        try:
            self.mailer.send(invitation.email, subject, body)
        except Exception as exc:  # mail must never undo or hide a committed invitation
            reason = str(exc) if isinstance(exc, MailDeliveryError) else type(exc).__name__
            log.warning(
                "invitation mail not delivered; the admin can resend it",
                extra={"invitation_id": invitation.id, "org_id": invitation.org_id, "error": reason},
            )
            invitation.delivery = "failed"
        else:
            invitation.delivery, invitation.sent_at = "sent", self.clock.now()
        self.session.flush()
        return invitation.delivery

    def accept_url(self, token: str) -> str:
        return f"{self.base_url}/invitations/accept?token={quote(token)}"

    # --- accepting ---------------------------------------------------------------------------------------
    def accept(self, token: str, name: str | None = None, *, caller: Principal | None = None) -> Acceptance:
        """Single use. Unknown, revoked or malformed token: 404; expired or used: 410; member already: 409.

        The token alone creates a new account. For an address that has an account already, ``caller`` must be
        a proven session of that very account (401 sign_in_required without one, 403 otherwise)."""
        invitation = self._by_token(token)
        if invitation.status == ACCEPTED:
            raise InvitationUsed("This invitation has already been used.")
        if self.status_of(invitation) == EXPIRED:
            raise InvitationExpired("This invitation has expired. Ask the organisation to resend it.")
        org = self.session.get(Organization, invitation.org_id)
        if org is None or org.deleted_at is not None:
            raise NotFound(NOT_VALID)
        if self.login_policy is not None:  # SSO enforcement (app/sso/enforcement.py): 403 sso_required
            self.login_policy(invitation.org_id, invitation.email, "invitation", invitation.role)
        user = self.accounts.find_by_email(invitation.email)
        if user is None:
            user, _ = self.accounts.get_or_create(invitation.email, name, org_id=invitation.org_id)
            case: AccountCase = "created"
            proof = PROOF_INVITATION_EMAIL
        else:
            self._check_account_holder(invitation, user, caller)
            case, proof = "existing", PROOF_SESSION
        member = self._join(invitation, user, case)
        issued = self.sessions.issue(user.id, invitation.org_id, "invitation", account_proof=proof)
        return Acceptance(member, user, issued, case)

    def pending_for(self, org_id: str, email: str) -> Invitation | None:
        """The live pending invitation of ``email`` to ``org_id``, if any (SSO sign-in honours it)."""
        return self.session.scalars(
            select(Invitation).where(
                Invitation.org_id == org_id,
                Invitation.email == normalize_email(email),
                Invitation.status == PENDING,
                Invitation.expires_at > self.clock.now(),
            )
        ).one_or_none()

    def accept_signed_in(self, invitation: Invitation, user: User, case: AccountCase) -> Membership:
        """Accept for a person whose control of the address another way in proved (an SSO sign-in through
        the org's connection for an address of its verified domains): the invitation's role and seat apply.
        The caller issues the session."""
        return self._join(invitation, user, case)

    def _join(self, invitation: Invitation, user: User, case: AccountCase) -> Membership:
        # From here on the invitee is the one acting: membership, seat and acceptance events name them.
        self.audit.actor = Actor("user", user.id, user.name or user.email)
        member = self.members.add(invitation.org_id, user, invitation.role, source="invitation")
        if invitation.seat_type is not None:
            self.seats.take(member, invitation.seat_type, reason="invitation")
        now = self.clock.now()
        invitation.status, invitation.accepted_at, invitation.accepted_user_id = ACCEPTED, now, user.id
        self.session.flush()
        self.audit.record(
            AuditAction.INVITATION_ACCEPTED,
            org_id=invitation.org_id,
            targets=[
                Target("invitation", invitation.id, invitation.email),
                Target("member", member.id),
                Target("user", user.id, user.email),
            ],
            data={
                "member_id": member.id,
                "role": member.role,
                "seat_type": member.seat_type,
                "account": case,
            },
        )
        return member

    def failure_of(self, token: str, error: AppError, caller: Principal | None = None) -> Failure | None:
        """A refused acceptance as a failure for the audit aggregation, when the token names an invitation
        (an unknown token names no org, and is only rate limited). Reads; writes nothing."""
        if not secrets.looks_like(token, "invitation"):
            return None
        invitation = self.session.scalars(
            select(Invitation).where(Invitation.token_hash == secrets.hash_secret(token))
        ).one_or_none()
        if invitation is None:
            return None
        return Failure(
            org_id=invitation.org_id,
            action=AuditAction.INVITATION_ACCEPT_FAILED,
            actor=caller.actor() if caller is not None else ANONYMOUS,
            reason=error.code,
            targets=(Target("invitation", invitation.id, invitation.email),),
            data={"credential_prefix": secrets.display_prefix(token), "status": error.status},
        )

    def _check_account_holder(self, invitation: Invitation, user: User, caller: Principal | None) -> None:
        """An existing account joins only when the caller is that account, signed in with proof."""
        if caller is None or caller.kind != "user":
            raise SignInRequired(
                f"{invitation.email} already has a Tenantry account. The invitation link alone cannot add "
                "an existing account: sign in to that account, then accept again with its session "
                "(Authorization: Bearer tnt_ses_…).",
                account="existing",
            )
        if caller.user_id != user.id:
            raise InvitationForAnotherAccount(
                "This invitation is for another account. Sign in as the invited address and accept again.",
                account="existing",
            )
        if not caller.acts_as_account:
            raise AccountProofRequired(
                "Your session was opened without proof that you control the account. Sign in again, then "
                "accept with the new session.",
                account="existing",
            )

    # --- helpers -----------------------------------------------------------------------------------------
    def _by_token(self, token: str) -> Invitation:
        if not secrets.looks_like(token, "invitation"):
            raise NotFound(NOT_VALID)
        stmt = select(Invitation).where(Invitation.token_hash == secrets.hash_secret(token))
        if is_postgres(self.session):
            stmt = stmt.with_for_update()  # two accepts of one token: the second sees it used
        invitation = self.session.scalars(stmt).one_or_none()
        if invitation is None or invitation.status == REVOKED:
            raise NotFound(NOT_VALID)
        return invitation

    @staticmethod
    def _check_token_disclosure(principal: Principal, return_token: bool) -> None:
        if return_token and not principal.is_platform:
            raise Forbidden(
                "Only a platform key may receive an invitation token: it proves control of the email address "
                "only because it travels by email. The invitee gets it in the invitation mail.",
                reason="token_platform_only",
            )

    def _check_role(self, principal: Principal, org_id: str, role: str, seat_type: str | None) -> None:
        """The role must exist, and the inviter must be allowed to grant it and the seat it carries."""
        if role not in BUILTIN_ROLES:
            roles = RoleService(self.session, self.clock, self.audit, self.authorizer)
            if not roles.role_exists(org_id, role):
                raise ValidationFailed(
                    f"Unknown role {role!r}; use a built-in role ({', '.join(BUILTIN_ROLES)}) "
                    "or one of the organisation's custom roles.",
                    errors=[{"field": "role", "message": "unknown role"}],
                )
        check_grant(principal, self.authorizer, org_id, role)
        if seat_type is not None:  # a seat carries permissions too: only those who assign seats give one
            self.authorizer.require(principal, org_id, "seats:assign")

    def _refuse_member(self, org_id: str, email: str) -> None:
        user = self.accounts.find_by_email(email)
        if user is not None and self.members.find(org_id, user.id) is not None:
            raise AlreadyMember(f"{email} is already a member of this organisation.")

    def _pending_for(self, org_id: str, email: str) -> Invitation | None:
        stmt = select(Invitation).where(
            Invitation.org_id == org_id, Invitation.email == email, Invitation.status == PENDING
        )
        if is_postgres(self.session):
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).one_or_none()

    def _ttl_days(self, expires_in_days: int | None) -> int:
        days = expires_in_days or self.default_ttl
        if not 1 <= days <= 30:
            raise ValidationFailed(
                "An invitation lasts 1 to 30 days.",
                errors=[{"field": "expires_in_days", "message": "must be between 1 and 30"}],
            )
        return days

    def _message(self, issued: IssuedInvitation, org_name: str) -> tuple[str, str]:
        invitation = issued.invitation
        expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        seat = f" with a {invitation.seat_type} seat" if invitation.seat_type else ""
        subject = f"You are invited to join {org_name} on Tenantry"
        body = (
            f"You have been invited to join {org_name} as {invitation.role}{seat}.\n\n"
            f"Accept the invitation:\n{issued.accept_url}\n\n"
            f"The link works once and expires on {expires}.\n"
            "If you did not expect this invitation, you can ignore this message.\n"
        )
        return subject, body
