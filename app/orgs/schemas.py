"""Request and response bodies for organisations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api.schema import BodyBool, RequestBody, ResponseBody

AutoJoin = Literal["off", "invite_only", "auto_join"]
OutsideDomains = Literal["accept", "refuse"]


class OrgCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        default=None, min_length=1, max_length=60, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )


class OrgUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    audit_logs_enabled: BodyBool | None = None
    audit_retention_days: int | None = Field(default=None, ge=30, le=3650)
    sso_enforced: BodyBool | None = Field(
        default=None, description="Members must sign in with SSO. Turning it on needs a verified domain."
    )
    auto_join: AutoJoin | None = Field(
        default=None,
        description="What people of the org's verified domains may do: off, invite_only (they may ask to "
        "join) or auto_join (they join as members). Anything but off needs a verified domain.",
    )
    scim_outside_domains: OutsideDomains | None = Field(
        default=None,
        description="SCIM users whose userName or emails are outside the org's verified domains: accept "
        "(the default) or refuse (400 invalidValue). With no verified domain, refuse refuses every address.",
    )


class OrgOut(ResponseBody):
    id: str
    name: str
    slug: str
    audit_logs_enabled: bool
    audit_retention_days: int
    sso_enforced: bool
    auto_join: AutoJoin
    scim_outside_domains: OutsideDomains
    created_at: datetime
    updated_at: datetime
