"""AuthnRequests, single logout and metadata of the SAML core, checked against independent verifiers.

Our signatures are verified by stock python3-saml's own functions (``validate_binary_sign`` for the Redirect
binding, ``validate_sign`` for embedded signatures); logout messages "from the IdP" are built by the same core
with the roles swapped (the IdP's key signs), then validated as the SP would.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from lxml import etree
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from app.sso.saml import (
    BINDING_POST,
    BINDING_REDIRECT,
    IdpSettings,
    InboundMessage,
    Reason,
    SamlRefusal,
    SpKey,
    SpSettings,
    authn_request,
    logout_request,
    logout_response,
    parse_idp_metadata,
    sp_metadata,
    validate_logout_request,
    validate_logout_response,
)
from app.sso.saml.keys import certificate_body
from app.sso.saml.redirect import inflate_b64
from app.sso.saml.signatures import sign_enveloped
from app.sso.saml.xml import METADATA_SCHEMA, PROTOCOL_SCHEMA, SAML, schema
from tests import saml_builder as b

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SKEW = dt.timedelta(seconds=120)
AUTHN_XPATH = "/samlp:AuthnRequest/ds:Signature"


@pytest.fixture(scope="module")
def sp() -> SpSettings:
    return b.sp_settings()


@pytest.fixture(scope="module")
def idp() -> IdpSettings:
    return b.idp_settings()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _signed_octets(url: str) -> bytes:
    """The part of the raw query the detached signature covers (everything before &Signature=)."""
    raw = urlsplit(url).query
    return raw[: raw.index("&Signature=")].encode()


# --- AuthnRequest ---


def test_redirect_authn_request_is_signed_and_names_our_acs(sp: SpSettings, idp: IdpSettings) -> None:
    out = authn_request(sp, idp, binding="redirect", relay_state="rs-123", now=NOW)
    assert out.url is not None and out.url.startswith(idp.sso_url + "?SAMLRequest=")
    params = _query(out.url)
    assert params["RelayState"] == "rs-123"
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert OneLogin_Saml2_Utils.validate_binary_sign(
        _signed_octets(out.url), base64.b64decode(params["Signature"]), sp.signing.certificate_pem
    )
    xml = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15)
    root = etree.fromstring(xml)
    assert schema(PROTOCOL_SCHEMA).validate(root)
    assert root.get("ID") == out.request_id and out.request_id.startswith("_")
    assert root.get("AssertionConsumerServiceURL") == sp.acs_url
    assert root.get("Destination") == idp.sso_url
    assert root.get("ProtocolBinding") == BINDING_POST
    assert root.find(SAML + "Issuer").text == sp.entity_id
    assert root.find("{urn:oasis:names:tc:SAML:2.0:protocol}RequestedAuthnContext") is None


def test_redirect_signature_fails_for_another_key_or_a_changed_query(
    sp: SpSettings, idp: IdpSettings
) -> None:
    out = authn_request(sp, idp, binding="redirect", relay_state="rs", now=NOW)
    assert out.url is not None
    signature = base64.b64decode(_query(out.url)["Signature"])
    assert not OneLogin_Saml2_Utils.validate_binary_sign(
        _signed_octets(out.url), signature, b.key_pair("test-attacker").cert_pem
    )
    assert not OneLogin_Saml2_Utils.validate_binary_sign(
        _signed_octets(out.url).replace(b"RelayState=rs", b"RelayState=rx"),
        signature,
        sp.signing.certificate_pem,
    )


def test_post_authn_request_carries_an_enveloped_signature(sp: SpSettings, idp: IdpSettings) -> None:
    out = authn_request(
        sp, idp, binding="post", relay_state=None, now=NOW, force_authn=True, request_id="_fixed"
    )
    assert out.action == idp.sso_url and out.request_id == "_fixed"
    assert set(out.fields) == {"SAMLRequest"}
    xml = base64.b64decode(out.fields["SAMLRequest"])
    assert OneLogin_Saml2_Utils.validate_sign(xml, sp.signing.certificate_pem, xpath=AUTHN_XPATH)
    tampered = xml.replace(b"ForceAuthn", b"IsPassive")
    assert not OneLogin_Saml2_Utils.validate_sign(tampered, sp.signing.certificate_pem, xpath=AUTHN_XPATH)
    root = etree.fromstring(xml)
    assert schema(PROTOCOL_SCHEMA).validate(root)
    assert root.get("ForceAuthn") == "true"


def test_request_ids_are_fresh(sp: SpSettings, idp: IdpSettings) -> None:
    ids = {
        authn_request(sp, idp, binding="redirect", relay_state=None, now=NOW).request_id for _ in range(50)
    }
    assert len(ids) == 50


# --- Single logout ---


def _idp_side(idp_key: str = "test-idp", issuer: str = b.IDP_ENTITY_ID) -> tuple[SpSettings, IdpSettings]:
    """The IdP's point of view: it signs with its key and sends to our SLO URL."""
    pair = b.key_pair(idp_key)
    peer_self = SpSettings(
        entity_id=issuer,
        acs_url="https://idp.test/unused",
        slo_url=b.IDP_ENTITY_ID + "/slo",
        signing=SpKey(pair.key_pem, pair.cert_pem),
    )
    peer = IdpSettings(
        entity_id=b.SP_ENTITY_ID,
        sso_url=b.ACS_URL,
        sso_binding=BINDING_REDIRECT,
        slo_url=b.SLO_URL,
        certificates=(),
    )
    return peer_self, peer


