"""Bodies of ``POST /v1/sessions/token`` and the issuer documents under ``/.well-known``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.api.schema import ResponseBody


class AccessTokenOut(ResponseBody):
    access_token: str = Field(
        description="A JWT (ES256, typ at+jwt) other services verify against /.well-known/jwks.json."
    )
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="Seconds until it expires (TENANTRY_ACCESS_TOKEN_TTL).")
