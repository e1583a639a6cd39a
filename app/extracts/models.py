"""Extract jobs: the request, the lifecycle, the checkpoint a resume continues from, and the lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)


class ExtractJob(Base):
    """queued → running → succeeded | failed | cancelled; cancelled or failed → queued again on resume.

    ``progress`` is the checkpoint: the parts stored so far of the day being written, the finished day
    files, and the last sequence number written. A worker holds ``lease_owner`` until ``lease_expires_at``
    and renews it at every checkpoint; a write that does not find its own lease is refused, so two workers
    never advance one job.
    """

    __tablename__ = "extract_jobs"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        Index("ix_extract_jobs_org_created", "org_id", "created_at", "id"),
        Index("ix_extract_jobs_status", "status", "created_at"),
        # One running job per org, whatever the workers do: the database refuses a second.
        Index(
            "uq_extract_jobs_running_org",
            "org_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ext"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))
    compression: Mapped[str] = mapped_column(String(8))
    span_start: Mapped[datetime]
    span_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # the create body, to refuse a reused key
    requested_by_type: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[str | None] = mapped_column(String(64))
    notify_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    # Fixed at the first start: the chain segment [first_seq, last_seq] the extract holds.
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint: Mapped[dict[str, Any] | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]  # files are deleted then (retention)
    files_deleted_at: Mapped[datetime | None]


class ExtractSchedule(Base):
    """An org's monthly extract: the worker queues the previous month's once per month (``last_period``)."""

    __tablename__ = "extract_schedules"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    format: Mapped[str] = mapped_column(String(8))
    compression: Mapped[str] = mapped_column(String(8))
    notify_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_period: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM of the last month queued
