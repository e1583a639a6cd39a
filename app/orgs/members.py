"""Memberships: an account's place in an organisation (role, seat, status, where it came from)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.errors import AlreadyMember, NotFound
from app.orgs.models import Membership, User


class MemberService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def find(self, org_id: str, user_id: str) -> Membership | None:
        return self.session.scalars(
            select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
        ).one_or_none()

    def get(self, org_id: str, member_id: str) -> Membership:
        member = self.session.get(Membership, member_id)
        if member is None or member.org_id != org_id:
            raise NotFound(f"Member {member_id} not found")
        return member

    def add(self, org_id: str, user: User, role: str, *, source: str) -> Membership:
        """Add ``user`` to the org with ``role``; 409 when already a member. Seats are taken separately."""
        if self.find(org_id, user.id) is not None:
            raise AlreadyMember(f"{user.email} is already a member of this organisation.")
        now = self.clock.now()
        member = Membership(
            org_id=org_id, user_id=user.id, role=role, source=source, status="active",
            attributes={}, created_at=now, updated_at=now,
        )  # fmt: skip
        self.session.add(member)
        self.session.flush()
        self.audit.record(
            AuditAction.MEMBER_ADDED, org_id=org_id,
            targets=[Target("member", member.id), Target("user", user.id, user.email)],
            data={"user_id": user.id, "role": role, "source": source},
        )  # fmt: skip
        return member
