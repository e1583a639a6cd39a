"""RSA key pairs with a self-signed certificate (SAML SP signing and encryption keys, test IdPs). Pure.

SAML peers use the certificate only as a key container (pinned through metadata), so self-signed is the norm;
the validity still matters to IdPs that check it, hence ten years by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_BITS = 2048
CERT_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class GeneratedKey:
    private_key_pem: bytes  # PKCS#8, unencrypted: seal it before storing
    cert_pem: str
    not_after: datetime


def generate_key_pair(common_name: str, now: datetime, valid_for: timedelta = CERT_LIFETIME) -> GeneratedKey:
    """An RSA-2048 key and a self-signed SHA-256 certificate naming ``common_name`` (cut to 64 characters)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    not_after = now + valid_for
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
