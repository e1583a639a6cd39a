"""Request and response bodies for extracts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from pydantic import ConfigDict, EmailStr, Field

from app.api.schema import CURSOR_PATTERN, Query, RequestBody, ResponseBody, Rfc3339Text
from app.extracts import core
from app.extracts.models import ExtractJob, ExtractSchedule
from app.extracts.service import ExtractRequest, FileLink

ExtractStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ExtractCreate(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    source: Literal["audit_logs"] = Field(description="What to extract; the audit log today.")
    from_: Rfc3339Text = Field(alias="from", description="Start of the span (inclusive), with a time zone.")
    to: Rfc3339Text = Field(
        description="End of the span (exclusive); at most 31 days after `from` by default."
    )
    format: core.Format = "jsonl"
    compression: core.Compression = "gzip"
    notify_email: EmailStr | None = Field(
        default=None, description="Who is mailed on success; by default the requesting member's email."
    )

    def to_request(self) -> ExtractRequest:
        return ExtractRequest(
            self.source, self.from_, self.to, self.format, self.compression, self.notify_email
        )


class ExtractListQuery(Query):
    cursor: str | None = Field(default=None, max_length=200, pattern=CURSOR_PATTERN)
    limit: int = Field(default=50, ge=1, le=200)


class DownloadQuery(Query):
    file: str = Field(
        default=core.MANIFEST_NAME,
        max_length=100,
        pattern=r"^[a-z_]+(-\d{4}-\d{2}-\d{2}\.(jsonl|csv)(\.gz)?|\.json)$",
        description="A file name from the manifest; the manifest itself by default.",
    )


class ProgressOut(ResponseBody):
    rows_written: int
    rows_total: int | None = Field(description="Known once the job has started.")
    percent: float


class FileOut(ResponseBody):
    name: str
    rows: int | None = None
    sha256: str | None = None
    bytes: int | None = None
    url: str = Field(description="A signed download link, valid for 10 minutes; no credential needed.")
    url_expires_at: datetime


class ExtractOut(ResponseBody):
    model_config = ConfigDict(from_attributes=True, serialize_by_alias=True)

    id: str
    org_id: str
    source: str
    format: str
    compression: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    status: ExtractStatus
    cancel_requested: bool
    progress: ProgressOut
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="When the files are deleted (retention).")
    error: str | None
    files: list[FileOut] = Field(default_factory=list)

    @classmethod
    def of(cls, job: ExtractJob, links: list[FileLink] | None = None) -> ExtractOut:
        entries = {f["name"]: f for f in job.progress.get("files", [])}
        files = [
            FileOut(
                name=link.name,
                rows=entries.get(link.name, {}).get("rows"),
                sha256=entries.get(link.name, {}).get("sha256"),
                bytes=entries.get(link.name, {}).get("bytes"),
                url=link.url,
                url_expires_at=link.expires_at,
            )
            for link in links or []
        ]
        total = job.rows_total
        return cls(
            id=job.id,
            org_id=job.org_id,
            source=job.source,
            format=job.format,
            compression=job.compression,
            from_=job.span_start,
            to=job.span_end,
            status=cast(ExtractStatus, job.status),
            cancel_requested=job.cancel_requested,
            progress=ProgressOut(
                rows_written=job.rows_written,
                rows_total=total,
                percent=core.percent(job.rows_written, total) if total is not None else 0.0,
            ),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            expires_at=job.expires_at if job.files_deleted_at is None else None,
            error=job.error,
            files=files,
        )


class ExtractPageOut(ResponseBody):
    data: list[ExtractOut]
    next_cursor: str | None = None


class ScheduleIn(RequestBody):
    format: core.Format = "jsonl"
    compression: core.Compression = "gzip"
    notify_email: EmailStr | None = Field(
        default=None, description="Mailed when each monthly extract succeeds."
    )


class ScheduleOut(ResponseBody):
    org_id: str
    format: str
    compression: str
    notify_email: str | None
    last_period: str | None = Field(description="The last month queued (YYYY-MM), if any.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sched: ExtractSchedule) -> ScheduleOut:
        return cls.model_validate(sched)
