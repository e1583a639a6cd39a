"""SCIM Error bodies (RFC 7644 §3.12): how every error under ``/scim/v2`` is shown, whatever raised it.

Pure: an ``AppError`` in, the body and status out. ``scimType`` comes from the error itself when it names one
(SCIM's own errors set ``scim_type``), else from its kind: a refused value is ``invalidValue``, an unreadable
body ``invalidSyntax``, a conflict ``uniqueness``. RFC 7644 §3.12 defines ``status`` as a string.
"""

from __future__ import annotations

from typing import Any, Final

from app.errors import AppError, Conflict, MalformedRequest, ValidationFailed

ERROR_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE: Final = "application/scim+json"
JSON_TYPES: Final = frozenset({"application/json", MEDIA_TYPE})  # the bodies a SCIM request may send

_BY_KIND: Final[tuple[tuple[type[AppError], str], ...]] = (
    (ValidationFailed, "invalidValue"),
    (MalformedRequest, "invalidSyntax"),
    (Conflict, "uniqueness"),
)


def scim_type_of(error: AppError) -> str | None:
    named = getattr(error, "scim_type", None)
    if isinstance(named, str):
        return named
    for kind, scim_type in _BY_KIND:
        if isinstance(error, kind):
            return scim_type
    return None


def error_body(error: AppError, status: int) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": error.detail}
    scim_type = scim_type_of(error)
    if scim_type is not None and status in (400, 413) or (scim_type == "uniqueness" and status == 409):
        body["scimType"] = scim_type
    return body


class ScimError(MalformedRequest):
    """Base of SCIM's own 400 errors; ``scim_type`` is the RFC 7644 §3.12 Table 9 keyword."""

    scim_type: str = "invalidValue"


class InvalidFilter(ScimError):
    """The filter syntax was invalid, or the attribute and comparison combination is not supported."""

    code, title = "invalid_filter", "Invalid filter"
    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    """The "path" attribute was invalid or malformed."""

    code, title = "invalid_path", "Invalid path"
    scim_type = "invalidPath"


class NoTarget(ScimError):
    """The specified "path" did not yield an attribute or attribute value that could be operated on."""

    code, title = "no_target", "No target"
    scim_type = "noTarget"


class InvalidValue(ScimError):
    """A required value was missing, or the value specified was not compatible with the operation or type."""

    code, title = "invalid_value", "Invalid value"
    scim_type = "invalidValue"


class InvalidSyntax(ScimError):
    """The request body message structure was invalid or did not conform to the request schema."""

    code, title = "invalid_syntax", "Invalid syntax"
    scim_type = "invalidSyntax"


class Mutability(ScimError):
    """The attempted modification is not compatible with the target attribute's mutability."""

    code, title = "mutability", "Mutability"
    scim_type = "mutability"


class TooMany(ScimError):
    """The filter yields more results than the server is willing to return."""

    code, title = "too_many", "Too many results"
    scim_type = "tooMany"
