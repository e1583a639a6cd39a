"""AuthnRequest building and signing (SAML 2.0 core §3.4; bindings §3.4 Redirect, §3.5 POST)."""

from __future__ import annotations

from datetime import datetime

from app.sso.saml.settings import AuthnRequestOut, Binding, IdpSettings, SpSettings


def authn_request(
    sp: SpSettings,
    idp: IdpSettings,
    *,
    binding: Binding,
    relay_state: str | None,
    now: datetime,
    force_authn: bool = False,
    request_id: str | None = None,
) -> AuthnRequestOut:
    """A signed AuthnRequest for ``idp.sso_url``; ``request_id`` is generated unless given (tests)."""
    raise NotImplementedError
