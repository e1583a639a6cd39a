"""Seat pools: limits set by billing, assignment under a hard limit, transfer.

Every path that takes a seat (assignment, invitation acceptance, SCIM, SSO JIT, seat requests) goes through
``SeatService.take``, which locks the pool row before it counts, so concurrent assignments cannot overshoot.

Lock order inside an org, the same on every path so that no two writers wait on each other in a cycle:
the org's audit chain head (every mutation takes it when it records its event), then the seat pool row,
then member rows in id order. On SQLite, ``BEGIN IMMEDIATE`` serialises writers and row locks are no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.errors import (
    MemberSuspended,
    NotFound,
    SeatAlreadyHeld,
    SeatLimitReached,
    SeatNotHeld,
    ValidationFailed,
)
from app.orgs.lookup import live_org
from app.orgs.models import Membership, SeatPool

SEAT_TYPES: tuple[str, ...] = ("pro",)
MAX_LIMIT = 1_000_000


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
    """A closed list: an unknown type is the caller's mistake (422 naming the field), in a path or a body."""
    if seat_type not in SEAT_TYPES:
        raise ValidationFailed(
            f"Unknown seat type {seat_type!r}; known types: {', '.join(SEAT_TYPES)}.",
            errors=[{"field": field, "message": f"unknown seat type; one of: {', '.join(SEAT_TYPES)}"}],
        )
    return seat_type


