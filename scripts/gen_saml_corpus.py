"""Generate the SAML attack corpus: tests/fixtures/saml/*.xml and manifest.json (file -> expected verdict).

    .venv/bin/python scripts/gen_saml_corpus.py               # encrypted cases kept when present
    .venv/bin/python scripts/gen_saml_corpus.py --reencrypt   # rebuild them too

Every case is a Response as it reaches the ACS (the decoded XML), built by tests/saml_builder.py from the TEST
keys in tests/fixtures/saml/keys/ (created on the first run, then reused so the files are stable), at the
fixed corpus time ``NOW``. The manifest says, per file, what the validator must answer ("valid" or a refusal
reason) and with which call arguments (expected_request_id, allow_unsolicited). XSW1 to XSW8 follow SAML
Raider's definitions. Regenerate after changing the builder; the tests read only the files.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree  # noqa: E402

from tests.saml_builder import (  # noqa: E402
    ACS_URL,
    CORPUS_DIR,
    DS_NS,
    IDP_ENTITY_ID,
    OTHER_ACS_URL,
    OTHER_IDP_ENTITY_ID,
    OTHER_SP_ENTITY_ID,
    REQUEST_ID,
    SAML_NS,
    SAMLP_NS,
    SP_ENTITY_ID,
    Shape,
    assertion_xml,
    ensure_keys,
    response_bytes,
    response_element,
    sign,
    with_,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
SAML = f"{{{SAML_NS}}}"
SAMLP = f"{{{SAMLP_NS}}}"
DS = f"{{{DS_NS}}}"

BASE = Shape(now=NOW)
EVIL_NAME = "admin@corp-a.test"


def _xml(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def _assertion(root: etree._Element) -> etree._Element:
    found = root.find(SAML + "Assertion")
    assert found is not None
    return found


def _set_name(assertion: etree._Element, name: str) -> None:
    name_id = assertion.find(f"{SAML}Subject/{SAML}NameID")
    assert name_id is not None
    name_id.text = name


def _strip_signature(element: etree._Element) -> etree._Element:
    for signature in element.findall(DS + "Signature"):
        element.remove(signature)
    return element


# --- XSW1 to XSW8 (SAML Raider) ---


def xsw1() -> bytes:
    """Response-level: the evil Response at the root, the original (unsigned copy) inside its Signature."""
    original = response_element(BASE)
    evil = copy.deepcopy(original)
    evil.set("ID", "id-evil-response")
    _set_name(_assertion(evil), EVIL_NAME)
    signature = evil.find(DS + "Signature")
    signature.append(_strip_signature(copy.deepcopy(original)))
    return _xml(evil)


def xsw2() -> bytes:
    """Response-level: like XSW1 but the original copy sits before the Signature (detached)."""
    original = response_element(BASE)
    evil = copy.deepcopy(original)
    evil.set("ID", "id-evil-response")
    _set_name(_assertion(evil), EVIL_NAME)
    signature = evil.find(DS + "Signature")
    signature.addprevious(_strip_signature(copy.deepcopy(original)))
    return _xml(evil)


def _assertion_level() -> tuple[etree._Element, etree._Element]:
    root = response_element(with_(BASE, sign_response=False))
    return root, _assertion(root)


def xsw3() -> bytes:
    """An unsigned evil copy of the Assertion (new ID) before the signed original."""
    root, original = _assertion_level()
    evil = _strip_signature(copy.deepcopy(original))
    evil.set("ID", "id-evil-assertion")
    _set_name(evil, EVIL_NAME)
    original.addprevious(evil)
    return _xml(root)


def xsw4() -> bytes:
    """The evil Assertion wraps the signed original."""
    root, original = _assertion_level()
    evil = _strip_signature(copy.deepcopy(original))
    evil.set("ID", "id-evil-assertion")
    _set_name(evil, EVIL_NAME)
    original.addprevious(evil)
    evil.append(original)
    return _xml(root)


def xsw5() -> bytes:
    """The signed Assertion is altered (keeps its Signature); an unsigned original copy goes at the end."""
    root, original = _assertion_level()
    copy_of_original = _strip_signature(copy.deepcopy(original))
    original.set("ID", "id-evil-assertion")
    _set_name(original, EVIL_NAME)
    root.append(copy_of_original)
    return _xml(root)


def xsw6() -> bytes:
    """The signed Assertion is altered; the unsigned original copy goes inside its Signature."""
    root, original = _assertion_level()
    copy_of_original = _strip_signature(copy.deepcopy(original))
    original.set("ID", "id-evil-assertion")
    _set_name(original, EVIL_NAME)
    original.find(DS + "Signature").append(copy_of_original)
    return _xml(root)


def xsw7() -> bytes:
    """An Extensions block holding an unsigned evil copy; the signed original stays in place."""
    root, original = _assertion_level()
    evil = _strip_signature(copy.deepcopy(original))
    _set_name(evil, EVIL_NAME)
    extensions = etree.Element(SAMLP + "Extensions", nsmap={"samlp": SAMLP_NS})
    extensions.append(evil)
    root.find(SAML + "Issuer").addnext(extensions)
    return _xml(root)


def xsw8() -> bytes:
    """The signed Assertion is altered; an Object in its Signature holds the unsigned original copy."""
    root, original = _assertion_level()
    copy_of_original = _strip_signature(copy.deepcopy(original))
    _set_name(original, EVIL_NAME)
    obj = etree.SubElement(original.find(DS + "Signature"), DS + "Object", nsmap={"ds": DS_NS})
    obj.append(copy_of_original)
    return _xml(root)


# --- other attacks ---


def comment_injection() -> bytes:
    """CVE-2017-11427: the IdP signed ``alice@corp-a.test.evil.test``; a comment makes naive readers see
    ``alice@corp-a.test``. Comments are outside exc-c14n, so the signature still verifies."""
    root = response_element(with_(BASE, sign_response=False, name_id="alice@corp-a.test.evil.test"))
    name_id = _assertion(root).find(f"{SAML}Subject/{SAML}NameID")
    name_id.text = "alice@corp-a.test"
    comment = etree.Comment("")
    comment.tail = ".evil.test"
    name_id.append(comment)
    return _xml(root)


def signature_stripped() -> bytes:
    root = response_element(BASE)
    _strip_signature(root)
    _strip_signature(_assertion(root))
    _set_name(_assertion(root), EVIL_NAME)
    return _xml(root)


def tampered(what: str) -> Callable[[], bytes]:
    def build() -> bytes:
        root = response_element(BASE)
        assertion = _assertion(root)
        if what == "nameid":
            _set_name(assertion, EVIL_NAME)
        else:
            value = assertion.find(f"{SAML}AttributeStatement/{SAML}Attribute/{SAML}AttributeValue")
            value.text = EVIL_NAME
        return _xml(root)

    return build


def tampered_response_only() -> bytes:
    """The Response is modified after signing (Destination), the assertion untouched."""
    root = response_element(BASE)
    root.set("InResponseTo", REQUEST_ID)
    root.find(SAML + "Issuer").text = IDP_ENTITY_ID + " "
    return _xml(root)


def two_assertions() -> bytes:
    root = response_element(with_(BASE, sign_response=False))
    second = etree.fromstring(assertion_xml(with_(BASE, assertion_id="id-assertion-0002", name_id=EVIL_NAME)))
    sign(second, BASE)
    root.append(second)
    return _xml(root)


def duplicate_id() -> bytes:
    """A second element carrying the signed Assertion's ID (reference ambiguity)."""
    root = response_element(with_(BASE, sign_response=False))
    extensions = etree.Element(SAMLP + "Extensions", nsmap={"samlp": SAMLP_NS})
    marker = etree.SubElement(extensions, "{urn:evil}Marker", nsmap={"evil": "urn:evil"})
    marker.set("ID", BASE.assertion_id)
    root.find(SAML + "Issuer").addnext(extensions)
    return _xml(root)


