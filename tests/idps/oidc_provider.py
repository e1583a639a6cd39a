"""npm ``oidc-provider`` 8.x (panva's OpenID Certified OP) on loopback with given clients and one person.

The OP signs ID tokens with keys generated here (``OidcProvider.signing_keys``, private JWKs, test only), so a
test can also restart an OP with other keys (rotation, unknown ``kid``). ``conform_id_token_claims=True`` (the
OP's default) puts only ``sub`` in the ID token and the email and names in userinfo; ``False`` puts the claims
of the requested scopes in the ID token too, as Google and Okta do. The login and consent pages are the OP's
development interactions (a login form that takes any password; the name typed is the account id, ``sub``, and
only the configured person's is an account)."""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import ECKey, RSAKey

from tests.idps.browser import Browser, Form, Outcome, Page, Redirect
from tests.idps.peers import TestUser
from tests.idps.process import IdpProcess, idps_dir, require, require_program
from tests.support import free_port

SERVER_SCRIPT = Path(__file__).with_name("oidc_server.mjs")


@dataclass(frozen=True)
class OidcClient:
    """A client registered at the OP. ``token_endpoint_auth_method``: ``client_secret_basic`` (default),
    ``client_secret_post``, or ``none`` (a public client, PKCE required)."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_signed_response_alg: str = "RS256"

    def registration(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }
        if self.client_secret is not None:
            doc["client_secret"] = self.client_secret
        return doc


def new_signing_keys() -> list[dict[str, Any]]:
    """An RS256 and an ES256 private key as JWKs, each with its own ``kid`` (the RSA key signs by default)."""
    rsa = RSAKey.generate_key(
        2048, parameters={"kid": f"rsa-{secrets.token_hex(4)}", "use": "sig"}, private=True
    )
    ec = ECKey.generate_key(
        "P-256", parameters={"kid": f"ec-{secrets.token_hex(4)}", "use": "sig"}, private=True
    )
    return [rsa.as_dict(private=True), ec.as_dict(private=True)]


@dataclass
class OidcProvider:
    """A running oidc-provider. ``issuer`` is ``http://127.0.0.1:<port>``."""

    issuer: str
    port: int
    clients: tuple[OidcClient, ...]
    user: TestUser
    signing_keys: list[dict[str, Any]]
    conform_id_token_claims: bool
    process: IdpProcess
    sub: str = field(default="")
    registration_token: str = field(default="", repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        resp = requests.get(self.discovery_url, timeout=10)
        resp.raise_for_status()
        doc: dict[str, Any] = resp.json()
        return doc

    def jwks(self) -> dict[str, Any]:
        resp = requests.get(self.discovery()["jwks_uri"], timeout=10)
        resp.raise_for_status()
        doc: dict[str, Any] = resp.json()
        return doc

    def browser(self) -> Browser:
        return Browser([self.issuer])

    def register_client(self, client: OidcClient) -> None:
        """Add ``client`` to the running OP (dynamic registration, RFC 7591, with the harness's token): for a
        client whose redirect URI is known only once the OP runs (a connection's callback URL)."""
        resp = requests.post(
            self.discovery()["registration_endpoint"],
            json=client.registration(),
            headers={"Authorization": f"Bearer {self.registration_token}"},
            timeout=10,
        )
        if resp.status_code != 201:
            raise AssertionError(f"registration refused: {resp.status_code} {resp.text}")
        assert resp.json()["client_id"] == client.client_id
        self.clients = (*self.clients, client)

    def authorize(
        self, authorization_url: str, *, browser: Browser | None = None, login: str | None = None
    ) -> str:
        """The browser's part of the code flow: open ``authorization_url``, log in as the configured person
        (the OP's login name is the person's ``sub``; ``login`` types another), grant consent, and return
        the URL the OP redirects to (the client's redirect URI with ``code``, ``state`` and ``iss``, or with
        ``error``) without following it."""
        outcome: Outcome = (browser or self.browser()).run(authorization_url, self._filler(login))
        if not isinstance(outcome, Redirect):
            raise AssertionError(f"the OP posted a form instead of redirecting: {outcome}")
        return outcome.url

    def _filler(self, login: str | None) -> Any:
        def fill(page: Page) -> tuple[Form, dict[str, str]] | None:
            for form in page.forms:
                if form.fields.get("prompt") == "login":
                    return form, {**form.fields, "login": login or self.sub, "password": self.user.password}
                if form.fields.get("prompt") == "consent":
                    return form, dict(form.fields)
            return None

        return fill


@contextmanager
def start_oidc_provider(
    clients: Sequence[OidcClient],
    user: TestUser | None = None,
    *,
    conform_id_token_claims: bool = True,
    pkce_required: bool = True,
    signing_keys: list[dict[str, Any]] | None = None,
    id_token_ttl: int = 3600,
    port: int | None = None,
    sub: str | None = None,
) -> Iterator[OidcProvider]:
    """Start oidc-provider on a free loopback port (or ``port``, to restart an issuer with other keys) with
    ``clients``; stop it (its own process) on exit."""
    node = require_program("node")
    install = require(idps_dir() / "oidc-provider" / "node_modules" / "oidc-provider", "npm oidc-provider")
    app_dir = install.parents[1]
    # The server script has to live beside node_modules; a content-addressed name keeps concurrent test
    # processes from racing on one file.
    source = SERVER_SCRIPT.read_bytes()
    script = app_dir / f"server-{_digest(source)}.mjs"
    if not script.exists():
        staged = app_dir / f".{script.name}.{secrets.token_hex(4)}"
        staged.write_bytes(source)
        staged.replace(script)
    user = user or TestUser()
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys = signing_keys or new_signing_keys()
    subject = sub or f"sub-{secrets.token_hex(8)}"
    registration_token = secrets.token_urlsafe(24)
    config = {
        "issuer": issuer,
        "port": port,
        "clients": [c.registration() for c in clients],
        "jwks": {"keys": keys},
        "cookie_keys": [secrets.token_hex(16)],
        "registration_token": registration_token,
        "conform_id_token_claims": conform_id_token_claims,
        "pkce_required": pkce_required,
        "id_token_ttl": id_token_ttl,
        "user": {
            "sub": subject,
            "email": user.email,
            "name": user.display_name,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": list(user.groups),
        },
    }
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as tmp:
        work = Path(tmp)
        (work / "config.json").write_text(json.dumps(config))
        process = IdpProcess(
            [str(node), str(script), str(work / "config.json")],
            cwd=app_dir,
            log_path=work / "oidc-provider.log",
            ready_url=f"{issuer}/.well-known/openid-configuration",
            env={"NODE_ENV": "test"},
        )
        process.start()
        try:
            yield OidcProvider(
                issuer,
                port,
                tuple(clients),
                user,
                keys,
                conform_id_token_claims,
                process,
                sub=subject,
                registration_token=registration_token,
            )
        finally:
            process.stop()


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:12]


__all__ = ["OidcClient", "OidcProvider", "new_signing_keys", "start_oidc_provider"]
