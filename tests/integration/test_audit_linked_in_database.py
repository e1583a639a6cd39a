"""A block of one chain linked by PostgreSQL (``AuditRecorder._link_in_database``): the statement that writes
the events locks the chain's head, numbers and times them, and hashes each from the canonical bytes Python
cut around its time and sequence (``chain.pieces``). What it stores must be what Python's linking stores:
links that ``chain.link`` verifies, target rows and outbox CloudEvents with the events' own time, sequence
and hashes, the head at the last link, and a chain in time order even when the caller's clock is behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.bus.cloudevents import to_cloudevent
from app.audit.bus.models import OutboxEvent
from app.audit.catalogue import AuditAction
from app.audit.models import AuditChainHead, AuditEvent, AuditEventTarget
from app.audit.recorder import SYSTEM, AuditRecorder, OutboxConfig, RequestContext, Target
from app.clock import FrozenClock
from app.container import Container
from app.db import transaction
from app.ids import new_id
from app.orgs.models import Organization
from tests.integration.audit_helpers import intact_chain
from tests.support import run_together, statements_run

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _ahead() -> datetime:
    """A frozen time after an org's creation (which the real clock stamps)."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def _org(container: Container) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create("Linked").id


def _recorder(container: Container, session: Session, clock: FrozenClock) -> AuditRecorder:
    outbox = OutboxConfig(enabled=True, keyring=container.outbox.keyring)
    return AuditRecorder(session, clock, SYSTEM, RequestContext(ip="192.0.2.9", user_agent="t"), outbox)


def _block(audit: AuditRecorder, org_id: str, n: int = 3) -> list[AuditEvent]:
    with audit.linked_at_end():
        return [
            audit.record(
                AuditAction.ORG_UPDATED,
                org_id=org_id,
                targets=[Target("organization", org_id, "Linked"), Target("user", f"usr_{i}", "Ann é")],
                changes={"name": {"before": "A", "after": f"B{i}"}},
                data={"email": "ann@example.com", "list": [1, 2.5, None, "é\u2028"]},
            )
            for i in range(n)
        ]


def _writes(seen: list[str]) -> list[str]:
    return [s for s in seen if "INSERT INTO audit_events" in s or "audit_chain_heads" in s]


def test_one_statement_locks_numbers_times_and_hashes_the_block(pg_container: Container) -> None:
    org_id, ahead = _org(pg_container), _ahead()
    with pg_container.session_factory() as session:
        clock = FrozenClock(ahead)
        audit = _recorder(pg_container, session, clock)
        seen = statements_run(session)
        made = _block(audit, org_id)
        writes = _writes(seen)
        assert len(writes) == 1 and "FOR UPDATE" in writes[0] and "sha256" in writes[0]  # no head read
        returned = [(e.seq, e.prev_hash, e.hash, e.occurred_at) for e in made]
        # The transaction holds the head: a later event of the chain links after the block, in Python.
        clock.advance(timedelta(seconds=1))
        later = audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"after": True})
        session.commit()
    with pg_container.session_factory() as session:
        events = intact_chain(session, org_id)  # gapless, linked, in time order, head at the last link
        stored = {e.id: e for e in events}
        assert [(stored[e.id].seq, stored[e.id].prev_hash, stored[e.id].hash) for e in made] == [
            r[:3] for r in returned
        ]
        assert [stored[e.id].occurred_at for e in made] == [r[3] for r in returned]
        assert [r[0] for r in returned] == [
            events[0].seq + i for i in range(1, 4)
        ]  # after the org's creation
        # The caller's time, then a microsecond after each (its frozen clock gave all three the same time);
        # the event after the block, linked in Python under the lock still held, has the clock's own.
        assert [stored[e.id].occurred_at for e in made] == [
            ahead + timedelta(microseconds=i) for i in range(3)
        ]
        assert (stored[later.id].seq, stored[later.id].occurred_at) == (returned[-1][0] + 1, clock.now())
        for e in made:
            row = stored[e.id]
            targets = session.scalars(select(AuditEventTarget).where(AuditEventTarget.event_id == e.id)).all()
            assert [t.occurred_at for t in targets] == [row.occurred_at] * 2
            box = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == e.id)).one()
            assert box.created_at == row.occurred_at
            expected = to_cloudevent(row, _clear(box.payload))
            assert box.payload == expected  # time, sequence, hash and prev_hash as stored; the clear values
        ids = session.scalars(
            select(OutboxEvent.id)
            .where(OutboxEvent.event_id.in_([e.id for e in made]))
            .order_by(OutboxEvent.id)
        ).all()
        by_id = session.scalars(
            select(OutboxEvent.event_id).where(OutboxEvent.id.in_(ids)).order_by(OutboxEvent.id)
        ).all()
        assert list(by_id) == [e.id for e in made]  # the relay publishes by id: the events' order


