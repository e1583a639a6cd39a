"""Seeding audit events straight through the recorder, with chosen times, actors, targets and ips; checking a
chain as stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import chain
from app.audit.catalogue import AuditAction
from app.audit.models import AuditChainHead, AuditEvent
from app.audit.recorder import Actor, AuditRecorder, RequestContext, Target, hashed_fields
from app.clock import FrozenClock
from app.container import Container
from app.db import transaction

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ALICE = Actor("user", "usr_alice", "Alice")


def record(
    container: Container,
    org_id: str,
    action: AuditAction,
    *,
    at: datetime,
    actor: Actor = ALICE,
    targets: tuple[Target, ...] = (),
    ip: str | None = "203.0.113.7",
    outcome: str = "success",
    changes: dict[str, Any] | None = None,
    user_agent: str = "tests",
) -> str:
    with transaction(container.session_factory) as session:
        rec = AuditRecorder(session, FrozenClock(at), actor, RequestContext(ip=ip, user_agent=user_agent))
        event = rec.record(
            action,
            org_id=org_id,
            targets=targets,
            outcome="failure" if outcome == "failure" else "success",
            reason="nope" if outcome == "failure" else None,
            changes=changes,
        )
        return event.id


def seed(container: Container, org_id: str, n: int = 30, start: datetime = T0) -> list[str]:
    """``n`` events a minute apart, cycling actions, actors, targets, ips and outcomes; ids oldest first."""
    actions = [
        AuditAction.MEMBER_INVITED,
        AuditAction.MEMBER_ROLE_CHANGED,
        AuditAction.SEAT_ASSIGNED,
        AuditAction.API_KEY_CREATED,
        AuditAction.MEMBER_REMOVED,
    ]
    actors = [Actor("user", "usr_alice", "Alice"), Actor("api_key", "key_ci", "ci"), Actor("system")]
    ids = []
    for i in range(n):
        ids.append(
            record(
                container,
                org_id,
                actions[i % len(actions)],
                at=start + timedelta(minutes=i),
                actor=actors[i % len(actors)],
                targets=(Target("member", f"mem_{i % 4}"), Target("seat", "pro")) if i % 2 == 0 else (),
                ip=f"198.51.100.{i % 6}",
                outcome="failure" if i % 10 == 9 else "success",
                changes={"role": {"before": "member", "after": "admin"}},
            )
        )
    return ids


def intact_chain(session: Session, chain_key: str) -> list[AuditEvent]:
    """The chain's events in order, after asserting it is whole: gapless, each linked to the one before,
    in time order, and its head at the last event."""
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.chain == chain_key).order_by(AuditEvent.seq))
    )
    head = session.get_one(AuditChainHead, chain_key)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # gapless
    previous = chain.GENESIS
    for e in events:
        assert e.prev_hash == previous and e.hash == chain.link(previous, hashed_fields(e))
        previous = e.hash
    assert (head.seq, head.hash, head.occurred_at) == (
        events[-1].seq,
        events[-1].hash,
        events[-1].occurred_at,
    )
    times = [e.occurred_at for e in events]
    assert times == sorted(times)  # stamped under the lock, or after the last link: in time order
    return events
