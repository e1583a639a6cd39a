"""Enveloped XML signatures: strict structure checks, then xmlsec with OUR keys only.

The structure rules close signature wrapping (XSW) without trusting the library to pick the right element:
a signature must be the direct child of the element it signs, carry exactly one Reference whose URI is
``#`` + that element's ID, and that ID must be unique in the document (checked by the caller over the whole
tree). The element the caller then reads is the very element the signature covers. KeyInfo in the message is
ignored: the key is set on the context from the connection's IdP certificates, so a swapped-in certificate
verifies nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmlsec

from app.sso.saml import algorithms
from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.keys import xmlsec_certificate_key, xmlsec_signing_key
from app.sso.saml.xml import DS, Element

_ALLOWED_SIGNATURE_TRANSFORMS = (
    xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha384,
    xmlsec.constants.TransformRsaSha512,
    xmlsec.constants.TransformEcdsaSha256,
    xmlsec.constants.TransformEcdsaSha384,
    xmlsec.constants.TransformEcdsaSha512,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformExclC14NWithComments,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14NWithComments,
    xmlsec.constants.TransformInclC14N11,
)
_ALLOWED_REFERENCE_TRANSFORMS = (
    xmlsec.constants.TransformEnveloped,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformExclC14NWithComments,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14NWithComments,
    xmlsec.constants.TransformInclC14N11,
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)


def direct_signatures(element: Element) -> list[Element]:
    return [child for child in element if child.tag == DS + "Signature"]


def _one(parent: Element, tag: str, what: str) -> Element:
    found = [child for child in parent if child.tag == tag]
    if len(found) != 1:
        raise SamlRefusal(
            Reason.SIGNATURE_REFERENCE_INVALID, f"{what}: expected exactly one, found {len(found)}"
        )
    return found[0]


def check_structure(signature: Element, signed: Element) -> None:
    """The algorithm policy and the one-reference-to-my-parent rule, before any cryptography."""
    signed_info = _one(signature, DS + "SignedInfo", "SignedInfo")
    c14n = _one(signed_info, DS + "CanonicalizationMethod", "CanonicalizationMethod")
    if c14n.get("Algorithm") not in algorithms.C14N_METHODS:
        raise SamlRefusal(Reason.TRANSFORM_FORBIDDEN, f"canonicalization {c14n.get('Algorithm')!r}")
    method = _one(signed_info, DS + "SignatureMethod", "SignatureMethod")
    algorithms.check_signature_method(method.get("Algorithm"))
    reference = _one(signed_info, DS + "Reference", "Reference")
    element_id = signed.get("ID")
    if not element_id or reference.get("URI") != "#" + element_id:
        raise SamlRefusal(
            Reason.SIGNATURE_REFERENCE_INVALID,
            f"the reference {reference.get('URI')!r} does not name the signed element {element_id!r}",
        )
    algorithms.check_digest_method(_one(reference, DS + "DigestMethod", "DigestMethod").get("Algorithm"))
    transforms = [child for child in reference if child.tag == DS + "Transforms"]
    if len(transforms) > 1:
        raise SamlRefusal(Reason.TRANSFORM_FORBIDDEN, "more than one Transforms element")
    uris = [t.get("Algorithm") for t in transforms[0]] if transforms else []
    if any(uri not in algorithms.REFERENCE_TRANSFORMS for uri in uris) or len(uris) > 2:
        raise SamlRefusal(Reason.TRANSFORM_FORBIDDEN, f"reference transforms {uris}")
    if algorithms.ENVELOPED not in uris:
        raise SamlRefusal(Reason.TRANSFORM_FORBIDDEN, "the reference is not an enveloped signature")


def verify(signature: Element, signed: Element, root: Element, certificates: Sequence[str]) -> None:
    """Verify ``signature`` (a direct child of ``signed``) with one of ``certificates`` or refuse."""
    check_structure(signature, signed)
    if not certificates:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, "the connection has no IdP certificate")
    xmlsec.tree.add_ids(root, ["ID"])
    failure = "no certificate verified it"
    for cert in certificates:
        ctx = xmlsec.SignatureContext()
        for transform in _ALLOWED_SIGNATURE_TRANSFORMS:
            ctx.enable_signature_transform(transform)
        for transform in _ALLOWED_REFERENCE_TRANSFORMS:
            ctx.enable_reference_transform(transform)
        ctx.key = xmlsec_certificate_key(cert)
        try:
            ctx.verify(signature)
        except xmlsec.VerificationError as exc:
            failure = str(exc) or failure
            continue
        except xmlsec.Error as exc:
            raise SamlRefusal(Reason.SIGNATURE_INVALID, f"xmlsec: {exc}") from None
        return
    raise SamlRefusal(Reason.SIGNATURE_INVALID, f"the signature does not verify: {failure}")


def sign_enveloped(
    element: Element, private_key_pem: str, certificate_pem: str, *, after: Element | None
) -> None:
    """Sign ``element`` (RSA-SHA256, SHA-256, exc-c14n); the Signature goes after ``after`` (the Issuer)."""
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    if after is not None:
        after.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + element.get("ID")
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    x509_data = xmlsec.template.add_x509_data(key_info)
    xmlsec.template.x509_data_add_certificate(x509_data)
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec_signing_key(private_key_pem, certificate_pem)
    ctx.sign(signature)
