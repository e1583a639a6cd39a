"""Opaque keyset cursors: ``next_cursor`` carries the last id of a page, callers pass it back unchanged.

The cursor is base64url JSON so its shape can grow (a version, a sort key) without breaking old links; a
cursor that does not decode is the caller's mistake: 422 naming ``cursor``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import app.json_input as json_input
from app.errors import ValidationFailed

VERSION = 1
MAX_ID_LENGTH = 64


def encode_cursor(after_id: str) -> str:
    raw = json.dumps({"v": VERSION, "after": after_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, id_prefix: str) -> str:
    """The id after which the next page starts; 422 when ``cursor`` is not one this API issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data: Any = json_input.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise _invalid() from None
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise _invalid()
    after = data.get("after")
    if (
        not isinstance(after, str)
        or not after.startswith(id_prefix)
        or len(after) > MAX_ID_LENGTH
        or not (after.isascii() and after.isprintable())
    ):
        raise _invalid()
    return after


def _invalid() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not valid. Pass the previous page's next_cursor unchanged, or omit it to start over.",
        errors=[{"field": "cursor", "message": "invalid cursor"}],
    )