def _idp_logout_request(**kwargs: str) -> str:
    me, peer = _idp_side(**kwargs)
    out = logout_request(
        me,
        peer,
        name_id="alice@corp-a.test",
        name_id_format=b.EMAIL_FORMAT,
        session_index="session-0001",
        relay_state="idp-rs",
        now=NOW,
        request_id="_idp-logout-1",
    )
    return urlsplit(out.url).query


def test_idp_initiated_logout_request_redirect(sp: SpSettings, idp: IdpSettings) -> None:
    message = InboundMessage.from_query(_idp_logout_request())
    request = validate_logout_request(message, sp=sp, idp=idp, now=NOW, clock_skew=SKEW)
    assert request.request_id == "_idp-logout-1"
    assert request.name_id == "alice@corp-a.test"
    assert request.session_indexes == ("session-0001",)
    assert request.relay_state == "idp-rs"

    answer = logout_response(sp, idp, in_response_to=request.request_id, relay_state="idp-rs", now=NOW)
    params = _query(answer.url)
    assert answer.url.startswith(idp.slo_url + "?SAMLResponse=")
    assert OneLogin_Saml2_Utils.validate_binary_sign(
        _signed_octets(answer.url), base64.b64decode(params["Signature"]), sp.signing.certificate_pem
    )
    root = etree.fromstring(inflate_b64(params["SAMLResponse"]))
    assert root.get("InResponseTo") == "_idp-logout-1"
    assert schema(PROTOCOL_SCHEMA).validate(root)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda q: q.replace("RelayState=idp-rs", "RelayState=idp-rx"), Reason.SIGNATURE_INVALID),
        (lambda q: q[: q.index("&SigAlg=")], Reason.MESSAGE_UNSIGNED),
        (lambda q: q[: q.index("&Signature=")], Reason.SIGNATURE_INVALID),
        (
            lambda q: q.replace(
                quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe=""),
                quote("http://www.w3.org/2000/09/xmldsig#rsa-sha1", safe=""),
            ),
            Reason.SHA1_REFUSED,
        ),
    ],
    ids=["tampered", "unsigned", "signature_missing", "sha1"],
)
def test_idp_logout_request_refusals(
    sp: SpSettings, idp: IdpSettings, mutate: object, reason: Reason
) -> None:
    assert callable(mutate)
    with pytest.raises(SamlRefusal) as refused:
        validate_logout_request(
            InboundMessage.from_query(mutate(_idp_logout_request())), sp=sp, idp=idp, now=NOW, clock_skew=SKEW
        )
    assert refused.value.reason == reason


def test_logout_request_from_another_key_or_issuer_is_refused(sp: SpSettings, idp: IdpSettings) -> None:
    with pytest.raises(SamlRefusal) as refused:
        validate_logout_request(
            InboundMessage.from_query(_idp_logout_request(idp_key="test-other-idp")),
            sp=sp,
            idp=idp,
            now=NOW,
            clock_skew=SKEW,
        )
    assert refused.value.reason == Reason.SIGNATURE_INVALID
    with pytest.raises(SamlRefusal) as refused:
        validate_logout_request(
            InboundMessage.from_query(_idp_logout_request(issuer=b.OTHER_IDP_ENTITY_ID)),
            sp=sp,
            idp=idp,
            now=NOW,
            clock_skew=SKEW,
        )
    assert refused.value.reason == Reason.ISSUER_MISMATCH


