"""The SAML IdP harnesses against stock python3-saml (not Tenantry's SP): each real IdP, started for an SP,
logs the test user in through the HTTP driver and hands back a response that python3-saml, strict, with signed
assertions required, accepts with the IdP's certificate, and refuses with another certificate."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from tests.idps.browser import DriverError, FormPost
from tests.idps.peers import ServiceProvider, TestUser, generate_keypair, shared_keypair

pytestmark = pytest.mark.idp

SP_HOST = "sp.example.test"
SP = ServiceProvider(
    entity_id=f"https://{SP_HOST}/sso/saml/conn_1/metadata",
    acs_url=f"https://{SP_HOST}/sso/saml/conn_1/acs",
    slo_url=f"https://{SP_HOST}/sso/saml/conn_1/slo",
    cert_pem=shared_keypair("sp").cert_pem,
)
USER = TestUser(
    email="grace.hopper@example.com", first_name="Grace", last_name="Hopper", groups=("Navy", "COBOL")
)


def sp_settings(idp: Any, *, idp_cert: str | None = None, **security: Any) -> OneLogin_Saml2_Settings:
    sp_keys = shared_keypair("sp")
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": SP.entity_id,
                "assertionConsumerService": {"url": SP.acs_url},
                "singleLogoutService": {"url": SP.slo_url},
                "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                "x509cert": sp_keys.cert_base64,
                "privateKey": sp_keys.key_pem,
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url},
                "singleLogoutService": {"url": idp.slo_url},
                "x509cert": idp_cert or idp.keypair.cert_base64,
            },
            "security": {
                "wantAssertionsSigned": True,
                "rejectDeprecatedAlgorithm": True,
                "requestedAuthnContext": False,
                **security,
            },
        }
    )


def acs_request(post: FormPost) -> dict[str, Any]:
    """What python3-saml reads of the request the browser sends to the ACS."""
    return {
        "https": "on",
        "http_host": SP_HOST,
        "server_port": 443,
        "script_name": "/sso/saml/conn_1/acs",
        "get_data": {},
        "post_data": dict(post.fields),
    }


def start_request(settings: OneLogin_Saml2_Settings, relay_state: str) -> tuple[str, str]:
    """The SP's AuthnRequest in the HTTP-Redirect binding: (redirect URL, request id)."""
    auth = OneLogin_Saml2_Auth(
        {"https": "on", "http_host": SP_HOST, "script_name": "/sso/login", "get_data": {}, "post_data": {}},
        old_settings=settings,
    )
    url = auth.login(return_to=relay_state)
    return url, auth.get_last_request_id()


def assert_valid(settings: OneLogin_Saml2_Settings, post: FormPost, request_id: str | None) -> None:
    response = OneLogin_Saml2_Response(settings, post.saml_response)
    assert response.is_valid(acs_request(post), request_id, raise_exceptions=True)
    assert response.get_nameid() == USER.email
    attributes = response.get_attributes()
    values = {v for vs in attributes.values() for v in vs}
    assert {USER.email, USER.first_name, USER.last_name} <= values
    assert {"Navy", "COBOL"} <= values


@pytest.fixture(params=["saml-idp", "simplesamlphp"])
def start_idp(
    request: pytest.FixtureRequest,
    saml_idp_factory: Callable[..., Any],
    simplesamlphp_factory: Callable[..., Any],
) -> Callable[..., Any]:
    """Starts the parametrized IdP for ``SP`` and ``USER`` (options are passed through)."""
    factory = saml_idp_factory if request.param == "saml-idp" else simplesamlphp_factory
    return lambda **options: factory(SP, USER, **options)


