"""Ed25519 keys that sign audit checkpoints: loading, signing, and the statement that is signed.

The signed statement is the canonical JSON of ``{"chain", "seq", "hash", "time"}`` (sorted keys, no
whitespace, UTF-8): ``app/audit/verify_export.py`` rebuilds the same bytes on the customer's side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.config import Settings

KEY_FILE = "audit_signing_key.pem"


def statement(chain: str, seq: int, hash_: str, time: str) -> bytes:
    body = {"chain": chain, "seq": seq, "hash": hash_, "time": time}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    # TENANTRY_SECRET_KEY: wraps the private keys of rotated keys (app/audit/keyring.py); None: this signer
    # alone, no rotated key can sign here (tests of other parts).
    keyring_secret: str | Callable[[], str] | None = field(default=None, repr=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def public_key_document(self) -> dict[str, Any]:
        pem = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        return {
            "algorithm": "Ed25519",
            "key_id": self.key_id,
            "public_key": base64.b64encode(raw_public_key(self.public_key)).decode("ascii"),
            "public_key_pem": pem,
        }


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def parse_private_key(value: str) -> Ed25519PrivateKey:
    """A PEM (PKCS#8) private key, or base64 of the 32-byte raw seed."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("TENANTRY_AUDIT_SIGNING_KEY is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("TENANTRY_AUDIT_SIGNING_KEY is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError("TENANTRY_AUDIT_SIGNING_KEY: base64 must decode to the 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_signer(settings: Settings) -> Signer:
    """The configured key; in development (and tests) one generated once into the instance folder."""
    if settings.audit_signing_key:
        return Signer(parse_private_key(settings.audit_signing_key), settings.resolved_secret_key)
    if settings.env == "production":
        raise RuntimeError("TENANTRY_AUDIT_SIGNING_KEY must be set in production")
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    path = settings.instance_path / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    return Signer(parse_private_key(path.read_text()), settings.resolved_secret_key)
