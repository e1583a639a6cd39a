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
    if scim_type is not None and status == 400 or (scim_type == "uniqueness" and status == 409):
        body["scimType"] = scim_type
    return body
