"""Builds signed (and encrypted) SAML Responses the way IdPs do, for the corpus, the tests and the bench.

Test-only: every key here comes from tests/fixtures/saml/keys/ (generated once by scripts/gen_saml_corpus.py
and committed; they protect nothing). Times are parameters so the corpus is reproducible.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from app.sso.saml import IdpSettings, SpKey, SpSettings

KEYS_DIR = Path(__file__).resolve().parent / "fixtures" / "saml" / "keys"
CORPUS_DIR = Path(__file__).resolve().parent / "fixtures" / "saml"

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"

# Names of the test key pairs (file stems under keys/), all test-only.
KEY_NAMES = (
    "test-idp",  # the connection's IdP
    "test-idp-next",  # the IdP's next certificate (rollover)
    "test-other-idp",  # another tenant's IdP
    "test-attacker",  # an attacker's self-signed key
    "test-sp-signing",  # our SP signing key
    "test-sp-encryption",  # our SP decryption key (current)
    "test-sp-encryption-previous",  # our previous decryption key (rotation overlap)
)


def ensure_keys() -> None:
    """Create the test key pairs that are missing (RSA 2048, self-signed, valid 2025-2125)."""
    KEYS_DIR.mkdir(parents=True, exist_ok=True)
    for name in KEY_NAMES:
        key_path, cert_path = KEYS_DIR / f"{name}.key.pem", KEYS_DIR / f"{name}.cert.pem"
        if key_path.exists() and cert_path.exists():
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (TEST ONLY, not a secret)")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2125, 1, 1, tzinfo=dt.UTC))
            .sign(key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class KeyPair:
    key_pem: str
    cert_pem: str


def key_pair(name: str) -> KeyPair:
    return KeyPair(
        (KEYS_DIR / f"{name}.key.pem").read_text(),
        (KEYS_DIR / f"{name}.cert.pem").read_text(),
    )


# The corpus's SP (tenant A's connection) and IdP.
SP_ENTITY_ID = "https://tenantry.test/sso/saml/conn_A/metadata"
ACS_URL = "https://tenantry.test/sso/saml/conn_A/acs"
SLO_URL = "https://tenantry.test/sso/saml/conn_A/slo"
IDP_ENTITY_ID = "https://idp.test/tenant-a/metadata"
IDP_SSO_URL = "https://idp.test/tenant-a/sso"
OTHER_SP_ENTITY_ID = "https://tenantry.test/sso/saml/conn_B/metadata"
OTHER_ACS_URL = "https://tenantry.test/sso/saml/conn_B/acs"
OTHER_IDP_ENTITY_ID = "https://idp.test/tenant-b/metadata"
REQUEST_ID = "id-request-0001"


def sp_settings() -> SpSettings:
    signing, enc, prev = (
        key_pair("test-sp-signing"),
        key_pair("test-sp-encryption"),
        key_pair("test-sp-encryption-previous"),
    )
    return SpSettings(
        entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        slo_url=SLO_URL,
        signing=SpKey(signing.key_pem, signing.cert_pem),
        decryption=(SpKey(enc.key_pem, enc.cert_pem), SpKey(prev.key_pem, prev.cert_pem)),
    )


def idp_settings() -> IdpSettings:
    return IdpSettings(
        entity_id=IDP_ENTITY_ID,
        sso_url=IDP_SSO_URL,
        sso_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        slo_url="https://idp.test/tenant-a/slo",
        certificates=(key_pair("test-idp").cert_pem, key_pair("test-idp-next").cert_pem),
    )


_SIGN = {
    "rsa-sha256": xmlsec.constants.TransformRsaSha256,
    "rsa-sha512": xmlsec.constants.TransformRsaSha512,
    "rsa-sha1": xmlsec.constants.TransformRsaSha1,
}
_DIGEST = {
    "sha256": xmlsec.constants.TransformSha256,
    "sha512": xmlsec.constants.TransformSha512,
    "sha1": xmlsec.constants.TransformSha1,
}


@dataclass(frozen=True)
class Shape:
    """One Response as an IdP would send it. Defaults: SP-initiated, both signed, valid at ``now``."""

    now: dt.datetime
    name_id: str = "alice@corp-a.test"
    name_id_format: str | None = EMAIL_FORMAT
    issuer: str = IDP_ENTITY_ID
    response_issuer: str | None = IDP_ENTITY_ID
    audiences: tuple[str, ...] | None = (SP_ENTITY_ID,)
    recipient: str | None = ACS_URL
    destination: str | None = ACS_URL
    in_response_to: str | None = REQUEST_ID
    scd_in_response_to: str | None = "same"  # "same" copies in_response_to
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = (("email", ("alice@corp-a.test",)),)
    attribute_prefix: str = ""  # e.g. xsi:type declarations added by Okta
    not_before_offset: dt.timedelta = dt.timedelta(minutes=-1)
    lifetime: dt.timedelta = dt.timedelta(minutes=5)
    sign_response: bool = True
    sign_assertion: bool = True
    signer: str = "test-idp"
    embed_cert: str | None = None  # the certificate put in KeyInfo (defaults to the signer's)
    sign_alg: str = "rsa-sha256"
    digest_alg: str = "sha256"
    encrypt_to: str | None = None  # SP encryption key name
    response_id: str = "id-response-0001"
    assertion_id: str = "id-assertion-0001"
    session_index: str = "session-0001"
    reference_uri: str | None = None  # None: "#" + the signed element's ID


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assertion_xml(shape: Shape) -> str:
    now = shape.now
    nooa = _instant(now + shape.lifetime)
    irt = shape.in_response_to if shape.scd_in_response_to == "same" else shape.scd_in_response_to
    scd_attrs = f" NotOnOrAfter={quoteattr(nooa)}"
    if shape.recipient is not None:
        scd_attrs += f" Recipient={quoteattr(shape.recipient)}"
    if irt is not None:
        scd_attrs += f" InResponseTo={quoteattr(irt)}"
    fmt = f" Format={quoteattr(shape.name_id_format)}" if shape.name_id_format else ""
    audience = ""
    if shape.audiences is not None:
        audience = (
            "<saml:AudienceRestriction>"
            + "".join(f"<saml:Audience>{escape(a)}</saml:Audience>" for a in shape.audiences)
            + "</saml:AudienceRestriction>"
        )
    attributes = ""
    if shape.attributes:
        attributes = (
            "<saml:AttributeStatement>"
            + "".join(
                f"<saml:Attribute Name={quoteattr(name)} "
                'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">'
                + "".join(
                    f"<saml:AttributeValue{shape.attribute_prefix}>{escape(v)}</saml:AttributeValue>"
                    for v in values
                )
                + "</saml:Attribute>"
                for name, values in shape.attributes
            )
            + "</saml:AttributeStatement>"
        )
    return (
        f'<saml:Assertion xmlns:saml="{SAML_NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'ID={quoteattr(shape.assertion_id)} Version="2.0" IssueInstant="{_instant(now)}">'
        f"<saml:Issuer>{escape(shape.issuer)}</saml:Issuer>"
        f"<saml:Subject><saml:NameID{fmt}>{escape(shape.name_id)}</saml:NameID>"
        f'<saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData{scd_attrs}/>'
        "</saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{_instant(now + shape.not_before_offset)}" NotOnOrAfter="{nooa}">'
        f"{audience}</saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_instant(now)}" SessionIndex={quoteattr(shape.session_index)} '
        f'SessionNotOnOrAfter="{_instant(now + dt.timedelta(hours=8))}">'
        "<saml:AuthnContext><saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"{attributes}</saml:Assertion>"
    )


def sign(element: etree._Element, shape: Shape) -> None:
    """Enveloped signature right after the element's Issuer (where the SAML schema wants it)."""
    signer = key_pair(shape.signer)
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, _SIGN[shape.sign_alg], ns="ds"
    )
    issuer = element.find(f"{{{SAML_NS}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    uri = "#" + element.get("ID") if shape.reference_uri is None else shape.reference_uri
    ref = xmlsec.template.add_reference(signature, _DIGEST[shape.digest_alg], uri=uri)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    x509_data = xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.template.x509_data_add_certificate(x509_data)
    xmlsec.tree.add_ids(element, ["ID"])
    key = xmlsec.Key.from_memory(signer.key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(
        key_pair(shape.embed_cert or shape.signer).cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem
    )
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.sign(signature)


def encrypt(assertion: etree._Element, to: str) -> etree._Element:
    """Wrap ``assertion`` in an EncryptedAssertion (AES-256-CBC, RSA-OAEP key transport), as Okta does."""
    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion", nsmap={"saml": SAML_NS})
    wrapper.append(assertion)
    enc_data = xmlsec.template.encrypted_data_create(
        wrapper, xmlsec.constants.TransformAes256Cbc, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(enc_data, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_memory(key_pair(to).cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    )
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession)
    ctx.encrypt_xml(enc_data, assertion)
    return wrapper


def response_element(shape: Shape) -> etree._Element:
    assertion = etree.fromstring(assertion_xml(shape).encode())
    if shape.sign_assertion:
        sign(assertion, shape)
    if shape.encrypt_to:
        assertion = encrypt(assertion, shape.encrypt_to)
    attrs = f' ID={quoteattr(shape.response_id)} Version="2.0" IssueInstant="{_instant(shape.now)}"'
    if shape.destination is not None:
        attrs += f" Destination={quoteattr(shape.destination)}"
    if shape.in_response_to is not None:
        attrs += f" InResponseTo={quoteattr(shape.in_response_to)}"
    issuer = f"<saml:Issuer>{escape(shape.response_issuer)}</saml:Issuer>" if shape.response_issuer else ""
    response = etree.fromstring(
        (
            f'<samlp:Response xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}"{attrs}>{issuer}'
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            "</samlp:Status></samlp:Response>"
        ).encode()
    )
    response.append(assertion)
    if shape.sign_response:
        sign(response, shape)
    return response


def response_bytes(shape: Shape) -> bytes:
    return etree.tostring(response_element(shape), xml_declaration=True, encoding="UTF-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def with_(shape: Shape, **changes: object) -> Shape:
    return replace(shape, **changes)  # type: ignore[arg-type]