class SeatService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    # --- pools -------------------------------------------------------------------------------------------
    def ensure_pools(self, org_id: str) -> None:
        """Every org has a pool per seat type from the start (limit 0 until billing sets one).

        Insert-if-missing in one statement, so two first-time callers cannot collide on the unique key.
        """
        now = self.clock.now()
        rows = [{"org_id": org_id, "seat_type": t, "limit": 0, "updated_at": now} for t in SEAT_TYPES]
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            pg_stmt = postgresql.insert(SeatPool).values(rows)
            self.session.execute(pg_stmt.on_conflict_do_nothing(index_elements=["org_id", "seat_type"]))
        else:
            lite_stmt = sqlite.insert(SeatPool).values(rows)
            self.session.execute(lite_stmt.on_conflict_do_nothing(index_elements=["org_id", "seat_type"]))

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
        """Every seat type, with a limit of 0 where billing has not set one yet (reading writes nothing)."""
        live_org(self.session, org_id)
        # Comprehensions, not dict(result): a Result has keys() and would be read as a mapping.
        limits = {
            seat_type: limit
            for seat_type, limit in self.session.execute(
                select(SeatPool.seat_type, SeatPool.limit).where(SeatPool.org_id == org_id)
            ).tuples()
        }
        counts = {
            seat_type: count
            for seat_type, count in self.session.execute(
                select(Membership.seat_type, func.count())
                .where(Membership.org_id == org_id, Membership.seat_type.is_not(None))
                .group_by(Membership.seat_type)
            ).tuples()
        }
        return [PoolStatus(t, int(limits.get(t, 0)), int(counts.get(t, 0))) for t in SEAT_TYPES]

    def status(self, org_id: str, seat_type: str) -> PoolStatus:
        check_seat_type(seat_type)
        pool = self._pool(org_id, seat_type, lock=False)
        return PoolStatus(seat_type, pool.limit, self.used(org_id, seat_type))

    def set_limit(self, org_id: str, seat_type: str, limit: int) -> PoolStatus:
        """Billing's call. Lowering below the seats in use evicts nobody: the pool reports over_limit and
        refuses new assignments until it is back under."""
        check_seat_type(seat_type)
        if not 0 <= limit <= MAX_LIMIT:
            raise ValidationFailed(
                f"The limit must be between 0 and {MAX_LIMIT}.",
                errors=[{"field": "limit", "message": f"must be between 0 and {MAX_LIMIT}"}],
            )
        pool = self._pool(org_id, seat_type, lock=True)
        before = pool.limit
        used = self.used(org_id, seat_type)
        if before != limit:
            pool.limit = limit
            pool.updated_at = self.clock.now()
            self.session.flush()
            self.audit.record(
                AuditAction.SEAT_LIMIT_CHANGED,
                org_id=org_id,
                targets=[Target("seat_pool", seat_type)],
                changes={"limit": {"before": before, "after": limit}},
                data={"seat_type": seat_type, "limit": limit, "used": used, "over_limit": used > limit},
            )
        return PoolStatus(seat_type, pool.limit, used)

    # --- assignment --------------------------------------------------------------------------------------
    def take(self, member: Membership, seat_type: str, *, reason: str = "assigned") -> bool:
        """Give ``member`` a seat of ``seat_type`` if the pool has room; False if it already held one.

        The pool is locked before anything is counted or read back, so the count and the member's seat are
        the committed truth at that point (PostgreSQL reads each statement afresh under READ COMMITTED).
        """
        check_seat_type(seat_type)
        self.session.flush()  # the caller's pending changes to ``member`` must not be lost by the re-read
        pool = self._pool(member.org_id, seat_type, lock=True)
        member = self._relock(member)
        if member.seat_type == seat_type:
            return False
        if member.status == "suspended":
            raise MemberSuspended("The member is suspended: reactivate them before giving them a seat.")
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
        """Free the member's seat (no pool lock needed: freeing can never overshoot a limit)."""
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
        """Idempotent: a member who already holds the seat keeps it and nothing is recorded."""
        check_seat_type(seat_type)
        member = self._member(org_id, member_id)
        self.take(member, seat_type)
        return member

    def unassign(self, org_id: str, member_id: str) -> Membership:
        """Idempotent; the member is read back under the org's lock, so a seat moved away meanwhile (a
        concurrent transfer) is not "freed" a second time."""
        live_org(self.session, org_id)
        self.audit.lock_chain(org_id)
        member = self._relock(self._member(org_id, member_id))
        self.release(member)
        return member

    def transfer(
        self, org_id: str, seat_type: str, from_member: str, to_member: str
    ) -> tuple[Membership, Membership]:
        """Move a seat between members in one transaction; the pool's count never changes, so a transfer
        works even while the pool is over its limit."""
        check_seat_type(seat_type)
        if from_member == to_member:
            raise ValidationFailed(
                "A seat cannot be transferred to the member who holds it.",
                errors=[{"field": "to_member", "message": "same as from_member"}],
            )
        self._pool(org_id, seat_type, lock=True)
        # Both member rows are locked in id order, after the pool: two opposite transfers cannot deadlock.
        locked = {
            m.id: m
            for m in self.session.scalars(
                select(Membership)
                .where(Membership.org_id == org_id, Membership.id.in_((from_member, to_member)))
                .order_by(Membership.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        for member_id in (from_member, to_member):
            if member_id not in locked:
                raise NotFound(f"Member {member_id} not found")
        source, target = locked[from_member], locked[to_member]
        if source.seat_type != seat_type:
            raise SeatNotHeld(
                f"Member {from_member} holds no '{seat_type}' seat to transfer.",
                seat_type=seat_type,
                member_id=from_member,
            )
        if target.status == "suspended":
            raise MemberSuspended(
                f"Member {to_member} is suspended: reactivate them before giving them a seat."
            )
        if target.seat_type == seat_type:
            raise SeatAlreadyHeld(
                f"Member {to_member} already holds a '{seat_type}' seat.",
                seat_type=seat_type,
                member_id=to_member,
            )
        if target.seat_type is not None:
            self.release(target, reason="switched")
        now = self.clock.now()
        source.seat_type = None
        target.seat_type = seat_type
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

    # --- lookups and locks -------------------------------------------------------------------------------
    def _pool(self, org_id: str, seat_type: str, *, lock: bool) -> SeatPool:
        """The pool row; with ``lock``, the org's chain head first and then the pool row (FOR UPDATE)."""
        live_org(self.session, org_id)
        if lock:
            self.audit.lock_chain(org_id)
        stmt = select(SeatPool).where(SeatPool.org_id == org_id, SeatPool.seat_type == seat_type)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        pool = self.session.scalars(stmt).one_or_none()
        if pool is None:
            self.ensure_pools(org_id)
            pool = self.session.scalars(stmt).one()
        return pool

    def _relock(self, member: Membership) -> Membership:
        """Re-read ``member`` under a row lock once the pool is held: an earlier read may be stale."""
        fresh = self.session.scalars(
            select(Membership)
            .where(Membership.id == member.id, Membership.org_id == member.org_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if fresh is None:
            raise NotFound(f"Member {member.id} not found")
        return fresh

    def _member(self, org_id: str, member_id: str) -> Membership:
        member = self.session.get(Membership, member_id)
        if member is None or member.org_id != org_id:
            raise NotFound(f"Member {member_id} not found")
        return member
