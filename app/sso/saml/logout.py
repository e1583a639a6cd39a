"""Single logout (SAML 2.0 core §3.7, profiles §4.4): SP-initiated request, IdP-initiated request, responses.

What we send is always signed and goes by HTTP-Redirect. What we receive (either binding) must be signed
unless the caller says otherwise (``require_signature=False`` for IdPs that cannot sign logout messages; the
message then still has to name our SLO URL, the IdP as issuer and, for a response, our pending request).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from app.sso.saml import signatures
from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.ids import new_message_id
from app.sso.saml.redirect import inflate_b64, signed_redirect_url, verify_query_signature
from app.sso.saml.settings import (
    MAX_MESSAGE_BYTES,
    IdpLogoutRequest,
    IdpSettings,
    InboundMessage,
    RedirectOut,
    SpSettings,
)
from app.sso.saml.times import check_window, format_instant, parse_instant
from app.sso.saml.validate import STATUS_SUCCESS, check_unique_ids, decode_post_message
from app.sso.saml.xml import DS, NS, SAML, SAMLP, Element, has_comment_or_pi, parse, text_of, validate_schema

STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"


def logout_request(
    sp: SpSettings,
    idp: IdpSettings,
    *,
    name_id: str,
    name_id_format: str | None,
    session_index: str | None,
    relay_state: str | None,
    now: datetime,
    request_id: str | None = None,
) -> RedirectOut:
    """A signed LogoutRequest (HTTP-Redirect) to ``idp.slo_url``; keep ``message_id`` for the response."""
    if not idp.slo_url:
        raise SamlRefusal(Reason.SLO_NOT_SUPPORTED, "the IdP has no SingleLogoutService")
    request_id = request_id or new_message_id()
    fmt = f" Format={quoteattr(name_id_format)}" if name_id_format else ""
    index = f"<samlp:SessionIndex>{escape(session_index)}</samlp:SessionIndex>" if session_index else ""
    xml = (
        f'<samlp:LogoutRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f"ID={quoteattr(request_id)} "
        f'Version="2.0" IssueInstant="{format_instant(now)}" Destination={quoteattr(idp.slo_url)}>'
        f"<saml:Issuer>{escape(sp.entity_id)}</saml:Issuer><saml:NameID{fmt}>{escape(name_id)}</saml:NameID>"
        f"{index}</samlp:LogoutRequest>"
    )
    url = signed_redirect_url(idp.slo_url, "SAMLRequest", xml.encode(), relay_state, sp.signing)
    return RedirectOut(message_id=request_id, url=url, xml=xml)


def logout_response(
    sp: SpSettings,
    idp: IdpSettings,
    *,
    in_response_to: str,
    relay_state: str | None,
    now: datetime,
    success: bool = True,
    response_id: str | None = None,
) -> RedirectOut:
    """Our signed LogoutResponse (HTTP-Redirect) to the IdP's SLO response location."""
    location = idp.slo_response_url or idp.slo_url
    if not location:
        raise SamlRefusal(Reason.SLO_NOT_SUPPORTED, "the IdP has no SingleLogoutService")
    response_id = response_id or new_message_id()
    status = STATUS_SUCCESS if success else STATUS_RESPONDER
    xml = (
        f'<samlp:LogoutResponse xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID={quoteattr(response_id)} Version="2.0" IssueInstant="{format_instant(now)}" '
        f"Destination={quoteattr(location)} InResponseTo={quoteattr(in_response_to)}>"
        f"<saml:Issuer>{escape(sp.entity_id)}</saml:Issuer>"
        f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>'
    )
    url = signed_redirect_url(location, "SAMLResponse", xml.encode(), relay_state, sp.signing)
    return RedirectOut(message_id=response_id, url=url, xml=xml)


