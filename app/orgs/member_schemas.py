"""Request and response bodies for members and accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from app.api.schema import CURSOR_PATTERN, Page, Query, RequestBody, ResponseBody
from app.orgs.models import Membership, User

MemberStatus = Literal["active", "suspended"]


def _printable(value: str | None) -> str | None:
    # A NUL or control character can never match and PostgreSQL refuses NUL in text: reject it as input.
    if value is not None and not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


class MemberListQuery(Query):
    limit: int = Field(default=50, ge=1, le=200, description="Page size, 1 to 200.")
    cursor: str | None = Field(
        default=None,
        max_length=200,
        pattern=CURSOR_PATTERN,
        description="The next_cursor of the previous page.",
    )
    role: str | None = Field(default=None, min_length=1, max_length=64)
    seat_type: str | None = Field(
        default=None, min_length=1, max_length=32, description="A seat type, or 'none' for seatless members."
    )
    status: MemberStatus | None = None
    q: str | None = Field(
        default=None, max_length=200, description="Case-insensitive substring of the name or email."
    )

    _no_control = field_validator("cursor", "role", "seat_type", "q")(_printable)


class MemberUpdate(RequestBody):
    role: str | None = Field(
        default=None, min_length=1, max_length=64, description="A built-in or custom role."
    )
    status: MemberStatus | None = None

    _no_control = field_validator("role")(_printable)


class MemberOut(ResponseBody):
    id: str
    user_id: str
    email: str
    name: str | None
    role: str
    seat_type: str | None
    status: str
    source: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Membership, user: User) -> MemberOut:
        return cls(
            id=member.id,
            user_id=member.user_id,
            email=user.email,
            name=user.name,
            role=member.role,
            seat_type=member.seat_type,
            status=member.status,
            source=member.source,
            created_at=member.created_at,
            updated_at=member.updated_at,
        )


class MemberPage(Page[MemberOut]):
    pass


class AccountMembershipOut(ResponseBody):
    org_id: str
    org_name: str
    member_id: str
    role: str
    seat_type: str | None
    status: str


class AccountOut(ResponseBody):
    id: str
    email: str
    name: str | None
    memberships: list[AccountMembershipOut]
