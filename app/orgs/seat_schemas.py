"""Request and response bodies for seat pools, seat assignment, transfer and seat requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from app.api.schema import CURSOR_PATTERN, BodyInt, Query, RequestBody, ResponseBody
from app.orgs.models import Membership, User
from app.orgs.seat_requests import SeatRequestView
from app.orgs.seats import MAX_LIMIT, SEAT_TYPES, PoolStatus


def _known_seat_type(value: str) -> str:
    if value not in SEAT_TYPES:
        raise ValueError(f"unknown seat type; one of: {', '.join(SEAT_TYPES)}")
    return value


SeatType = Annotated[
    str,
    Field(min_length=1, max_length=32, json_schema_extra={"enum": list(SEAT_TYPES)}),
    AfterValidator(_known_seat_type),
]
MemberId = Annotated[str, Field(min_length=1, max_length=64)]


class SeatLimitIn(RequestBody):
    limit: BodyInt = Field(ge=0, le=MAX_LIMIT, description="Seats paid for; billing's number.")


class SeatAssignIn(RequestBody):
    seat_type: SeatType


class SeatTransferIn(RequestBody):
    from_member: MemberId
    to_member: MemberId


class SeatRequestIn(RequestBody):
    seat_type: SeatType
    message: str | None = Field(default=None, max_length=1000)


class SeatRequestDenyIn(RequestBody):
    reason: str | None = Field(default=None, max_length=1000)


class SeatRequestQuery(Query):
    status: Literal["pending", "approved", "denied"] | None = None
    cursor: str | None = Field(default=None, max_length=512, pattern=CURSOR_PATTERN)
    limit: int = Field(default=50, ge=1, le=200)


class SeatPoolOut(ResponseBody):
    seat_type: str
    limit: int
    used: int
    available: int
    over_limit: bool
    shortfall: int = Field(
        default=0,
        description="Active members that group mappings want seated in this pool but who hold no seat of it "
        "(the pool was full when the IdP added them): raise the limit by this much to seat them all.",
    )

    @classmethod
    def of(cls, pool: PoolStatus, shortfall: int = 0) -> SeatPoolOut:
        return cls(
            seat_type=pool.seat_type,
            limit=pool.limit,
            used=pool.used,
            available=pool.available,
            over_limit=pool.over_limit,
            shortfall=shortfall,
        )


class SeatPoolList(ResponseBody):
    data: list[SeatPoolOut]


class SeatMemberOut(ResponseBody):
    id: str
    user_id: str
    email: str
    role: str
    seat_type: str | None
    status: str

    @classmethod
    def of(cls, member: Membership, user: User) -> SeatMemberOut:
        return cls(
            id=member.id,
            user_id=member.user_id,
            email=user.email,
            role=member.role,
            seat_type=member.seat_type,
            status=member.status,
        )


class SeatTransferOut(ResponseBody):
    seat_type: str
    from_member: SeatMemberOut
    to_member: SeatMemberOut


class SeatRequestOut(ResponseBody):
    id: str
    member_id: str
    user_id: str
    email: str
    seat_type: str
    message: str | None
    status: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None

    @classmethod
    def of(cls, view: SeatRequestView) -> SeatRequestOut:
        r = view.request
        return cls(
            id=r.id,
            member_id=view.member.id,
            user_id=view.user.id,
            email=view.user.email,
            seat_type=r.seat_type,
            message=r.message,
            status=r.status,
            reason=r.reason,
            created_at=r.created_at,
            decided_at=r.decided_at,
            decided_by=r.decided_by,
        )


class SeatRequestPageOut(ResponseBody):
    data: list[SeatRequestOut]
    next_cursor: str | None
