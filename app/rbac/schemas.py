"""Request and response bodies: the check API, roles, a member's effective permissions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schema import RequestBody, ResponseBody
from app.rbac.policy import custom_role_grantable

MAX_BATCH = 1000


class CheckIn(RequestBody):
    org: str = Field(min_length=1, max_length=64, description="The org id (the Casbin domain).")
    subject: str = Field(min_length=1, max_length=64, description="A user id (usr_…) or a member id (mem_…).")
    action: str = Field(min_length=1, max_length=128, description="A permission, e.g. chat:pro_features.")
    min_version: int | None = Field(
        default=None, ge=0, description="Answer from a snapshot at least this new (reloaded if older)."
    )


class CheckOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed: bool
    version: int = Field(description="The org's authorization version the answer was computed at.")
    reason: str = Field(
        description="granted_by_role, granted_by_seat, not_granted, unknown_org, unknown_subject, "
        "invalid_subject, unknown_permission, unknown_role, member_suspended, org_not_accessible or "
        "subject_not_accessible."
    )


class CheckBatchIn(RequestBody):
    checks: list[CheckIn] = Field(max_length=MAX_BATCH)


class CheckBatchOut(BaseModel):
    results: list[CheckOut]


# The document lists the permissions a custom role may hold (policies/permissions.csv); the service still
# checks them, with a message naming each one it refuses.
GrantablePermission = Annotated[str, Field(json_schema_extra={"enum": sorted(custom_role_grantable())})]


class RoleCreate(RequestBody):
    name: str = Field(min_length=2, max_length=63, pattern=r"^[a-z][a-z0-9_-]*$")
    description: str = Field(default="", max_length=500)
    permissions: list[GrantablePermission] = Field(max_length=200)


class RoleUpdate(RequestBody):
    description: str | None = Field(default=None, max_length=500)
    permissions: list[GrantablePermission] | None = Field(default=None, max_length=200)


class RoleOut(ResponseBody):
    name: str
    description: str
    builtin: bool
    permissions: list[str]


class RoleList(ResponseBody):
    data: list[RoleOut]
    next_cursor: str | None = None


class MemberPermissionsOut(ResponseBody):
    member_id: str
    user_id: str
    role: str
    seat_type: str | None
    status: Literal["active", "suspended"] | str
    permissions: list[str]
    role_permissions: list[str]
    seat_permissions: list[str]
