"""Base models for request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictInt


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


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number, or text that is one, as Unix time; the document promises RFC 3339 text.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z, not a number")
    return value


# A date-time with its time zone as RFC 3339 text (a query parameter or a body field), never a Unix time.
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
# The same where a missing zone is the caller's to settle (an extract's span is refused without one).
Rfc3339Text = Annotated[datetime, BeforeValidator(_not_a_number)]

# An integer in a request body: 3 or 3.0, never "3" or true.
BodyInt = Annotated[StrictInt, BeforeValidator(_json_integer)]
# Cursors are URL-safe base64 that the server wrote; anything else is refused before it is decoded. Never
# empty: a query's strings are stripped, and a cursor of whitespace must be refused, not read as no cursor.
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]+$"
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