def test_unsigned_logout_request_passes_only_when_the_caller_allows_it(
    sp: SpSettings, idp: IdpSettings
) -> None:
    query = _idp_logout_request()
    unsigned = InboundMessage.from_query(query[: query.index("&SigAlg=")])
    request = validate_logout_request(
        unsigned, sp=sp, idp=idp, now=NOW, clock_skew=SKEW, require_signature=False
    )
    assert request.name_id == "alice@corp-a.test"


def test_idp_logout_request_post_binding_with_embedded_signature(sp: SpSettings, idp: IdpSettings) -> None:
    me, peer = _idp_side()
    out = logout_request(
        me,
        peer,
        name_id="alice@corp-a.test",
        name_id_format=None,
        session_index=None,
        relay_state=None,
        now=NOW,
    )
    element = etree.fromstring(out.xml.encode())
    pair = b.key_pair("test-idp")
    sign_enveloped(element, pair.key_pem, pair.cert_pem, after=element.find(SAML + "Issuer"))
    form = {"SAMLRequest": base64.b64encode(etree.tostring(element)).decode()}
    request = validate_logout_request(
        InboundMessage.from_form(form), sp=sp, idp=idp, now=NOW, clock_skew=SKEW
    )
    assert request.request_id == out.message_id and request.session_indexes == ()

    element.find(SAML + "NameID").text = "bob@corp-a.test"
    form = {"SAMLRequest": base64.b64encode(etree.tostring(element)).decode()}
    with pytest.raises(SamlRefusal) as refused:
        validate_logout_request(InboundMessage.from_form(form), sp=sp, idp=idp, now=NOW, clock_skew=SKEW)
    assert refused.value.reason == Reason.SIGNATURE_INVALID


def test_sp_initiated_logout_round_trip(sp: SpSettings, idp: IdpSettings) -> None:
    ours = logout_request(
        sp,
        idp,
        name_id="alice@corp-a.test",
        name_id_format=b.EMAIL_FORMAT,
        session_index="session-0001",
        relay_state="back",
        now=NOW,
    )
    assert ours.url.startswith(idp.slo_url + "?SAMLRequest=")
    params = _query(ours.url)
    assert OneLogin_Saml2_Utils.validate_binary_sign(
        _signed_octets(ours.url), base64.b64decode(params["Signature"]), sp.signing.certificate_pem
    )
    me, peer = _idp_side()

    def answer(in_response_to: str, success: bool = True) -> InboundMessage:
        out = logout_response(
            me, peer, in_response_to=in_response_to, relay_state="back", now=NOW, success=success
        )
        return InboundMessage.from_query(urlsplit(out.url).query)

    validate_logout_response(
        answer(ours.message_id), sp=sp, idp=idp, expected_request_id=ours.message_id, now=NOW, clock_skew=SKEW
    )
    for message, reason in (
        (answer("_someone-else"), Reason.IN_RESPONSE_TO_MISMATCH),
        (answer(ours.message_id, success=False), Reason.STATUS_NOT_SUCCESS),
        (InboundMessage.from_query(_idp_logout_request()), Reason.WRONG_MESSAGE),
    ):
        with pytest.raises(SamlRefusal) as refused:
            validate_logout_response(
                message, sp=sp, idp=idp, expected_request_id=ours.message_id, now=NOW, clock_skew=SKEW
            )
        assert refused.value.reason == reason


def test_logout_without_idp_slo_is_a_refusal(sp: SpSettings, idp: IdpSettings) -> None:
    from dataclasses import replace

    with pytest.raises(SamlRefusal) as refused:
        logout_request(
            sp,
            replace(idp, slo_url=None),
            name_id="a",
            name_id_format=None,
            session_index=None,
            relay_state=None,
            now=NOW,
        )
    assert refused.value.reason == Reason.SLO_NOT_SUPPORTED


def test_inflate_refuses_a_decompression_bomb() -> None:
    bomb = base64.b64encode(zlib.compress(b"<a>" + b" " * 5_000_000 + b"</a>")[2:-4]).decode()
    with pytest.raises(SamlRefusal) as refused:
        inflate_b64(bomb)
    assert refused.value.reason == Reason.TOO_LARGE


