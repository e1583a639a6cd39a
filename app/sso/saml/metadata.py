"""SP metadata generation and hardened IdP metadata parsing (SAML 2.0 metadata)."""

from __future__ import annotations

from app.sso.saml.settings import IdpSettings, SpSettings


def sp_metadata(sp: SpSettings) -> str:
    """Our EntityDescriptor: AuthnRequestsSigned and WantAssertionsSigned true, ACS (POST), SLO, keys."""
    raise NotImplementedError


def parse_idp_metadata(xml: bytes, *, entity_id: str | None = None) -> IdpSettings:
    """The IdPSSODescriptor of ``xml`` (of ``entity_id`` when the document is an EntitiesDescriptor)."""
    raise NotImplementedError
