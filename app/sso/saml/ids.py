"""Message identifiers and instants for the messages we issue."""

from __future__ import annotations

import secrets


def new_message_id() -> str:
    """An xs:ID (an NCName: must not start with a digit) with 160 random bits (SAML core §1.3.4)."""
    return "_" + secrets.token_hex(20)
