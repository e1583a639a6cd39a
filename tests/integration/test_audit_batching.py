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


def test_linked_at_end_takes_the_head_after_the_blocks_writes(
    container: Container, org: dict[str, Any]
) -> None:
    """Inside ``linked_at_end`` events wait: the block's own rows are written first, then the head is read
    (and locked) once, and the events are linked in the order recorded. An exception drops them."""
    org_id = org["id"]
    statements: list[str] = []

    def log(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement.lstrip().upper())

    event.listen(container.engine, "before_cursor_execute", log)
    try:
        with container.session_factory() as session:
            audit = container.services(session).audit
            try:
                with audit.linked_at_end():
                    audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"i": "dropped"})
                    raise RuntimeError("the block fails")
            except RuntimeError:
                session.rollback()
            with audit.linked_at_end():
                first = audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"i": 1})
                with audit.linked_at_end():  # nested: linked with the outer block
                    audit.record(AuditAction.ORG_UPDATED, org_id=org_id, data={"i": 2})
                session.add(
                    AuditChainHead(chain="other-chain", seq=0, hash=chain.GENESIS)
                )  # a row of the block
                assert first.seq is None and first.hash is None  # not linked yet
                assert not any("AUDIT_CHAIN_HEADS" in s for s in statements)
            assert first.seq is not None
            session.commit()
    finally:
        event.remove(container.engine, "before_cursor_execute", log)
    head_reads = [  # Python's read, or on PostgreSQL the statement that links the block (it locks the head)
        i
        for i, s in enumerate(statements)
        if "AUDIT_CHAIN_HEADS" in s
        and (s.startswith("SELECT") or (s.startswith("WITH") and "FOR UPDATE" in s))
    ]
    block_write = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO AUDIT_CHAIN_HEADS"))
    assert len(head_reads) == 1 and block_write < head_reads[0]
    with container.session_factory() as session:
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.chain == org_id).order_by(AuditEvent.seq))
        )
    assert [e.data.get("i") for e in events[-2:]] == [1, 2]
    assert all(e.data.get("i") != "dropped" for e in events)
    previous = chain.GENESIS
    for e in events:
        assert e.prev_hash == previous and e.hash == chain.link(previous, hashed_fields(e))
        previous = e.hash
