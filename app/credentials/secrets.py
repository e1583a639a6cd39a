"""Bearer secrets: random, shown once, stored as SHA-256 (they carry 256 bits, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KINDS = {
    "platform": "tnt_pk_",
    "org": "tnt_ok_",
    "scim": "tnt_scim_",
    "invitation": "tnt_inv_",
    "session": "tnt_ses_",
}


def new_secret(kind: str) -> str:
    return KINDS[kind] + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def display_prefix(value: str) -> str:
    """Enough of the secret to recognise it in a list, far too little to use it."""
    for prefix in KINDS.values():
        if value.startswith(prefix):
            return value[: len(prefix) + 6]
    return value[:6]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def looks_like(value: str, kind: str) -> bool:
    prefix = KINDS[kind]
    return value.startswith(prefix) and 20 <= len(value) - len(prefix) <= 100
