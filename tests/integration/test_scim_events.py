"""SCIM's events on the bus: each matches its type's schema (the JSON Schema files and docs/asyncapi.yaml),
every SCIM event type is produced by an Okta/Entra-like run, and the billing consumer counts the seats SCIM
changes exactly as the seats endpoint does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.bus.consumers.billing import BillingConsumer
from app.audit.bus.models import OutboxEvent
from app.config import Settings
from app.container import Container
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import Scim, make_scim_token

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "events" / "schemas"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The bus on (outbox rows written); nothing listens there, the relay is not under test here."""
    return settings.model_copy(update={"bus_url": "nats://127.0.0.1:1"})


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    assert container.relay_waker is not None
    container.relay_waker.close()


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.json


def _scenario(client: FlaskClient, container: Container, platform: Api, org: str) -> dict[str, int]:
    _ok(platform.put(f"/v1/orgs/{org}/seats/pro", {"limit": 2}))
    admin = Api(client, make_org_key(container, org, "admin"))
    scim = Scim(client, make_scim_token(container, org))
    ids = [
        _ok(scim.post("/Users", {"schemas": [USER], "userName": f"u{i}@e.example", "active": True}), 201)[
            "id"
        ]
        for i in range(4)
    ]
    gid = _ok(scim.post("/Groups", {"schemas": [GROUP], "displayName": "Pro"}), 201)["id"]
    mapping = _ok(admin.post(f"/v1/orgs/{org}/group-mappings", {"group_id": gid, "seat_type": "pro"}), 201)
    add = [{"value": i} for i in ids[:3]]  # three members, two seats: one shortfall
    _ok(
        scim.patch(
            f"/Groups/{gid}",
            {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": add}]},
        )
    )
    _ok(
        scim.patch(
            f"/Groups/{gid}",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Pro users"}],
            },
        )
    )
    _ok(
        scim.patch(
            f"/Users/{ids[0]}",
            {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False, "title": "x"}}]},
        )
    )
    _ok(
        scim.patch(
            f"/Users/{ids[0]}",
            {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]},
        )
    )
    _ok(
        scim.patch(
            f"/Groups/{gid}",
            {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{ids[1]}"]'}]},
        )
    )
    _ok(scim.delete(f"/Users/{ids[3]}"), 204)
    _ok(admin.delete(f"/v1/orgs/{org}/group-mappings/{mapping['id']}"), 204)
    _ok(scim.delete(f"/Groups/{gid}"), 204)
    return {p["seat_type"]: p["used"] for p in _ok(admin.get(f"/v1/orgs/{org}/seats"))["data"]}


def test_scim_events_match_the_contract_and_billing(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    org = _ok(platform.post("/v1/orgs", {"name": "Events"}), 201)["id"]
    used = _scenario(client, container, platform, org)
    with container.session_factory() as session:
        events = [row.payload for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    seen = set()
    for event in events:
        schema = json.loads((SCHEMAS / f"{event['type']}.json").read_text())
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(event["data"])
        payload = {"$ref": f"#/components/messages/{event['type']}/payload", "components": doc["components"]}
        jsonschema.Draft7Validator(payload, format_checker=FORMATS).validate(event)
        seen.add(event["type"])
    scim_types = {
        f"tenantry.{name}.v1"
        for name in (
            "scim_user.provisioned", "scim_user.updated", "scim_user.deactivated", "scim_user.reactivated",
            "scim_user.deleted", "scim_group.created", "scim_group.renamed", "scim_group.deleted",
            "scim_group.members_added", "scim_group.members_removed", "scim_group_mapping.created",
            "scim_group_mapping.deleted", "scim_group_mapping.applied",
        )
    }  # fmt: skip
    assert scim_types <= seen, scim_types - seen
    applied = [e["data"]["details"] for e in events if e["type"] == "tenantry.scim_group_mapping.applied.v1"]
    assert "shortfall" in {a["seat_outcome"] for a in applied}

    consumer = BillingConsumer(container.session_factory)
    for event in events:
        if event["type"].split(".")[1] in ("seat", "member") and event["data"]["org_id"]:
            consumer.handle(event)
    assert consumer.seats_in_use(org) == used
    assert used["pro"] == 1  # u0 re-seated on reactivation; u1 released on leaving; u2 never got one
