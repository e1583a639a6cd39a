"""Events produced by real REST calls are valid CloudEvents and match their type's data schema, both the
standalone JSON Schema files and the message payloads of docs/asyncapi.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy import select

from app.audit.bus.models import OutboxEvent
from app.config import Settings
from app.container import Container
from tests.conftest import Api
from tests.integration import event_scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "events" / "schemas"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The bus on (outbox rows written); nothing listens there, the relay is not under test here."""
    return settings.model_copy(update={"bus_url": "nats://127.0.0.1:1"})


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    assert container.relay_waker is not None
    container.relay_waker.close()


def outbox_events(container: Container) -> list[dict[str, Any]]:
    with container.session_factory() as session:
        return [row.payload for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def test_events_from_rest_calls_match_the_contract(
    container: Container, platform: Api, admin: Api, owner: Api, org: dict[str, Any]
) -> None:
    event_scenario.run(platform, admin, owner, org["id"])
    events = outbox_events(container)
    envelope = jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / "cloudevent.json").read_text()), format_checker=FORMATS
    )
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    seen = set()
    for event in events:
        envelope.validate(event)
        schema = json.loads((SCHEMAS / f"{event['type']}.json").read_text())
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(event["data"])
        payload_ref = {
            "$ref": f"#/components/messages/{event['type']}/payload",
            "components": doc["components"],
        }
        jsonschema.Draft7Validator(payload_ref, format_checker=FORMATS).validate(event)
        seen.add(event["type"])
    expected = {
        "tenantry.org.updated.v1",
        "tenantry.seat.limit_changed.v1",
        "tenantry.member.invited.v1",
        "tenantry.invitation.accepted.v1",
        "tenantry.member.added.v1",
        "tenantry.seat.assigned.v1",
        "tenantry.seat.transferred.v1",
        "tenantry.seat.unassigned.v1",
        "tenantry.member.role_changed.v1",
        "tenantry.member.suspended.v1",
        "tenantry.member.reactivated.v1",
        "tenantry.member.removed.v1",
        "tenantry.invitation.resent.v1",
        "tenantry.invitation.revoked.v1",
        "tenantry.seat.requested.v1",
        "tenantry.seat.request_approved.v1",
        "tenantry.seat.request_denied.v1",
        "tenantry.api_key.created.v1",
        "tenantry.api_key.revoked.v1",
        "tenantry.scim_token.created.v1",
        "tenantry.scim_token.revoked.v1",
        "tenantry.session.ended.v1",
        "tenantry.user.created.v1",
        "tenantry.auth.failed.v1",
        "tenantry.authz.denied.v1",
    }
    assert expected <= seen, expected - seen


def test_a_wrong_event_is_refused_by_the_schemas(
    container: Container, platform: Api, admin: Api, org: dict[str, Any]
) -> None:
    event_scenario.ok(platform.put(f"/v1/orgs/{org['id']}/seats/pro", {"limit": 3}))
    (event,) = [e for e in outbox_events(container) if e["type"] == "tenantry.seat.limit_changed.v1"]
    schema = json.loads((SCHEMAS / "tenantry.seat.limit_changed.v1.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
    validator.validate(event["data"])
    broken = json.loads(json.dumps(event["data"]))
    broken["details"]["limit"] = "three"
    assert not validator.is_valid(broken)
    del broken["details"]["seat_type"]
    assert not validator.is_valid(broken)
    secretive = dict(event, token="tnt_x")  # an extension attribute must be lower-case letters/digits
    secretive["api_key"] = "x"
    envelope = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "cloudevent.json").read_text()))
    assert not envelope.is_valid(secretive)
