"""Global accounts: one per case-folded email, shared by every organisation the person belongs to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.orgs.models import User


def normalize_email(email: str) -> str:
    """Case-folded and stripped: ``Ann@Example.COM`` and ``ann@example.com`` are one account."""
    return email.strip().casefold()


class AccountService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def find_by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()

    def get_or_create(
        self, email: str, name: str | None = None, *, org_id: str | None = None
    ) -> tuple[User, bool]:
        """The account for ``email``, created when missing (recorded in ``org_id``'s chain, if given)."""
        user = self.find_by_email(email)
        if user is not None:
            if name and not user.name:
                user.name = name
            return user, False
        now = self.clock.now()
        user = User(email=normalize_email(email), name=name, created_at=now, updated_at=now)
        self.session.add(user)
        self.session.flush()
        self.audit.record(AuditAction.USER_CREATED, org_id=org_id, targets=[Target("user", user.id)])
        return user, True
