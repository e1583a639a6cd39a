"""ACS validation of a SAML Response (SAML 2.0 profiles §4.1.4, Web Browser SSO).

Order: bytes (base64, size) → hardened parse (no DTD) → schema (compiled once) → document-wide structure
(unique IDs, where signatures and assertions may be) → Response signature → status, Destination, Issuer,
InResponseTo → decryption → Assertion signature (required) → assertion checks. Every check python3-saml
leaves to the application (FIELD-NOTES) is here:

- The assertion must carry its own valid signature; a signed Response around an unsigned assertion is refused.
- SHA-1 (signature or digest) is refused; so are HMAC and anything outside ``algorithms``.
- InResponseTo: with ``expected_request_id`` the Response's must equal it, and the bearer confirmation's too
  (required there unless the Response itself is signed). Without one, the response must be unsolicited (no
  InResponseTo anywhere) and ``allow_unsolicited`` true.
- AudienceRestriction required; every one of them must list ``sp.entity_id`` exactly.
- Destination: required and equal to ``sp.acs_url`` (exact string) on a signed Response. On an unsigned
  Response around a signed assertion the attribute is attacker-controlled, so it is checked when present and
  the binding to our ACS comes from the signed bearer SubjectConfirmationData, whose Recipient must equal
  ``sp.acs_url``.
- Issuer of the assertion must equal ``idp.entity_id`` (and the Response's, when present).
- Time windows with a bounded skew; exactly one assertion; comments or processing instructions inside the
  assertion are refused (CVE-2017-11427: a comment splits NameID text without breaking the signature), and
  text is read as its full content anyway.

Anything the libraries raise becomes a SamlRefusal (``library_error`` when no check names it).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from app.sso.saml import signatures
from app.sso.saml.decrypt import decrypt_assertion
from app.sso.saml.errors import Reason, SamlRefusal
from app.sso.saml.settings import (
    MAX_CLOCK_SKEW,
    MAX_MESSAGE_BYTES,
    IdpSettings,
    SpSettings,
    ValidatedAssertion,
)
from app.sso.saml.times import check_window, parse_instant
from app.sso.saml.xml import (
    DS,
    SAML,
    SAMLP,
    XENC,
    Element,
    has_comment_or_pi,
    parse,
    text_of,
    validate_schema,
)

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ENTITY_FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"


def decode_post_message(value: str, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """HTTP-POST binding (bindings §3.5.4): plain base64 of the XML, whitespace tolerated."""
    compact = "".join(value.split())
    if len(compact) > (max_bytes * 4) // 3 + 4:
        raise SamlRefusal(Reason.TOO_LARGE, f"{len(compact)} base64 characters")
    try:
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SamlRefusal(Reason.MALFORMED_BASE64, "the SAMLResponse is not base64") from None


def validate_response(
    saml_response_b64: str,
    *,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str | None,
    allow_unsolicited: bool,
    now: datetime,
    clock_skew: timedelta,
) -> ValidatedAssertion:
    """Validate a POSTed SAMLResponse for this SP and IdP; raise SamlRefusal on anything wrong.

    ``now`` is the caller's clock (naive means UTC); ``clock_skew`` is capped at ``MAX_CLOCK_SKEW``.
    """
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    clock_skew = min(max(clock_skew, timedelta(0)), MAX_CLOCK_SKEW)
    try:
        root = parse(decode_post_message(saml_response_b64), max_bytes=MAX_MESSAGE_BYTES)
        return _validate(root, sp, idp, expected_request_id, allow_unsolicited, now, clock_skew)
    except SamlRefusal:
        raise
    except Exception as exc:  # every library exception is a refusal, never a 500
        raise SamlRefusal(Reason.LIBRARY_ERROR, f"{type(exc).__name__}: {exc}") from None


def check_unique_ids(root: Element) -> None:
    """An ID value appears once in the document, or a reference could resolve to another element (XSW).

    xmlsec registers attributes by local name (any namespace, so ``evil:ID`` too) and libxml2 treats
    ``xml:id`` as an ID: every attribute named ``ID`` or ``id`` in any namespace counts.
    """
    seen: set[str] = set()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            local = name.rpartition("}")[2]
            if local not in ("ID", "id", "Id"):
                continue
            if value in seen:
                raise SamlRefusal(Reason.DUPLICATE_ID, f"ID {value!r} appears more than once")
            seen.add(value)


def _check_signature_positions(root: Element, assertion: Element | None) -> None:
    allowed = {root} if assertion is None else {root, assertion}
    for signature in root.iter(DS + "Signature"):
        if signature.getparent() not in allowed:
            raise SamlRefusal(
                Reason.UNEXPECTED_SIGNATURE,
                f"a Signature inside {signature.getparent().tag} (only the Response and its Assertion)",
            )


def _the_assertion(root: Element) -> Element:
    """Exactly one (Encrypted)Assertion anywhere in the document, and it is a child of the Response."""
    found = list(root.iter(SAML + "Assertion", SAML + "EncryptedAssertion"))
    if len(found) != 1:
        raise SamlRefusal(Reason.ASSERTION_COUNT, f"{len(found)} assertions (exactly one is accepted)")
    if found[0].getparent() is not root:
        raise SamlRefusal(Reason.ASSERTION_COUNT, "the assertion is not a direct child of the Response")
    return found[0]


def _check_status(root: Element) -> None:
    """An IdP error (status other than Success) carries no assertion: refuse it, naming the IdP's codes."""
    status = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    if status is None or status.get("Value") != STATUS_SUCCESS:
        nested = root.find(f"{SAMLP}Status/{SAMLP}StatusCode/{SAMLP}StatusCode")
        detail = status.get("Value") if status is not None else None
        raise SamlRefusal(
            Reason.STATUS_NOT_SUCCESS,
            f"status {detail!r}" + (f" / {nested.get('Value')!r}" if nested is not None else ""),
        )


