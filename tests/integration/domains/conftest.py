"""Domain tests: a real DNS server on loopback that Tenantry's resolver is configured to ask (through the same
TENANTRY_DNS_* settings an operator sets), a frozen clock, and a mailer that keeps what it is given."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from tests.conftest import Api, _truncate, make_org_key
from tests.dns_server import DnsTestServer, dns_server

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class RecordingMailer:
    """A ``Mailer`` that keeps every message (the delivery path itself is tested against SMTP elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[Mail] = []

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append(Mail(to, subject, body))


@pytest.fixture
def dns() -> Iterator[DnsTestServer]:
    with dns_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, dns: DnsTestServer) -> Settings:
    return settings.model_copy(update={"dns_nameservers": dns.host, "dns_port": dns.port, "dns_timeout": 1.0})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def container(settings: Settings, clock: FrozenClock, mailer: RecordingMailer) -> Iterator[Container]:
    c = Container.build(settings, clock=clock, mailer=mailer)
    yield c
    _truncate(c)
    c.engine.dispose()


@pytest.fixture
def rival_org(platform: Api) -> dict[str, Any]:
    resp = platform.post("/v1/orgs", {"name": "Rival"})
    assert resp.status_code == 201, resp.json
    data: dict[str, Any] = resp.json
    return data


@pytest.fixture
def rival(client: FlaskClient, container: Container, rival_org: dict[str, Any]) -> Api:
    return Api(client, make_org_key(container, rival_org["id"], "admin"))


def claim(api: Api, org_id: str, name: str) -> dict[str, Any]:
    resp = api.post(f"/v1/orgs/{org_id}/domains", {"domain": name})
    assert resp.status_code == 201, resp.json
    data: dict[str, Any] = resp.json
    return data


def publish(dns: DnsTestServer, domain: dict[str, Any]) -> None:
    """Add the domain's challenge value to the TXT records at its record name (others stay)."""
    record = domain["txt_record"]
    dns.zone.add_txt(record["name"], record["value"])


def verify(api: Api, org_id: str, domain_id: str) -> Any:
    return api.post(f"/v1/orgs/{org_id}/domains/{domain_id}/verify")


def claim_and_verify(api: Api, dns: DnsTestServer, org_id: str, name: str) -> dict[str, Any]:
    domain = claim(api, org_id, name)
    publish(dns, domain)
    resp = verify(api, org_id, domain["id"])
    assert resp.status_code == 200 and resp.json["status"] == "verified", resp.json
    data: dict[str, Any] = resp.json
    return data


def events(container: Container, org_id: str, prefix: str = "") -> list[AuditEvent]:
    with transaction(container.session_factory) as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.org_id == org_id, AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.seq)
            )
        )


def actions(container: Container, org_id: str, prefix: str = "") -> list[str]:
    return [e.action for e in events(container, org_id, prefix)]
