"""Pure parts of SSO: return_to, attribute mapping, the transaction cookie, secrets at rest."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, Response

from app.crypto.sealing import SealBroken, Sealer
from app.sso.attributes import identity_from
from app.sso.keys import sso_sealer
from app.sso.return_to import safe_return_to
from app.sso.service import valid_email
from app.sso.transaction import COOKIE, MAX_PENDING, LoginTransactions

BASE = "https://id.example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/app?x=1", "https://id.example.com/app?x=1"),
        ("https://id.example.com/x", "https://id.example.com/x"),
        ("https://ID.example.com:443/x", "https://ID.example.com:443/x"),
        ("https://app.example.com/home", "https://app.example.com/home"),
        ("//evil.example.net", None),
        ("/\\evil.example.net", None),
        ("https://evil.example.net", None),
        ("https://id.example.com.evil.net/", None),
        ("https://id.example.com@evil.net/", None),
        ("http://id.example.com/", None),  # another scheme is another origin
        ("https://id.example.com:8443/", None),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("/ok\r\nSet-Cookie: x", None),
        ("", None),
        (None, None),
    ],
)
def test_return_to(value: str | None, expected: str | None) -> None:
    assert safe_return_to(value, BASE, "https://app.example.com, ") == expected


def test_attribute_mapping_defaults_configured_names_and_friendly_names() -> None:
    okta = identity_from(
        "sso_x", "00u1", {"email": ["Ann@Acme.com"], "firstName": ["Ann"], "lastName": ["Lee"]}, {}
    )
    assert (okta.email, okta.display_name, okta.groups) == ("Ann@Acme.com", "Ann Lee", None)
    entra = identity_from(
        "sso_x",
        "guid",
        {
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": ["bo@acme.com"],
            "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": ["g1", "g2", "g1"],
        },
        {},
    )
    assert entra.email == "bo@acme.com" and entra.groups == ("g1", "g2")
    attributes = {"urn:oid:custom": ["cy@acme.com"], "email": ["other@acme.com"]}
    configured = identity_from(
        "sso_x", "x", attributes, {"email": "mailAlias"}, friendly_names={"urn:oid:custom": "mailAlias"}
    )
    assert configured.email == "cy@acme.com"  # the configured name (here a FriendlyName) comes first
    fallback = identity_from("sso_x", "dee@acme.com", {}, {})
    assert fallback.email == "dee@acme.com" and fallback.groups is None
    empty_groups = identity_from("sso_x", "n", {"groups": []}, {})
    assert empty_groups.groups == ()  # sent but empty: leave every mapped group


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("a@b.co", True),
        ("A@B.CO", True),
        ("no-at", False),
        ("a@nodot", False),
        ("a b@c.d", False),
        ("@c.d", False),
    ],
)
def test_valid_email(email: str, ok: bool) -> None:
    assert (valid_email(email) is not None) is ok


def _cookie_of(resp: Response) -> str | None:
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith(COOKIE + "="):
            return header.split(";", 1)[0].split("=", 1)[1] or None
    return None


def test_transaction_cookie_round_trip_tamper_expiry_and_cap() -> None:
    app = Flask(__name__)
    tx = LoginTransactions("secret", 600, secure=True)
    now = datetime.now(UTC)
    cookie = None
    for i in range(MAX_PENDING + 2):
        with app.test_request_context(
            "/sso/login", headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        ):
            from flask import request

            resp = Response()
            tx.begin(request, resp, tx.new_login("sso_a", f"_req{i}", "/x", now), now)
            cookie = _cookie_of(resp)
            header = resp.headers.getlist("Set-Cookie")[0]
            assert "SameSite=None" in header and "Secure" in header and "HttpOnly" in header
    with app.test_request_context("/sso/x", headers={"Cookie": f"{COOKIE}={cookie}"}):
        from flask import request

        pending = tx.read(request, now)
        assert [p.request_id for p in pending] == [f"_req{i}" for i in range(2, MAX_PENDING + 2)]
        assert tx.read(request, now + timedelta(seconds=601)) == []
        assert LoginTransactions("another secret", 600, secure=True).read(request, now) == []
        resp = Response()
        found = tx.take(request, resp, "sso_a", "_req3", now)
        assert found is not None and found.return_to == "/x"
        assert tx.take(request, Response(), "sso_b", "_req4", now) is None  # another connection's
    tampered = (cookie or "")[:-2] + ("AA" if not (cookie or "").endswith("AA") else "BB")
    with app.test_request_context("/sso/x", headers={"Cookie": f"{COOKIE}={tampered}"}):
        from flask import request

        assert tx.read(request, now) == []


def test_secret_box_keys() -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    box = sso_sealer("", key)
    sealed = box.seal(b"pem", "ctx")
    assert box.open(sealed, "ctx") == b"pem" and sealed != box.seal(b"pem", "ctx")
    with pytest.raises(SealBroken):
        box.open(sealed, "other ctx")
    with pytest.raises(SealBroken):
        sso_sealer("secret").open(sealed, "ctx")
    with pytest.raises(ValueError):
        sso_sealer("", "not base64!")
    with pytest.raises(ValueError):
        sso_sealer("", base64.b64encode(b"short").decode())
    # one key per purpose: the SSO key derived from a secret key opens nothing sealed for another purpose
    derived = sso_sealer("secret").seal(b"pem", "ctx")
    assert Sealer.for_purpose("secret", "sso/secrets").open(derived, "ctx") == b"pem"
    with pytest.raises(SealBroken):
        Sealer.for_purpose("secret", "tokens/signing-keys").open(derived, "ctx")
