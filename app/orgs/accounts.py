"""Global accounts: one per case-folded email, shared by every organisation the person belongs to.

Deleting an account ends every membership and erases the personal data; the row stays (with a placeholder
email) so audit events that name the user id keep pointing at something. Invitations sent to the account's
email, in any org, get the same placeholder; pending ones are revoked (their addressee is gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.erasure import SubjectErasure
from app.audit.personal import Subject
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.db import insert_now
from app.errors import LastOwner, NotFound
from app.orgs.members import MemberService, plausible_id
from app.orgs.models import Invitation, Membership, Organization, User
from app.orgs.sessions import SessionService
from app.rbac.permissions import OWNER


def normalize_email(email: str) -> str:
    """Case-folded and stripped: ``Ann@Example.COM`` and ``ann@example.com`` are one account."""
    return email.strip().casefold()


def erased_email(user_id: str) -> str:
    """A placeholder no mail can reach (RFC 2606 reserves ``.invalid``) that keeps ``users.email`` unique."""
    return f"erased-{user_id}@invalid"


@dataclass(frozen=True)
class AccountMembership:
    member: Membership
    org: Organization


# Built once (bound parameter, cache key memoized): SCIM's import looks an account up on every POST.
_LIVE_BY_EMAIL: Final = select(User).where(User.email == bindparam("email"), User.deleted_at.is_(None))


class AccountService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        members: MemberService | None = None,
        sessions: SessionService | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.sessions = sessions or SessionService(session, clock, 0, audit)
        self.members = members or MemberService(session, clock, audit, sessions=self.sessions)

    def find_by_email(self, email: str) -> User | None:
        """The live account for ``email``; a deleted account is never found again."""
        return self.session.scalars(_LIVE_BY_EMAIL, {"email": normalize_email(email)}).one_or_none()

    def get_or_create(
        self, email: str, name: str | None = None, *, org_id: str | None = None
    ) -> tuple[User, bool]:
        """The account for ``email``, created when missing (recorded in ``org_id``'s chain, if given)."""
        user = self.find_by_email(email)
        if user is not None:
            if name and not user.name:
                user.name = name
            return user, False
        return self.create(email, name, org_id=org_id), True

    def create(self, email: str, name: str | None = None, *, org_id: str | None = None) -> User:
        """A new account for ``email``, which the caller found to have none (``find_by_email``, or a read of
        its own); one created meanwhile by another transaction fails the unique email index at its insert
        (``IntegrityError``, as from a flush)."""
        now = self.clock.now()
        user = User(email=normalize_email(email), name=name, created_at=now, updated_at=now)
        insert_now(self.session, user)  # now, as a flush would: the caller's next rows refer to it
        self.audit.new_subject(Subject("user", user.id))  # a new id: no audit key to look up
        self.audit.record(AuditAction.USER_CREATED, org_id=org_id, targets=[Target("user", user.id)])
        return user

    def get(self, user_id: str) -> User:
        user = self.session.get(User, user_id) if plausible_id(user_id) else None
        if user is None or user.deleted_at is not None:
            raise NotFound(f"Account {user_id} not found")
        return user

    def memberships(self, user_id: str) -> list[AccountMembership]:
        """Every org the account belongs to; nothing else about those orgs."""
        rows = self.session.execute(
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.org_id)
            .where(Membership.user_id == user_id, Organization.deleted_at.is_(None))
            .order_by(Organization.name, Organization.id)
        ).tuples()
        return [AccountMembership(m, o) for m, o in rows]

    def delete(self, user_id: str, *, initiated_by: str) -> None:
        """End every membership, end every session, erase the personal data, record ``user.deleted``.

        Refused with 409 ``last_owner`` naming each org the account is the last active owner of: ownership
        is handed over first. The check comes before any write, and the boundary's transaction covers all.
        """
        user = self.get(user_id)
        held = self.memberships(user_id)
        invitations = self._invitations_to(user)
        # Lock order: the platform chain (as creating an account does), then each org's chain by id.
        self.audit.lock_chain(None)
        for org_id in sorted(
            {e.org.id for e in held} | {i.org_id for i in invitations if i.status == "pending"}
        ):
            self.audit.lock_chain(org_id)
        # Read again under the locks: an invitation sent meanwhile is erased too (its org's chain, should it
        # be a new one, is locked when its revocation is recorded).
        invitations = self._invitations_to(user)
        blocking = self._last_owner_of(held)
        if blocking:
            names = ", ".join(f"{o.name} ({o.id})" for o in blocking)
            which = "each of these organisations" if len(blocking) > 1 else "it"
            raise LastOwner(
                f"The account is the last owner of {names}. Make another member owner of {which} first, "
                "then delete the account.",
                orgs=[{"id": o.id, "name": o.name} for o in blocking],
            )
        # The audit log forgets the person too (app/audit/erasure.py): events from before sealing are erased
        # in place now; the keys sealing the rest are destroyed once the deletion's own events are recorded.
        erasure = SubjectErasure(self.session, self.clock, self.audit)
        plan = erasure.plan_account(user.id, user.email, invitation_ids=[i.id for i in invitations])
        sessions_ended = sum(self.members.end_membership(e.member, reason="account_deleted") for e in held)
        sessions_ended += self.sessions.end_for_member(user.id)  # any left in orgs it no longer belongs to
        now = self.clock.now()
        user.email = erased_email(user.id)
        user.name = None
        user.deleted_at = now
        user.updated_at = now
        self._erase_invitations(invitations, user.email)
        self.session.flush()
        event = self.audit.record(
            AuditAction.USER_DELETED,
            org_id=None,
            targets=[Target("user", user.id)],
            data={
                "initiated_by": initiated_by,
                "org_ids": [entry.org.id for entry in held],
                "memberships_ended": len(held),
                "sessions_ended": sessions_ended,
                "erased": ["email", "name", "invitation_emails", "audit_personal_data"],
                **plan.attestation(),
            },
        )
        erasure.finish(plan, event.id)

    def _invitations_to(self, user: User) -> list[Invitation]:
        """Every invitation to the account's email or accepted by it, in any org, oldest first."""
        return list(
            self.session.scalars(
                select(Invitation)
                .where(or_(Invitation.email == user.email, Invitation.accepted_user_id == user.id))
                .order_by(Invitation.org_id, Invitation.id)
            )
        )

    def _erase_invitations(self, invitations: list[Invitation], placeholder: str) -> None:
        """Each invitation gets the account's placeholder email; a pending one is revoked, recorded in its org
        (its chain is locked already)."""
        now = self.clock.now()
        for invitation in invitations:
            invitation.email = placeholder
            if invitation.status != "pending":
                continue
            before = "expired" if invitation.expires_at <= now else "pending"
            invitation.status, invitation.revoked_at = "revoked", now
            self.session.flush()
            self.audit.record(
                AuditAction.INVITATION_REVOKED,
                org_id=invitation.org_id,
                targets=[Target("invitation", invitation.id, placeholder)],
                changes={"status": {"before": before, "after": "revoked"}},
            )

    def _last_owner_of(self, held: list[AccountMembership]) -> list[Organization]:
        return [
            e.org
            for e in sorted(held, key=lambda e: e.org.id)
            if e.member.role == OWNER and self.members.other_active_owners(e.org.id, e.member.id) == 0
        ]
