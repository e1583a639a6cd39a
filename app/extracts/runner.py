"""The worker side of extracts: claim a job under a lease, write it part by part, checkpoint, finish.

Claiming. A queued job, or a running one whose lease has expired (its worker died), is taken with a
compare-and-set ``UPDATE … WHERE`` on its status and lease, so of two workers one wins. The partial unique
index ``uq_extract_jobs_running_org`` keeps one running job per org even if two workers claim two jobs of
one org at once. Lock order, as everywhere (``app/orgs/seats.py``): the org's audit chain head, then the job
row; a checkpoint locks only the job row (its compare-and-set), never the chain.

Checkpoints. Every ``part_rows`` rows become one stored part (a deterministic object: the same rows give
the same bytes), then one transaction advances ``progress`` and renews the lease, *only if* the lease is
still this worker's. A worker that lost its lease stops without writing; the one that took over rewrites the
same part from the same checkpoint, so no row is written twice and none is skipped. Cancel is read at every
checkpoint. When a day is complete, its parts are joined into the day file (SHA-256 computed on the way).

Transactions never span storage writes, so SQLite's write lock is held only for the checkpoint itself.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import CursorResult, Row, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.catalogue import AuditAction
from app.audit.export import export_columns
from app.audit.integrity import AuditIntegrity, checkpoint_json
from app.audit.models import AuditChainHead, AuditEvent
from app.audit.recorder import SYSTEM, AuditRecorder, OutboxConfig, RequestContext, Target
from app.audit.signing import Signer
from app.audit.subject_keys import Revealer, Shown
from app.clock import Clock
from app.config import Settings
from app.db import is_postgres, transaction
from app.extracts import core
from app.extracts.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, ExtractJob
from app.extracts.rendering import LineWriter, render_part
from app.extracts.storage import ExtractStorage
from app.mail import MailDeliveryError, Mailer

log = logging.getLogger("tenantry.extracts")
EVENTS = AuditEvent.__table__


def job_prefix(job: ExtractJob) -> str:
    return f"{job.org_id}/{job.id}"


@dataclass(frozen=True)
class RunnerPolicy:
    part_rows: int = 5000
    lease: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerPolicy:
        return cls(
            part_rows=settings.extract_part_rows,
            lease=timedelta(seconds=settings.extract_lease_seconds),
            retention=timedelta(days=settings.extract_retention_days),
        )


class LeaseLost(Exception):
    """Another worker holds the job now (this one was too slow, or presumed dead)."""


class ExtractRunner:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        storage: ExtractStorage,
        signer: Signer,
        outbox: OutboxConfig,
        mailer: Mailer,
        *,
        policy: RunnerPolicy,
        base_url: str,
        owner: str | None = None,
        after_checkpoint: Callable[[ExtractJob], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.storage = storage
        self.signer = signer
        self.outbox = outbox
        self.mailer = mailer
        self.policy = policy
        self.base_url = base_url.rstrip("/")
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self.after_checkpoint = after_checkpoint  # tests: observe (or stop) a worker between checkpoints
        self.lines = LineWriter()  # remembers the encoded values that repeat across the rows it writes

    def _audit(self, session: Session) -> AuditRecorder:
        return AuditRecorder(session, self.clock, SYSTEM, RequestContext(), self.outbox)

    # -- claiming --------------------------------------------------------------------------------------

    def claim(self) -> str | None:
        """Take the oldest runnable job (queued, its org running nothing; or running with an expired
        lease); None when there is none."""
        with transaction(self.session_factory) as session:
            now = self.clock.now()
            busy = select(ExtractJob.org_id).where(
                ExtractJob.status == RUNNING, ExtractJob.lease_expires_at > now
            )
            candidates = session.execute(
                select(ExtractJob.id, ExtractJob.org_id)
                .where(
                    or_(
                        (ExtractJob.status == QUEUED) & ExtractJob.org_id.not_in(busy),
                        (ExtractJob.status == RUNNING) & (ExtractJob.lease_expires_at <= now),
                    )
                )
                .order_by(ExtractJob.created_at, ExtractJob.id)
                .limit(10)
            ).all()
        for job_id, org_id in candidates:
            if self._try_claim(str(job_id), str(org_id)):
                return str(job_id)
        return None

    def _try_claim(self, job_id: str, org_id: str) -> bool:
        """One candidate, in its own transaction: the org's chain lock first (the order every writer keeps:
        chain head, then the job row), then a compare-and-set on the job's status and lease."""
        with transaction(self.session_factory) as session:
            audit = self._audit(session)
            audit.lock_chain(org_id)
            now = self.clock.now()
            before = session.scalar(select(ExtractJob.status).where(ExtractJob.id == job_id))
            try:
                with session.begin_nested():
                    taken = _affected(
                        session.execute(
                            update(ExtractJob)
                            .where(
                                ExtractJob.id == job_id,
                                or_(
                                    ExtractJob.status == QUEUED,
                                    (ExtractJob.status == RUNNING) & (ExtractJob.lease_expires_at <= now),
                                ),
                            )
                            .values(
                                status=RUNNING,
                                lease_owner=self.owner,
                                lease_expires_at=now + self.policy.lease,
                                attempts=ExtractJob.attempts + 1,
                                started_at=func.coalesce(ExtractJob.started_at, now),
                            )
                            .execution_options(synchronize_session=False)
                        )
                    )
            except IntegrityError:  # another job of this org started meanwhile (uq_extract_jobs_running_org)
                return False
            if taken != 1:
                return False
            job = session.get(ExtractJob, job_id, populate_existing=True)
            assert job is not None
            takeover = before == RUNNING
            self._bound(session, job)
            audit.record(
                AuditAction.EXTRACT_STARTED,
                org_id=org_id,
                targets=[Target("extract", job_id)],
                data={
                    "worker": self.owner,
                    "takeover": takeover,
                    "attempt": job.attempts,
                    "rows_total": job.rows_total or 0,
                    "rows_written": job.rows_written,
                },
                changes=None if takeover else {"status": {"before": before, "after": RUNNING}},
            )
            return True

    def _bound(self, session: Session, job: ExtractJob) -> None:
        """Fix the chain segment on the first start: the org's events in the span, up to today's head."""
        if job.first_seq is not None or job.rows_total is not None:
            return
        head = session.get(AuditChainHead, job.org_id)
        in_span = (
            EVENTS.c.chain == job.org_id,
            EVENTS.c.occurred_at >= job.span_start,
            EVENTS.c.occurred_at < job.span_end,
            EVENTS.c.seq <= (head.seq if head else 0),
        )
        first, last = session.execute(
            select(func.min(EVENTS.c.seq), func.max(EVENTS.c.seq)).where(*in_span)
        ).one()
        job.first_seq, job.last_seq = first, last
        job.rows_total = 0 if first is None else int(last) - int(first) + 1
        job.progress = {
            "after_seq": (int(first) - 1) if first is not None else 0,
            "last_hash": None,
            "day": None,
            "parts": [],
            "files": [],
        }
        session.flush()

    # -- running ---------------------------------------------------------------------------------------

    def run_pending(self, limit: int = 10) -> dict[str, str]:
        """Claim and run jobs until none is runnable (at most ``limit``); job id → final status."""
        done: dict[str, str] = {}
        for _ in range(limit):
            job_id = self.claim()
            if job_id is None:
                break
            done[job_id] = self.run(job_id)
        return done

    def run(self, job_id: str) -> str:
        """Advance a claimed job to its end; returns succeeded, cancelled, failed or lost (lease)."""
        try:
            while True:
                outcome = self._step(job_id)
                if outcome is not None:
                    return outcome
        except LeaseLost:
            log.warning("extract lease lost", extra={"job": job_id, "worker": self.owner})
            return "lost"
        except Exception as exc:  # noqa: BLE001 - any error fails the job (resumable), never the worker
            log.exception("extract failed", extra={"job": job_id})
            return self._fail(job_id, f"{type(exc).__name__}: {exc}"[:500])

    def _own(self, session: Session, job_id: str, *, lock: bool = True) -> ExtractJob:
        """The job, if this worker still holds it. With ``lock`` (before recording an event) the org's chain
        lock is taken first, then the job row's: the order of the request side (``service.py``)."""
        if lock:
            org_id = session.scalar(select(ExtractJob.org_id).where(ExtractJob.id == job_id))
            self._audit(session).lock_chain(org_id)
        stmt = select(ExtractJob).where(ExtractJob.id == job_id).execution_options(populate_existing=True)
        if lock and is_postgres(session):
            stmt = stmt.with_for_update()
        job = session.scalars(stmt).one()
        if job.status != RUNNING or job.lease_owner != self.owner:
            raise LeaseLost(job_id)
        return job

    def _step(self, job_id: str) -> str | None:
        """One checkpoint: read the next rows, store them as a part (or close a day), commit progress."""
        with transaction(self.session_factory) as session:
            job = self._own(session, job_id, lock=False)  # the checkpoint's compare-and-set guards it
            cancel = job.cancel_requested
            progress = dict(job.progress)
            rows: Sequence[Row[Any]] = []
            shown: list[Shown | None] = []
            if not cancel and job.last_seq is not None and progress["after_seq"] < job.last_seq:
                rows = (
                    session.connection()
                    .execute(
                        select(*export_columns(csv_cells=job.format == "csv"))
                        .where(
                            EVENTS.c.chain == job.org_id,
                            EVENTS.c.seq > progress["after_seq"],
                            EVENTS.c.seq <= job.last_seq,
                        )
                        .order_by(EVENTS.c.seq)
                        .limit(self.policy.part_rows)
                    )
                    .all()
                )
            shown = Revealer(session, self.outbox.keyring).batch(rows)
            snapshot = _JobView.of(job)
        if cancel:
            with transaction(self.session_factory) as session:
                self._finish_as(session, self._own(session, job_id), CANCELLED)
            return CANCELLED
        # Outside any transaction: storage writes.
        if not rows:
            if progress["parts"]:
                progress = self._close_day(snapshot, progress)
            return self._succeed(job_id, progress)
        self._check_links(snapshot, progress, rows)
        shown_of = {r.id: s for r, s in zip(rows, shown, strict=True) if s is not None}
        for day, group in _by_day(rows, progress["day"]):
            if progress["day"] is not None and day.isoformat() != progress["day"] and progress["parts"]:
                progress = self._close_day(snapshot, progress)  # the rows open a later day
            index = len(progress["parts"])
            key = core.part_key(snapshot.prefix, day, index)
            group_shown = [shown_of.get(r.id) for r in group]
            data = render_part(
                group, group_shown, snapshot.fmt, snapshot.compression, header=index == 0, lines=self.lines
            )
            self.storage.write(key, [data])
            progress["parts"] = [
                *progress["parts"],
                {"key": key, "rows": len(group), "first_seq": group[0].seq, "last_seq": group[-1].seq},
            ]
            progress["day"] = day.isoformat()
        progress["after_seq"] = int(rows[-1].seq)
        progress["last_hash"] = rows[-1].hash
        self._commit(job_id, progress, written=len(rows))
        return None

    def _check_links(self, job: _JobView, progress: dict[str, Any], rows: Sequence[Row[Any]]) -> None:
        """The rows continue the chain from the last checkpoint, with no gap (a purge or an edit would
        otherwise pass silently into a signed extract)."""
        prev_seq, prev_hash = progress["after_seq"], progress["last_hash"]
        fields = rows[0]._fields
        pick = itemgetter(fields.index("seq"), fields.index("prev_hash"), fields.index("hash"))
        for seq, row_prev, row_hash in map(pick, rows):
            if seq != prev_seq + 1 or (prev_hash is not None and row_prev != prev_hash):
                raise RuntimeError(f"the audit chain does not link at seq {seq}; run `tenantry audit verify`")
            prev_seq, prev_hash = seq, row_hash

    def _close_day(self, job: _JobView, progress: dict[str, Any]) -> dict[str, Any]:
        day = date.fromisoformat(progress["day"])
        name = core.file_name(job.source, day, job.fmt, job.compression)
        digest = hashlib.sha256()
        size = 0

        def joined() -> Iterator[bytes]:
            nonlocal size
            for part in progress["parts"]:
                for chunk in self.storage.read(part["key"]):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

        self.storage.write(f"{job.prefix}/{name}", joined())
        parts = progress["parts"]
        entry = core.FileEntry(
            name, day.isoformat(), sum(p["rows"] for p in parts), size, digest.hexdigest(),
            parts[0]["first_seq"], parts[-1]["last_seq"],
        )  # fmt: skip
        return {**progress, "parts": [], "files": [*progress["files"], entry.as_dict()]}

    def _commit(self, job_id: str, progress: dict[str, Any], *, written: int) -> None:
        with transaction(self.session_factory) as session:
            now = self.clock.now()
            moved = _affected(
                session.execute(
                    update(ExtractJob)
                    .where(
                        ExtractJob.id == job_id,
                        ExtractJob.status == RUNNING,
                        ExtractJob.lease_owner == self.owner,
                    )
                    .values(
                        progress=progress,
                        rows_written=ExtractJob.rows_written + written,
                        lease_expires_at=now + self.policy.lease,
                    )
                    .execution_options(synchronize_session=False)
                )
            )
            if moved != 1:
                raise LeaseLost(job_id)
            job = session.get(ExtractJob, job_id, populate_existing=True)
        if self.after_checkpoint is not None and job is not None:
            self.after_checkpoint(job)

    def _succeed(self, job_id: str, progress: dict[str, Any]) -> str:
        with transaction(self.session_factory) as session:
            job = self._own(session, job_id)
            files = [core.FileEntry.of(f) for f in progress["files"]]
            signed: dict[str, Any] | None = None
            integrity = AuditIntegrity(session, self.clock, self.signer)
            if job.last_seq is not None and progress["last_hash"] is not None:
                cp = integrity.checkpoint_at(job.org_id, job.last_seq, progress["last_hash"])
                signed = checkpoint_json(cp)
            document = core.manifest(
                job_id=job.id, org_id=job.org_id, source=job.source, fmt=cast(core.Format, job.format),
                compression=cast(core.Compression, job.compression), start=job.span_start, end=job.span_end,
                files=files, checkpoint=signed, created_at=self.clock.now(),
                keys=integrity.keys.documents()["keys"],
            )  # fmt: skip
            self.storage.write(f"{job_prefix(job)}/{core.MANIFEST_NAME}", [core.manifest_bytes(document)])
            job.progress = progress
            job.checkpoint = signed
            self._finish_as(session, job, SUCCEEDED)
            to, rows, org_id, prefix = job.notify_email, job.rows_written, job.org_id, job_prefix(job)
        # The day files are committed: their parts are no longer a checkpoint anything resumes from.
        self.storage.delete_prefix(f"{prefix}/parts")
        if to:
            self._mail(to, job_id, org_id, rows)
        return SUCCEEDED

    def _finish_as(self, session: Session, job: ExtractJob, status: str) -> None:
        now = self.clock.now()
        job.status, job.finished_at = status, now
        job.lease_owner, job.lease_expires_at = None, None
        job.cancel_requested = False
        if status == SUCCEEDED:
            job.expires_at = now + self.policy.retention
        action = {
            SUCCEEDED: AuditAction.EXTRACT_SUCCEEDED,
            CANCELLED: AuditAction.EXTRACT_CANCELLED,
            FAILED: AuditAction.EXTRACT_FAILED,
        }[status]
        data: dict[str, Any] = {"rows_written": job.rows_written, "rows_total": job.rows_total or 0}
        if status == SUCCEEDED:
            data.update(
                files=len(job.progress.get("files", [])), expires_at=core.iso(now + self.policy.retention)
            )
        if status == FAILED:
            data["error"] = job.error or ""
        self._audit(session).record(
            action,
            org_id=job.org_id,
            targets=[Target("extract", job.id)],
            changes={"status": {"before": RUNNING, "after": status}},
            data=data,
        )
        session.flush()

    def _fail(self, job_id: str, error: str) -> str:
        try:
            with transaction(self.session_factory) as session:
                job = self._own(session, job_id)
                job.error = error
                self._finish_as(session, job, FAILED)
        except LeaseLost:
            return "lost"
        return FAILED

    def _mail(self, to: str, job_id: str, org_id: str, rows: int) -> None:
        link = f"{self.base_url}/v1/orgs/{org_id}/extracts/{job_id}"
        body = (
            f"Your audit log extract {job_id} has succeeded: {rows} rows.\n\n"
            f"Its files and manifest are listed at {link} (API key required); download links there are "
            "valid for 10 minutes each time you read it.\n"
        )
        try:
            self.mailer.send(to, "Your Tenantry extract is ready", body)
        except MailDeliveryError:
            log.warning("extract mail not delivered", extra={"job": job_id})


