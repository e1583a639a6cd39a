"""What a running SAML IdP harness offers, whichever IdP it is: its URLs and certificate, and the browser's
part of each flow (login SP- or IdP-initiated, single logout SP- or IdP-initiated)."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from tests.idps.browser import Browser, Filler, FormPost, Outcome, Page
from tests.idps.peers import KeyPair, ServiceProvider, TestUser
from tests.idps.process import IdpProcess


def _no_form(page: Page) -> None:
    return None


@dataclass
class RunningSamlIdp:
    """A SAML IdP on 127.0.0.1 trusting ``sp``; ``keypair`` is its signing certificate and key (test only).

    Every flow method takes an optional ``browser``: pass the one a login used to keep the person's session at
    the IdP (single logout needs it). Each returns where the IdP hands the browser back to the SP: a
    ``FormPost`` (HTTP-POST binding: action, SAMLResponse or SAMLRequest, RelayState) or a ``Redirect``
    (HTTP-Redirect binding: the URL with its query)."""

    entity_id: str
    base_url: str
    keypair: KeyPair
    sp: ServiceProvider
    user: TestUser
    process: IdpProcess

    sso_path = ""
    slo_path = ""
    metadata_path = ""

    @property
    def sso_url(self) -> str:
        return self.base_url + self.sso_path

    @property
    def slo_url(self) -> str:
        return self.base_url + self.slo_path

    @property
    def metadata_url(self) -> str:
        return self.base_url + self.metadata_path

    @property
    def cert_pem(self) -> str:
        return self.keypair.cert_pem

    def metadata_xml(self) -> str:
        resp = requests.get(self.metadata_url, timeout=10)
        resp.raise_for_status()
        return resp.text

    def browser(self) -> Browser:
        """A fresh browser (empty cookie jar) confined to this IdP."""
        return Browser([self.base_url])

    def login(self, start: str | FormPost, *, browser: Browser | None = None) -> Outcome:
        """SP-initiated login: ``start`` is the SP's redirect to ``sso_url`` (``?SAMLRequest=…``) or its POST
        binding form. Logs in as the configured user; returns the form the browser would post to the ACS."""
        return (browser or self.browser()).run(start, self.login_filler())

    def idp_initiated_login(
        self, relay_state: str | None = None, *, browser: Browser | None = None
    ) -> Outcome:
        """IdP-initiated (unsolicited) login to the SP's ACS."""
        raise NotImplementedError

    def logout(self, start: str | FormPost, *, browser: Browser) -> Outcome:
        """Single logout at the IdP: ``start`` is the SP's LogoutRequest (redirect URL or POST form), or the
        SP's LogoutResponse to an IdP-initiated logout. Returns the IdP's answer to the SP (a LogoutResponse)
        or, after a LogoutResponse, where the IdP sends the browser last."""
        return browser.run(start, _no_form)

    def idp_initiated_logout(self, *, browser: Browser) -> Outcome:
        """The person logs out at the IdP: returns the LogoutRequest the IdP sends to the SP's SLO URL."""
        raise NotImplementedError

    def login_filler(self) -> Filler:
        raise NotImplementedError
