"""Secrets at rest, sealed with a key derived from ``TENANTRY_SECRET_KEY``. Pure.

HKDF-SHA256 (RFC 5869) derives one AES-256 key per *purpose* (``info``), so a key sealed for one use cannot be
opened as another; AES-GCM (NIST SP 800-38D) with a random 96-bit nonce seals, and the associated data binds
the ciphertext to its row (a sealed private key copied onto another key id does not open). The sealed form is
``v1.<base64url(nonce || ciphertext || tag)>``, so a later scheme can sit beside it.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SealBroken(Exception):
    """The sealed value does not open with this secret key (another key, or it was altered)."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    """The AES-256 key of ``purpose`` under ``secret_key`` (RFC 5869, no salt: the input is a random key)."""
    if not secret_key:
        raise ValueError("a secret key is required to seal secrets")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"tenantry/{purpose}".encode())
    return hkdf.derive(secret_key.encode())


def seal(secret_key: str, purpose: str, plaintext: bytes, associated: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive_key(secret_key, purpose)).encrypt(nonce, plaintext, associated.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(secret_key: str, purpose: str, sealed: str, associated: str) -> bytes:
    version, _, body = sealed.partition(".")
    if version != VERSION or not body:
        raise SealBroken(f"unknown sealed format {version!r}")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        return AESGCM(derive_key(secret_key, purpose)).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode()
        )
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("the sealed value does not open with this secret key") from exc
