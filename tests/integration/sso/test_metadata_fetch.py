"""Fetching IdP metadata from a URL: SSRF rules with a resolver we control, limits, and the worker's refresh
with certificate expiry warnings, against a real HTTP server on loopback."""

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
from app.sso import refresh
from app.sso.metadata_fetch import FetchPolicy, MetadataFetchRefused, fetch_metadata, is_public
from tests.conftest import Api
from tests.integration.sso.helpers import idp_cert
from tests.integration.sso.metadata_server import MetadataServer, idp_metadata, metadata_server

ENTITY = "https://idp.example.com/metadata"


@pytest.fixture
def served() -> Any:
    with metadata_server() as server:
        server.body = idp_metadata(ENTITY, idp_cert())
        yield server


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("ff02::1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(served: MetadataServer) -> None:
    policy = FetchPolicy(allow_private=False)
    with pytest.raises(MetadataFetchRefused) as err:
        fetch_metadata(
            "https://idp.example.com/md", policy, resolver=lambda host, port: ["8.8.8.8", "10.0.0.5"]
        )
    assert err.value.reason == "private_address"
    assert served.hosts == []


def test_the_checked_address_is_the_one_connected_to(served: MetadataServer) -> None:
    """No DNS rebinding: resolved once, connected to that very address; the Host header keeps the name."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    fetched = fetch_metadata(served.url("idp.test"), FetchPolicy(allow_private=True), resolver=resolver)
    assert fetched.address == "127.0.0.1" and fetched.body == served.body
    assert calls == ["idp.test"] and served.hosts == [f"idp.test:{served.port}"]


def test_limits_status_and_redirects(served: MetadataServer) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=4096, timeout=0.5)
    served.body = b"<x>" + b"a" * 10000
    with pytest.raises(MetadataFetchRefused) as err:
        fetch_metadata(served.url(), policy)
    assert err.value.reason == "too_large"
    served.body, served.status, served.location = b"", 302, "http://169.254.169.254/"
    with pytest.raises(MetadataFetchRefused) as err:
        fetch_metadata(served.url(), policy)
    assert err.value.reason == "http_status"  # redirects are not followed
    served.status, served.location, served.delay = 200, None, 2.0
    with pytest.raises(MetadataFetchRefused) as err:
        fetch_metadata(served.url(), policy)
    assert err.value.reason == "timeout"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sso_metadata_refresh_interval": 3600, "sso_metadata_timeout": 1.0})


def test_worker_refresh_updates_certificates_warns_and_reports_failures(
    admin: Api, org: dict[str, Any], container: Container, served: MetadataServer
) -> None:
    resp = admin.post(
        f"/v1/orgs/{org['id']}/sso-connections", {"type": "saml", "idp_metadata_url": served.url()}
    )
    assert resp.status_code == 201, resp.json
    conn = resp.json
    assert conn["idp"]["entity_id"] == ENTITY and conn["idp"]["metadata_url"] == served.url()
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    assert refresh.run(container) == {}  # nothing due yet
    # The IdP rolls over to a certificate expiring in 10 days.
    served.body = idp_metadata(ENTITY, idp_cert(10))
    clock.advance(timedelta(hours=1, seconds=1))
    assert refresh.run(container) == {"refreshed": 1}
    after = admin.get(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}").json
    assert after["idp"]["certificates"][0]["expiring"] is True
    assert (
        after["idp"]["certificates"][0]["fingerprint_sha256"]
        != conn["idp"]["certificates"][0]["fingerprint_sha256"]
    )
    # The IdP goes away: the last good settings stay, one failure event for the run of failures.
    served.status = 500
    for _ in range(2):
        clock.advance(timedelta(hours=1, seconds=1))
        assert refresh.run(container) == {"failed": 1}
    failing = admin.get(f"/v1/orgs/{org['id']}/sso-connections/{conn['id']}").json
    assert failing["idp"]["metadata_error"] and failing["idp"]["certificates"] == after["idp"]["certificates"]
    with transaction(container.session_factory) as session:
        actions = [
            (e.action, e.reason)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.org_id == org["id"]).order_by(AuditEvent.seq)
            )
        ]
    assert ("sso_connection.idp_cert_expiring", None) in actions
    assert actions.count(("sso_connection.metadata_refresh_failed", "http_status")) == 1
    assert actions.count(("sso_connection.idp_cert_expiring", None)) == 1


def test_patching_only_the_binding_keeps_the_metadata_url_source(
    admin: Api, org: dict[str, Any], container: Container, served: MetadataServer
) -> None:
    served.body = idp_metadata(ENTITY, idp_cert(), post_url="https://idp.example.com/sso-post")
    base = f"/v1/orgs/{org['id']}/sso-connections"
    conn = admin.post(base, {"type": "saml", "idp_metadata_url": served.url()}).json
    assert (
        conn["idp"]["sso_binding"] == "redirect" and conn["idp"]["sso_url"] == "https://idp.example.com/sso"
    )
    resp = admin.patch(f"{base}/{conn['id']}", {"idp_sso_binding": "post"})
    assert resp.status_code == 200, resp.json
    idp = resp.json["idp"]
    # Still configured from (and refreshed from) the metadata URL, now with the POST endpoint it offers.
    assert idp["metadata_url"] == served.url() and idp["metadata_fetched_at"] is not None
    assert (idp["sso_binding"], idp["sso_url"]) == ("post", "https://idp.example.com/sso-post")
    assert idp["certificates"] == conn["idp"]["certificates"] and idp["entity_id"] == ENTITY
    # A refresh keeps the chosen binding while the metadata offers it.
    clock = FrozenClock(container.clock.now())
    container.clock = clock
    clock.advance(timedelta(hours=1, seconds=1))
    assert refresh.run(container) == {"unchanged": 1}
    after = admin.get(f"{base}/{conn['id']}").json["idp"]
    assert (after["sso_binding"], after["metadata_url"]) == ("post", served.url())
    # A binding the metadata does not offer is refused, and nothing changes.
    served.body = idp_metadata(ENTITY, idp_cert())
    refused = admin.patch(f"{base}/{conn['id']}", {"idp_sso_binding": "post", "name": "renamed"})
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "idp_sso_binding"
    kept = admin.get(f"{base}/{conn['id']}").json
    assert kept["name"] == conn["name"] and kept["idp"] == after
