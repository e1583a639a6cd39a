"""SP metadata generation and hardened IdP metadata parsing (SAML 2.0 metadata, saml-metadata-2.0-os).

IdP metadata comes from admins and from URLs: it is parsed with the same hardened parser as messages (no DTD,
size-limited) and read structurally, not schema-validated (Entra's metadata carries WS-Federation role
descriptors whose xsi:types the SAML schemas do not define).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.keys import certificate_body, certificate_pem, public_key
from app.sso.saml.settings import (
    BINDING_POST,
    BINDING_REDIRECT,
    MAX_METADATA_BYTES,
    IdpSettings,
    SpSettings,
)
from app.sso.saml.xml import DS, MD, NS, Element, parse, text_of

PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


def _key_descriptor(use: str, certificate: str) -> str:
    return (
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{certificate_body(certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )


def sp_metadata(sp: SpSettings) -> str:
    """Our EntityDescriptor: AuthnRequestsSigned and WantAssertionsSigned true, ACS (POST), SLO, keys.

    Only the current decryption key is published for encryption; previous ones keep decrypting during the
    overlap but no IdP should pick them up again. Previous signing certificates are published after the
    current one (``extra_signing_certificates``), so an IdP refreshing our metadata trusts both during the
    overlap of a signing key rotation.
    """
    keys = _key_descriptor("signing", sp.signing.certificate_pem)
    for extra in dict.fromkeys(sp.extra_signing_certificates):
        if extra != sp.signing.certificate_pem:
            keys += _key_descriptor("signing", extra)
    if sp.decryption:
        keys += _key_descriptor("encryption", sp.decryption[0].certificate_pem)
    name_id = f"<md:NameIDFormat>{escape(sp.name_id_format)}</md:NameIDFormat>" if sp.name_id_format else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<md:EntityDescriptor xmlns:md="{NS["md"]}" xmlns:ds="{NS["ds"]}" '
        f"entityID={quoteattr(sp.entity_id)}>"
        f'<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
        f'protocolSupportEnumeration="{PROTOCOL}">{keys}'
        f'<md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location={quoteattr(sp.slo_url)}/>'
        f'<md:SingleLogoutService Binding="{BINDING_POST}" Location={quoteattr(sp.slo_url)}/>'
        f"{name_id}"
        f'<md:AssertionConsumerService Binding="{BINDING_POST}" Location={quoteattr(sp.acs_url)} index="0" '
        'isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>\n"
    )


def idp_settings_from_fields(
    *,
    entity_id: str,
    sso_url: str,
    certificates: tuple[str, ...] | list[str],
    sso_binding: str = BINDING_REDIRECT,
    slo_url: str | None = None,
) -> IdpSettings:
    """IdP settings typed in by an admin (entity id, SSO URL, certificate as PEM or bare base64), checked."""
    if not entity_id.strip() or not sso_url.strip():
        raise SamlRefusal(Reason.METADATA_INVALID, "the IdP entity id and SSO URL are required")
    if not sso_url.startswith(("https://", "http://")):
        raise SamlRefusal(Reason.METADATA_INVALID, f"the SSO URL {sso_url!r} is not an http(s) URL")
    if sso_binding not in (BINDING_REDIRECT, BINDING_POST):
        raise SamlRefusal(Reason.METADATA_INVALID, f"unsupported SSO binding {sso_binding!r}")
    pems = tuple(dict.fromkeys(certificate_pem(c) for c in certificates if c.strip()))
    if not pems:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, "at least one IdP signing certificate is required")
    for pem in pems:
        public_key(pem)
    return IdpSettings(
        entity_id=entity_id.strip(),
        sso_url=sso_url.strip(),
        sso_binding=sso_binding,
        slo_url=slo_url,
        certificates=pems,
    )


def _entity(root: Element, entity_id: str | None) -> Element:
    if root.tag == MD + "EntityDescriptor":
        candidates = [root]
    elif root.tag == MD + "EntitiesDescriptor":
        candidates = list(root.iter(MD + "EntityDescriptor"))
    else:
        raise SamlRefusal(Reason.METADATA_INVALID, f"expected md:EntityDescriptor, got {root.tag}")
    with_idp = [e for e in candidates if e.find(MD + "IDPSSODescriptor") is not None]
    if entity_id is not None:
        with_idp = [e for e in with_idp if e.get("entityID") == entity_id]
    if len(with_idp) != 1:
        wanted = f"entity {entity_id!r}" if entity_id else "exactly one IdP entity"
        raise SamlRefusal(
            Reason.METADATA_INVALID, f"{wanted} with an IDPSSODescriptor: found {len(with_idp)}"
        )
    return with_idp[0]


def _service(descriptor: Element, tag: str, prefer: str | None = None) -> tuple[str, str, str | None] | None:
    """(Location, Binding, ResponseLocation) of the ``prefer`` endpoint when offered, else the Redirect
    one, else the POST one."""
    endpoints = {e.get("Binding"): e for e in descriptor.findall(MD + tag) if e.get("Location")}
    for binding in (prefer, BINDING_REDIRECT, BINDING_POST):
        if binding is not None and binding in endpoints:
            e = endpoints[binding]
            return e.get("Location").strip(), binding, e.get("ResponseLocation")
    return None


def parse_idp_metadata(
    xml: bytes, *, entity_id: str | None = None, sso_binding: str | None = None
) -> IdpSettings:
    """The IdPSSODescriptor of ``xml`` (of ``entity_id`` when the document is an EntitiesDescriptor); its
    SingleSignOnService of ``sso_binding`` when it offers one, else Redirect, else POST."""
    try:
        return _parse(xml, entity_id, sso_binding)
    except SamlRefusal:
        raise
    except Exception as exc:  # every library exception is a refusal
        raise SamlRefusal(Reason.METADATA_INVALID, f"{type(exc).__name__}: {exc}") from None


def _parse(xml: bytes, entity_id: str | None, sso_binding: str | None) -> IdpSettings:
    entity = _entity(parse(xml, max_bytes=MAX_METADATA_BYTES), entity_id)
    descriptors = [
        d
        for d in entity.findall(MD + "IDPSSODescriptor")
        if PROTOCOL in (d.get("protocolSupportEnumeration") or "").split()
    ]
    if len(descriptors) != 1:
        raise SamlRefusal(Reason.METADATA_INVALID, "no single SAML 2.0 IDPSSODescriptor")
    descriptor = descriptors[0]
    certificates: list[str] = []
    for key_descriptor in descriptor.findall(MD + "KeyDescriptor"):
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for node in key_descriptor.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
            pem = certificate_pem(text_of(node))
            public_key(pem)  # refuses a certificate that does not load
            if pem not in certificates:
                certificates.append(pem)
    if not certificates:
        raise SamlRefusal(Reason.METADATA_INVALID, "the IdP publishes no signing certificate")
    sso = _service(descriptor, "SingleSignOnService", sso_binding)
    if sso is None:
        raise SamlRefusal(Reason.METADATA_INVALID, "no SingleSignOnService with the Redirect or POST binding")
    slo = _service(descriptor, "SingleLogoutService")
    entity_id_value = entity.get("entityID")
    if not entity_id_value:
        raise SamlRefusal(Reason.METADATA_INVALID, "the EntityDescriptor has no entityID")
    return IdpSettings(
        entity_id=entity_id_value,
        sso_url=sso[0],
        sso_binding=sso[1],
        slo_url=slo[0] if slo else None,
        certificates=tuple(certificates),
        slo_response_url=slo[2] if slo else None,
    )
