"""Request and response bodies for invitations."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import EmailStr, Field, field_validator

from app.api.schema import CURSOR_PATTERN, BodyBool, Query, RequestBody, ResponseBody
from app.orgs.models import Invitation
from app.orgs.seats import SEAT_TYPES

InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]
Delivery = Literal["pending", "sent", "failed"]
BuiltinRole = Literal["owner", "admin", "billing", "member"]


# Control characters (C0, DEL, C1): PostgreSQL refuses NUL in text and no name or role holds one. The same
# rule is the pattern in the OpenAPI document, so a client can check it before sending.
NO_CONTROLS = "^[^\u0000-\u001f\u007f-\u009f]*$"
_CONTROLS = re.compile("[\u0000-\u001f\u007f-\u009f]")


def _printable(value: str | None) -> str | None:
    if value is not None and _CONTROLS.search(value):
        raise ValueError("must not contain control characters")
    return value


class InvitationCreate(RequestBody):
    email: EmailStr = Field(max_length=320)
    role: str = Field(
        min_length=1, max_length=64, description="A built-in role or one of the org's custom roles."
    )
    seat_type: str | None = Field(default=None, description="A known seat type, e.g. 'pro'.")
    expires_in_days: int | None = Field(default=None, ge=1, le=30, description="Default 7.")
    return_token: BodyBool = Field(
        default=False,
        description="Platform keys only: also return the token (your backend delivers it). Audited. "
        "Org keys and sessions never see it: it travels by email.",
    )

    _no_control = field_validator("role")(_printable)

    @field_validator("seat_type")
    @classmethod
    def _known_seat_type(cls, value: str | None) -> str | None:
        if value is not None and value not in SEAT_TYPES:  # also refuses control characters
            raise ValueError(f"unknown seat type; known types: {', '.join(SEAT_TYPES)}")
        return value


class InvitationListQuery(Query):
    status: InvitationStatus | None = None
    cursor: str | None = Field(default=None, max_length=200, pattern=CURSOR_PATTERN)
    limit: int = Field(default=50, ge=1, le=200, description="Page size, 1 to 200.")

    _no_control = field_validator("cursor")(_printable)


class InvitationAccept(RequestBody):
    token: str = Field(min_length=1, max_length=200, pattern=r"^tnt_inv_[A-Za-z0-9_-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_CONTROLS)

    _no_control = field_validator("token", "name")(_printable)


class InvitationResend(RequestBody):
    expires_in_days: int | None = Field(default=None, ge=1, le=30, description="Default 7.")
    return_token: BodyBool = Field(default=False, description="Platform keys only, as on create. Audited.")


class InvitationOut(ResponseBody):
    id: str
    org_id: str
    email: str
    role: str
    seat_type: str | None
    status: InvitationStatus
    delivery: Delivery
    invited_by: str | None
    expires_at: datetime
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    accepted_user_id: str | None
    revoked_at: datetime | None

    @classmethod
    def fields(cls, invitation: Invitation, status: str) -> dict[str, Any]:
        """The invitation's fields with the status a caller sees (pending past expiry reads ``expired``)."""
        data = cls.model_validate(invitation).model_dump()
        data["status"] = status
        return data


class InvitationIssued(InvitationOut):
    """Create and resend. The token is mailed; it is shown here only to a platform key that asked for it."""

    token_returned: bool
    token: str | None = None
    accept_url: str | None = None


class InvitationPage(ResponseBody):
    data: list[InvitationOut]
    next_cursor: str | None = None


class AcceptedMembership(ResponseBody):
    id: str
    org_id: str
    user_id: str
    email: str
    role: str
    seat_type: str | None
    status: str
    account: Literal["created", "existing"] = Field(
        description="created: the token opened a new account; existing: your signed-in account joined."
    )
    session_token: str
    expires_in: int
