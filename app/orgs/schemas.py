"""Request and response bodies for organisations."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.api.schema import BodyBool, RequestBody, ResponseBody


class OrgCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        default=None, min_length=1, max_length=60, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )


class OrgUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    audit_logs_enabled: BodyBool | None = None
    audit_retention_days: int | None = Field(default=None, ge=30, le=3650)
    sso_enforced: BodyBool | None = None


class OrgOut(ResponseBody):
    id: str
    name: str
    slug: str
    audit_logs_enabled: bool
    audit_retention_days: int
    sso_enforced: bool
    created_at: datetime
    updated_at: datetime
