"""Extract jobs, the request side: create (idempotent), list, read, cancel, resume, files and links.

The worker side (claim, write, checkpoint, finish) is ``app/extracts/runner.py``. Each change records its
audit event in the same transaction (``app/audit/recorder.py``); the job row is locked after the org's
chain head, the order every writer keeps (``app/orgs/seats.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target, diff
from app.clock import Clock
from app.db import is_postgres
from app.errors import AppError, NotFound
from app.extracts import core
from app.extracts.errors import (
    ExtractExpired,
    ExtractNotCancellable,
    ExtractNotReady,
    ExtractNotResumable,
    IdempotencyKeyReused,
    InvalidSpan,
    SpanTooLong,
)
from app.extracts.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, ExtractJob, ExtractSchedule
from app.extracts.runner import job_prefix
from app.extracts.storage import ExtractStorage
from app.orgs.lookup import live_org
from app.orgs.models import User
from app.pagination import decode_cursor, encode_cursor

log = logging.getLogger("tenantry.extracts")
LINK_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class ExtractRequest:
    source: core.Source
    start: datetime
    end: datetime
    fmt: core.Format
    compression: core.Compression
    notify_email: str | None = None

    def fingerprint(self) -> str:
        body = {
            "source": self.source, "from": core.iso(self.start), "to": core.iso(self.end),
            "format": self.fmt, "compression": self.compression, "notify_email": self.notify_email,
        }  # fmt: skip
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ExtractPage:
    items: list[ExtractJob]
    next_cursor: str | None


@dataclass(frozen=True)
class FileLink:
    name: str
    url: str
    expires_at: datetime


class ExtractService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        storage: ExtractStorage,
        *,
        max_span_days: int,
        secret_key: str,
        base_url: str,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.storage = storage
        self.max_span_days = max_span_days
        self.secret_key = secret_key
        self.base_url = base_url.rstrip("/")

    def create(
        self, org_id: str, req: ExtractRequest, *, idempotency_key: str | None
    ) -> tuple[ExtractJob, bool]:
        """The queued job, and whether it is new (False: the same ``Idempotency-Key`` already made it)."""
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        try:
            core.check_span(req.start, req.end, self.max_span_days)
        except core.SpanError as exc:
            cls = SpanTooLong if exc.too_long else InvalidSpan
            raise cls(str(exc), errors=[{"field": exc.field, "message": str(exc)}]) from None
        fingerprint = req.fingerprint()
        self.audit.lock_chain(org_id)  # serialises two retries of one key (and keeps the lock order)
        if idempotency_key is not None:
            existing = self._by_key(org_id, idempotency_key)
            if existing is not None:
                if existing.request_hash != fingerprint:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used for a different extract request; use a new key."
                    )
                return existing, False
        actor = self.audit.actor
        notify = req.notify_email or self._email_of(actor.id if actor.type == "user" else None)
        job = ExtractJob(
            org_id=org_id, source=req.source, format=req.fmt, compression=req.compression,
            span_start=req.start, span_end=req.end, status=QUEUED, idempotency_key=idempotency_key,
            request_hash=fingerprint, requested_by_type=actor.type, requested_by_id=actor.id,
            notify_email=notify, created_at=self.clock.now(), progress={},
        )  # fmt: skip
        self.session.add(job)
        self.session.flush()  # the chain lock above serialises retries, so the key's unique index holds
        self._record(
            AuditAction.EXTRACT_CREATED, job, QUEUED, None,
            data={
                "source": job.source, "format": job.format, "compression": job.compression,
                "from": core.iso(job.span_start), "to": core.iso(job.span_end),
            },
        )  # fmt: skip
        return job, True

    def _by_key(self, org_id: str, key: str) -> ExtractJob | None:
        return self.session.scalars(
            select(ExtractJob).where(ExtractJob.org_id == org_id, ExtractJob.idempotency_key == key)
        ).first()

    def _email_of(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        user = self.session.get(User, user_id)
        return user.email if user is not None and user.deleted_at is None else None

    def _record(
        self, action: AuditAction, job: ExtractJob, after: str, before: str | None, data: dict[str, Any]
    ) -> None:
        self.audit.record(
            action,
            org_id=job.org_id,
            targets=[Target("extract", job.id)],
            changes={"status": {"before": before, "after": after}} if before != after else None,
            data=data,
        )

    def get(self, org_id: str, job_id: str, *, lock: bool = False) -> ExtractJob:
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        stmt = select(ExtractJob).where(ExtractJob.org_id == org_id, ExtractJob.id == job_id)
        if lock and is_postgres(self.session):
            stmt = stmt.with_for_update()
        job = self.session.scalars(stmt.execution_options(populate_existing=lock)).first()
        if job is None:
            raise NotFound(f"Extract {job_id} not found")
        return job

    def list_jobs(self, org_id: str, *, cursor: str | None, limit: int) -> ExtractPage:
        """Newest first (ids are time-ordered)."""
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        stmt = select(ExtractJob).where(ExtractJob.org_id == org_id)
        if cursor:
            stmt = stmt.where(ExtractJob.id < decode_cursor(cursor, id_prefix="ext_"))
        rows = list(self.session.scalars(stmt.order_by(ExtractJob.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return ExtractPage(rows, encode_cursor(rows[-1].id) if more and rows else None)

    def cancel(self, org_id: str, job_id: str) -> ExtractJob:
        """Queued: cancelled at once. Running: asked to stop at its next checkpoint."""
        self.audit.lock_chain(org_id)
        job = self.get(org_id, job_id, lock=True)
        if job.status == QUEUED:
            job.status, job.finished_at = CANCELLED, self.clock.now()
            self._record(
                AuditAction.EXTRACT_CANCELLED, job, CANCELLED, QUEUED,
                data={"rows_written": job.rows_written, "rows_total": job.rows_total or 0},
            )  # fmt: skip
        elif job.status == RUNNING:
            if not job.cancel_requested:
                job.cancel_requested = True
                self._record(
                    AuditAction.EXTRACT_CANCEL_REQUESTED, job, RUNNING, RUNNING,
                    data={"rows_written": job.rows_written},
                )  # fmt: skip
        else:
            raise ExtractNotCancellable(f"The extract is {job.status}; only a queued or running one stops.")
        self.session.flush()
        return job

    def resume(self, org_id: str, job_id: str) -> ExtractJob:
        """A cancelled or failed job goes back to the queue; the worker continues from its checkpoint."""
        self.audit.lock_chain(org_id)
        job = self.get(org_id, job_id, lock=True)
        if job.status not in (CANCELLED, FAILED):
            raise ExtractNotResumable(f"The extract is {job.status}; only a cancelled or failed one resumes.")
        before = job.status
        job.status, job.finished_at, job.error, job.cancel_requested = QUEUED, None, None, False
        self._record(
            AuditAction.EXTRACT_RESUMED, job, QUEUED, before, data={"rows_written": job.rows_written}
        )
        self.session.flush()
        return job

    # -- files -----------------------------------------------------------------------------------------

    def _ready(self, job: ExtractJob) -> None:
        if job.status != SUCCEEDED:
            raise ExtractNotReady(f"The extract is {job.status}; its files exist once it has succeeded.")
        if job.files_deleted_at is not None:
            raise ExtractExpired("The extract's files were deleted at the end of their retention period.")

    def file_names(self, job: ExtractJob) -> list[str]:
        return [core.MANIFEST_NAME, *(f["name"] for f in job.progress.get("files", []))]

    def open_file(self, org_id: str, job_id: str, name: str) -> tuple[Iterator[bytes], str]:
        """The stored bytes of one file (the manifest by default) and its media type."""
        job = self.get(org_id, job_id)
        self._ready(job)
        if name not in self.file_names(job):
            raise NotFound(f"Extract {job_id} has no file {name!r}")
        media = (
            "application/json"
            if name == core.MANIFEST_NAME
            else core.media_type(cast(core.Format, job.format), cast(core.Compression, job.compression))
        )
        return self.storage.read(f"{job_prefix(job)}/{name}"), media

    def links(self, job: ExtractJob) -> list[FileLink]:
        """A signed link per file, valid for 10 minutes (none until the job has succeeded)."""
        if job.status != SUCCEEDED or job.files_deleted_at is not None:
            return []
        expires = self.clock.now() + LINK_TTL
        return [
            FileLink(
                name,
                f"{self.base_url}/v1/extract-files/{core.sign_link(self.secret_key, job.id, name, expires)}",
                expires,
            )
            for name in self.file_names(job)
        ]

    def open_link(self, token: str) -> tuple[Iterator[bytes], str, str]:
        """The file a signed link names (no credential: the link is one); 404 for a bad or expired link."""
        try:
            job_id, name = core.open_link(self.secret_key, token, self.clock.now())
        except core.BadLink as exc:
            raise NotFound(str(exc)) from None
        job = self.session.get(ExtractJob, job_id)
        if job is None:
            raise NotFound("the extract no longer exists")
        body, media = self.open_file(job.org_id, job.id, name)
        return body, media, name

    # -- the monthly schedule ---------------------------------------------------------------------------

    def schedule(self, org_id: str) -> ExtractSchedule:
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        found = self.session.get(ExtractSchedule, org_id)
        if found is None:
            raise NotFound("This organisation has no monthly extract.")
        return found

    def set_schedule(
        self, org_id: str, fmt: core.Format, compression: core.Compression, notify_email: str | None
    ) -> ExtractSchedule:
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        self.audit.lock_chain(org_id)
        now = self.clock.now()
        found = self.session.get(ExtractSchedule, org_id)
        before = (
            {"format": found.format, "compression": found.compression, "notify_email": found.notify_email}
            if found is not None
            else {}
        )
        if found is None:
            found = ExtractSchedule(org_id=org_id, created_at=now, last_period=None)
            self.session.add(found)
        found.format, found.compression, found.notify_email, found.updated_at = (
            fmt,
            compression,
            notify_email,
            now,
        )
        after = {"format": fmt, "compression": compression, "notify_email": notify_email}
        self.audit.record(
            AuditAction.EXTRACT_SCHEDULE_SET,
            org_id=org_id,
            targets=[Target("org", org_id)],
            changes=diff(before, after),
            data=after,
        )
        self.session.flush()
        return found

    def delete_schedule(self, org_id: str) -> None:
        live_org(self.session, org_id)  # an unknown or deleted org is 404, whatever is stored
        self.audit.lock_chain(org_id)
        found = self.schedule(org_id)
        self.session.delete(found)
        self.audit.record(
            AuditAction.EXTRACT_SCHEDULE_DELETED, org_id=org_id, targets=[Target("org", org_id)]
        )
        self.session.flush()

    def queue_scheduled(self) -> list[str]:
        """Queue last month's extract for every schedule that has not had it; ids of the jobs queued.
        The idempotency key ``schedule:YYYY-MM`` makes a rerun (or two workers) queue a month once."""
        start, end = previous_month(self.clock.now())
        period = start.strftime("%Y-%m")
        due = self.session.scalars(
            select(ExtractSchedule).where(
                (ExtractSchedule.last_period.is_(None)) | (ExtractSchedule.last_period < period)
            )
        ).all()
        queued = []
        for sched in due:
            request = ExtractRequest(
                "audit_logs", start, end, cast(core.Format, sched.format),
                cast(core.Compression, sched.compression), sched.notify_email,
            )  # fmt: skip
            try:
                job, new = self.create(sched.org_id, request, idempotency_key=f"schedule:{period}")
            except AppError as exc:  # e.g. a span limit set below a month: the other orgs still get theirs
                log.warning("scheduled extract refused", extra={"org": sched.org_id, "error": exc.detail})
                continue
            sched.last_period = period
            if new:
                queued.append(job.id)
        self.session.flush()
        return queued


def previous_month(now: datetime) -> tuple[datetime, datetime]:
    """``[first day of last month, first day of this month)`` in UTC."""
    this = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    return last, this
