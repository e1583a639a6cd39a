"""Seat requests: a member without a seat asks for one; an admin approves (the seat is taken through
``SeatService.take``, under the pool's hard limit) or denies. Each step is recorded."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.errors import NotFound, SeatAlreadyHeld, SeatRequestDecided, SeatRequestPending
from app.orgs.lookup import live_org
from app.orgs.models import Membership, SeatRequest, User
from app.orgs.seats import SeatService, check_seat_type

PENDING, APPROVED, DENIED = "pending", "approved", "denied"
STATUSES = (PENDING, APPROVED, DENIED)


@dataclass(frozen=True)
class SeatRequestView:
    """A request with the member and account it is for (what the API shows)."""

    request: SeatRequest
    member: Membership
    user: User


@dataclass(frozen=True)
class SeatRequestPage:
    items: list[SeatRequestView]
    last_id: str | None  # set when another page may follow


class SeatRequestService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder, seats: SeatService) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.seats = seats

    def create(self, org_id: str, user_id: str, seat_type: str, message: str | None) -> SeatRequestView:
        """The member (``user_id`` in ``org_id``) asks for a seat; 409 if they hold it or already asked."""
        check_seat_type(seat_type)
        live_org(self.session, org_id)
        self.audit.lock_chain(org_id)  # two asks at once: the second sees the first and answers 409
        member = self._member_of_user(org_id, user_id)
        if member.seat_type == seat_type:
            raise SeatAlreadyHeld(f"You already hold a '{seat_type}' seat.", seat_type=seat_type)
        pending = self.session.scalars(
            select(SeatRequest.id).where(
                SeatRequest.org_id == org_id,
                SeatRequest.membership_id == member.id,
                SeatRequest.seat_type == seat_type,
                SeatRequest.status == PENDING,
            )
        ).first()
        if pending is not None:
            raise SeatRequestPending(
                f"You already asked for a '{seat_type}' seat; an admin will decide.", request_id=pending
            )
        row = SeatRequest(
            org_id=org_id,
            membership_id=member.id,
            seat_type=seat_type,
            message=message,
            status=PENDING,
            created_at=self.clock.now(),
        )
        self.session.add(row)
        self.session.flush()
        self.audit.record(
            AuditAction.SEAT_REQUESTED,
            org_id=org_id,
            targets=[Target("seat_request", row.id), Target("member", member.id)],
            data={"seat_type": seat_type, "member_id": member.id, "user_id": member.user_id},
        )
        return self._view(row)

    def list(
        self, org_id: str, *, status: str | None = None, after_id: str | None = None, limit: int = 50
    ) -> SeatRequestPage:
        """Oldest first (the queue an admin works through), keyset-paginated on the time-sortable id."""
        live_org(self.session, org_id)
        stmt = (
            select(SeatRequest, Membership, User)
            .join(Membership, Membership.id == SeatRequest.membership_id)
            .join(User, User.id == Membership.user_id)
            .where(SeatRequest.org_id == org_id)
            .order_by(SeatRequest.id)
            .limit(limit + 1)
        )
        if status is not None:
            stmt = stmt.where(SeatRequest.status == status)
        if after_id is not None:
            stmt = stmt.where(SeatRequest.id > after_id)
        rows = [SeatRequestView(r, m, u) for r, m, u in self.session.execute(stmt).tuples()]
        more = len(rows) > limit
        items = rows[:limit]
        return SeatRequestPage(items, items[-1].request.id if more else None)

    def get(self, org_id: str, request_id: str) -> SeatRequestView:
        return self._view(self._request(org_id, request_id))

    def approve(self, org_id: str, request_id: str) -> SeatRequestView:
        """Assign the seat if the pool has room (else 409 seat_limit_reached; the request stays pending).

        Locks in the org's order (chain head, then the request row, then the pool inside ``take``), so two
        admins deciding at once decide once, and never deadlock with an assignment.
        """
        row = self._request(org_id, request_id, lock=True)
        if row.status != PENDING:
            raise self._decided(row)
        member = self.session.get(Membership, row.membership_id)
        if member is None:  # pragma: no cover - the request is deleted with its membership
            raise NotFound(f"Seat request {request_id} not found")
        assigned = self.seats.take(member, row.seat_type, reason="request_approved")
        self._decide(row, APPROVED, None)
        self.audit.record(
            AuditAction.SEAT_REQUEST_APPROVED,
            org_id=org_id,
            targets=[Target("seat_request", row.id), Target("member", member.id)],
            changes={"status": {"before": PENDING, "after": APPROVED}},
            data={"seat_type": row.seat_type, "member_id": member.id, "seat_assigned": assigned},
        )
        return self._view(row)

    def deny(self, org_id: str, request_id: str, reason: str | None) -> SeatRequestView:
        row = self._request(org_id, request_id, lock=True)
        if row.status != PENDING:
            raise self._decided(row)
        self._decide(row, DENIED, reason)
        self.audit.record(
            AuditAction.SEAT_REQUEST_DENIED,
            org_id=org_id,
            targets=[Target("seat_request", row.id), Target("member", row.membership_id)],
            changes={"status": {"before": PENDING, "after": DENIED}},
            data={"seat_type": row.seat_type, "member_id": row.membership_id, "reason": reason},
        )
        return self._view(row)

    # --- helpers -----------------------------------------------------------------------------------------
    def _decide(self, row: SeatRequest, status: str, reason: str | None) -> None:
        row.status = status
        row.reason = reason
        row.decided_at = self.clock.now()
        row.decided_by = self.audit.actor.id
        self.session.flush()

    @staticmethod
    def _decided(row: SeatRequest) -> SeatRequestDecided:
        return SeatRequestDecided(f"Seat request {row.id} was already {row.status}.", decision=row.status)

    def _request(self, org_id: str, request_id: str, *, lock: bool = False) -> SeatRequest:
        live_org(self.session, org_id)
        stmt = select(SeatRequest).where(SeatRequest.id == request_id, SeatRequest.org_id == org_id)
        if lock:  # a decision: the org's chain head first, then the request row (see app.orgs.seats)
            self.audit.lock_chain(org_id)
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = self.session.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(f"Seat request {request_id} not found")
        return row

    def _member_of_user(self, org_id: str, user_id: str) -> Membership:
        member = self.session.scalars(
            select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
        ).one_or_none()
        if member is None:
            raise NotFound(f"You are not a member of organisation {org_id}")
        return member

    def _view(self, row: SeatRequest) -> SeatRequestView:
        member = self.session.get(Membership, row.membership_id)
        user = self.session.get(User, member.user_id) if member is not None else None
        if member is None or user is None:  # pragma: no cover - foreign keys keep them
            raise NotFound(f"Seat request {row.id} not found")
        return SeatRequestView(row, member, user)