def _issuer_matches(element: Element, idp: IdpSettings, *, required: bool, what: str) -> None:
    issuer = element.find(SAML + "Issuer")
    if issuer is None:
        if required:
            raise SamlRefusal(Reason.ISSUER_MISMATCH, f"{what} has no Issuer")
        return
    if issuer.get("Format") not in (None, ENTITY_FORMAT):
        raise SamlRefusal(Reason.ISSUER_MISMATCH, f"{what} Issuer Format {issuer.get('Format')!r}")
    value = text_of(issuer)
    if value != idp.entity_id:
        raise SamlRefusal(Reason.ISSUER_MISMATCH, f"{what} Issuer {value!r}, expected {idp.entity_id!r}")


def _validate(
    root: Element,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str | None,
    allow_unsolicited: bool,
    now: datetime,
    skew: timedelta,
) -> ValidatedAssertion:
    if root.tag != SAMLP + "Response":
        raise SamlRefusal(Reason.WRONG_MESSAGE, f"expected samlp:Response, got {root.tag}")
    validate_schema(root)
    if root.get("Version") != "2.0":
        raise SamlRefusal(Reason.VERSION_UNSUPPORTED, f"Version {root.get('Version')!r}")
    check_unique_ids(root)
    _check_status(root)
    assertion = _the_assertion(root)
    _check_signature_positions(root, assertion)

    # The Response: its signature is optional, but when present it must verify.
    response_signatures = signatures.direct_signatures(root)
    signed_response = False
    if len(response_signatures) > 1:
        raise SamlRefusal(Reason.UNEXPECTED_SIGNATURE, "more than one Signature on the Response")
    if response_signatures:
        signatures.verify(response_signatures[0], root, root, idp.certificates)
        signed_response = True

    destination = root.get("Destination")
    if destination is None and signed_response:
        raise SamlRefusal(Reason.DESTINATION_MISSING, "a signed Response must name its Destination")
    if destination is not None and destination != sp.acs_url:
        raise SamlRefusal(
            Reason.DESTINATION_MISMATCH, f"Destination {destination!r}, expected {sp.acs_url!r}"
        )
    _issuer_matches(root, idp, required=False, what="Response")

    in_response_to = root.get("InResponseTo")
    if expected_request_id is not None:
        if in_response_to != expected_request_id:
            raise SamlRefusal(
                Reason.IN_RESPONSE_TO_MISMATCH,
                f"InResponseTo {in_response_to!r}, expected the pending request {expected_request_id!r}",
            )
    elif in_response_to is not None:
        raise SamlRefusal(
            Reason.IN_RESPONSE_TO_MISMATCH, f"InResponseTo {in_response_to!r} but no request is pending"
        )
    elif not allow_unsolicited:
        raise SamlRefusal(Reason.UNSOLICITED, "an unsolicited (IdP-initiated) response is not allowed")

    encrypted = assertion.tag == SAML + "EncryptedAssertion"
    if encrypted:
        assertion = decrypt_assertion(assertion, sp.decryption)
        if assertion.tag != SAML + "Assertion":
            raise SamlRefusal(Reason.ASSERTION_COUNT, f"the EncryptedAssertion holds {assertion.tag}")
        validate_schema(assertion)
        check_unique_ids(root)
        _the_assertion(root)
        _check_signature_positions(root, assertion)

    assertion_signatures = signatures.direct_signatures(assertion)
    if not assertion_signatures:
        raise SamlRefusal(
            Reason.ASSERTION_UNSIGNED, "the assertion is not signed (signed assertions are required)"
        )
    if len(assertion_signatures) > 1:
        raise SamlRefusal(Reason.UNEXPECTED_SIGNATURE, "more than one Signature on the assertion")
    signatures.verify(assertion_signatures[0], assertion, root, idp.certificates)
    if has_comment_or_pi(assertion):
        raise SamlRefusal(
            Reason.COMMENT_INJECTION, "a comment or processing instruction inside the assertion"
        )
    return _read_assertion(
        assertion,
        root,
        sp,
        idp,
        expected_request_id,
        now,
        skew,
        signed_response=signed_response,
        encrypted=encrypted,
    )


