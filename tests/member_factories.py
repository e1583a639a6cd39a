"""Building accounts, memberships and sessions through the services (not HTTP), for member tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.container import Container
from app.db import transaction
from app.orgs.models import Membership


@dataclass(frozen=True)
class Person:
    user_id: str
    member_id: str
    email: str


def add_person(
    container: Container,
    org_id: str,
    email: str,
    *,
    role: str = "member",
    name: str | None = None,
    seat: str | None = None,
    status: str = "active",
) -> Person:
    """An account (created or reused) with a membership in ``org_id``; a seat raises the limit if needed."""
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        user, _ = svc.accounts.get_or_create(email, name, org_id=org_id)
        member = svc.members.add(org_id, user, role, source="invitation")
        if seat is not None:
            pool = svc.seats.status(org_id, seat)
            if pool.available == 0:
                svc.seats.set_limit(org_id, seat, pool.limit + 1)
            svc.seats.take(member, seat)
        member.status = status
        return Person(user.id, member.id, user.email)


def session_token(
    container: Container, user_id: str, org_id: str, *, account_proof: str | None = "test"
) -> str:
    """A session as a signed-in member has (``account_proof`` None: a session that never proved the account,
    as those opened before revision 0002)."""
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        return svc.sessions.issue(user_id, org_id, "test", account_proof=account_proof).token


def audit_events(container: Container, action: str, **where: Any) -> list[AuditEvent]:
    with container.session_factory() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.occurred_at)
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, column) == value)
        return list(session.scalars(stmt))


def membership_count(container: Container, **where: Any) -> int:
    with container.session_factory() as session:
        stmt = select(func.count()).select_from(Membership)
        for column, value in where.items():
            stmt = stmt.where(getattr(Membership, column) == value)
        return int(session.scalar(stmt) or 0)