@dataclass(frozen=True)
class _JobView:
    """What the storage side needs of a job once its transaction is over."""

    prefix: str
    source: str
    fmt: core.Format
    compression: core.Compression

    @classmethod
    def of(cls, job: ExtractJob) -> _JobView:
        return cls(
            job_prefix(job),
            job.source,
            cast(core.Format, job.format),
            cast(core.Compression, job.compression),
        )


def _by_day(rows: Sequence[Row[Any]], open_day: str | None) -> Iterator[tuple[date, list[Row[Any]]]]:
    """Consecutive rows grouped by the file they go to: their UTC day, never earlier than the day before
    them (a row stamped earlier than its predecessor, by a skewed clock, stays in the current file). A row
    is compared with the end of the current day; only a row past it has its own day worked out."""
    day = date.fromisoformat(open_day) if open_day else None
    end = _day_end(day) if day is not None else None
    group: list[Row[Any]] = []
    for row in rows:
        moment = row.occurred_at
        if end is None or moment >= end:
            row_day = core.day_of(moment)
            if group:
                assert day is not None
                yield day, group
            day, end, group = row_day, _day_end(row_day), []
        group.append(row)
    if group:
        assert day is not None
        yield day, group


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _affected(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


def expire_files(session_factory: sessionmaker[Session], clock: Clock, storage: ExtractStorage) -> list[str]:
    """Delete the files of succeeded jobs past their retention; the job row stays (status, counts)."""
    with transaction(session_factory) as session:
        now = clock.now()
        jobs = session.scalars(
            select(ExtractJob).where(ExtractJob.expires_at <= now, ExtractJob.files_deleted_at.is_(None))
        ).all()
        for job in jobs:
            storage.delete_prefix(job_prefix(job))
            job.files_deleted_at = now
        return [j.id for j in jobs]
