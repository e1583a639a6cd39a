"""What every IdP harness is configured with: the service provider it trusts, the person who logs in, and
test-only keys generated at run time (nothing secret is committed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """A self-signed RSA certificate and its private key, PEM encoded (test keys only)."""

    cert_pem: str
    key_pem: str

    @property
    def cert_base64(self) -> str:
        """The certificate's DER in base64 on one line (SAML metadata, python3-saml's ``x509cert``)."""
        return "".join(line for line in self.cert_pem.splitlines() if "-----" not in line)


def generate_keypair(common_name: str = "Tenantry test", *, days: int = 365, key_size: int = 2048) -> KeyPair:
    """A fresh self-signed certificate valid from an hour ago for ``days`` days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        # Traditional OpenSSL ("BEGIN RSA PRIVATE KEY"): saml-idp only accepts that form.
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode(),
    )


@lru_cache(maxsize=8)
def shared_keypair(purpose: str) -> KeyPair:
    """One key pair per purpose per test process: RSA generation costs tens of milliseconds."""
    return generate_keypair(f"Tenantry test {purpose}")


@dataclass(frozen=True)
class ServiceProvider:
    """The SAML service provider an IdP is configured to trust.

    ``cert_pem`` is the SP's signing certificate (the IdP may check AuthnRequest signatures with it) and, when
    ``encrypt_assertions`` is asked of the IdP, the certificate assertions are encrypted to."""

    entity_id: str
    acs_url: str
    slo_url: str | None = None
    cert_pem: str | None = None


@dataclass(frozen=True)
class TestUser:
    """The person who logs in at the IdP; ``password`` is what SimpleSAMLphp's login form takes."""

    __test__ = False  # not a pytest test class

    email: str = "ada.lovelace@example.com"
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    groups: tuple[str, ...] = ("Engineering", "Admins")
    password: str = "correct horse battery staple"
    username: str = field(default="")

    @property
    def login(self) -> str:
        """What is typed in the login form's user field: ``username`` or else the email."""
        return self.username or self.email

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
