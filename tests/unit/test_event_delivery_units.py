"""Small pure pieces of event delivery: the envelope's sequence, subjects, backoff bounds, printing."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime

import pytest

from app.audit.bus.cloudevents import format_sequence, subject_for, to_cloudevent
from app.audit.bus.consumers.billing import action_of
from app.audit.bus.consumers.printer import PrintConsumer
from app.audit.bus.jetstream import StreamSpec
from app.audit.bus.relay import Backoff
from app.audit.models import AuditEvent


def event(**overrides: object) -> AuditEvent:
    fields: dict[str, object] = dict(
        id="0192f1c3-a4b5-7c6d-8e9f-0a1b2c3d4e5f", chain="org_1", org_id="org_1", seq=42,
        action="seat.request_approved", occurred_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        actor_type="user", actor_id="usr_1", actor_name="Ada",
        targets=[{"type": "seat_request", "id": "sreq_1"}],
        context={"ip": "203.0.113.7"}, outcome="success", reason=None, changes={},
        data={"reason": "approved by policy"}, prev_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip
    fields.update(overrides)
    return AuditEvent(**fields)


def test_sequence_is_a_lexicographically_ordered_string() -> None:
    values = [format_sequence(n) for n in (1, 9, 10, 42, 1000, 10**12)]
    assert values == sorted(values) and all(len(v) == 20 for v in values)


def test_cloudevent_attributes_and_data_do_not_collide() -> None:
    ce = to_cloudevent(event(outcome="failure", reason="quota"))
    assert all(name.isalnum() and name.islower() for name in ce)  # CloudEvents attribute naming
    assert ce["type"] == "tenantry.seat.request_approved.v1" and ce["source"] == "/orgs/org_1"
    assert ce["sequence"] == "00000000000000000042" and ce["subject"] == "sreq_1"
    assert ce["data"]["outcome"] == {"result": "failure", "reason": "quota"}
    assert ce["data"]["details"] == {"reason": "approved by policy"}  # a detail named like an envelope field
    assert ce["data"]["context"] == {"ip": "203.0.113.7", "user_agent": None, "request_id": None}


def test_subjects_and_stream_spec() -> None:
    assert subject_for("tenantry.v1", event()) == "tenantry.v1.org_1.seat.request_approved"
    spec = StreamSpec("TENANTRY_EVENTS", "tenantry.v1")
    assert spec.subjects == ["tenantry.v1.>"]
    assert not spec.wake_subject.startswith("tenantry.v1.")  # the wake ping is never stored


@pytest.mark.parametrize("attempts", [0, 1, 5, 30])
def test_backoff_stays_within_its_ceiling(attempts: int) -> None:
    backoff = Backoff(base=0.2, cap=10.0, attempts=attempts, rng=random.Random(attempts))  # noqa: S311
    ceiling = min(10.0, 0.2 * 2**attempts)
    delays = [Backoff(0.2, 10.0, attempts, random.Random(i)).next_delay() for i in range(50)]  # noqa: S311
    assert all(ceiling / 10 <= d <= ceiling for d in delays)
    backoff.next_delay()
    assert backoff.attempts == attempts + 1
    backoff.reset()
    assert backoff.attempts == 0


def test_billing_reads_the_action_from_the_type() -> None:
    assert action_of("tenantry.seat.assigned.v1") == "seat.assigned"
    assert action_of("tenantry.scim.user.provisioned.v1") == "scim.user.provisioned"


def test_print_consumer_writes_one_json_line_per_event() -> None:
    out = io.StringIO()
    printer = PrintConsumer(out)
    printer.handle({"id": "a", "type": "t", "data": {"x": 1}})
    printer.handle({"id": "b", "type": "t", "data": {}})
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert printer.filter_subjects("tenantry.v1") == ["tenantry.v1.>"]
