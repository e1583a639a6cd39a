"""Prefixed, time-sortable identifiers (``org_…``, ``usr_…``) built on UUIDv7."""

from __future__ import annotations

import uuid

import uuid6

PREFIXES = frozenset(
    {
        "org",
        "usr",
        "mem",
        "inv",
        "key",
        "scim",
        "sreq",
        "ses",
        "evt",
        "grp",
        "dom",
        "sso",
        "ssok",
        "role",
        "ext",
        "gmap",
        "emc",
    }
)


def new_uuid7() -> uuid.UUID:
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def new_id(prefix: str) -> str:
    """A new id such as ``org_0192f1c3a4b57c6d8e9f0a1b2c3d4e5f`` (UUIDv7 hex, sorts by creation time)."""
    assert prefix in PREFIXES, prefix
    return f"{prefix}_{new_uuid7().hex}"


def plausible_id(value: str) -> bool:
    """Ids are short printable ASCII; anything else (a NUL, say) is simply not found."""
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()
