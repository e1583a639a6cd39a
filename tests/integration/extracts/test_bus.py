"""extract.succeeded reaches NATS through the outbox like every event, and each lifecycle event is a valid
CloudEvent of its published data schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.audit.bus.jetstream import StreamSpec
from app.config import Settings
from app.container import Container
from tests.conftest import Api
from tests.integration.bus_support import delete_stream, drain_outbox, read_stream, unique_stream
from tests.integration.extracts.conftest import create, runner, seed_days

pytestmark = pytest.mark.nats
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "events" / "schemas"


@pytest.fixture
def stream(nats_url: str) -> Iterator[StreamSpec]:
    spec = unique_stream()
    yield spec
    delete_stream(nats_url, spec.name)


@pytest.fixture
def settings(settings: Settings, stream: StreamSpec, nats_url: str) -> Settings:
    return settings.model_copy(
        update={"bus_url": nats_url, "bus_stream": stream.name, "bus_subject_prefix": stream.subject_prefix}
    )


@pytest.fixture(autouse=True)
def _stop_waker(container: Container) -> Iterator[None]:
    yield
    if container.relay_waker is not None:
        container.relay_waker.close()


def test_the_lifecycle_reaches_the_bus_as_valid_cloudevents(
    admin: Api, org: dict[str, Any], container: Container, stream: StreamSpec, nats_url: str
) -> None:
    seed_days(container, org["id"], [4, 4])
    job = create(admin, org["id"], {"notify_email": "ops@acme.example"}).json
    assert runner(container).run_pending() == {job["id"]: "succeeded"}
    drain_outbox(container, stream, nats_url)

    published = [m for m in read_stream(nats_url, stream) if m.event["type"].startswith("tenantry.extract.")]
    assert [m.event["type"] for m in published] == [
        "tenantry.extract.created.v1",
        "tenantry.extract.started.v1",
        "tenantry.extract.succeeded.v1",
    ]
    succeeded = published[-1]
    assert succeeded.subject == f"{stream.subject_prefix}.{org['id']}.extract.succeeded"
    data = succeeded.event["data"]
    assert data["targets"] == [{"type": "extract", "id": job["id"]}]
    assert data["details"]["rows_written"] == 8 and data["details"]["files"] == 2
    envelope = json.loads((SCHEMAS / "cloudevent.json").read_text())
    for message in published:
        schema = json.loads((SCHEMAS / f"{message.event['type']}.json").read_text())
        jsonschema.validate(message.event, envelope, format_checker=FORMATS)
        jsonschema.validate(message.event["data"], schema, format_checker=FORMATS)
