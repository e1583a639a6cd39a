"""Helpers of the SSO tests: an IdP certificate made here, a verified domain for an org."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.container import Container
from app.crypto.keypairs import generate_key_pair
from app.db import transaction
from app.domains.models import VERIFIED, Domain


def idp_cert(days: int = 365) -> str:
    """A self-signed certificate as an IdP would publish (only the dates matter to these tests)."""
    now = datetime.now(UTC)
    generated = generate_key_pair("test idp", now - timedelta(days=3650) + timedelta(days=days))
    return generated.cert_pem


def verified_domain(container: Container, org_id: str, name: str) -> None:
    """A domain the org holds verified (domain verification itself is tested in tests/integration/domains)."""
    now = datetime.now(UTC)
    with transaction(container.session_factory) as session:
        session.add(
            Domain(org_id=org_id, name=name, status=VERIFIED, token="t" * 32, created_at=now, verified_at=now)
        )


def saml_fields(**extra: object) -> dict[str, object]:
    return {
        "type": "saml",
        "idp_entity_id": "https://idp.example.com/metadata",
        "idp_sso_url": "https://idp.example.com/sso",
        "idp_x509_cert": idp_cert(),
        **extra,
    }
