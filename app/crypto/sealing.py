"""Secrets at rest, sealed under a key derived from ``TENANTRY_SECRET_KEY``. Pure: no Flask, no session.

The one implementation for every package that stores a secret (access token signing keys, SSO SP private keys
and OIDC client secrets, audit subject keys and rotated checkpoint keys). HKDF-SHA256 (RFC 5869) derives one
AES-256 key per *purpose* (``info`` = ``tenantry/<purpose>``), so a value sealed for one use cannot be opened
as another; AES-GCM (NIST SP 800-38D) with a random 96-bit nonce seals, and the associated data binds the
ciphertext to its row (a sealed private key copied onto another key id does not open). The sealed form is
``v1.<base64url(nonce || ciphertext || tag)>``, so a later scheme can sit beside it.

A purpose may also be given its own 32-byte key instead (``Sealer(key)``), as the KMS-style
``TENANTRY_SSO_KEY_ENCRYPTION_KEY`` does for SSO secrets.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32


class SealBroken(Exception):
    """The sealed value does not open with this key (another secret key, or it was moved or altered)."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    """The 256-bit key of ``purpose`` under ``secret_key`` (RFC 5869, no salt: the input is a random key)."""
    if not secret_key:
        raise ValueError("a secret key is required to seal secrets")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"tenantry/{purpose}".encode())
    return hkdf.derive(secret_key.encode("utf-8"))


def key_from_base64(value: str, setting: str) -> bytes:
    """A configured 32-byte key given as base64 (a typed ``ValueError`` naming the setting otherwise)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{setting} must be base64 of {KEY_BYTES} bytes") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{setting} must be base64 of {KEY_BYTES} bytes")
    return raw


class Sealer:
    """AES-256-GCM under one key (derived once, on first use when given a callable secret)."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        if isinstance(key, bytes) and len(key) != KEY_BYTES:
            raise ValueError(f"a sealing key must be {KEY_BYTES} bytes")
        self._key = key
        self._aead: AESGCM | None = AESGCM(key) if isinstance(key, bytes) else None

    @classmethod
    def for_purpose(cls, secret_key: str | Callable[[], str], purpose: str) -> Sealer:
        """The sealer of ``purpose``; a callable secret is read (and the key derived) on first use, so a
        command that seals nothing needs no secret."""
        if isinstance(secret_key, str):
            return cls(derive_key(secret_key, purpose))
        secret = secret_key
        return cls(lambda: derive_key(secret(), purpose))

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            assert not isinstance(self._key, bytes)
            self._aead = AESGCM(self._key())
        return self._aead

    def seal(self, plaintext: bytes, associated: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher().encrypt(nonce, plaintext, associated.encode("utf-8"))
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, sealed: str, associated: str) -> bytes:
        version, _, body = sealed.partition(".")
        if version != VERSION or not body:
            raise SealBroken(f"unknown sealed format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return self._cipher().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SealBroken("the sealed value does not open with this key (was the key changed?)") from exc


def seal(secret_key: str, purpose: str, plaintext: bytes, associated: str) -> str:
    return Sealer.for_purpose(secret_key, purpose).seal(plaintext, associated)


def unseal(secret_key: str, purpose: str, sealed: str, associated: str) -> bytes:
    return Sealer.for_purpose(secret_key, purpose).open(sealed, associated)