def _read_assertion(
    assertion: Element,
    root: Element,
    sp: SpSettings,
    idp: IdpSettings,
    expected_request_id: str | None,
    now: datetime,
    skew: timedelta,
    *,
    signed_response: bool,
    encrypted: bool,
) -> ValidatedAssertion:
    if assertion.get("Version") != "2.0":
        raise SamlRefusal(Reason.VERSION_UNSUPPORTED, f"assertion Version {assertion.get('Version')!r}")
    _issuer_matches(assertion, idp, required=True, what="assertion")

    subject = assertion.find(SAML + "Subject")
    name_id_node = subject.find(SAML + "NameID") if subject is not None else None
    name_id = text_of(name_id_node) if name_id_node is not None else ""
    if not name_id:
        raise SamlRefusal(Reason.NAME_ID_MISSING, "the assertion has no (or an empty) NameID")
    confirmation_expiry = _bearer_confirmation(subject, sp, expected_request_id, now, skew, signed_response)

    conditions = assertion.find(SAML + "Conditions")
    if conditions is None:
        raise SamlRefusal(
            Reason.AUDIENCE_MISSING, "the assertion has no Conditions (an Audience is required)"
        )
    conditions_expiry = parse_instant(conditions.get("NotOnOrAfter"), "Conditions")
    check_window(
        parse_instant(conditions.get("NotBefore"), "Conditions"), conditions_expiry, now, skew, "Conditions"
    )
    restrictions = conditions.findall(SAML + "AudienceRestriction")
    if not restrictions:
        raise SamlRefusal(Reason.AUDIENCE_MISSING, "no AudienceRestriction (an Audience is required)")
    for restriction in restrictions:
        audiences = [text_of(node) for node in restriction.findall(SAML + "Audience")]
        if sp.entity_id not in audiences:
            raise SamlRefusal(Reason.AUDIENCE_MISMATCH, f"Audience {audiences}, expected {sp.entity_id!r}")

    authn = assertion.find(SAML + "AuthnStatement")
    if authn is None:
        raise SamlRefusal(Reason.AUTHN_STATEMENT_MISSING, "the assertion has no AuthnStatement")
    session_expiry = parse_instant(authn.get("SessionNotOnOrAfter"), "SessionNotOnOrAfter")
    check_window(None, session_expiry, now, skew, "AuthnStatement session")

    attributes: dict[str, list[str]] = {}
    friendly: dict[str, str] = {}
    for attribute in assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"):
        name = attribute.get("Name")
        values = attributes.setdefault(name, [])
        values.extend(text_of(value) for value in attribute.findall(SAML + "AttributeValue"))
        if attribute.get("FriendlyName"):
            friendly[name] = attribute.get("FriendlyName")

    expiry = confirmation_expiry if conditions_expiry is None else min(confirmation_expiry, conditions_expiry)
    return ValidatedAssertion(
        assertion_id=assertion.get("ID"),
        issuer=idp.entity_id,
        in_response_to=root.get("InResponseTo"),
        name_id=name_id,
        name_id_format=None if name_id_node is None else name_id_node.get("Format"),
        session_index=authn.get("SessionIndex"),
        not_on_or_after=expiry,
        attributes=attributes,
        response_id=root.get("ID"),
        session_not_on_or_after=session_expiry,
        authn_instant=parse_instant(authn.get("AuthnInstant"), "AuthnInstant"),
        replay_expires_at=expiry + skew,
        signed_response=signed_response,
        encrypted=encrypted,
        attribute_friendly_names=friendly,
    )