def test_sp_initiated_login_yields_a_response_python3_saml_accepts(start_idp: Callable[..., Any]) -> None:
    idp = start_idp()
    settings = sp_settings(idp)
    redirect_url, request_id = start_request(settings, "https://app.example.test/after")
    assert redirect_url.startswith(idp.sso_url + "?SAMLRequest=")

    post = idp.login(redirect_url)

    assert isinstance(post, FormPost)
    assert post.action == SP.acs_url
    assert post.relay_state == "https://app.example.test/after"
    assert f'InResponseTo="{request_id}"'.encode() in post.saml_xml()
    assert_valid(settings, post, request_id)


def test_sp_initiated_login_with_the_post_binding(start_idp: Callable[..., Any]) -> None:
    """The SP's AuthnRequest posted (HTTP-POST binding: base64, not deflated) instead of redirected."""
    idp = start_idp()
    settings = sp_settings(idp)
    authn_request = OneLogin_Saml2_Authn_Request(settings)
    start = FormPost(
        idp.sso_url,
        {"SAMLRequest": base64.b64encode(authn_request.get_xml().encode()).decode(), "RelayState": "posted"},
    )

    post = idp.login(start)

    assert isinstance(post, FormPost) and post.relay_state == "posted"
    assert_valid(settings, post, authn_request.get_id())


def test_idp_initiated_login_is_unsolicited(start_idp: Callable[..., Any]) -> None:
    idp = start_idp()
    settings = sp_settings(idp)

    post = idp.idp_initiated_login("relay-42")

    assert isinstance(post, FormPost)
    assert post.action == SP.acs_url
    assert post.relay_state == "relay-42"
    assert b"InResponseTo" not in post.saml_xml()
    assert_valid(settings, post, None)


def test_another_certificate_refuses_the_response(start_idp: Callable[..., Any]) -> None:
    idp = start_idp()
    post = idp.idp_initiated_login()
    impostor = generate_keypair("impostor").cert_base64

    response = OneLogin_Saml2_Response(sp_settings(idp, idp_cert=impostor), post.saml_response)

    assert not response.is_valid(acs_request(post), None)
    assert "Signature validation failed" in (response.get_error() or "")


def test_encrypted_assertion_is_decrypted_with_the_sp_key(start_idp: Callable[..., Any]) -> None:
    idp = start_idp(encrypt_assertion=True)
    settings = sp_settings(idp, wantAssertionsEncrypted=True)

    post = idp.idp_initiated_login()

    assert b"EncryptedAssertion" in post.saml_xml()
    assert_valid(settings, post, None)


def test_unsigned_response_with_signed_assertion(start_idp: Callable[..., Any]) -> None:
    """Both IdPs can leave the response envelope unsigned and sign only the assertion (as Okta does)."""
    idp = start_idp(sign_response=False)
    settings = sp_settings(idp)

    post = idp.idp_initiated_login()

    xml = post.saml_xml()
    assert xml.count(b"SignatureValue>") == 2  # one signature: the assertion's (open and close tags)
    assert_valid(settings, post, None)
    with pytest.raises(Exception, match="(?i)signed"):
        OneLogin_Saml2_Response(sp_settings(idp, wantMessagesSigned=True), post.saml_response).is_valid(
            acs_request(post), None, raise_exceptions=True
        )


def test_simplesamlphp_checks_authn_request_signatures(simplesamlphp_factory: Callable[..., Any]) -> None:
    """With ``require_signed_authn_request`` SimpleSAMLphp takes a request signed with the SP's key (Redirect
    binding) and refuses an unsigned one."""
    idp = simplesamlphp_factory(SP, USER, require_signed_authn_request=True)
    signed = sp_settings(idp, authnRequestsSigned=True)
    url, request_id = start_request(signed, "rs")
    assert "Signature=" in url

    post = idp.login(url)
    assert_valid(signed, post, request_id)

    unsigned_url, _ = start_request(sp_settings(idp), "rs")
    with pytest.raises(DriverError) as refused:
        idp.login(unsigned_url)
    assert refused.value.page is not None
    assert "no signature found on message" in refused.value.page.text  # its error page, answered with 200