def test_inbound_message_needs_exactly_one_message() -> None:
    for form in ({}, {"SAMLRequest": "a", "SAMLResponse": "b"}):
        with pytest.raises(SamlRefusal):
            InboundMessage.from_form(form)
    with pytest.raises(SamlRefusal):
        InboundMessage.from_query("SAMLRequest=a&SAMLRequest=b")


# --- Metadata ---


def test_sp_metadata_is_schema_valid_and_publishes_our_endpoints(sp: SpSettings) -> None:
    xml = sp_metadata(sp).encode()
    root = etree.fromstring(xml)
    assert schema(METADATA_SCHEMA).validate(root), schema(METADATA_SCHEMA).error_log
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    descriptor = root.find(md + "SPSSODescriptor")
    assert root.get("entityID") == sp.entity_id
    assert (
        descriptor.get("WantAssertionsSigned") == "true" and descriptor.get("AuthnRequestsSigned") == "true"
    )
    assert descriptor.find(md + "AssertionConsumerService").get("Location") == sp.acs_url
    uses = [k.get("use") for k in descriptor.findall(md + "KeyDescriptor")]
    assert uses == ["signing", "encryption"]  # only the current decryption key is published
    stock = OneLogin_Saml2_IdPMetadataParser.parse(xml)  # stock reads it too (as SP metadata it finds no IdP)
    assert "idp" not in stock or not stock["idp"].get("entityId")


def _idp_metadata(extra: str = "", certificate: str | None = None) -> bytes:
    cert = certificate_body(certificate or b.key_pair("test-idp").cert_pem)
    return f"""<?xml version="1.0"?>
<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<EntityDescriptor entityID="{b.IDP_ENTITY_ID}">{extra}
 <IDPSSODescriptor WantAuthnRequestsSigned="true"
   protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
   {cert}
  </ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
  <KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{
        certificate_body(b.key_pair("test-idp-next").cert_pem)
    }
  </ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
  <KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{
        certificate_body(b.key_pair("test-attacker").cert_pem)
    }</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
  <SingleLogoutService Binding="{BINDING_POST}" Location="https://idp.test/tenant-a/slo-post"/>
  <SingleLogoutService Binding="{BINDING_REDIRECT}" Location="https://idp.test/tenant-a/slo"
      ResponseLocation="https://idp.test/tenant-a/slo-return"/>
  <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
  <SingleSignOnService Binding="{BINDING_POST}" Location="https://idp.test/tenant-a/sso-post"/>
  <SingleSignOnService Binding="{BINDING_REDIRECT}" Location="{b.IDP_SSO_URL}"/>
 </IDPSSODescriptor>
</EntityDescriptor>
<EntityDescriptor entityID="https://sp.elsewhere.test"><SPSSODescriptor
  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><AssertionConsumerService
  Binding="{
        BINDING_POST
    }" Location="https://sp.elsewhere.test/acs" index="0"/></SPSSODescriptor></EntityDescriptor>
</EntitiesDescriptor>
""".encode()


ENTRA_ROLE = """
 <RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
   xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType"
   protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">
   <fed:PassiveRequestorEndpoint/></RoleDescriptor>"""


