"""Driving a whole SSO login over HTTP: Tenantry through the Flask test client (its cookie jar is the
browser's on our side), the IdP through the harness's browser on loopback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import Api
from tests.idps.browser import FormPost, Outcome
from tests.idps.peers import ServiceProvider

SESSION_COOKIE = "tenantry_session"


@dataclass
class Connection:
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def service_provider(self) -> ServiceProvider:
        signing = next(k for k in self.data["sp_keys"] if k["use"] == "signing" and k["status"] == "active")
        return ServiceProvider(
            entity_id=self.data["sp_entity_id"],
            acs_url=self.data["acs_url"],
            slo_url=self.data["slo_url"],
            cert_pem=signing["certificate"],
        )


def create_connection(admin: Api, org_id: str, **body: Any) -> Connection:
    resp = admin.post(f"/v1/orgs/{org_id}/sso-connections", {"type": "saml", **body})
    assert resp.status_code == 201, resp.json
    return Connection(resp.json)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_login(client: FlaskClient, query: str) -> str:
    resp = client.get(f"/sso/login?{query}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return str(resp.headers["Location"])


def post_to_acs(client: FlaskClient, outcome: Outcome) -> TestResponse:
    assert isinstance(outcome, FormPost), outcome
    return client.post(path_of(outcome.action), data=outcome.fields)


def session_token(resp: TestResponse) -> str | None:
    for header in resp.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == SESSION_COOKIE:
            value = rest.split(";", 1)[0]
            return value or None
    return None
