"""Member login sessions: opaque bearer tokens (``tnt_ses_…``), stored hashed, revocable.

The SSO issue adds cookies and signed access tokens on top; invitation acceptance issues one today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials import secrets
from app.credentials.principal import Principal
from app.errors import Unauthenticated
from app.orgs.models import LoginSession, Membership, Organization, User

EndReason = Literal["logout", "sso_logout", "idp_logout"]  # single logout: ours, or the IdP's


@dataclass(frozen=True)
class IssuedSession:
    id: str
    token: str
    expires_in: int


class SessionService:
    def __init__(self, session: Session, clock: Clock, ttl_seconds: int, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.audit = audit

    def issue(
        self, user_id: str, org_id: str, method: str, *, account_proof: str | None = None
    ) -> IssuedSession:
        """A session in ``org_id``; ``account_proof`` says how the holder proved control of the account
        (None: it did not, and the session acts in its org only)."""
        token = secrets.new_secret("session")
        now = self.clock.now()
        row = LoginSession(
            user_id=user_id,
            org_id=org_id,
            method=method,
            token_hash=secrets.hash_secret(token),
            created_at=now,
            expires_at=now + self.ttl,
            account_proof=account_proof,
        )
        self.session.add(row)
        self.session.flush()
        return IssuedSession(row.id, token, int(self.ttl.total_seconds()))

    def authenticate(self, token: str) -> Principal:
        """A live session of an active member: the principal acts with the member's current role."""
        if not secrets.looks_like(token, "session"):
            raise Unauthenticated("The session token is malformed.")
        row = self.session.scalars(
            select(LoginSession).where(LoginSession.token_hash == secrets.hash_secret(token))
        ).one_or_none()
        if row is None or row.revoked_at is not None or row.expires_at <= self.clock.now():
            raise Unauthenticated("The session is unknown, expired or ended. Log in again.")
        found = self.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .join(Organization, Organization.id == Membership.org_id)
            .where(
                Membership.user_id == row.user_id,
                Membership.org_id == row.org_id,
                Organization.deleted_at.is_(None),
            )
        ).one_or_none()
        if found is None:
            raise Unauthenticated("The session's membership has ended.")
        member, user = found
        if member.status != "active":
            raise Unauthenticated("The membership is suspended.")
        return Principal(
            "user",
            row.id,
            user.name or user.email,
            org_id=row.org_id,
            role=member.role,
            user_id=user.id,
            account_proof=row.account_proof,
        )

    def end(self, session_id: str, *, reason: EndReason) -> bool:
        """End one session and record ``session.ended``. False, and no event, when it had ended already
        (two logouts at once: one ends it). The org's chain head is locked before the session row, the
        order every writer in an org takes (app/orgs/seats.py)."""
        row = self.session.get(LoginSession, session_id)
        if row is None or row.revoked_at is not None:
            return False
        self.audit.lock_chain(row.org_id)
        result = self.session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=self.clock.now())
        )
        if not getattr(result, "rowcount", 0):
            return False
        self.audit.record(
            AuditAction.SESSION_ENDED,
            org_id=row.org_id,
            targets=[Target("session", row.id), Target("user", row.user_id)],
            data={"reason": reason},
        )
        return True

    def end_for_member(self, user_id: str, org_id: str | None = None) -> int:
        """End a user's sessions in one org (membership removed) or everywhere (account deleted)."""
        stmt = update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        if org_id is not None:
            stmt = stmt.where(LoginSession.org_id == org_id)
        result = self.session.execute(stmt.values(revoked_at=self.clock.now()))
        return int(getattr(result, "rowcount", 0) or 0)
