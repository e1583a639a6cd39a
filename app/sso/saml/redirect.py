"""HTTP-Redirect binding (SAML 2.0 bindings §3.4): DEFLATE + base64, detached query-string signatures."""

from __future__ import annotations

from app.sso.saml.settings import InboundMessage


def inbound_from_query(raw_query: str) -> InboundMessage:
    raise NotImplementedError


def inbound_from_form(form: dict[str, str]) -> InboundMessage:
    raise NotImplementedError
