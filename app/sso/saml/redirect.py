"""The HTTP-Redirect and HTTP-POST bindings (SAML 2.0 bindings §3.4 and §3.5).

Redirect: the message is DEFLATEd (raw, RFC 1951), base64-encoded and URL-encoded; the signature is
detached, over the octets ``SAMLRequest=…&RelayState=…&SigAlg=…`` exactly as they appear in the URL
(§3.4.4.1). Verifying one therefore needs the raw query string as received: re-encoding the decoded values
can change the octets.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.sso.saml import algorithms
from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.keys import public_key, rsa_signing_key
from app.sso.saml.settings import MAX_MESSAGE_BYTES, InboundMessage, SpKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    algorithms.RSA_SHA256: hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}


def _encode(value: str) -> str:
    return quote(value, safe="")


def deflate_b64(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def inflate_b64(value: str, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """Decode a Redirect-binding message, refusing a decompression bomb (output capped at ``max_bytes``)."""
    try:
        raw = base64.b64decode("".join(value.split()).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRefusal(Reason.MALFORMED_BASE64, "the message is not base64") from None
    inflater = zlib.decompressobj(-15)
    try:
        xml = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise SamlRefusal(Reason.MALFORMED_XML, f"the message does not inflate: {exc}") from None
    if len(xml) > max_bytes or inflater.unconsumed_tail:
        raise SamlRefusal(Reason.TOO_LARGE, f"the message inflates past {max_bytes} bytes")
    return xml


def signed_redirect_url(
    location: str, parameter: str, xml: bytes, relay_state: str | None, signing: SpKey
) -> str:
    """``location`` with the DEFLATEd message, RelayState, SigAlg and an RSA-SHA256 Signature (§3.4.4.1)."""
    query = f"{parameter}={_encode(deflate_b64(xml))}"
    if relay_state is not None:
        query += f"&RelayState={_encode(relay_state)}"
    query += f"&SigAlg={_encode(algorithms.RSA_SHA256)}"
    signature = rsa_signing_key(signing.private_key_pem).sign(
        query.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
    )
    query += f"&Signature={_encode(base64.b64encode(signature).decode('ascii'))}"
    return location + ("&" if "?" in location else "?") + query


def _raw_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.lstrip("?").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote_plus(name), value))
    return pairs


def inbound_from_query(raw_query: str) -> InboundMessage:
    """A Redirect-binding message from the raw query string (as received, still URL-encoded)."""
    if len(raw_query) > MAX_MESSAGE_BYTES:
        raise SamlRefusal(Reason.TOO_LARGE, "the query string is too long")
    values: dict[str, str] = {}
    for name, value in _raw_pairs(raw_query):
        if name in values:
            raise SamlRefusal(Reason.MALFORMED_XML, f"the parameter {name} appears twice")
        values[name] = unquote_plus(value)
    return _inbound("redirect", values, raw_query)


def inbound_from_form(form: Mapping[str, str]) -> InboundMessage:
    """A POST-binding message from the form fields."""
    return _inbound("post", dict(form), None)


def _inbound(binding: str, values: Mapping[str, str], raw_query: str | None) -> InboundMessage:
    has_request, has_response = "SAMLRequest" in values, "SAMLResponse" in values
    if has_request == has_response:
        raise SamlRefusal(Reason.WRONG_MESSAGE, "expected exactly one of SAMLRequest and SAMLResponse")
    return InboundMessage(
        binding="redirect" if binding == "redirect" else "post",
        saml_b64=values["SAMLRequest"] if has_request else values["SAMLResponse"],
        relay_state=values.get("RelayState"),
        raw_query=raw_query,
        is_request=has_request,
    )


def verify_query_signature(raw_query: str, certificates: Sequence[str]) -> bool:
    """Check the detached signature of a Redirect-binding message; False when the query carries none.

    The signed octets are rebuilt from the raw (still encoded) parameters in the order §3.4.4.1 fixes.
    """
    raw = dict(_raw_pairs(raw_query))
    if "Signature" not in raw and "SigAlg" not in raw:
        return False
    if "Signature" not in raw or "SigAlg" not in raw:
        raise SamlRefusal(Reason.SIGNATURE_INVALID, "SigAlg and Signature go together")
    sig_alg = unquote_plus(raw["SigAlg"])
    algorithms.check_query_signature_method(sig_alg)
    message = "SAMLRequest" if "SAMLRequest" in raw else "SAMLResponse"
    signed = f"{message}={raw[message]}"
    if "RelayState" in raw:
        signed += f"&RelayState={raw['RelayState']}"
    signed += f"&SigAlg={raw['SigAlg']}"
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise SamlRefusal(Reason.SIGNATURE_INVALID, "the Signature is not base64") from None
    if not certificates:
        raise SamlRefusal(Reason.NO_IDP_CERTIFICATE, "the connection has no IdP certificate")
    digest = _HASHES[sig_alg]()
    for cert in certificates:
        key = public_key(cert)
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), digest)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, signed.encode("ascii"), ec.ECDSA(digest))
            else:
                continue
        except (InvalidSignature, UnicodeEncodeError):
            continue
        return True
    raise SamlRefusal(
        Reason.SIGNATURE_INVALID, "the query signature does not verify with the IdP certificates"
    )
