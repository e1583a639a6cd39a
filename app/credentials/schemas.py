"""Request and response bodies for API keys and SCIM tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api.schema import Query, QueryBool, RequestBody, ResponseBody


class ApiKeyCreate(RequestBody):
    name: str = Field(default="", max_length=200)
    role: Literal["owner", "admin"] = "admin"


class PlatformKeyCreate(RequestBody):
    name: str = Field(default="", max_length=200)


class ScimTokenCreate(RequestBody):
    name: str = Field(default="", max_length=200)


class CredentialListQuery(Query):
    include_revoked: QueryBool = False


class ApiKeyOut(ResponseBody):
    id: str
    kind: str
    org_id: str | None
    role: str | None
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown once: store it now.")


class ApiKeyList(ResponseBody):
    data: list[ApiKeyOut]
    next_cursor: str | None = None


class ScimTokenOut(ResponseBody):
    id: str
    org_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ScimTokenCreated(ScimTokenOut):
    token: str = Field(description="The secret. Shown once: store it now.")


class ScimTokenList(ResponseBody):
    data: list[ScimTokenOut]
    next_cursor: str | None = None
