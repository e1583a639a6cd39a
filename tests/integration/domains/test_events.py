"""Every domain event a real lifecycle produces (claim, failed and successful verification, re-check failing,
recovered, unverified, release) is a valid CloudEvent matching its type's published data schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from app.audit.bus.models import OutboxEvent
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.domains import recheck
from tests.conftest import Api
from tests.dns_server import DnsTestServer
from tests.integration.domains.conftest import claim, claim_and_verify, publish, verify

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "events" / "schemas"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
HOUR = timedelta(hours=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The bus on (outbox rows written as CloudEvents); nothing listens, the relay is not under test."""
    return settings.model_copy(update={"bus_url": "nats://127.0.0.1:1"})


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    assert container.relay_waker is not None
    container.relay_waker.close()


def test_domain_events_match_their_schemas(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Container, clock: FrozenClock
) -> None:
    # A failed attempt, then verified; the record lost, found again, lost for good; a second domain released.
    domain = claim(admin, org["id"], "acme-corp.com")
    assert verify(admin, org["id"], domain["id"]).json["verification"]["result"] == "nxdomain"
    publish(dns, domain)
    assert verify(admin, org["id"], domain["id"]).json["status"] == "verified"
    assert admin.patch(f"/v1/orgs/{org['id']}", {"sso_enforced": True}).status_code == 200
    record = domain["txt_record"]["name"]
    dns.zone.remove(record)
    clock.advance(24 * HOUR)
    assert recheck.run(container) == {"failing": 1}
    publish(dns, domain)
    clock.advance(HOUR)
    assert recheck.run(container) == {"recovered": 1}
    dns.zone.remove(record)
    clock.advance(24 * HOUR)
    assert recheck.run(container) == {"failing": 1}
    clock.advance(72 * HOUR)
    assert recheck.run(container) == {"unverified": 1}
    other = claim_and_verify(admin, dns, org["id"], "acme-labs.com")
    assert admin.delete(f"/v1/orgs/{org['id']}/domains/{other['id']}").status_code == 204

    with container.session_factory() as session:
        events = [row.payload for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    envelope = jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / "cloudevent.json").read_text()), format_checker=FORMATS
    )
    seen = []
    for event in events:
        envelope.validate(event)
        schema = json.loads((SCHEMAS / f"{event['type']}.json").read_text())
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(event["data"])
        seen.append(event["type"])
    domain_types = [t.split(".")[2] for t in seen if t.startswith("tenantry.domain.")]
    assert domain_types == [
        "claimed",
        "verification_failed",
        "verified",
        "recheck_failing",
        "recheck_recovered",
        "recheck_failing",
        "unverified",
        "claimed",
        "verified",
        "deleted",
    ]
    withdrawn = [e for e in events if e["type"] == "tenantry.org.updated.v1"][-1]
    assert withdrawn["data"]["details"] == {"reason": "domain_unverified"}