def _inbound_root(
    message: InboundMessage, idp: IdpSettings, sp: SpSettings, tag: str, require_signature: bool
) -> Element:
    """Decode, parse (hardened), schema-check, verify the signature, check Destination and Issuer."""
    if message.binding == "redirect":
        data = inflate_b64(message.saml_b64)
    else:
        data = decode_post_message(message.saml_b64)
    root = parse(data, max_bytes=MAX_MESSAGE_BYTES)
    if root.tag != SAMLP + tag:
        raise SamlRefusal(Reason.WRONG_MESSAGE, f"expected samlp:{tag}, got {root.tag}")
    validate_schema(root)
    if root.get("Version") != "2.0":
        raise SamlRefusal(Reason.VERSION_UNSUPPORTED, f"Version {root.get('Version')!r}")
    check_unique_ids(root)
    if has_comment_or_pi(root):
        raise SamlRefusal(Reason.COMMENT_INJECTION, "a comment or processing instruction in the message")
    signed = False
    if message.binding == "redirect":
        signed = verify_query_signature(message.raw_query or "", idp.certificates)
    embedded = signatures.direct_signatures(root)
    if len(embedded) > 1 or any(s.getparent() is not root for s in root.iter(DS + "Signature")):
        raise SamlRefusal(Reason.UNEXPECTED_SIGNATURE, "a Signature elsewhere than on the message")
    if embedded:
        signatures.verify(embedded[0], root, root, idp.certificates)
        signed = True
    if require_signature and not signed:
        raise SamlRefusal(Reason.MESSAGE_UNSIGNED, f"the {tag} is not signed")
    destination = root.get("Destination")
    if destination is None and signed and message.binding == "post":
        raise SamlRefusal(Reason.DESTINATION_MISSING, "a signed message must name its Destination")
    if destination is not None and destination != sp.slo_url:
        raise SamlRefusal(
            Reason.DESTINATION_MISMATCH, f"Destination {destination!r}, expected {sp.slo_url!r}"
        )
    issuer = root.find(SAML + "Issuer")
    if issuer is None or text_of(issuer) != idp.entity_id:
        found = None if issuer is None else text_of(issuer)
        raise SamlRefusal(Reason.ISSUER_MISMATCH, f"Issuer {found!r}, expected {idp.entity_id!r}")
    return root


def validate_logout_response(
    message: InboundMessage,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str,
    now: datetime,
    clock_skew: timedelta,
    require_signature: bool = True,
) -> None:
    """Accept the IdP's LogoutResponse to our request or raise SamlRefusal (status not Success included)."""
    try:
        if message.is_request:
            raise SamlRefusal(Reason.WRONG_MESSAGE, "expected a SAMLResponse")
        root = _inbound_root(message, idp, sp, "LogoutResponse", require_signature)
        if root.get("InResponseTo") != expected_request_id:
            raise SamlRefusal(
                Reason.IN_RESPONSE_TO_MISMATCH,
                f"InResponseTo {root.get('InResponseTo')!r}, expected {expected_request_id!r}",
            )
        issued = parse_instant(root.get("IssueInstant"), "IssueInstant")
        check_window(issued, None, now, clock_skew, "LogoutResponse IssueInstant")
        status = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
        if status is None or status.get("Value") != STATUS_SUCCESS:
            raise SamlRefusal(
                Reason.STATUS_NOT_SUCCESS, f"status {None if status is None else status.get('Value')!r}"
            )
    except SamlRefusal:
        raise
    except Exception as exc:  # every library exception is a refusal, never a 500
        raise SamlRefusal(Reason.LIBRARY_ERROR, f"{type(exc).__name__}: {exc}") from None


def validate_logout_request(
    message: InboundMessage,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    now: datetime,
    clock_skew: timedelta,
    require_signature: bool = True,
) -> IdpLogoutRequest:
    """An IdP-initiated LogoutRequest, signed (query signature or embedded), for our SLO URL."""
    try:
        if not message.is_request:
            raise SamlRefusal(Reason.WRONG_MESSAGE, "expected a SAMLRequest")
        root = _inbound_root(message, idp, sp, "LogoutRequest", require_signature)
        check_window(
            parse_instant(root.get("IssueInstant"), "IssueInstant"),
            parse_instant(root.get("NotOnOrAfter"), "NotOnOrAfter"),
            now,
            clock_skew,
            "LogoutRequest",
        )
        name_id = root.find(SAML + "NameID")
        if name_id is None or not text_of(name_id):
            raise SamlRefusal(
                Reason.NAME_ID_MISSING, "the LogoutRequest has no NameID (EncryptedID unsupported)"
            )
        return IdpLogoutRequest(
            request_id=root.get("ID"),
            issuer=idp.entity_id,
            name_id=text_of(name_id),
            name_id_format=name_id.get("Format"),
            session_indexes=tuple(text_of(node) for node in root.findall(SAMLP + "SessionIndex")),
            relay_state=message.relay_state,
        )
    except SamlRefusal:
        raise
    except Exception as exc:  # every library exception is a refusal, never a 500
        raise SamlRefusal(Reason.LIBRARY_ERROR, f"{type(exc).__name__}: {exc}") from None