def test_parse_idp_metadata_reads_keys_and_endpoints(idp: IdpSettings) -> None:
    parsed = parse_idp_metadata(_idp_metadata(extra=ENTRA_ROLE))
    assert parsed.entity_id == b.IDP_ENTITY_ID
    assert parsed.sso_url == b.IDP_SSO_URL and parsed.sso_binding == BINDING_REDIRECT
    assert parsed.slo_url == "https://idp.test/tenant-a/slo"
    assert parsed.slo_response_url == "https://idp.test/tenant-a/slo-return"
    assert [certificate_body(c) for c in parsed.certificates] == [
        certificate_body(c) for c in idp.certificates
    ]
    stock = OneLogin_Saml2_IdPMetadataParser.parse(_idp_metadata(), entity_id=b.IDP_ENTITY_ID)
    assert stock["idp"]["singleSignOnService"]["url"] == parsed.sso_url
    assert parse_idp_metadata(_idp_metadata(), entity_id=b.IDP_ENTITY_ID) == parse_idp_metadata(
        _idp_metadata()
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "doctype_forbidden",
        ),
        (b"<EntityDescriptor/>", "metadata_invalid"),
        (b"not xml at all", "malformed_xml"),
        (b"<" + b"a" * (1024 * 1024 + 10) + b"/>", "too_large"),
        ("no_certificate", "metadata_invalid"),
        ("bad_certificate", "no_idp_certificate"),
        ("unknown_entity", "metadata_invalid"),
    ],
)
def test_parse_idp_metadata_refusals(document: bytes | str, reason: str) -> None:
    entity_id = None
    if document == "no_certificate":
        document = (
            _idp_metadata()
            .replace(b'use="signing"', b'use="encryption"')
            .replace(b"<KeyDescriptor><", b'<KeyDescriptor use="encryption"><')
        )
    elif document == "bad_certificate":
        document = _idp_metadata(certificate="MIIBnotacertificate")
    elif document == "unknown_entity":
        document, entity_id = _idp_metadata(), "https://nobody.test"
    assert isinstance(document, bytes)
    with pytest.raises(SamlRefusal) as refused:
        parse_idp_metadata(document, entity_id=entity_id)
    assert refused.value.reason == reason


# --- Helpers for the connection service ---


def test_new_sp_key_signs_and_decrypts(sp: SpSettings, idp: IdpSettings) -> None:
    from app.crypto.keypairs import generate_key_pair
    from app.sso.saml import SpKey, certificate_not_after, validate_response

    pair = generate_key_pair(sp.entity_id, NOW)
    fresh = SpKey(pair.private_key_pem.decode("ascii"), pair.cert_pem)
    assert certificate_not_after(fresh.certificate_pem) == NOW + dt.timedelta(days=3650)
    mine = SpSettings(
        entity_id=sp.entity_id, acs_url=sp.acs_url, slo_url=sp.slo_url, signing=fresh, decryption=(fresh,)
    )
    out = authn_request(mine, idp, binding="post", relay_state=None, now=NOW)
    xml = base64.b64decode(out.fields["SAMLRequest"])
    assert OneLogin_Saml2_Utils.validate_sign(xml, fresh.certificate_pem, xpath=AUTHN_XPATH)
    # a message encrypted to the previous key still opens while the fresh key comes first
    shape = b.with_(b.Shape(now=NOW), encrypt_to="test-sp-encryption")
    assert validate_response(
        base64.b64encode(b.response_bytes(shape)).decode(),
        sp=SpSettings(
            entity_id=sp.entity_id,
            acs_url=sp.acs_url,
            slo_url=sp.slo_url,
            signing=fresh,
            decryption=(fresh, *sp.decryption),  # the new key first, the old ones still open old messages
        ),
        idp=idp,
        expected_request_id=b.REQUEST_ID,
        allow_unsolicited=False,
        now=NOW,
        clock_skew=SKEW,
    ).encrypted


def test_idp_settings_from_fields() -> None:
    from app.sso.saml import idp_settings_from_fields

    body = certificate_body(b.key_pair("test-idp").cert_pem)
    settings = idp_settings_from_fields(
        entity_id=" https://idp.test/x ", sso_url="https://idp.test/sso", certificates=[body, body]
    )
    assert settings.entity_id == "https://idp.test/x"
    assert len(settings.certificates) == 1 and settings.certificates[0].startswith(
        "-----BEGIN CERTIFICATE-----"
    )
    assert settings.sso_binding == BINDING_REDIRECT
    for kwargs, reason in (
        (
            {"entity_id": "", "sso_url": "https://idp.test/sso", "certificates": [body]},
            Reason.METADATA_INVALID,
        ),
        (
            {"entity_id": "e", "sso_url": "javascript:alert(1)", "certificates": [body]},
            Reason.METADATA_INVALID,
        ),
        (
            {"entity_id": "e", "sso_url": "https://idp.test/sso", "certificates": []},
            Reason.NO_IDP_CERTIFICATE,
        ),
        (
            {"entity_id": "e", "sso_url": "https://idp.test/sso", "certificates": ["MIIB"]},
            Reason.NO_IDP_CERTIFICATE,
        ),
    ):
        with pytest.raises(SamlRefusal) as refused:
            idp_settings_from_fields(**kwargs)  # type: ignore[arg-type]
        assert refused.value.reason == reason
