"""PEM keys and certificates loaded once (per process) for xmlsec and cryptography."""

from __future__ import annotations

import functools
import re
import textwrap
from datetime import datetime

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from app.sso.saml.errors import Reason, SamlRefusal

_PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----|-----END [A-Z ]+-----|\s+")


def certificate_pem(cert: str) -> str:
    """A certificate as PEM, accepting the bare base64 body found in metadata and admin forms."""
    if "-----BEGIN" in cert:
        return cert.strip() + "\n"
    body = _PEM_BODY.sub("", cert)
    return (
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(body, 64)) + "\n-----END CERTIFICATE-----\n"
    )


def certificate_body(cert: str) -> str:
    """The base64 DER of a certificate on one line (what ds:X509Certificate carries)."""
    return _PEM_BODY.sub("", certificate_pem(cert))


@functools.lru_cache(maxsize=512)
def xmlsec_certificate_key(cert: str) -> xmlsec.Key:
    """The certificate's public key alone, for verifying. Loading the certificate itself works too, but then
    every ``ctx.key = …`` duplicates the X.509 data (about 120 µs per signature, against under 1 µs)."""
    spki = public_key(cert).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        return xmlsec.Key.from_memory(spki, xmlsec.constants.KeyDataFormatPem)
    except xmlsec.Error as exc:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, f"the IdP certificate does not load: {exc}") from None


@functools.lru_cache(maxsize=512)
def xmlsec_private_key(pem: str) -> xmlsec.Key:
    return xmlsec.Key.from_memory(pem.encode(), xmlsec.constants.KeyDataFormatPem)


@functools.lru_cache(maxsize=512)
def public_key(cert: str) -> CertificatePublicKeyTypes:
    try:
        return x509.load_pem_x509_certificate(certificate_pem(cert).encode()).public_key()
    except ValueError as exc:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, f"the IdP certificate does not load: {exc}") from None


@functools.lru_cache(maxsize=512)
def rsa_signing_key(pem: str) -> rsa.RSAPrivateKey:
    """Our SP signing key, loaded once (loading checks the RSA key, about 0.1 s)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the SP signing key must be RSA")
    return key


@functools.lru_cache(maxsize=512)
def xmlsec_signing_key(private_key_pem: str, certificate_pem: str) -> xmlsec.Key:
    """Our signing key with its certificate attached (xmlsec writes it into KeyInfo)."""
    key = xmlsec.Key.from_memory(private_key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(certificate_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    return key


def certificate_not_after(cert: str) -> datetime:
    """When a certificate expires (UTC), for the "IdP certificate expires within 30 days" warning."""
    try:
        return x509.load_pem_x509_certificate(certificate_pem(cert).encode()).not_valid_after_utc
    except ValueError as exc:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, f"the certificate does not load: {exc}") from None