def test_simplesamlphp_refuses_a_wrong_password(simplesamlphp_factory: Callable[..., Any]) -> None:
    idp = simplesamlphp_factory(SP, USER)
    url, _ = start_request(sp_settings(idp), "rs")
    with pytest.raises(DriverError):
        idp.login(url, password="not the password")


def test_saml_idp_metadata_names_its_certificate(saml_idp_factory: Callable[..., Any]) -> None:
    idp = saml_idp_factory(SP, USER)
    assert idp.keypair.cert_base64 in idp.metadata_xml().replace("\n", "")


def logout_request(settings: OneLogin_Saml2_Settings, post: FormPost) -> tuple[str, str]:
    """The SP's LogoutRequest for the session ``post`` opened (HTTP-Redirect): (URL, request id)."""
    response = OneLogin_Saml2_Response(settings, post.saml_response)
    auth = OneLogin_Saml2_Auth(
        {"https": "on", "http_host": SP_HOST, "script_name": "/sso/logout", "get_data": {}, "post_data": {}},
        old_settings=settings,
    )
    url = auth.logout(
        return_to="https://app.example.test/bye",
        name_id=response.get_nameid(),
        session_index=response.get_session_index(),
        name_id_format=response.get_nameid_format(),
    )
    return url, auth.get_last_request_id()


def test_sp_initiated_logout_answers_the_slo_url(start_idp: Callable[..., Any]) -> None:
    idp = start_idp()
    settings = sp_settings(idp)
    browser = idp.browser()
    url, _ = start_request(settings, "rs")
    post = idp.login(url, browser=browser)
    slo_url, request_id = logout_request(settings, post)

    answer = idp.logout(slo_url, browser=browser)

    fields = answer.fields if isinstance(answer, FormPost) else answer.query
    target = answer.action if isinstance(answer, FormPost) else answer.url.split("?")[0]
    assert target == SP.slo_url
    logout = OneLogin_Saml2_Logout_Response(settings, fields["SAMLResponse"])
    slo_request = {
        **acs_request(post),
        "script_name": "/sso/saml/conn_1/slo",
        "post_data": {},
        "get_data": fields,
    }
    assert logout.is_valid(slo_request, request_id=request_id, raise_exceptions=True)
    assert logout.get_status() == "urn:oasis:names:tc:SAML:2.0:status:Success"


def test_idp_initiated_logout_sends_a_logout_request(start_idp: Callable[..., Any]) -> None:
    idp = start_idp()
    settings = sp_settings(idp)
    browser = idp.browser()
    idp.login(start_request(settings, "rs")[0], browser=browser)

    request = idp.idp_initiated_logout(browser=browser)

    target = request.action if isinstance(request, FormPost) else request.url.split("?")[0]
    assert target == SP.slo_url
    fields = request.fields if isinstance(request, FormPost) else request.query
    logout = OneLogin_Saml2_Logout_Request(settings, fields["SAMLRequest"])
    xml = logout.get_xml()
    assert OneLogin_Saml2_Logout_Request.get_nameid(xml) == USER.email
    assert OneLogin_Saml2_Logout_Request.get_issuer(xml) == idp.entity_id
    if isinstance(request, FormPost):  # saml-idp: POST binding, the signature inside the XML
        assert b"SignatureValue" in request.saml_xml()
    else:  # SimpleSAMLphp: Redirect binding, signed in the query; python3-saml checks it
        at_slo = {**acs_request(FormPost(SP.slo_url, {})), "script_name": "/sso/saml/conn_1/slo"}
        signed = sp_settings(idp, wantMessagesSigned=True)
        assert OneLogin_Saml2_Logout_Request(signed, fields["SAMLRequest"]).is_valid(
            {**at_slo, "get_data": fields}, raise_exceptions=True
        )
        unsigned = {k: v for k, v in fields.items() if k not in ("Signature", "SigAlg")}
        assert not OneLogin_Saml2_Logout_Request(signed, fields["SAMLRequest"]).is_valid(
            {**at_slo, "get_data": unsigned}
        )
