"""The log's tables: audit events (a per-org hash chain), chain heads, and what the admins' audit log
keeps beside them (targets index, signed checkpoints, purge horizons, failure windows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JsonOrNull

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
    # Not hashed: the sealed personal values ({path: {"t": token, "k": key id, "c": ciphertext}}, see
    # app/audit/personal.py), and for an event recorded before sealing existed whose personal values were
    # erased in place, {"by": erasure event id, "digest": SHA-256 of its canonical fields after erasure}.
    sealed: Mapped[dict[str, Any] | None] = mapped_column(JsonOrNull, default=None)
    redacted: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class AuditChainHead(Base):
    """The last link of one chain; locking this row orders the chain's writers."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    # The last link's time: the next event's is later (NULL before a first event, and for a chain linked
    # before revision 0011 whose last event was purged). Linking in the database reads it under the lock.
    occurred_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEventTarget(Base):
    """One row per (event, target): lets ``target=`` filters use a B-tree on every backend.

    ``targets`` stays on the event (it is hashed); this table is a derived index, written in the same
    transaction and purged with the event.
    """

    __tablename__ = "audit_event_targets"
    __table_args__ = (
        Index("ix_audit_event_targets_org_target", "org_id", "target_id", "occurred_at", "event_id"),
        Index("ix_audit_event_targets_org_type", "org_id", "target_type", "occurred_at", "event_id"),
        # Erasure finds every event naming a person, in any org (app/audit/erasure.py).
        Index("ix_audit_event_targets_target", "target_id"),
    )

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(255))
    occurred_at: Mapped[datetime]


class AuditCheckpoint(Base):
    """An Ed25519 signature over ``{chain, seq, hash, time}`` of a chain head."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_chain_seq", "chain", "seq"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))  # base64


class AuditPurgeHorizon(Base):
    """The last purged link of a chain: the first retained event's ``prev_hash`` must equal ``hash``."""

    __tablename__ = "audit_purge_horizons"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    purged_at: Mapped[datetime]
    purged_total: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditFailureWindow(Base):
    """Failed logins / refused authorizations of one kind in one minute: the first is an event at once,
    repeats only bump ``count`` until the window is flushed as one summary event."""

    __tablename__ = "audit_failure_windows"
    __table_args__ = (
        Index("ix_audit_failure_windows_open", "flushed", "window_start"),
        Index("ix_audit_failure_windows_org", "org_id", "window_start"),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the aggregation key
    org_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(500))
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_event_id: Mapped[str | None] = mapped_column(String(36))
    last_ip: Mapped[str | None] = mapped_column(String(64))
    flushed: Mapped[bool] = mapped_column(default=False)


def target_rows(event: AuditEvent) -> list[dict[str, Any]]:
    """The derived target index rows of an org event (platform events are not searchable per org), as the
    column values of ``AuditEventTarget`` rows."""
    if event.org_id is None:
        return []
    return [
        {
            "event_id": event.id,
            "position": i,
            "org_id": event.org_id,
            "target_type": str(t.get("type", ""))[:40],
            "target_id": str(t.get("id", ""))[:255],
            "occurred_at": event.occurred_at,
        }
        for i, t in enumerate(event.targets)
    ]


class AuditSubjectKey(Base):
    """One AES-256 key of one subject (a user id, or ``eml_`` + the digest of an email address), wrapped
    with a key derived from ``TENANTRY_SECRET_KEY``. Erasure sets ``wrapped`` to NULL (crypto-shredding);
    the row stays, so a reader tells an erased value from a missing key."""

    __tablename__ = "audit_subject_keys"
    __table_args__ = (Index("ix_audit_subject_keys_subject", "subject", "erased_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    wrapped: Mapped[str | None] = mapped_column(String(128))  # sealed (app/crypto/sealing.py)
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]


class AuditRedaction(Base):
    """An event recorded before sealing existed, erased in place by an erasure (its personal values replaced
    by ``[erased]``): the digest of its fields after the erasure. The erasure event carries the digest of
    all its redactions, so the platform chain (and its signed checkpoints) attest them."""

    __tablename__ = "audit_redactions"
    __table_args__ = (Index("ix_audit_redactions_chain", "chain", "seq"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erasure_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    intact_before: Mapped[bool]  # the event still matched its hash when it was erased
    redacted_at: Mapped[datetime]


class AuditSigningKey(Base):
    """A checkpoint signing key (app/audit/keyring.py): its public key, and its private key wrapped under a
    key derived from ``TENANTRY_SECRET_KEY`` (NULL for the configured key, which lives in the environment)."""

    __tablename__ = "audit_signing_keys"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    private_wrapped: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # active, retired, revoked
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(500))


class AuditVerification(Base):
    """Where verification of a chain stands (app/audit/verification.py): the point the bounded walks have
    verified up to, the newest checkpoint they checked, and the last full verification's outcome."""

    __tablename__ = "audit_verifications"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime]
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    full_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    full_ok: Mapped[bool | None] = mapped_column(default=None)
    full_broken: Mapped[dict[str, Any] | None] = mapped_column(default=None)