def _bearer_confirmation(
    subject: Element,
    sp: SpSettings,
    expected_request_id: str | None,
    now: datetime,
    skew: timedelta,
    signed_response: bool,
) -> datetime:
    """NotOnOrAfter of the first good bearer confirmation (profiles §4.1.4.2), else the first refusal."""
    first_refusal: SamlRefusal | None = None
    for confirmation in subject.findall(SAML + "SubjectConfirmation"):
        if confirmation.get("Method") != BEARER:
            continue
        data = confirmation.find(SAML + "SubjectConfirmationData")
        try:
            return _check_confirmation_data(data, sp, expected_request_id, now, skew, signed_response)
        except SamlRefusal as refusal:
            first_refusal = first_refusal or refusal
    if first_refusal is not None:
        raise first_refusal
    raise SamlRefusal(Reason.SUBJECT_CONFIRMATION_MISSING, "no bearer SubjectConfirmation")


def _check_confirmation_data(
    data: Element | None,
    sp: SpSettings,
    expected_request_id: str | None,
    now: datetime,
    skew: timedelta,
    signed_response: bool,
) -> datetime:
    if data is None:
        raise SamlRefusal(Reason.SUBJECT_CONFIRMATION_MISSING, "a bearer confirmation without data")
    recipient = data.get("Recipient")
    if recipient != sp.acs_url:
        raise SamlRefusal(Reason.RECIPIENT_MISMATCH, f"Recipient {recipient!r}, expected {sp.acs_url!r}")
    in_response_to = data.get("InResponseTo")
    if expected_request_id is None:
        if in_response_to is not None:
            raise SamlRefusal(
                Reason.IN_RESPONSE_TO_MISMATCH,
                f"the confirmation answers request {in_response_to!r} but no request is pending",
            )
    elif in_response_to != expected_request_id and (in_response_to is not None or not signed_response):
        raise SamlRefusal(
            Reason.IN_RESPONSE_TO_MISMATCH,
            f"confirmation InResponseTo {in_response_to!r}, expected {expected_request_id!r}",
        )
    not_on_or_after = parse_instant(data.get("NotOnOrAfter"), "SubjectConfirmationData")
    if not_on_or_after is None:
        raise SamlRefusal(Reason.SUBJECT_CONFIRMATION_MISSING, "a bearer confirmation needs NotOnOrAfter")
    check_window(
        parse_instant(data.get("NotBefore"), "SubjectConfirmationData"),
        not_on_or_after,
        now,
        skew,
        "Confirmation",
    )
    return not_on_or_after


__all__ = ["check_unique_ids", "decode_post_message", "validate_response", "XENC"]
