"""npm ``saml-idp`` (a test IdP for the SAML 2.0 Web Browser SSO profile, on samlp) started for one SP.

It signs the assertion and (by default) the response with RSA-SHA256, can encrypt the assertion to the SP's
certificate, serves SSO and SLO on both bindings, and trusts the AuthnRequest's ACS URL unless
``static_acs=True``. It checks no AuthnRequest signature. Its login page is the user's profile form,
prefilled from the configuration written here; the driver submits it as is."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.idps.browser import Browser, Filler, Form, Outcome, Page
from tests.idps.peers import KeyPair, ServiceProvider, TestUser, shared_keypair
from tests.idps.process import IdpProcess, idps_dir, require, require_program
from tests.idps.saml_base import RunningSamlIdp
from tests.support import free_port

EMAIL_NAMEID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
# The attributes saml-idp asserts (its profile mapper names them after the profile's keys).
ATTRIBUTES = [
    ("email", "E-Mail Address", False),
    ("firstName", "First Name", False),
    ("lastName", "Last Name", False),
    ("displayName", "Display Name", False),
    ("groups", "Groups", True),
]


class SamlIdp(RunningSamlIdp):
    """A running npm saml-idp (see ``RunningSamlIdp`` for the flows)."""

    sso_path = "/saml/sso"
    slo_path = "/saml/slo"
    metadata_path = "/metadata"

    def idp_initiated_login(
        self, relay_state: str | None = None, *, browser: Browser | None = None
    ) -> Outcome:
        # saml-idp takes the RelayState of unsolicited responses from its settings.
        requests.post(f"{self.base_url}/settings", data={"RelayState": relay_state or ""}, timeout=10)
        return (browser or self.browser()).run(f"{self.base_url}/", self.login_filler())

    def idp_initiated_logout(self, *, browser: Browser) -> Outcome:
        return browser.run(f"{self.base_url}/signout", lambda page: None)

    def login_filler(self) -> Filler:
        def fill(page: Page) -> tuple[Form, dict[str, str]] | None:
            # The profile form, prefilled from the configuration: submitted as is.
            form = page.form_posting_to("/signin")
            return (form, dict(form.fields)) if form else None

        return fill


def _config_js(user: TestUser) -> str:
    profile = {
        "userName": user.email,
        "nameIdFormat": EMAIL_NAMEID,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "displayName": user.display_name,
        # A multi-valued attribute is one comma-separated string here (split without trimming).
        "groups": ",".join(user.groups),
    }
    metadata = [
        {"id": key, "optional": False, "displayName": label, "description": label, "multiValue": multi}
        for key, label, multi in ATTRIBUTES
    ]
    return f"module.exports = {json.dumps({'user': profile, 'metadata': metadata}, indent=2)};\n"


@contextmanager
def start_saml_idp(
    sp: ServiceProvider,
    user: TestUser | None = None,
    *,
    entity_id: str | None = None,
    keypair: KeyPair | None = None,
    sign_response: bool = True,
    encrypt_assertion: bool = False,
    static_acs: bool = False,
    port: int | None = None,
) -> Iterator[SamlIdp]:
    """Start saml-idp on a free loopback port for ``sp``; stop it (its own process only) on exit."""
    node = require_program("node")
    app_dir = require(idps_dir() / "saml-idp" / "bin" / "run.js", "npm saml-idp").parents[1]
    user = user or TestUser()
    keypair = keypair or shared_keypair("saml-idp")
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    entity_id = entity_id or f"{base_url}/metadata"
    with tempfile.TemporaryDirectory(prefix="saml-idp-") as tmp:
        work = Path(tmp)
        (work / "idp-cert.pem").write_text(keypair.cert_pem)
        (work / "idp-key.pem").write_text(keypair.key_pem)
        (work / "config.js").write_text(_config_js(user))
        argv = [
            str(node), str(app_dir / "bin" / "run.js"),
            "--host", "127.0.0.1", "--port", str(port),
            "--cert", str(work / "idp-cert.pem"), "--key", str(work / "idp-key.pem"),
            "--issuer", entity_id,
            "--acsUrl", sp.acs_url, "--audience", sp.entity_id, "--serviceProviderId", sp.entity_id,
            "--configFile", str(work / "config.js"),
            f"--signResponse={'true' if sign_response else 'false'}",
        ]  # fmt: skip
        if sp.slo_url:
            argv += ["--sloUrl", sp.slo_url]
        if static_acs:
            argv.append("--disableRequestAcsUrl")
        if encrypt_assertion:
            if not sp.cert_pem:
                raise ValueError("encrypt_assertion needs the SP's certificate (ServiceProvider.cert_pem)")
            (work / "sp-cert.pem").write_text(sp.cert_pem)
            (work / "sp-key.pub").write_text(_public_key_pem(sp.cert_pem))
            argv += ["--encryptAssertion", "--encryptionCert", str(work / "sp-cert.pem")]
            argv += ["--encryptionPublicKey", str(work / "sp-key.pub")]
        process = IdpProcess(
            argv, cwd=app_dir, log_path=work / "saml-idp.log", ready_url=f"{base_url}/metadata"
        )
        process.start()
        try:
            yield SamlIdp(entity_id, base_url, keypair, sp, user, process)
        finally:
            process.stop()


def _public_key_pem(cert_pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
