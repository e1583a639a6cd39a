"""Rules of validate_response one at a time, on responses built for the test (time injected, test keys)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace

import pytest
import xmlsec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from app.sso.saml import SamlRefusal, ValidatedAssertion, validate_response
from app.sso.saml import signatures as signatures_module
from app.sso.saml import xml as xml_module
from app.sso.saml.settings import MAX_CLOCK_SKEW
from tests import saml_builder as b

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SKEW = dt.timedelta(seconds=120)
SP = b.sp_settings()
IDP = b.idp_settings()


def run(
    data: bytes | b.Shape,
    *,
    now: dt.datetime = NOW,
    skew: dt.timedelta = SKEW,
    expected: str | None = b.REQUEST_ID,
    allow_unsolicited: bool = False,
    sp: object = None,
    idp: object = None,
) -> ValidatedAssertion | str:
    raw = b.response_bytes(data) if isinstance(data, b.Shape) else data
    try:
        return validate_response(
            base64.b64encode(raw).decode(),
            sp=sp or SP,  # type: ignore[arg-type]
            idp=idp or IDP,  # type: ignore[arg-type]
            expected_request_id=expected,
            allow_unsolicited=allow_unsolicited,
            now=now,
            clock_skew=skew,
        )
    except SamlRefusal as refusal:
        return refusal.reason.value


BASE = b.Shape(now=NOW)


def test_time_windows_are_exact_at_the_skew_boundary() -> None:
    expiry = NOW + BASE.lifetime
    assert isinstance(run(BASE, now=expiry + SKEW - dt.timedelta(seconds=1)), ValidatedAssertion)
    assert run(BASE, now=expiry + SKEW) == "expired"
    early = b.with_(BASE, not_before_offset=dt.timedelta(minutes=10), lifetime=dt.timedelta(minutes=20))
    assert run(early, now=NOW + dt.timedelta(minutes=10) - SKEW) != "not_yet_valid"
    assert run(early, now=NOW + dt.timedelta(minutes=10) - SKEW - dt.timedelta(seconds=1)) == "not_yet_valid"


def test_clock_skew_is_capped_and_naive_now_means_utc() -> None:
    late = NOW + BASE.lifetime + MAX_CLOCK_SKEW + dt.timedelta(seconds=1)
    assert run(BASE, now=late, skew=dt.timedelta(hours=24)) == "expired"
    assert isinstance(run(BASE, now=NOW.replace(tzinfo=None)), ValidatedAssertion)


def test_every_audience_restriction_must_name_us() -> None:
    both = b.with_(BASE, audiences=("https://other.test", b.SP_ENTITY_ID))
    assert isinstance(run(both), ValidatedAssertion)  # one restriction listing us among others: satisfied
    root = b.response_element(b.with_(BASE, sign_response=False))
    # a second AudienceRestriction without us, signed by the IdP: the conjunction is not met
    assertion = root.find(f"{{{b.SAML_NS}}}Assertion")
    conditions = assertion.find(f"{{{b.SAML_NS}}}Conditions")
    extra = etree.SubElement(conditions, f"{{{b.SAML_NS}}}AudienceRestriction")
    etree.SubElement(extra, f"{{{b.SAML_NS}}}Audience").text = "https://other.test"
    assertion.remove(assertion.find(f"{{{b.DS_NS}}}Signature"))
    b.sign(assertion, BASE)
    assert run(etree.tostring(root)) == "audience_mismatch"


def test_confirmation_in_response_to_may_be_absent_only_under_a_signed_response() -> None:
    no_scd_irt = b.with_(BASE, scd_in_response_to=None)
    assert isinstance(run(no_scd_irt), ValidatedAssertion)
    assert run(b.with_(no_scd_irt, sign_response=False)) == "in_response_to_mismatch"


def test_rotation_overlap_and_its_end() -> None:
    previous = b.with_(BASE, encrypt_to="test-sp-encryption-previous")
    assert isinstance(run(previous), ValidatedAssertion)
    assert run(previous, sp=replace(SP, decryption=SP.decryption[:1])) == "decryption_failed"
    assert (
        run(b.with_(BASE, encrypt_to="test-sp-encryption"), sp=replace(SP, decryption=()))
        == "decryption_failed"
    )


def test_idp_certificate_rollover() -> None:
    nxt = b.with_(BASE, signer="test-idp-next")
    assert isinstance(run(nxt), ValidatedAssertion)
    assert run(nxt, idp=replace(IDP, certificates=IDP.certificates[:1])) == "signature_invalid"
    assert run(BASE, idp=replace(IDP, certificates=())) == "no_idp_certificate"


def test_replay_is_left_to_the_caller_with_what_it_needs() -> None:
    first, second = run(BASE), run(BASE)
    assert isinstance(first, ValidatedAssertion) and isinstance(second, ValidatedAssertion)
    assert first.replay_key == second.replay_key
    assert first.replay_expires_at == NOW + BASE.lifetime + SKEW
    assert first.session_not_on_or_after == NOW + dt.timedelta(hours=8)


def test_attributes_repeated_and_multivalued_are_merged() -> None:
    shape = b.with_(
        BASE, attributes=(("groups", ("a", "b")), ("groups", ("c",)), ("email", ("x@corp-a.test",)))
    )
    result = run(shape)
    assert isinstance(result, ValidatedAssertion)
    assert result.attributes == {"groups": ["a", "b", "c"], "email": ["x@corp-a.test"]}


def test_namespaced_or_xml_id_duplicates_are_refused() -> None:
    for attribute in ("{urn:evil}ID", "{http://www.w3.org/XML/1998/namespace}id"):
        root = b.response_element(BASE)
        marker = etree.Element("{urn:evil}Marker")
        marker.set(attribute, BASE.assertion_id)
        extensions = etree.Element(f"{{{b.SAMLP_NS}}}Extensions")
        extensions.append(marker)
        root.find(f"{{{b.SAML_NS}}}Issuer").addnext(extensions)
        assert run(etree.tostring(root)) in {"duplicate_id", "schema_invalid"}
        xml_module_validate = xml_module.validate_schema
        try:
            import app.sso.saml.validate as v

            v.validate_schema = lambda *a, **k: None  # type: ignore[assignment]
            assert run(etree.tostring(root)) == "duplicate_id"
        finally:
            v.validate_schema = xml_module_validate


def test_hmac_and_unknown_algorithms_are_refused() -> None:
    root = b.response_element(b.with_(BASE, sign_response=False))
    method = root.find(f".//{{{b.DS_NS}}}SignatureMethod")
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
    assert run(etree.tostring(root)) == "algorithm_refused"


def test_xslt_transform_is_refused_before_any_cryptography() -> None:
    # re-parsed: lxml's find() does not see element names xmlsec created in place (they skip lxml's name dict)
    root = etree.fromstring(etree.tostring(b.response_element(b.with_(BASE, sign_response=False))))
    transforms = root.find(f".//{{{b.DS_NS}}}Transforms")
    etree.SubElement(transforms, f"{{{b.DS_NS}}}Transform").set(
        "Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116"
    )
    assert run(etree.tostring(root)) == "transform_forbidden"


def test_library_exceptions_become_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.sso.saml.validate as v

    def explode(*args: object, **kwargs: object) -> None:
        raise etree.XMLSchemaError("boom")

    monkeypatch.setattr(v, "validate_schema", explode)
    assert run(BASE) == "library_error"
    monkeypatch.undo()

    def key_fails(*args: object, **kwargs: object) -> None:
        raise xmlsec.Error("no key")

    monkeypatch.setattr(signatures_module, "xmlsec_certificate_key", key_fails)
    assert run(BASE) == "library_error"

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(signatures_module, "check_structure", crash)
    assert run(BASE) == "library_error"


def test_transport_refusals() -> None:
    assert run(b"\xff\xfe<\x00a\x00>\x00") == "malformed_xml"  # UTF-16 could hide a DOCTYPE
    assert run(b"<a") == "malformed_xml"
    assert run(b"<samlp:AuthnRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>") == "wrong_message"
    assert run(b"<x>" + b"a" * 300_000 + b"</x>") == "too_large"
    with pytest.raises(SamlRefusal) as refused:
        validate_response("%%% not base64", sp=SP, idp=IDP, expected_request_id=None, allow_unsolicited=True,
                          now=NOW, clock_skew=SKEW)  # fmt: skip
    assert refused.value.reason == "malformed_base64"


def test_the_schema_is_compiled_once_per_thread() -> None:
    import threading

    run(BASE)
    before = xml_module.compilations
    for _ in range(5):
        run(BASE)
    assert xml_module.compilations == before
    worker = threading.Thread(target=lambda: [run(BASE) for _ in range(3)])
    worker.start()
    worker.join()
    assert xml_module.compilations == before + 1


VALID_XML = b.response_bytes(BASE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.integers(min_value=0, max_value=len(VALID_XML) - 1),
    length=st.integers(min_value=0, max_value=8),
    replacement=st.binary(max_size=8),
)
def test_any_mutation_is_a_refusal_or_the_original_identity(
    position: int, length: int, replacement: bytes
) -> None:
    """Whatever bytes change, the answer is a SamlRefusal or the unchanged signed identity, never a crash."""
    mutated = VALID_XML[:position] + replacement + VALID_XML[position + length :]
    result = run(mutated)
    if isinstance(result, ValidatedAssertion):
        assert result.name_id == BASE.name_id
        assert result.attributes == {"email": ["alice@corp-a.test"]}
    else:
        assert isinstance(result, str)


def test_cipher_reference_and_rsa_1_5_are_refused_before_decrypting() -> None:
    xenc = "{http://www.w3.org/2001/04/xmlenc#}"
    source = etree.tostring(
        b.response_element(b.with_(BASE, sign_response=False, encrypt_to="test-sp-encryption"))
    )
    root = etree.fromstring(source)
    cipher_data = root.find(f".//{xenc}EncryptedData/{xenc}CipherData")
    cipher_data.remove(cipher_data.find(xenc + "CipherValue"))
    etree.SubElement(cipher_data, xenc + "CipherReference").set("URI", "file:///etc/passwd")
    assert run(etree.tostring(root)) == "decryption_failed"

    root = etree.fromstring(source)
    method = root.find(f".//{xenc}EncryptedKey/{xenc}EncryptionMethod")
    method.set("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")
    assert run(etree.tostring(root)) == "encryption_algorithm_refused"


def test_encrypted_key_beside_encrypted_data_with_retrieval_method() -> None:
    """Shibboleth/Okta layout: EncryptedKey beside EncryptedData, referenced by a RetrievalMethod."""
    xenc, ds = "{http://www.w3.org/2001/04/xmlenc#}", f"{{{b.DS_NS}}}"
    root = etree.fromstring(
        etree.tostring(
            b.response_element(b.with_(BASE, sign_response=False, encrypt_to="test-sp-encryption"))
        )
    )
    encrypted_data = root.find(f".//{xenc}EncryptedData")
    key_info = encrypted_data.find(ds + "KeyInfo")
    encrypted_key = key_info.find(xenc + "EncryptedKey")
    encrypted_key.set("Id", "_key-1")
    key_info.remove(encrypted_key)
    etree.SubElement(key_info, ds + "RetrievalMethod").attrib.update(
        {"Type": "http://www.w3.org/2001/04/xmlenc#EncryptedKey", "URI": "#_key-1"}
    )
    encrypted_data.addnext(encrypted_key)
    result = run(etree.tostring(root))
    assert isinstance(result, ValidatedAssertion) and result.encrypted


def test_default_namespaces_indentation_and_inclusive_prefixes() -> None:
    """Entra/ADFS style: unprefixed SAML and XML-DSig elements, indented XML, an InclusiveNamespaces list."""
    pretty = (
        b.assertion_xml(BASE)
        .replace("<saml:", "\n  <")
        .replace("</saml:", "</")
        .replace(
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"',
            'xmlns="urn:oasis:names:tc:SAML:2.0:assertion"',
        )
        .lstrip()
    )
    assertion = etree.fromstring(pretty.encode())
    pair = b.key_pair("test-idp")
    signature = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
    )
    assertion.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + BASE.assertion_id
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    c14n = xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.transform_add_c14n_inclusive_namespaces(c14n, ["xs", "xsi"])
    xmlsec.tree.add_ids(assertion, ["ID"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(pair.key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    ctx.sign(signature)
    response = (
        f'<samlp:Response xmlns:samlp="{b.SAMLP_NS}" ID="_r1" Version="2.0"'
        ' IssueInstant="2026-06-01T12:00:00.1234567Z"'
        f' Destination="{b.ACS_URL}" InResponseTo="{b.REQUEST_ID}">\n'
        f'  <Issuer xmlns="{b.SAML_NS}">{b.IDP_ENTITY_ID}</Issuer>\n'
        '  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        "</samlp:Status>\n"
        "  " + etree.tostring(assertion).decode() + "\n</samlp:Response>"
    )
    result = run(response.encode())
    assert isinstance(result, ValidatedAssertion), result
    assert result.name_id == BASE.name_id


def test_every_reason_is_documented() -> None:
    from pathlib import Path

    from app.sso.saml import Reason

    text = (Path(__file__).resolve().parents[2] / "docs" / "sso" / "README.md").read_text()
    table = text[text.index("## 5. Every refusal reason") :]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == {reason.value for reason in Reason}
