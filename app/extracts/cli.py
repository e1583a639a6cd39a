"""``tenantry extracts create|list|show|cancel|resume|download``: extracts from the operator's shell.

Commands act as the system operator through the same service as the API (same checks, same audit events).
``--wait`` follows a job with a progress bar until it ends; ``--run`` runs it in this process instead of
waiting for a ``tenantry worker``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.audit.cli.log import built_container
from app.db import transaction
from app.errors import AppError
from app.extracts import core
from app.extracts.models import FINISHED, ExtractJob

if TYPE_CHECKING:
    from app.container import Container


def _as_dict(job: ExtractJob) -> dict[str, Any]:
    from app.extracts.schemas import ExtractOut

    return ExtractOut.of(job).model_dump(mode="json")


def _line(job: ExtractJob) -> str:
    total = job.rows_total if job.rows_total is not None else "?"
    return (
        f"{job.id}  {job.status:<9}  {core.iso(job.span_start)} .. {core.iso(job.span_end)}  "
        f"{job.format}/{job.compression}  rows {job.rows_written}/{total}"
        + (f"  error: {job.error}" if job.error else "")
    )


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _read(c: Container, org_id: str, job_id: str) -> ExtractJob:
    with transaction(c.session_factory) as session:
        return c.services(session).extracts.get(org_id, job_id)


def _follow(c: Container, org_id: str, job_id: str, *, run: bool, poll: float) -> ExtractJob:
    """Until the job ends, show rows written: a progress bar on a terminal, a line per change otherwise
    (a log keeps lines, not redraws). The job runs here with ``run``, else a worker's progress is polled."""
    job = _read(c, org_id, job_id)
    shown = -1
    with click.progressbar(length=max(job.rows_total or 1, 1), label=job_id, file=sys.stderr) as bar:
        tty = sys.stderr.isatty()

        def show(current: ExtractJob) -> None:
            nonlocal shown
            if current.rows_written == shown:
                return
            total = current.rows_total or 0
            if tty:
                bar.length = max(total, 1)
                bar.update(current.rows_written - max(shown, 0))
            else:
                pct = core.percent(current.rows_written, total)
                click.echo(f"{job_id}: {current.rows_written}/{total} rows ({pct:g}%)", err=True)
            shown = current.rows_written

        if run:
            runner = c.extract_runner()
            runner.after_checkpoint = show
            runner.run_pending()
        while (job := _read(c, org_id, job_id)).status not in FINISHED:
            show(job)
            time.sleep(poll)  # a person waits on a worker in another process: nothing to be woken by
        show(job)
    return job


@click.group(help="Data extracts of an organisation's audit log (files per day, signed manifest).")
def extracts() -> None:
    pass


@extracts.command("create", help="Queue an extract of [FROM, TO) (at most 31 days by default).")
@click.option("--org", "org_id", required=True)
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]))
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--compression", type=click.Choice(["gzip", "none"]), default="gzip", show_default=True)
@click.option("--notify-email", default=None, help="Mailed when the extract succeeds.")
@click.option("--idempotency-key", default=None, help="Running the command again answers the same job.")
@click.option("--wait", is_flag=True, help="Follow the job with a progress bar until it ends.")
@click.option("--run", is_flag=True, help="Act as a worker here (queued jobs in order) until it ends.")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(min=0.05))
@click.option("--json", "as_json", is_flag=True)
def create(
    org_id: str, start: datetime, end: datetime, fmt: core.Format, compression: core.Compression,
    notify_email: str | None, idempotency_key: str | None, wait: bool, run: bool, poll: float, as_json: bool,
) -> None:  # fmt: skip
    from datetime import UTC

    from app.extracts.service import ExtractRequest

    span = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end)]  # a bare date means UTC
    with built_container() as c:
        try:
            with transaction(c.session_factory) as session:
                request = ExtractRequest("audit_logs", span[0], span[1], fmt, compression, notify_email)
                job, _ = c.services(session).extracts.create(org_id, request, idempotency_key=idempotency_key)
            if wait or run:
                job = _follow(c, org_id, job.id, run=run, poll=poll)
        except AppError as exc:
            _fail(exc.detail)
        click.echo(json.dumps(_as_dict(job)) if as_json else _line(job))
        if job.status in ("failed", "cancelled"):
            sys.exit(1)


@extracts.command("list", help="The organisation's extracts, newest first.")
@click.option("--org", "org_id", required=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True)
def list_(org_id: str, limit: int, as_json: bool) -> None:
    with built_container() as c, transaction(c.session_factory) as session:
        jobs = c.services(session).extracts.list_jobs(org_id, cursor=None, limit=limit).items
        for job in jobs:
            click.echo(json.dumps(_as_dict(job)) if as_json else _line(job))


def _one(name: str, help_: str, action: str | None) -> None:
    @extracts.command(name, help=help_)
    @click.argument("job_id")
    @click.option("--org", "org_id", required=True)
    @click.option("--wait", is_flag=True, help="Follow the job with a progress bar until it ends.")
    @click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(min=0.05))
    @click.option("--json", "as_json", is_flag=True)
    def command(job_id: str, org_id: str, wait: bool, poll: float, as_json: bool) -> None:
        with built_container() as c:
            try:
                with transaction(c.session_factory) as session:
                    service = c.services(session).extracts
                    job = getattr(service, action)(org_id, job_id) if action else service.get(org_id, job_id)
                if wait:
                    job = _follow(c, org_id, job_id, run=False, poll=poll)
            except AppError as exc:
                _fail(exc.detail)
            click.echo(json.dumps(_as_dict(job)) if as_json else _line(job))


_one("show", "An extract's status and progress.", None)
_one("cancel", "Cancel: a queued extract at once, a running one at its next checkpoint.", "cancel")
_one("resume", "Queue a cancelled or failed extract again; it goes on from its last checkpoint.", "resume")


@extracts.command("download", help="Write a succeeded extract's files and manifest into DIRECTORY, checked.")
@click.argument("job_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", "org_id", required=True)
def download(job_id: str, directory: Path, org_id: str) -> None:
    with built_container() as c:
        try:
            with transaction(c.session_factory) as session:
                service = c.services(session).extracts
                job = service.get(org_id, job_id)
                names = service.file_names(job)
                streams = {name: service.open_file(org_id, job_id, name)[0] for name in names}
        except AppError as exc:
            _fail(exc.detail)
        directory.mkdir(parents=True, exist_ok=True)
        sums: dict[str, str] = {}
        for name, chunks in streams.items():
            digest = hashlib.sha256()
            with (directory / name).open("wb") as fh:
                for chunk in chunks:
                    digest.update(chunk)
                    fh.write(chunk)
            sums[name] = digest.hexdigest()
        manifest = json.loads((directory / core.MANIFEST_NAME).read_text())
        for entry in manifest["files"]:
            if sums.get(entry["name"]) != entry["sha256"]:
                _fail(f"{entry['name']}: SHA-256 does not match the manifest")
        click.echo(f"{len(manifest['files'])} files, {manifest['rows']} rows, checksums match: {directory}")
