"""OIDC issuer discovery: fetched through app/sso/oidc_fetch.py under the SAML metadata SSRF rules (a resolver
we control, a real HTTP server on loopback), checked by the core at creation, then refreshed by the worker
(job ``sso.oidc_discovery``): a changed document replaces the stored one, a failure keeps the last good one
and is recorded once per run of failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.sso import oidc_refresh
from app.sso.metadata_fetch import FetchPolicy
from app.sso.oidc_fetch import OidcFetchRefused, PinnedOidcHttp
from app.worker import default_jobs
from tests.conftest import Api
from tests.integration.sso.metadata_server import metadata_server
from tests.integration.sso.oidc_stub import start_stub_op


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sso_metadata_refresh_interval": 3600, "sso_metadata_timeout": 1.0})


def test_private_addresses_plain_http_and_redirects_are_refused() -> None:
    strict = PinnedOidcHttp(FetchPolicy(allow_private=False), resolver=lambda host, port: ["10.0.0.7"])
    with pytest.raises(OidcFetchRefused) as err:
        strict.get("https://idp.example.com/.well-known/openid-configuration")
    assert err.value.reason == "private_address"
    with pytest.raises(OidcFetchRefused) as err:
        strict.post_form("http://idp.example.com/token", {"code": "x"})
    assert err.value.reason == "insecure_url"
    with metadata_server() as served:
        served.status, served.location = 302, "http://169.254.169.254/latest/meta-data"
        loose = PinnedOidcHttp(FetchPolicy(allow_private=True, max_bytes=2048, timeout=0.5))
        assert loose.get(served.url()).status == 302  # returned as is: the core refuses any non-200
        served.status, served.location, served.body = 200, None, b"{" + b" " * 5000 + b"}"
        with pytest.raises(OidcFetchRefused) as err:
            loose.get(served.url())
        assert err.value.reason == "too_large"


def test_the_checked_address_is_the_one_connected_to() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    with metadata_server() as served:
        served.body = b'{"ok": true}'
        http = PinnedOidcHttp(FetchPolicy(allow_private=True), resolver=resolver)
        assert http.get(served.url("op.test")).body == b'{"ok": true}'
        assert calls == ["op.test"] and served.hosts == [f"op.test:{served.port}"]


def test_creation_checks_the_document_and_the_worker_refreshes_it(
    admin: Api, org: dict[str, Any], container: Container
) -> None:
    assert "sso.oidc_discovery" in {job.name for job in default_jobs(container)}
    with start_stub_op() as stub:
        base = f"/v1/orgs/{org['id']}/sso-connections"
        # A document that names another issuer is refused by the core (OIDC Discovery §4.3).
        stub.extra_discovery = {"issuer": "http://127.0.0.1:1"}
        body = {"type": "oidc", "issuer": stub.issuer, "client_id": "c", "client_secret": "s"}
        wrong = admin.post(base, body)
        assert wrong.status_code == 422 and wrong.json["code"] == "invalid_idp_settings", wrong.json
        # A token endpoint authentication the issuer does not offer is refused.
        stub.extra_discovery = {}
        unoffered = admin.post(base, {**body, "token_endpoint_auth_method": "none"})
        assert unoffered.status_code == 422 and unoffered.json["errors"][0]["field"] in (
            "client_secret",
            "token_endpoint_auth_method",
        )
        resp = admin.post(base, body)
        assert resp.status_code == 201, resp.json
        conn = resp.json
        clock = FrozenClock(container.clock.now())
        container.clock = clock
        assert oidc_refresh.run(container) == {}  # nothing due yet
        clock.advance(timedelta(hours=1, seconds=1))
        assert oidc_refresh.run(container) == {"unchanged": 1}
        # The IdP moves its authorization endpoint: the refresh picks it up.
        stub.extra_discovery = {"authorization_endpoint": f"{stub.issuer}/v2/authorize"}
        clock.advance(timedelta(hours=1, seconds=1))
        assert oidc_refresh.run(container) == {"refreshed": 1}
        after = admin.get(f"{base}/{conn['id']}").json
        assert after["oidc"]["authorization_endpoint"] == f"{stub.issuer}/v2/authorize"
        # The IdP fails: the last good document stays, one failure event for the run of failures.
        stub.discovery_status = 500
        for _ in range(2):
            clock.advance(timedelta(hours=1, seconds=1))
            assert oidc_refresh.run(container) == {"failed": 1}
        failing = admin.get(f"{base}/{conn['id']}").json
        assert failing["oidc"]["discovery_error"]
        assert failing["oidc"]["authorization_endpoint"] == f"{stub.issuer}/v2/authorize"
        with transaction(container.session_factory) as session:
            failures = [
                e.reason
                for e in session.scalars(
                    select(AuditEvent).where(
                        AuditEvent.org_id == org["id"],
                        AuditEvent.action == "sso_connection.metadata_refresh_failed",
                    )
                )
            ]
        assert failures == ["idp_unreachable"]
        # Back again: the error clears.
        stub.discovery_status = 200
        clock.advance(timedelta(hours=1, seconds=1))
        assert oidc_refresh.run(container) == {"unchanged": 1}
        assert admin.get(f"{base}/{conn['id']}").json["oidc"]["discovery_error"] is None
