"""Audit events (a per-org hash chain), chain heads, and the transactional outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

PLATFORM_CHAIN = "_platform"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_org_time", "org_id", "occurred_at", "id"),
        Index("ix_audit_events_org_action", "org_id", "action", "occurred_at", "id"),
        # The admins' audit log filters (app/audit/search.py): each keeps the (occurred_at, id) order.
        Index("ix_audit_events_org_actor", "org_id", "actor_id", "occurred_at", "id"),
        Index("ix_audit_events_org_actor_type", "org_id", "actor_type", "occurred_at", "id"),
        Index("ix_audit_events_org_ip", "org_id", "ip", "occurred_at", "id"),
        Index(
            "ix_audit_events_org_failures",
            "org_id",
            "occurred_at",
            "id",
            sqlite_where=text("outcome = 'failure'"),
            postgresql_where=text("outcome = 'failure'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUIDv7, also the CloudEvents id
    chain: Mapped[str] = mapped_column(String(40))  # the org id, or PLATFORM_CHAIN
    org_id: Mapped[str | None] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(320))
    targets: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # context["ip"] again, as a column that the ip filter's index covers
    ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    reason: Mapped[str | None] = mapped_column(String(500))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last link of one chain; locking this row orders the chain's writers."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxEvent(Base):
    """A CloudEvent waiting for the relay; written in the same transaction as its audit event."""

    __tablename__ = "outbox_events"

    # BIGINT identity on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
