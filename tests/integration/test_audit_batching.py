"""The recorder reads an org's chain head once per transaction and flushes several events in one batch: the
chain stays gapless and verifiable across events of one transaction, a rolled-back transaction, a savepoint
rolled back, and the next transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from app.audit import chain
from app.audit.catalogue import AuditAction
from app.audit.models import AuditChainHead, AuditEvent
from app.audit.recorder import hashed_fields
from app.container import Container


def _record(container: Container, session: Any, org_id: str, n: int) -> None:
    audit = container.services(session).audit
    for i in range(n):
        audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"i": i})


def test_head_read_once_and_chain_intact(container: Container, org: dict[str, Any]) -> None:
    org_id = org["id"]
    heads: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_chain_heads" in statement:
            heads.append(statement)

    event.listen(container.engine, "before_cursor_execute", count)
    try:
        with container.session_factory() as session:
            _record(container, session, org_id, 3)
            session.commit()
        assert len(heads) == 1  # three events, one read of the head

        with container.session_factory() as session:  # rolled back: nothing of it stays
            _record(container, session, org_id, 2)
            session.rollback()
            _record(container, session, org_id, 1)  # a new transaction reads the head again
            with session.begin_nested() as nested:
                _record(container, session, org_id, 2)
                nested.rollback()
            _record(container, session, org_id, 1)
            session.commit()
    finally:
        event.remove(container.engine, "before_cursor_execute", count)

    with container.session_factory() as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.chain == org_id).order_by(AuditEvent.seq))
        )
        head = session.get_one(AuditChainHead, org_id)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))  # gapless
    previous = chain.GENESIS
    for e in events:
        assert e.prev_hash == previous and e.hash == chain.link(previous, hashed_fields(e))
        previous = e.hash
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)
    assert [e.data.get("i") for e in events[-5:]] == [0, 1, 2, 0, 0]
