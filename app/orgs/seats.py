"""Seat pools: limits set by billing, assignment under a hard limit, transfer.

Every path that takes a seat (assignment, invitation acceptance, SCIM, SSO JIT, seat requests) goes through
``SeatService.take``, which locks the pool row first, so concurrent assignments cannot overshoot the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.db import is_postgres
from app.errors import Conflict, NotFound, SeatLimitReached, ValidationFailed
from app.orgs.models import Membership, Organization, SeatPool

SEAT_TYPES: tuple[str, ...] = ("pro",)


@dataclass(frozen=True)
class PoolStatus:
    seat_type: str
    limit: int
    used: int

    @property
    def available(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def over_limit(self) -> bool:
        return self.used > self.limit


def check_seat_type(seat_type: str, field: str = "seat_type") -> str:
    if seat_type not in SEAT_TYPES:
        raise ValidationFailed(
            f"Unknown seat type {seat_type!r}; known types: {', '.join(SEAT_TYPES)}.",
            errors=[{"field": field, "message": "unknown seat type"}],
        )
    return seat_type


class SeatService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    # --- pools -------------------------------------------------------------------------------------------
    def ensure_pools(self, org_id: str) -> None:
        """Every org has a pool per seat type from the start (limit 0 until billing sets one)."""
        existing = set(self.session.scalars(select(SeatPool.seat_type).where(SeatPool.org_id == org_id)))
        for seat_type in SEAT_TYPES:
            if seat_type not in existing:
                self.session.add(
                    SeatPool(org_id=org_id, seat_type=seat_type, limit=0, updated_at=self.clock.now())
                )
        self.session.flush()

    def used(self, org_id: str, seat_type: str) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.org_id == org_id, Membership.seat_type == seat_type)
            )
            or 0
        )

    def report(self, org_id: str) -> list[PoolStatus]:
        pools = self.session.scalars(
            select(SeatPool).where(SeatPool.org_id == org_id).order_by(SeatPool.seat_type)
        ).all()
        counts = dict(
            self.session.execute(
                select(Membership.seat_type, func.count())
                .where(Membership.org_id == org_id, Membership.seat_type.is_not(None))
                .group_by(Membership.seat_type)
            ).tuples()
        )
        return [PoolStatus(p.seat_type, p.limit, int(counts.get(p.seat_type, 0))) for p in pools]

    def status(self, org_id: str, seat_type: str) -> PoolStatus:
        pool = self._pool(org_id, seat_type, lock=False)
        return PoolStatus(seat_type, pool.limit, self.used(org_id, seat_type))

    def set_limit(self, org_id: str, seat_type: str, limit: int) -> PoolStatus:
        """Billing's call. Lowering below the seats in use evicts nobody: the pool reports over_limit."""
        check_seat_type(seat_type)
        pool = self._pool(org_id, seat_type, lock=True)
        before = pool.limit
        if before != limit:
            pool.limit = limit
            pool.updated_at = self.clock.now()
            used = self.used(org_id, seat_type)
            self.audit.record(
                AuditAction.SEAT_LIMIT_CHANGED,
                org_id=org_id,
                targets=[Target("seat_pool", seat_type)],
                changes={"limit": {"before": before, "after": limit}},
                data={"seat_type": seat_type, "used": used, "over_limit": used > limit},
            )
        self.session.flush()
        return PoolStatus(seat_type, pool.limit, self.used(org_id, seat_type))

    # --- assignment --------------------------------------------------------------------------------------
    def take(self, member: Membership, seat_type: str, *, reason: str = "assigned") -> bool:
        """Give ``member`` a seat of ``seat_type`` if the pool has room; False if it already had one."""
        check_seat_type(seat_type)
        if member.seat_type == seat_type:
            return False
        pool = self._pool(member.org_id, seat_type, lock=True)
        used = self.used(member.org_id, seat_type)
        if used >= pool.limit:
            raise SeatLimitReached(seat_type=seat_type, limit=pool.limit, used=used)
        previous = member.seat_type
        if previous is not None:
            self.release(member, reason="switched")
        member.seat_type = seat_type
        member.updated_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.SEAT_ASSIGNED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            changes={"seat_type": {"before": previous, "after": seat_type}},
            data={
                "seat_type": seat_type,
                "member_id": member.id,
                "user_id": member.user_id,
                "reason": reason,
                "used": used + 1,
                "limit": pool.limit,
            },
        )
        return True

    def release(self, member: Membership, *, reason: str = "unassigned") -> bool:
        if member.seat_type is None:
            return False
        seat_type = member.seat_type
        member.seat_type = None
        member.updated_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.SEAT_UNASSIGNED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            changes={"seat_type": {"before": seat_type, "after": None}},
            data={
                "seat_type": seat_type,
                "member_id": member.id,
                "user_id": member.user_id,
                "reason": reason,
            },
        )
        return True

    def assign(self, org_id: str, member_id: str, seat_type: str) -> Membership:
        member = self._member(org_id, member_id)
        self.take(member, seat_type)
        return member

    def unassign(self, org_id: str, member_id: str) -> Membership:
        member = self._member(org_id, member_id)
        self.release(member)
        return member

    def transfer(
        self, org_id: str, seat_type: str, from_member: str, to_member: str
    ) -> tuple[Membership, Membership]:
        """Move a seat between members in one transaction; the pool's count never changes."""
        check_seat_type(seat_type)
        if from_member == to_member:
            raise ValidationFailed(
                "A seat cannot be transferred to the member who holds it.",
                errors=[{"field": "to_member", "message": "same as from_member"}],
            )
        self._pool(org_id, seat_type, lock=True)
        source = self._member(org_id, from_member)
        target = self._member(org_id, to_member)
        if source.seat_type != seat_type:
            raise Conflict(f"Member {from_member} holds no '{seat_type}' seat to transfer.", reason="no_seat")
        if target.seat_type == seat_type:
            raise Conflict(f"Member {to_member} already holds a '{seat_type}' seat.", reason="has_seat")
        if target.seat_type is not None:
            self.release(target, reason="switched")
        source.seat_type = None
        target.seat_type = seat_type
        now = self.clock.now()
        source.updated_at = target.updated_at = now
        self.session.flush()
        self.audit.record(
            AuditAction.SEAT_TRANSFERRED,
            org_id=org_id,
            targets=[Target("member", source.id), Target("member", target.id)],
            data={
                "seat_type": seat_type,
                "from_member": source.id,
                "to_member": target.id,
                "from_user": source.user_id,
                "to_user": target.user_id,
            },
        )
        return source, target

    # --- lookups -----------------------------------------------------------------------------------------
    def _pool(self, org_id: str, seat_type: str, *, lock: bool) -> SeatPool:
        stmt = select(SeatPool).where(SeatPool.org_id == org_id, SeatPool.seat_type == seat_type)
        if lock and is_postgres(self.session):
            stmt = stmt.with_for_update()
        pool = self.session.scalars(stmt).one_or_none()
        if pool is None:
            if self.session.get(Organization, org_id) is None:
                raise NotFound(f"Organisation {org_id} not found")
            self.ensure_pools(org_id)
            pool = self.session.scalars(stmt).one()
        return pool

    def _member(self, org_id: str, member_id: str) -> Membership:
        member = self.session.get(Membership, member_id)
        if member is None or member.org_id != org_id:
            raise NotFound(f"Member {member_id} not found")
        return member
