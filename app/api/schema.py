"""Base models for request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictInt


def _true_or_false(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("must be true or false")
        return value == "true"
    return value


# Booleans in a body are JSON's ``true`` and ``false`` only: pydantic's lax bool would read "no", "off", 0 and
# "f" as false, so {"audit_logs_enabled": "no"} would pass for a setting nobody meant to change that way.
BodyBool = StrictBool


def _json_integer(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer, and so does the OpenAPI document; true is not a number.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# An integer in a request body: 3 or 3.0, never "3" or true.
BodyInt = Annotated[StrictInt, BeforeValidator(_json_integer)]
# Cursors are URL-safe base64 that the server wrote; anything else is refused before it is decoded.
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]*$"
# In a query string every value is text: exactly ``true`` or ``false``, never ``yes``, ``1`` or ``on``.
QueryBool = Annotated[StrictBool, BeforeValidator(_true_or_false)]


class RequestBody(BaseModel):
    """Unknown fields are refused (422 names them) so a typo never passes silently. Boolean fields are
    ``BodyBool``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Query(BaseModel):
    """Boolean parameters are ``QueryBool``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(ResponseBody, Generic[T]):
    data: list[T]
    next_cursor: str | None = None