def _clear(payload: dict[str, Any]) -> dict[str, Any]:
    """The clear personal values the bus carries (the stored event holds their tokens)."""
    data = payload["data"]
    return {
        "actor": data["actor"],
        "targets": data["targets"],
        "changes": data["changes"],
        "data": data["details"],
    }


def test_a_clock_behind_the_chain_still_gives_later_times(pg_container: Container) -> None:
    org_id = _org(pg_container)
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # after the org's creation
    with transaction(pg_container.session_factory) as session:
        _block(_recorder(pg_container, session, FrozenClock(ahead)), org_id, n=1)
    with transaction(pg_container.session_factory) as session:  # another worker's clock, a day behind
        behind = _block(_recorder(pg_container, session, FrozenClock(ahead - timedelta(days=1))), org_id, n=2)
    with pg_container.session_factory() as session:
        events = intact_chain(session, org_id)
        assert [e.occurred_at for e in events[-3:]] == [ahead + timedelta(microseconds=i) for i in range(3)]
        assert [e.id for e in events[-2:]] == [e.id for e in behind]


def test_a_chain_with_no_head_yet_starts_at_genesis(pg_container: Container) -> None:
    with transaction(pg_container.session_factory) as session:  # an org whose creation recorded nothing
        org = Organization(
            name="Headless", slug=f"headless-{new_id('org')[-8:]}", created_at=T0, updated_at=T0
        )
        session.add(org)
        session.flush()
        org_id = org.id
    with transaction(pg_container.session_factory) as session:
        made = _block(_recorder(pg_container, session, FrozenClock(T0)), org_id, n=2)
    with pg_container.session_factory() as session:
        events = intact_chain(session, org_id)
        assert [e.id for e in events] == [e.id for e in made] and events[0].occurred_at == T0
        assert session.get_one(AuditChainHead, org_id).seq == 2


def test_a_chain_the_transaction_holds_is_linked_in_python(pg_container: Container) -> None:
    org_id = _org(pg_container)
    with pg_container.session_factory() as session:
        audit = _recorder(pg_container, session, FrozenClock(_ahead()))
        audit.lock_chain(org_id)  # a service ordering its own rows first (a seat pool)
        seen = statements_run(session)
        _block(audit, org_id)
        assert not any("sha256" in s for s in seen)
        session.commit()
    with pg_container.session_factory() as session:
        assert len(intact_chain(session, org_id)) == 4


def test_blocks_of_one_org_at_once_make_one_intact_chain(pg_container: Container) -> None:
    org_id = _org(pg_container)

    def blocks() -> None:
        for _ in range(8):
            with transaction(pg_container.session_factory) as session:
                _block(_recorder(pg_container, session, FrozenClock(T0)), org_id, n=2)

    outcomes = run_together([blocks for _ in range(6)])
    assert outcomes == {"ok": 6}
    with pg_container.session_factory() as session:
        events = intact_chain(session, org_id)
        assert len(events) == 1 + 6 * 8 * 2
