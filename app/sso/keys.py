"""SP key pairs and secrets at rest. Pure: no Flask, no session.

Private keys (and, next issue, OIDC client secrets) are stored as ``v1.<base64url(nonce || AES-GCM
ciphertext)>`` under a 256-bit key: ``TENANTRY_SSO_KEY_ENCRYPTION_KEY`` when set (base64 of 32 bytes, the
KMS-style option: it can be rotated apart from the secret key), else HKDF-SHA256 of ``TENANTRY_SECRET_KEY``
with a purpose label. The ciphertext is bound to its row (associated data: the connection id and the use),
so a value copied into another connection's row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

KEY_BITS = 2048
CERT_LIFETIME = timedelta(days=3650)  # SAML peers use the key in the certificate; its dates are not checked
_PREFIX = "v1."
_HKDF_INFO = b"tenantry sso secrets at rest v1"


class SecretUnreadable(RuntimeError):
    """A stored secret does not decrypt: the encryption key changed, or the value was moved or altered."""


class SecretBox:
    """AES-256-GCM with a key derived once per process."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the SSO key encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, secret_key: str, encryption_key: str = "") -> SecretBox:
        if encryption_key:
            try:
                raw = base64.b64decode(encryption_key, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("TENANTRY_SSO_KEY_ENCRYPTION_KEY must be base64 of 32 bytes") from None
            return cls(raw)
        if not secret_key:
            raise ValueError("a secret key is needed to encrypt SSO secrets")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret_key.encode()
        )
        return cls(derived)

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, context: str) -> bytes:
        if not stored.startswith(_PREFIX):
            raise SecretUnreadable("unknown secret format")
        try:
            raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretUnreadable(
                "a stored SSO secret does not decrypt (was the encryption key changed?)"
            ) from None


@dataclass(frozen=True)
class GeneratedKey:
    private_key_pem: bytes  # PKCS#8, unencrypted: seal it before storing
    cert_pem: str
    not_after: datetime


def generate_key_pair(common_name: str, now: datetime) -> GeneratedKey:
    """An RSA key and a self-signed certificate naming the SP (SHA-256)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    not_after = now + CERT_LIFETIME
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return GeneratedKey(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        not_after.replace(microsecond=0),
    )


def key_context(connection_id: str, key_id: str, use: str) -> str:
    """The associated data binding a sealed private key to its row."""
    return f"sso_sp_key:{connection_id}:{key_id}:{use}"


def cert_not_after(pem: str) -> datetime:
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