def wrapped_in_response_irt() -> bytes:
    """An unsolicited signed assertion re-wrapped in an unsigned Response "answering" a pending request."""
    root = response_element(with_(BASE, sign_response=False, in_response_to=None))
    root.set("InResponseTo", REQUEST_ID)
    return _xml(root)


def status_failure() -> bytes:
    root = response_element(with_(BASE, sign_response=False))
    root.remove(_assertion(root))
    root.find(f"{SAMLP}Status/{SAMLP}StatusCode").set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    return _xml(root)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0"
 IssueInstant="2026-06-01T12:00:00Z"><samlp:Status><samlp:StatusCode
 Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>&xxe;</samlp:Response>
"""

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol9;</samlp:Response>\n'
)


def external_dtd() -> bytes:
    signed = response_bytes(BASE).split(b"?>", 1)[1]
    return b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd">' + signed


def truncated() -> bytes:
    return response_bytes(BASE)[:-40]


def mutated(shape_: Shape, change: Callable[[etree._Element], None]) -> Callable[[], bytes]:
    """Build, re-parse (lxml's find() misses names xmlsec created in place), change, serialise."""

    def build() -> bytes:
        root = etree.fromstring(response_bytes(shape_))
        change(root)
        return _xml(root)

    return build


def _set_signature_method(root: etree._Element) -> None:
    root.find(f".//{DS}SignatureMethod").set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")


def _add_xslt(root: etree._Element) -> None:
    transform = etree.SubElement(root.find(f".//{DS}Transforms"), DS + "Transform")
    transform.set("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")


def _cipher_reference(root: etree._Element) -> None:
    xenc = "{http://www.w3.org/2001/04/xmlenc#}"
    cipher_data = root.find(f".//{xenc}EncryptedData/{xenc}CipherData")
    cipher_data.remove(cipher_data.find(xenc + "CipherValue"))
    etree.SubElement(cipher_data, xenc + "CipherReference").set("URI", "file:///etc/passwd")


def _rsa_1_5(root: etree._Element) -> None:
    xenc = "{http://www.w3.org/2001/04/xmlenc#}"
    method = root.find(f".//{xenc}EncryptedKey/{xenc}EncryptionMethod")
    method.set("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")


def _namespaced_duplicate_id(root: etree._Element) -> None:
    extensions = etree.Element(SAMLP + "Extensions", nsmap={"samlp": SAMLP_NS})
    marker = etree.SubElement(extensions, "{urn:evil}Marker", nsmap={"evil": "urn:evil"})
    marker.set("{urn:evil}ID", BASE.assertion_id)
    root.find(SAML + "Issuer").addnext(extensions)


def assertion_in_status_detail() -> bytes:
    """A signed evil-named assertion (another request's) hidden in StatusDetail, the real one in place."""
    root = response_element(with_(BASE, sign_response=False))
    hidden = etree.fromstring(assertion_xml(with_(BASE, assertion_id="id-assertion-0009", name_id=EVIL_NAME)))
    sign(hidden, BASE)
    detail = etree.SubElement(root.find(SAMLP + "Status"), SAMLP + "StatusDetail", nsmap={"samlp": SAMLP_NS})
    detail.append(hidden)
    return _xml(root)


def assertion_in_advice() -> bytes:
    """The evil assertion (unsigned) carries the IdP-signed original inside its Advice."""
    root, original = _assertion_level()
    evil = _strip_signature(copy.deepcopy(original))
    evil.set("ID", "id-evil-assertion")
    _set_name(evil, EVIL_NAME)
    advice = etree.Element(SAML + "Advice", nsmap={"saml": SAML_NS})
    evil.find(SAML + "Conditions").addnext(advice)
    original.addprevious(evil)
    advice.append(original)
    return _xml(root)


OKTA = with_(
    BASE,
    response_id="id29384756102938475610293",
    assertion_id="id29384756103847561029384",
    name_id="bob@corp-a.test",
    attribute_prefix=' xsi:type="xs:string"',
    attributes=(
        ("email", ("bob@corp-a.test",)),
        ("firstName", ("Bob",)),
        ("lastName", ("Builder",)),
        ("groups", ("Engineering", "Everyone")),
    ),
)
ENTRA = with_(
    BASE,
    sign_response=False,
    response_id="_7a0b6c0e-5d1f-4c8e-9d3a-2f1e0b9c8d7a",
    assertion_id="_4b9e3f2a-1c7d-4e8b-a6f5-0d2c1b3a9e8f",
    name_id="carol@corp-a.test",
    attributes=(
        ("http://schemas.microsoft.com/identity/claims/tenantid", ("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",)),
        (
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            ("5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b",),
        ),
        ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", ("carol@corp-a.test",)),
        ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", ("Carol",)),
        ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", ("Danvers",)),
        (
            "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
            ("a1b2c3d4-0000-1111-2222-333344445555",),
        ),
    ),
)
OTHER_TENANT = with_(
    BASE,
    signer="test-other-idp",
    issuer=OTHER_IDP_ENTITY_ID,
    response_issuer=OTHER_IDP_ENTITY_ID,
    audiences=(OTHER_SP_ENTITY_ID,),
    recipient=OTHER_ACS_URL,
    destination=OTHER_ACS_URL,
)


def shape(s: Shape) -> Callable[[], bytes]:
    return lambda: response_bytes(s)


# file stem -> (builder, expected verdict, call arguments, whether stock python3-saml can judge it)
Case = tuple[Callable[[], bytes], str, dict[str, Any]]
UNSOLICITED = {"expected_request_id": None, "allow_unsolicited": True}
CASES: dict[str, Case] = {
    # valid shapes
    "valid_signed_response_and_assertion": (shape(BASE), "valid", {}),
    "valid_signed_assertion_only": (shape(with_(BASE, sign_response=False)), "valid", {}),
    "valid_encrypted_assertion": (shape(with_(BASE, encrypt_to="test-sp-encryption")), "valid", {}),
    "valid_encrypted_assertion_unsigned_response": (
        shape(with_(BASE, encrypt_to="test-sp-encryption", sign_response=False)),
        "valid",
        {},
    ),
    "valid_encrypted_to_previous_key": (
        shape(with_(BASE, encrypt_to="test-sp-encryption-previous")),
        "valid",
        {"stock": False},  # stock python3-saml holds one decryption key: no rotation overlap
    ),
    "valid_idp_next_certificate": (shape(with_(BASE, signer="test-idp-next")), "valid", {}),
    "valid_okta_like": (shape(OKTA), "valid", {}),
    "valid_entra_like": (shape(ENTRA), "valid", {}),
    "valid_unsolicited_allowed": (shape(with_(BASE, in_response_to=None)), "valid", UNSOLICITED),
    "valid_rsa_sha512": (shape(with_(BASE, sign_alg="rsa-sha512", digest_alg="sha512")), "valid", {}),
    "valid_clock_skew_within_bounds": (
        shape(with_(BASE, not_before_offset=dt.timedelta(seconds=60))),
        "valid",
        {},
    ),
    "valid_no_response_issuer": (shape(with_(BASE, sign_response=False, response_issuer=None)), "valid", {}),
    # XSW1 to XSW8
    "xsw1": (xsw1, "schema_invalid", {}),
    "xsw2": (xsw2, "schema_invalid", {}),
    "xsw3": (xsw3, "assertion_count", {}),
    "xsw4": (xsw4, "schema_invalid", {}),
    "xsw5": (xsw5, "assertion_count", {}),
    "xsw6": (xsw6, "schema_invalid", {}),
    "xsw7": (xsw7, "schema_invalid", {}),
    "xsw8": (xsw8, "schema_invalid", {}),
    # signatures
    "comment_injection_nameid": (comment_injection, "comment_injection", {}),
    "signature_stripped": (signature_stripped, "assertion_unsigned", {}),
    "certificate_swapped_in_keyinfo": (
        shape(with_(BASE, signer="test-attacker", name_id=EVIL_NAME)),
        "signature_invalid",
        {},
    ),
    "attacker_key_with_idp_certificate_in_keyinfo": (
        shape(with_(BASE, signer="test-attacker", embed_cert="test-idp", name_id=EVIL_NAME)),
        "signature_invalid",
        {},
    ),
    "tampered_nameid_after_signing": (tampered("nameid"), "signature_invalid", {}),
    "tampered_attribute_after_signing": (tampered("attribute"), "signature_invalid", {}),
    "tampered_response_after_signing": (tampered_response_only, "signature_invalid", {}),
    "sha1_signature": (shape(with_(BASE, sign_alg="rsa-sha1")), "sha1_refused", {}),
    "sha1_digest": (shape(with_(BASE, digest_alg="sha1")), "sha1_refused", {}),
    "sha1_assertion_only": (
        shape(with_(BASE, sign_response=False, sign_alg="rsa-sha1", digest_alg="sha1")),
        "sha1_refused",
        {},
    ),
    "unsigned_assertion_in_signed_response": (
        shape(with_(BASE, sign_assertion=False)),
        "assertion_unsigned",
        {},
    ),
    "unsigned_response_unsigned_assertion": (
        shape(with_(BASE, sign_assertion=False, sign_response=False)),
        "assertion_unsigned",
        {},
    ),
    "two_assertions": (two_assertions, "assertion_count", {}),
    "duplicate_id": (duplicate_id, "duplicate_id", {}),
    "encrypted_to_unknown_key": (
        shape(with_(BASE, encrypt_to="test-attacker")),
        "decryption_failed",
        {},
    ),
    # time
    "expired": (shape(with_(BASE, now=NOW - dt.timedelta(hours=1))), "expired", {}),
    "not_yet_valid": (
        shape(with_(BASE, now=NOW + dt.timedelta(hours=1), not_before_offset=dt.timedelta(0))),
        "not_yet_valid",
        {},
    ),
    # audience, recipient, destination, issuer
    "wrong_audience": (shape(with_(BASE, audiences=("https://other.test/sp",))), "audience_mismatch", {}),
    "audience_superstring": (
        shape(with_(BASE, audiences=(SP_ENTITY_ID + "/extra",))),
        "audience_mismatch",
        {},
    ),
    "audience_prefix": (shape(with_(BASE, audiences=(SP_ENTITY_ID[:-9],))), "audience_mismatch", {}),
    "missing_audience": (shape(with_(BASE, audiences=None)), "audience_missing", {}),
    "recipient_substring": (
        shape(with_(BASE, recipient="https://evil.test/?next=" + ACS_URL)),
        "recipient_mismatch",
        {},
    ),
    "recipient_prefix": (shape(with_(BASE, recipient=ACS_URL[:-4])), "recipient_mismatch", {}),
    "recipient_superstring": (
        shape(with_(BASE, recipient=ACS_URL + "/../../conn_B/acs")),
        "recipient_mismatch",
        {},
    ),
    "recipient_missing": (shape(with_(BASE, recipient=None)), "recipient_mismatch", {}),
    "destination_prefix": (shape(with_(BASE, destination=ACS_URL[:-4])), "destination_mismatch", {}),
    "destination_superstring": (
        shape(with_(BASE, destination=ACS_URL + "?next=https://evil.test/")),
        "destination_mismatch",
        {},
    ),
    "destination_missing_on_signed_response": (
        shape(with_(BASE, destination=None)),
        "destination_missing",
        {},
    ),
    "destination_other_connection_unsigned_response": (
        shape(with_(BASE, sign_response=False, destination=OTHER_ACS_URL)),
        "destination_mismatch",
        {},
    ),
    "wrong_assertion_issuer": (
        shape(
            with_(BASE, issuer="https://idp.test/evil/metadata", response_issuer=None, sign_response=False)
        ),
        "issuer_mismatch",
        {},
    ),
    "wrong_response_issuer": (
        shape(with_(BASE, response_issuer="https://idp.test/evil/metadata")),
        "issuer_mismatch",
        {},
    ),
    # InResponseTo and unsolicited
    "in_response_to_mismatch": (
        shape(with_(BASE, in_response_to="id-request-9999")),
        "in_response_to_mismatch",
        {},
    ),
    "in_response_to_missing_while_pending": (
        shape(with_(BASE, in_response_to=None)),
        "in_response_to_mismatch",
        {},
    ),
    "unsolicited_not_allowed": (
        shape(with_(BASE, in_response_to=None)),
        "unsolicited",
        {"expected_request_id": None, "allow_unsolicited": False},
    ),
    "solicited_but_nothing_pending": (shape(BASE), "in_response_to_mismatch", UNSOLICITED),
    "unsolicited_assertion_rewrapped_with_in_response_to": (
        wrapped_in_response_irt,
        "in_response_to_mismatch",
        {},
    ),
    "confirmation_in_response_to_mismatch": (
        shape(with_(BASE, sign_response=False, scd_in_response_to="id-request-9999")),
        "in_response_to_mismatch",
        {},
    ),
    # another tenant's connection
    "other_tenant_idp_key": (shape(OTHER_TENANT), "signature_invalid", {}),
    "other_tenant_same_idp_key_signed_response": (
        shape(with_(OTHER_TENANT, signer="test-idp", issuer=IDP_ENTITY_ID, response_issuer=IDP_ENTITY_ID)),
        "destination_mismatch",
        {},
    ),
    "other_tenant_same_idp_key_assertion_only": (
        shape(
            with_(
                OTHER_TENANT,
                signer="test-idp",
                issuer=IDP_ENTITY_ID,
                response_issuer=None,
                sign_response=False,
                destination=None,
            )
        ),
        "recipient_mismatch",
        {},
    ),
    "other_tenant_audience_only": (
        shape(with_(BASE, audiences=(OTHER_SP_ENTITY_ID,))),
        "audience_mismatch",
        {},
    ),
    # more signature and encryption tricks
    "whole_document_reference": (
        shape(with_(BASE, sign_response=False, reference_uri="")),
        "signature_reference_invalid",
        {},
    ),
    "hmac_signature_method": (
        mutated(with_(BASE, sign_response=False), _set_signature_method),
        "algorithm_refused",
        {},
    ),
    "xslt_transform": (mutated(with_(BASE, sign_response=False), _add_xslt), "transform_forbidden", {}),
    "encrypted_cipher_reference": (
        mutated(with_(BASE, sign_response=False, encrypt_to="test-sp-encryption"), _cipher_reference),
        "decryption_failed",
        {},
    ),
    "encrypted_rsa_1_5_key_transport": (
        mutated(with_(BASE, sign_response=False, encrypt_to="test-sp-encryption"), _rsa_1_5),
        "encryption_algorithm_refused",
        {},
    ),
    "namespaced_duplicate_id": (
        mutated(with_(BASE, sign_response=False), _namespaced_duplicate_id),
        "duplicate_id",
        {},
    ),
    "assertion_in_status_detail": (assertion_in_status_detail, "assertion_count", {}),
    "assertion_in_advice": (assertion_in_advice, "assertion_count", {}),
    "response_signed_by_attacker": (
        shape(with_(BASE, signer="test-attacker", sign_assertion=False)),
        "signature_invalid",
        {},
    ),
    # parsing
    "xxe_external_entity": (lambda: XXE, "doctype_forbidden", {}),
    "billion_laughs": (lambda: BILLION_LAUGHS, "doctype_forbidden", {}),
    "external_dtd": (external_dtd, "doctype_forbidden", {}),
    "truncated_xml": (truncated, "malformed_xml", {}),
    "utf16_encoded": (
        lambda: response_bytes(BASE).replace(b"UTF-8", b"UTF-16").decode().encode("utf-16"),
        "malformed_xml",
        {},
    ),
    "status_responder": (status_failure, "status_not_success", {}),
    "empty_nameid": (shape(with_(BASE, name_id="")), "name_id_missing", {}),
}


def main() -> None:
    ensure_keys()
    manifest: dict[str, Any] = {
        "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "clock_skew_seconds": 120,
        "defaults": {"expected_request_id": REQUEST_ID, "allow_unsolicited": False},
        "cases": {},
    }
    # Encrypted cases use a random session key: keep the committed files unless asked (no churn in git).
    reencrypt = "--reencrypt" in sys.argv[1:]
    for stale in CORPUS_DIR.glob("*.xml"):
        if stale.stem not in CASES or reencrypt or "encrypt" not in stale.stem:
            stale.unlink()
    for stem, (build, verdict, arguments) in CASES.items():
        path = CORPUS_DIR / f"{stem}.xml"
        if not path.exists():
            path.write_bytes(build())
        manifest["cases"][f"{stem}.xml"] = {"expect": verdict, **arguments}
    (CORPUS_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"{len(CASES)} cases written to {CORPUS_DIR}")


if __name__ == "__main__":
    main()
