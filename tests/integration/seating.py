"""Helpers for the seat tests: members and member sessions made directly through the services."""

from __future__ import annotations

from dataclasses import dataclass

from app.container import Container
from app.db import transaction


@dataclass(frozen=True)
class MadeMember:
    id: str
    user_id: str
    email: str


def add_member(container: Container, org_id: str, email: str, role: str = "member") -> MadeMember:
    """An account (created if new) and its membership, committed."""
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        user, _ = svc.accounts.get_or_create(email, org_id=org_id)
        member = svc.members.add(org_id, user, role, source="invitation")
        return MadeMember(member.id, user.id, user.email)


def add_members(container: Container, org_id: str, count: int, prefix: str = "m") -> list[MadeMember]:
    """``count`` seatless members in one transaction."""
    made = []
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        for i in range(count):
            user, _ = svc.accounts.get_or_create(f"{prefix}{i}@example.com", org_id=org_id)
            member = svc.members.add(org_id, user, "member", source="invitation")
            made.append(MadeMember(member.id, user.id, user.email))
    return made


def set_limit(container: Container, org_id: str, limit: int, seat_type: str = "pro") -> None:
    with transaction(container.session_factory) as session:
        container.services(session).seats.set_limit(org_id, seat_type, limit)
