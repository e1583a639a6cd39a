"""Debian ``simplesamlphp`` 1.19 as a SAML IdP, served by ``php -S`` with a configuration generated per start.

The configuration directory (``SIMPLESAMLPHP_CONFIG_DIR``) holds ``config.php``, ``authsources.php`` (one
``exampleauth:UserPass`` user), and the metadata: ``saml20-idp-hosted.php`` (this IdP, its generated signing
key) and ``saml20-sp-remote.php`` (the SP it trusts: ACS, SLO, certificate, whether AuthnRequests must be
signed, whether assertions are encrypted). The login page is SimpleSAMLphp's username and password form."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.idps.browser import Browser, Filler, Form, FormPost, Outcome, Page
from tests.idps.peers import KeyPair, ServiceProvider, TestUser, shared_keypair
from tests.idps.process import IdpProcess, require, require_program
from tests.idps.saml_base import RunningSamlIdp
from tests.support import free_port

SSP_ROOT = Path("/usr/share/simplesamlphp")
EMAIL_NAMEID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
# The attribute names asserted (basic name format), beside the NameID (the email).
ATTRIBUTE_NAMES = {"email": "email", "first_name": "givenName", "last_name": "sn", "groups": "groups"}


@dataclass
class SimpleSamlPhp(RunningSamlIdp):
    """A running SimpleSAMLphp IdP (see ``RunningSamlIdp`` for the flows); ``config_dir`` is its generated
    configuration."""

    config_dir: Path = Path()

    sso_path = "/saml2/idp/SSOService.php"
    slo_path = "/saml2/idp/SingleLogoutService.php"
    metadata_path = "/saml2/idp/metadata.php"

    def login(
        self, start: str | FormPost, *, browser: Browser | None = None, password: str | None = None
    ) -> Outcome:
        """As ``RunningSamlIdp.login``; ``password`` types another password (a refused login raises
        ``DriverError``)."""
        return (browser or self.browser()).run(start, self._filler(password))

    def idp_initiated_login(
        self, relay_state: str | None = None, *, browser: Browser | None = None
    ) -> Outcome:
        query = {"spentityid": self.sp.entity_id, **({"RelayState": relay_state} if relay_state else {})}
        return (browser or self.browser()).run(f"{self.sso_url}?{urlencode(query)}", self.login_filler())

    def idp_initiated_logout(self, *, browser: Browser, return_to: str | None = None) -> Outcome:
        """``return_to`` (default: the SP's origin) is where SimpleSAMLphp sends the browser once the SP has
        answered; it must be on the SP's host."""
        acs = urlsplit(self.sp.acs_url)
        query = urlencode({"ReturnTo": return_to or f"{acs.scheme}://{acs.netloc}/"})
        return browser.run(f"{self.slo_url}?{query}", lambda page: None)

    def login_filler(self) -> Filler:
        return self._filler(None)

    def _filler(self, password: str | None) -> Filler:
        attempts = 0

        def fill(page: Page) -> tuple[Form, dict[str, str]] | None:
            nonlocal attempts
            form = next((f for f in page.forms if f.has_input("password")), None)
            if form is None or attempts:  # the login form again: the password was refused
                return None
            attempts += 1
            return form, {
                **form.fields,
                "username": self.user.login,
                "password": password or self.user.password,
            }

        return fill


def _php(value: Any) -> str:
    """A PHP literal for a JSON-like value (strings single-quoted, PHP's escaping)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_php(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    raise TypeError(f"no PHP literal for {value!r}")


def _write_config(
    root: Path,
    *,
    base_url: str,
    entity_id: str,
    keypair: KeyPair,
    sp: ServiceProvider,
    user: TestUser,
    sign_response: bool,
    sign_assertion: bool,
    encrypt_assertion: bool,
    require_signed_authn_request: bool,
    signature_algorithm: str,
) -> Path:
    config_dir, metadata_dir, cert_dir = root / "config", root / "metadata", root / "cert"
    for d in (
        config_dir,
        metadata_dir,
        cert_dir,
        root / "tmp",
        root / "data",
        root / "sessions",
        root / "log",
    ):
        d.mkdir()
    (cert_dir / "idp.crt").write_text(keypair.cert_pem)
    (cert_dir / "idp.key").write_text(keypair.key_pem)
    config = {
        "baseurlpath": f"{base_url}/",
        "certdir": f"{cert_dir}/",
        "loggingdir": f"{root / 'log'}/",
        "datadir": f"{root / 'data'}/",
        "tempdir": str(root / "tmp"),
        "metadatadir": f"{metadata_dir}/",
        "metadata.sources": [{"type": "flatfile", "directory": str(metadata_dir)}],
        "technicalcontact_name": "Tenantry tests",
        "technicalcontact_email": "tests@example.com",
        "secretsalt": secrets.token_hex(16),
        "auth.adminpassword": secrets.token_hex(16),
        "admin.protectindexpage": False,
        "admin.protectmetadata": False,
        "admin.checkforupdates": False,
        # ReturnTo and RelayState URLs SimpleSAMLphp may send the browser to: the SP's own host.
        "trusted.url.domains": sorted(
            {h for u in (sp.acs_url, sp.slo_url) if u and (h := urlsplit(u).netloc)}
        ),
        "timezone": "UTC",
        "enable.saml20-idp": True,
        "module.enable": {"exampleauth": True, "core": True, "saml": True, "admin": True},
        "store.type": "phpsession",
        "session.phpsession.savepath": str(root / "sessions"),
        "session.cookie.secure": False,  # plain http on loopback: the browser must send it back
        "session.cookie.samesite": None,
        "language.cookie.secure": False,
        "logging.handler": "errorlog",  # to php -S's stderr, the harness's log file
        "showerrors": True,
        "errorreporting": False,
        "production": True,
    }
    lines = [f"    {_php(k)} => {_php(v)}," for k, v in config.items()]
    lines.append("    'logging.level' => SimpleSAML\\Logger::NOTICE,")
    (config_dir / "config.php").write_text("<?php\n$config = [\n" + "\n".join(lines) + "\n];\n")
    attributes = {
        ATTRIBUTE_NAMES["email"]: [user.email],
        ATTRIBUTE_NAMES["first_name"]: [user.first_name],
        ATTRIBUTE_NAMES["last_name"]: [user.last_name],
        ATTRIBUTE_NAMES["groups"]: list(user.groups),
    }
    # exampleauth takes its users as the source's own keys: ['exampleauth:UserPass', 'user:pass' => [...]].
    userpass = f"['exampleauth:UserPass', {_php(f'{user.login}:{user.password}')} => {_php(attributes)}]"
    (config_dir / "authsources.php").write_text(
        "<?php\n$config = [\n"
        "    'admin' => ['core:AdminPassword'],\n"
        f"    'example-userpass' => {userpass},\n"
        "];\n"
    )
    idp = {
        "host": "__DEFAULT__",
        "privatekey": "idp.key",
        "certificate": "idp.crt",
        "auth": "example-userpass",
        "signature.algorithm": signature_algorithm,
        "NameIDFormat": EMAIL_NAMEID,
        "simplesaml.nameidattribute": ATTRIBUTE_NAMES["email"],
        "attributes.NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        "SingleLogoutServiceBinding": [BINDING_REDIRECT, BINDING_POST],
        "sign.logout": True,  # LogoutRequests and LogoutResponses are signed (Redirect: in the query)
    }
    remote: dict[str, Any] = {
        "AssertionConsumerService": [{"Binding": BINDING_POST, "Location": sp.acs_url, "index": 0}],
        "NameIDFormat": EMAIL_NAMEID,
        "simplesaml.nameidattribute": ATTRIBUTE_NAMES["email"],
        "simplesaml.attributes": True,
        "saml20.sign.response": sign_response,
        "saml20.sign.assertion": sign_assertion,
        "assertion.encryption": encrypt_assertion,
        "validate.authnrequest": require_signed_authn_request,
        "signature.algorithm": signature_algorithm,
        "attributes.NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
    }
    if sp.slo_url:
        remote["SingleLogoutService"] = [
            {"Binding": BINDING_REDIRECT, "Location": sp.slo_url},
            {"Binding": BINDING_POST, "Location": sp.slo_url},
        ]
    if sp.cert_pem:
        remote["certData"] = KeyPair(sp.cert_pem, "").cert_base64
    elif require_signed_authn_request or encrypt_assertion:
        raise ValueError("signed AuthnRequests and encrypted assertions need the SP's certificate")
    (metadata_dir / "saml20-idp-hosted.php").write_text(
        f"<?php\n$metadata[{_php(entity_id)}] = {_php(idp)};\n"
    )
    (metadata_dir / "saml20-sp-remote.php").write_text(
        f"<?php\n$metadata[{_php(sp.entity_id)}] = {_php(remote)};\n"
    )
    return config_dir


@contextmanager
def start_simplesamlphp(
    sp: ServiceProvider,
    user: TestUser | None = None,
    *,
    entity_id: str | None = None,
    keypair: KeyPair | None = None,
    sign_response: bool = True,
    sign_assertion: bool = True,
    encrypt_assertion: bool = False,
    require_signed_authn_request: bool = False,
    signature_algorithm: str = RSA_SHA256,
    port: int | None = None,
) -> Iterator[SimpleSamlPhp]:
    """Start SimpleSAMLphp on a free loopback port as the IdP of ``sp``; stop it (its own process) on exit."""
    php = require_program("php")
    www = require(SSP_ROOT / "www" / "_include.php", "Debian simplesamlphp").parent
    user = user or TestUser()
    keypair = keypair or shared_keypair("simplesamlphp")
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    entity_id = entity_id or f"{base_url}/saml2/idp/metadata.php"
    with tempfile.TemporaryDirectory(prefix="simplesamlphp-") as tmp:
        root = Path(tmp)
        config_dir = _write_config(
            root,
            base_url=base_url,
            entity_id=entity_id,
            keypair=keypair,
            sp=sp,
            user=user,
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            encrypt_assertion=encrypt_assertion,
            require_signed_authn_request=require_signed_authn_request,
            signature_algorithm=signature_algorithm,
        )
        process = IdpProcess(
            [str(php), "-S", f"127.0.0.1:{port}", "-t", str(www)],
            cwd=www,
            log_path=root / "php.log",
            ready_url=f"{base_url}/saml2/idp/metadata.php",
            env={"SIMPLESAMLPHP_CONFIG_DIR": str(config_dir)},
        )
        process.start()
        try:
            yield SimpleSamlPhp(entity_id, base_url, keypair, sp, user, process, config_dir=config_dir)
        finally:
            process.stop()
