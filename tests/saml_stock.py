"""Stock python3-saml as the reference: strict, signed assertions required, the same SP and IdP as the corpus.

Used by the corpus tests (agreement on every valid case) and by bench/saml.py (the baseline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from app.sso.saml import IdpSettings, SpSettings
from app.sso.saml.keys import certificate_body


def stock_settings(sp: SpSettings, idp: IdpSettings) -> OneLogin_Saml2_Settings:
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": sp.entity_id,
                "assertionConsumerService": {
                    "url": sp.acs_url,
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
                "x509cert": certificate_body(sp.signing.certificate_pem),
                "privateKey": sp.decryption[0].private_key_pem
                if sp.decryption
                else sp.signing.private_key_pem,
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url, "binding": idp.sso_binding},
                "x509certMulti": {"signing": [certificate_body(c) for c in idp.certificates]},
            },
            "security": {
                "wantAssertionsSigned": True,
                "rejectDeprecatedAlgorithm": True,
                "wantMessagesSigned": False,
            },
        },
        sp_validation_only=True,
    )


def request_data(acs_url: str, saml_response_b64: str) -> dict[str, Any]:
    parts = urlsplit(acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "post_data": {"SAMLResponse": saml_response_b64},
    }


@contextmanager
def stock_clock(now: dt.datetime) -> Iterator[None]:
    """python3-saml reads the wall clock; pin it to the corpus time (a test seam, restored on exit)."""
    original = OneLogin_Saml2_Utils.now
    OneLogin_Saml2_Utils.now = staticmethod(lambda: int(now.timestamp()))
    try:
        yield
    finally:
        OneLogin_Saml2_Utils.now = original


def stock_is_valid(
    settings: OneLogin_Saml2_Settings, acs_url: str, saml_response_b64: str, request_id: str | None
) -> tuple[bool, str | None]:
    try:
        response = OneLogin_Saml2_Response(settings, saml_response_b64)
        ok = bool(response.is_valid(request_data(acs_url, saml_response_b64), request_id=request_id))
        return ok, response.get_error()
    except Exception as exc:  # stock raises on some inputs (FIELD-NOTES): that is a refusal too
        return False, f"{type(exc).__name__}: {exc}"
