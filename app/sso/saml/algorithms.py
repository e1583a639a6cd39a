"""Which XML-DSig and XML-Enc algorithms we accept. SHA-1 anywhere is refused (SHAttered; SAML 2.0 errata)."""

from __future__ import annotations

from app.sso.saml.errors import Reason, SamlRefusal

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_ENC = "http://www.w3.org/2001/04/xmlenc#"
_ENC11 = "http://www.w3.org/2009/xmlenc11#"

RSA_SHA256 = _MORE + "rsa-sha256"
SHA256 = _ENC + "sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = _DSIG + "enveloped-signature"

SIGNATURE_METHODS = frozenset(
    {
        RSA_SHA256,
        _MORE + "rsa-sha384",
        _MORE + "rsa-sha512",
        _MORE + "ecdsa-sha256",
        _MORE + "ecdsa-sha384",
        _MORE + "ecdsa-sha512",
    }
)
SHA1_SIGNATURE_METHODS = frozenset({_DSIG + "rsa-sha1", _DSIG + "dsa-sha1", _MORE + "ecdsa-sha1"})
DIGEST_METHODS = frozenset({SHA256, _MORE + "sha384", _ENC + "sha512"})
SHA1_DIGEST_METHODS = frozenset({_DSIG + "sha1"})
C14N_METHODS = frozenset(
    {
        EXC_C14N,
        EXC_C14N + "WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
    }
)
REFERENCE_TRANSFORMS = C14N_METHODS | {ENVELOPED}

# Redirect-binding SigAlg values (same URIs as the XML signature methods).
QUERY_SIGNATURE_METHODS = frozenset({RSA_SHA256, _MORE + "rsa-sha384", _MORE + "rsa-sha512"})

KEY_TRANSPORT = frozenset({_ENC + "rsa-oaep-mgf1p", _ENC11 + "rsa-oaep"})
# rsa-1_5 key transport is refused: PKCS#1 v1.5 decryption is a Bleichenbacher oracle (XML-Enc 1.1 §5.5.1).
DATA_ENCRYPTION = frozenset(
    {
        _ENC + "aes128-cbc",
        _ENC + "aes192-cbc",
        _ENC + "aes256-cbc",
        _ENC11 + "aes128-gcm",
        _ENC11 + "aes192-gcm",
        _ENC11 + "aes256-gcm",
    }
)


def check_signature_method(uri: str | None) -> None:
    if uri in SIGNATURE_METHODS:
        return
    if uri in SHA1_SIGNATURE_METHODS:
        raise SamlRefusal(Reason.SHA1_REFUSED, f"signature method {uri}")
    raise SamlRefusal(Reason.ALGORITHM_REFUSED, f"signature method {uri!r} is not accepted")


def check_digest_method(uri: str | None) -> None:
    if uri in DIGEST_METHODS:
        return
    if uri in SHA1_DIGEST_METHODS:
        raise SamlRefusal(Reason.SHA1_REFUSED, f"digest method {uri}")
    raise SamlRefusal(Reason.ALGORITHM_REFUSED, f"digest method {uri!r} is not accepted")


def check_query_signature_method(uri: str | None) -> None:
    if uri in QUERY_SIGNATURE_METHODS:
        return
    if uri in SHA1_SIGNATURE_METHODS:
        raise SamlRefusal(Reason.SHA1_REFUSED, f"SigAlg {uri}")
    raise SamlRefusal(Reason.ALGORITHM_REFUSED, f"SigAlg {uri!r} is not accepted")
