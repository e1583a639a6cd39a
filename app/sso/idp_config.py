"""IdP settings from what an admin gives: metadata XML, a metadata URL, or fields. No database, no Flask.

Certificates arrive as PEM or bare base64 DER (as metadata carries them); they are stored as PEM. A
certificate that does not parse is refused with the field named; an expired one is accepted (the API shows
its expiry) because rollover is the IdP's to do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.sso.errors import InvalidIdpSettings, MetadataUnavailable
from app.sso.metadata_fetch import (
    FetchPolicy,
    MetadataFetchRefused,
    Resolver,
    fetch_metadata,
    system_resolver,
)
from app.sso.saml import BINDING_POST, BINDING_REDIRECT, SamlRefusal, parse_idp_metadata

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
MAX_CERTS = 4


@dataclass(frozen=True)
class IdpConfig:
    entity_id: str
    sso_url: str
    sso_binding: str  # redirect | post
    slo_url: str | None
    certs: tuple[str, ...]  # PEM
    metadata_url: str | None = None
    metadata_address: str | None = None


@dataclass(frozen=True)
class CertInfo:
    fingerprint_sha256: str
    subject: str
    not_after: datetime


def _invalid(field: str, message: str) -> InvalidIdpSettings:
    return InvalidIdpSettings(message, errors=[{"field": field, "message": message}])


def normalize_cert(text: str, field: str = "idp_x509_cert") -> str:
    """One certificate as PEM, from PEM or base64 DER; 422 naming ``field`` when it is not one."""
    match = _PEM.search(text)
    body = match.group(1) if match else text
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise _invalid(field, "not an X.509 certificate (PEM or base64 DER)") from None
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_info(pem: str) -> CertInfo:
    cert = x509.load_pem_x509_certificate(pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertInfo(hashlib.sha256(der).hexdigest(), cert.subject.rfc4514_string(), cert.not_valid_after_utc)


def check_sso_url(url: str, field: str = "idp_sso_url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _invalid(field, "must be an http(s) URL")
    return url


def from_fields(
    entity_id: str | None,
    sso_url: str | None,
    certs: Sequence[str],
    *,
    binding: str = "redirect",
    slo_url: str | None = None,
) -> IdpConfig:
    if not entity_id:
        raise _invalid("idp_entity_id", "required with idp_sso_url and idp_x509_cert")
    if not sso_url:
        raise _invalid("idp_sso_url", "required with idp_entity_id and idp_x509_cert")
    if not certs:
        raise _invalid("idp_x509_cert", "at least one signing certificate is required")
    if len(certs) > MAX_CERTS:
        raise _invalid("idp_x509_certs", f"at most {MAX_CERTS} certificates")
    return IdpConfig(
        entity_id,
        check_sso_url(sso_url),
        binding,
        check_sso_url(slo_url, "idp_slo_url") if slo_url else None,
        tuple(normalize_cert(c) for c in certs),
    )


def from_metadata(
    xml: bytes, field: str = "idp_metadata_xml", entity_id: str | None = None, binding: str | None = None
) -> IdpConfig:
    """The IdP of a metadata document; its SSO endpoint of ``binding`` (redirect, post) when it offers one."""
    try:
        idp = parse_idp_metadata(
            xml, entity_id=entity_id, sso_binding=saml_binding(binding) if binding else None
        )
    except SamlRefusal as exc:
        raise _invalid(field, f"not usable IdP metadata: {exc.detail}") from None
    if not idp.certificates:
        raise _invalid(field, "the metadata names no signing certificate")
    binding = "post" if idp.sso_binding == BINDING_POST else "redirect"
    return IdpConfig(
        idp.entity_id,
        idp.sso_url,
        binding,
        idp.slo_url,
        tuple(normalize_cert(c, field) for c in idp.certificates[:MAX_CERTS]),
    )


def from_url(
    url: str, policy: FetchPolicy, resolver: Resolver = system_resolver, binding: str | None = None
) -> IdpConfig:
    """Fetch (SSRF rules of app/sso/metadata_fetch.py) and parse; 422 ``idp_metadata_unavailable``. The
    SSO endpoint is that of ``binding`` when the metadata offers it (a refresh keeps the chosen one)."""
    try:
        fetched = fetch_metadata(url, policy, resolver=resolver)
    except MetadataFetchRefused as exc:
        raise MetadataUnavailable(
            str(exc), reason=exc.reason, errors=[{"field": "idp_metadata_url", "message": str(exc)}]
        ) from None
    config = from_metadata(fetched.body, "idp_metadata_url", binding=binding)
    return IdpConfig(
        config.entity_id,
        config.sso_url,
        config.sso_binding,
        config.slo_url,
        config.certs,
        metadata_url=url,
        metadata_address=fetched.address,
    )


def saml_binding(binding: str | None) -> str:
    return BINDING_POST if binding == "post" else BINDING_REDIRECT
