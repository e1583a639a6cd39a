"""AuthnRequest building and signing (SAML 2.0 core §3.4.1; bindings §3.4 Redirect, §3.5 POST).

Always signed: Redirect with the detached query signature, POST with an enveloped XML signature. No
RequestedAuthnContext (some IdPs refuse python3-saml's default one, FIELD-NOTES); NameIDPolicy from the SP
settings. The returned ``request_id`` is what the caller binds to the browser and later passes to
``validate_response`` as ``expected_request_id``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from app.sso.saml.ids import new_message_id
from app.sso.saml.redirect import signed_redirect_url
from app.sso.saml.settings import BINDING_POST, AuthnRequestOut, Binding, IdpSettings, SpSettings
from app.sso.saml.signatures import sign_enveloped
from app.sso.saml.times import format_instant
from app.sso.saml.xml import NS, SAML


def authn_request_xml(
    sp: SpSettings, idp: IdpSettings, *, request_id: str, now: datetime, force_authn: bool
) -> str:
    policy = ""
    if sp.name_id_format:
        policy = f'<samlp:NameIDPolicy Format={quoteattr(sp.name_id_format)} AllowCreate="true"/>'
    force = ' ForceAuthn="true"' if force_authn else ""
    return (
        f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f"ID={quoteattr(request_id)} "
        f'Version="2.0" IssueInstant="{format_instant(now)}" Destination={quoteattr(idp.sso_url)} '
        f'ProtocolBinding="{BINDING_POST}" AssertionConsumerServiceURL={quoteattr(sp.acs_url)}{force}>'
        f"<saml:Issuer>{escape(sp.entity_id)}</saml:Issuer>{policy}</samlp:AuthnRequest>"
    )


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
    request_id = request_id or new_message_id()
    xml = authn_request_xml(sp, idp, request_id=request_id, now=now, force_authn=force_authn)
    if binding == "redirect":
        url = signed_redirect_url(idp.sso_url, "SAMLRequest", xml.encode(), relay_state, sp.signing)
        return AuthnRequestOut(request_id=request_id, binding="redirect", url=url, xml=xml)
    element = etree.fromstring(xml.encode())
    sign_enveloped(
        element, sp.signing.private_key_pem, sp.signing.certificate_pem, after=element.find(SAML + "Issuer")
    )
    signed = etree.tostring(element, encoding="UTF-8", xml_declaration=True)
    fields = {"SAMLRequest": base64.b64encode(signed).decode("ascii")}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return AuthnRequestOut(
        request_id=request_id, binding="post", action=idp.sso_url, fields=fields, xml=signed.decode()
    )
