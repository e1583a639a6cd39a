"""Request and response bodies for group mappings (``/v1/orgs/{org}/group-mappings``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.api.schema import RequestBody, ResponseBody
from app.orgs.seat_schemas import SeatType
from app.scim.models import ScimGroupMapping


def _no_null_default(schema: dict[str, Any]) -> None:
    """Absent means "not granted"; the document says nothing of null (the field is a string when sent)."""
    schema.pop("default", None)


RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]


class GroupMappingCreate(RequestBody):
    # At least one of role and seat_type, said in the document too.
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["role"]}, {"required": ["seat_type"]}]}
    )

    group_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^grp_[0-9a-f]+$",
        description="A SCIM group of the organisation.",
    )
    role: RoleName | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_no_null_default,
        description="The role its members get while in the group (never owner: a mapping grants only what "
        "its creator holds). At least one of role and seat_type.",
    )
    seat_type: SeatType | SkipJsonSchema[None] = Field(
        default=None,
        description="The seat type its members take, if free.",
        json_schema_extra=_no_null_default,
    )

    @model_validator(mode="after")
    def _grants_something(self) -> GroupMappingCreate:
        if self.role is None and self.seat_type is None:
            raise ValueError("role or seat_type is required")
        return self


class GroupMappingOut(ResponseBody):
    id: str
    org_id: str
    group_id: str
    role: str | None
    seat_type: str | None
    created_at: datetime

    @classmethod
    def of(cls, mapping: ScimGroupMapping) -> GroupMappingOut:
        return cls(
            id=mapping.id,
            org_id=mapping.org_id,
            group_id=mapping.group_id,
            role=mapping.role,
            seat_type=mapping.seat_type,
            created_at=mapping.created_at,
        )


class GroupMappingList(ResponseBody):
    data: list[GroupMappingOut]
