"""EncryptedAssertion → Assertion with the SP's decryption keys (XML Encryption 1.1; SAML core §2.3.4).

Both layouts IdPs use are handled: the EncryptedKey inside EncryptedData/KeyInfo, or beside EncryptedData in
the EncryptedAssertion (RetrievalMethod). The session key is unwrapped first (each of our keys is tried,
current one first, so a rotation overlap works), then the data is decrypted with it. Algorithms are checked
before anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmlsec

from app.sso.saml import algorithms
from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.keys import xmlsec_private_key
from app.sso.saml.settings import SpKey
from app.sso.saml.xml import DS, XENC, Element

_AES_KEY_SIZES = {16, 24, 32}


def _method(node: Element) -> str | None:
    method = node.find(XENC + "EncryptionMethod")
    return None if method is None else method.get("Algorithm")


def decrypt_assertion(encrypted_assertion: Element, keys: Sequence[SpKey]) -> Element:
    """The decrypted Assertion element, put in place of ``encrypted_assertion`` in its tree."""
    if not keys:
        raise SamlRefusal(Reason.DECRYPTION_FAILED, "the assertion is encrypted but no decryption key is set")
    data_nodes = [child for child in encrypted_assertion if child.tag == XENC + "EncryptedData"]
    if len(data_nodes) != 1:
        raise SamlRefusal(Reason.DECRYPTION_FAILED, "EncryptedAssertion needs exactly one EncryptedData")
    encrypted_data = data_nodes[0]
    if encrypted_data.get("Type") not in (None, "http://www.w3.org/2001/04/xmlenc#Element"):
        raise SamlRefusal(Reason.DECRYPTION_FAILED, f"EncryptedData Type {encrypted_data.get('Type')!r}")
    if _method(encrypted_data) not in algorithms.DATA_ENCRYPTION:
        raise SamlRefusal(Reason.ENCRYPTION_ALGORITHM_REFUSED, f"data encryption {_method(encrypted_data)!r}")
    encrypted_keys = list(encrypted_data.iterfind(f"{DS}KeyInfo/{XENC}EncryptedKey")) + [
        child for child in encrypted_assertion if child.tag == XENC + "EncryptedKey"
    ]
    if not encrypted_keys:
        raise SamlRefusal(Reason.DECRYPTION_FAILED, "no EncryptedKey")
    for node in (encrypted_data, *encrypted_keys):
        # CipherReference would make xmlsec fetch a URI (SSRF, local files): only inline CipherValue.
        if node.find(f"{XENC}CipherData/{XENC}CipherValue") is None:
            raise SamlRefusal(Reason.DECRYPTION_FAILED, "only an inline CipherValue is accepted")
    for encrypted_key in encrypted_keys:
        if _method(encrypted_key) not in algorithms.KEY_TRANSPORT:
            raise SamlRefusal(
                Reason.ENCRYPTION_ALGORITHM_REFUSED, f"key transport {_method(encrypted_key)!r}"
            )
    session_key = _unwrap(encrypted_keys, keys)
    ctx = xmlsec.EncryptionContext()
    ctx.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataAes, session_key)
    try:
        decrypted = ctx.decrypt(encrypted_data)
    except xmlsec.Error as exc:
        raise SamlRefusal(Reason.DECRYPTION_FAILED, f"the EncryptedData does not decrypt: {exc}") from None
    if isinstance(decrypted, bytes) or not isinstance(decrypted.tag, str):
        raise SamlRefusal(Reason.DECRYPTION_FAILED, "the EncryptedData is not an XML element")
    parent = encrypted_assertion.getparent()
    if parent is None:
        raise SamlRefusal(Reason.DECRYPTION_FAILED, "EncryptedAssertion has no parent")
    decrypted.tail = encrypted_assertion.tail
    parent.replace(encrypted_assertion, decrypted)
    return decrypted


def _unwrap(encrypted_keys: Sequence[Element], keys: Sequence[SpKey]) -> bytes:
    for sp_key in keys:
        for encrypted_key in encrypted_keys:
            ctx = xmlsec.EncryptionContext()
            ctx.key = xmlsec_private_key(sp_key.private_key_pem)
            try:
                session_key = ctx.decrypt(encrypted_key)
            except xmlsec.Error:
                continue
            if isinstance(session_key, bytes) and len(session_key) in _AES_KEY_SIZES:
                return session_key
    raise SamlRefusal(Reason.DECRYPTION_FAILED, "no decryption key of this connection opens the EncryptedKey")
