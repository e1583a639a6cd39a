"""``/v1/orgs/{org}/extracts``: create, list, read, cancel, resume, download; signed-link downloads."""

from __future__ import annotations

from flask import Response, request

from app.api.endpoint import operation
from app.api.v1 import v1
from app.errors import ValidationFailed
from app.extracts.schemas import (
    DownloadQuery,
    ExtractCreate,
    ExtractListQuery,
    ExtractOut,
    ExtractPageOut,
    ScheduleIn,
    ScheduleOut,
)
from app.web import services

IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isprintable()):
        raise ValidationFailed(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
            errors=[{"field": "Idempotency-Key", "message": "invalid header"}],
        )
    return key


@operation(
    v1,
    "/orgs/<org_id>/extracts",
    "POST",
    summary="Request a data extract",
    tag="extracts",
    permission="extracts:manage",
    body=ExtractCreate,
    response=ExtractOut,
    status=202,
    errors=(403, 404, 409, 422),
    description="Queues a job that writes the audit log of `[from, to)` into one file per UTC day, with a "
    "manifest (row counts, SHA-256, the signed checkpoint of the last row). 422 `extract_span_too_long` past "
    "TENANTRY_EXTRACT_MAX_SPAN_DAYS (31). Send an `Idempotency-Key` header to make retries safe: the same "
    "key answers the same job; with another body, 409 `idempotency_key_reused`.",
)
def create_extract(org_id: str, body: ExtractCreate) -> ExtractOut:
    job, _ = services().extracts.create(org_id, body.to_request(), idempotency_key=_idempotency_key())
    return ExtractOut.of(job)


@operation(
    v1,
    "/orgs/<org_id>/extracts",
    "GET",
    summary="List the organisation's extracts (newest first)",
    tag="extracts",
    permission="extracts:manage",
    query=ExtractListQuery,
    response=ExtractPageOut,
    errors=(404, 422),
)
def list_extracts(org_id: str, query: ExtractListQuery) -> ExtractPageOut:
    page = services().extracts.list_jobs(org_id, cursor=query.cursor, limit=query.limit)
    return ExtractPageOut(data=[ExtractOut.of(j) for j in page.items], next_cursor=page.next_cursor)


@operation(
    v1,
    "/orgs/<org_id>/extracts/<extract_id>",
    "GET",
    summary="Read an extract: status, progress, and signed links to its files",
    tag="extracts",
    permission="extracts:manage",
    response=ExtractOut,
    errors=(404,),
    description="Once succeeded, `files` lists the manifest and each day file with a link valid for 10 "
    "minutes (read the extract again for fresh links).",
)
def get_extract(org_id: str, extract_id: str) -> ExtractOut:
    extracts = services().extracts
    job = extracts.get(org_id, extract_id)
    return ExtractOut.of(job, extracts.links(job))


@operation(
    v1,
    "/orgs/<org_id>/extracts/<extract_id>/cancel",
    "POST",
    summary="Cancel an extract",
    tag="extracts",
    permission="extracts:manage",
    response=ExtractOut,
    errors=(404, 409),
    description="A queued extract is cancelled at once; a running one stops at its next checkpoint "
    "(`cancel_requested` until then). 409 `extract_not_cancellable` once finished.",
)
def cancel_extract(org_id: str, extract_id: str) -> ExtractOut:
    return ExtractOut.of(services().extracts.cancel(org_id, extract_id))


@operation(
    v1,
    "/orgs/<org_id>/extracts/<extract_id>/resume",
    "POST",
    summary="Resume a cancelled or failed extract from its last checkpoint",
    tag="extracts",
    permission="extracts:manage",
    response=ExtractOut,
    status=202,
    errors=(404, 409),
)
def resume_extract(org_id: str, extract_id: str) -> ExtractOut:
    return ExtractOut.of(services().extracts.resume(org_id, extract_id))


@operation(
    v1,
    "/orgs/<org_id>/extracts/<extract_id>/download",
    "GET",
    summary="Download a file of a succeeded extract (streamed)",
    tag="extracts",
    permission="extracts:manage",
    query=DownloadQuery,
    errors=(404, 409, 410, 422),
    content_type="application/json,application/gzip,application/x-ndjson,text/csv",
    description="`file` names a file of the manifest; the manifest itself by default. 409 "
    "`extract_not_ready` before success; 410 `extract_expired` after the retention period.",
)
def download_extract(org_id: str, extract_id: str, query: DownloadQuery) -> Response:
    body, media = services().extracts.open_file(org_id, extract_id, query.file)
    return _attachment(body, media, query.file)


@operation(
    v1,
    "/extract-files/<token>",
    "GET",
    summary="Download an extract file by a signed link",
    tag="extracts",
    auth="none",
    errors=(404, 409, 410),
    content_type="application/json,application/gzip,application/x-ndjson,text/csv",
    description="The link itself is the credential; it expires 10 minutes after it was issued.",
)
def download_extract_link(token: str) -> Response:
    body, media, name = services().extracts.open_link(token)
    return _attachment(body, media, name)


@operation(
    v1,
    "/orgs/<org_id>/extract-schedule",
    "PUT",
    summary="Set the organisation's monthly extract",
    tag="extracts",
    permission="extracts:manage",
    body=ScheduleIn,
    response=ScheduleOut,
    errors=(403, 404, 422),
    description="On the first days of each month the worker queues an extract of the previous month (UTC), "
    "once, with these settings.",
)
def set_extract_schedule(org_id: str, body: ScheduleIn) -> ScheduleOut:
    extracts = services().extracts
    return ScheduleOut.of(extracts.set_schedule(org_id, body.format, body.compression, body.notify_email))


@operation(
    v1,
    "/orgs/<org_id>/extract-schedule",
    "GET",
    summary="Read the organisation's monthly extract",
    tag="extracts",
    permission="extracts:manage",
    response=ScheduleOut,
    errors=(403, 404),
)
def get_extract_schedule(org_id: str) -> ScheduleOut:
    return ScheduleOut.of(services().extracts.schedule(org_id))


@operation(
    v1,
    "/orgs/<org_id>/extract-schedule",
    "DELETE",
    summary="Turn the organisation's monthly extract off",
    tag="extracts",
    permission="extracts:manage",
    status=204,
    errors=(403, 404),
)
def delete_extract_schedule(org_id: str) -> None:
    services().extracts.delete_schedule(org_id)


def _attachment(body: object, media: str, name: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(body, mimetype=media, headers=headers, direct_passthrough=True)  # type: ignore[arg-type]
