"""The pure part of extracts: span rules, per-day file names, parts, the manifest, signed download links.

No Flask, no session: values in, values out (``tests/unit/test_extract_core.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

Source = Literal["audit_logs"]
Format = Literal["jsonl", "csv"]
Compression = Literal["gzip", "none"]
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class SpanError(ValueError):
    """The requested span is empty, reversed, or longer than the limit; ``field`` names the culprit."""

    def __init__(self, message: str, field: str, *, too_long: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.too_long = too_long


def check_span(start: datetime, end: datetime, max_days: int) -> None:
    """``[start, end)`` in UTC, non-empty and at most ``max_days`` long."""
    if start.tzinfo is None or end.tzinfo is None:
        raise SpanError("from and to need a time zone (e.g. 2026-03-01T00:00:00Z)", "from")
    if end <= start:
        raise SpanError("to must be after from", "to")
    if end - start > timedelta(days=max_days):
        raise SpanError(
            f"the span is longer than {max_days} days, the most an extract covers", "to", too_long=True
        )


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def file_name(source: str, day: date, fmt: Format, compression: Compression) -> str:
    """``audit_logs-2026-03-01.jsonl.gz``: one file per UTC day."""
    suffix = ".gz" if compression == "gzip" else ""
    return f"{source}-{day.isoformat()}.{fmt}{suffix}"


def part_key(job_prefix: str, day: date, index: int) -> str:
    """Where a part of a day's file waits until the day is complete (a checkpoint's unit)."""
    return f"{job_prefix}/parts/{day.isoformat()}/{index:06d}"


def media_type(fmt: Format, compression: Compression) -> str:
    if compression == "gzip":
        return "application/gzip"
    return "text/csv" if fmt == "csv" else "application/x-ndjson"


@dataclass(frozen=True)
class FileEntry:
    """A finished day file as the manifest lists it."""

    name: str
    day: str
    rows: int
    bytes: int
    sha256: str
    first_seq: int | None
    last_seq: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "day": self.day,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> FileEntry:
        return cls(
            str(data["name"]),
            str(data["day"]),
            int(data["rows"]),
            int(data["bytes"]),
            str(data["sha256"]),
            data.get("first_seq"),
            data.get("last_seq"),
        )


def manifest(
    *,
    job_id: str,
    org_id: str,
    source: str,
    fmt: Format,
    compression: Compression,
    start: datetime,
    end: datetime,
    files: list[FileEntry],
    checkpoint: dict[str, Any] | None,
    created_at: datetime,
    keys: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest: what the extract holds, each file's rows and SHA-256, and the signed checkpoint of the
    last row (``checkpoint.seq`` == the last file's ``last_seq``), so the whole is verifiable offline."""
    return {
        "version": MANIFEST_VERSION,
        "job_id": job_id,
        "org_id": org_id,
        "source": source,
        "format": fmt,
        "compression": compression,
        "from": iso(start),
        "to": iso(end),
        "created_at": iso(created_at),
        "rows": sum(f.rows for f in files),
        "files": [f.as_dict() for f in files],
        "checkpoint": checkpoint,
        # Every checkpoint signing key with its status (GET /v1/audit-keys): pick the checkpoint's key_id.
        "keys": keys or [],
    }


def manifest_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=False) + "\n").encode()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent(done: int, total: int) -> float:
    if total <= 0:
        return 100.0
    return round(min(100.0, 100.0 * done / total), 1)


# -- signed download links ----------------------------------------------------------------------------------


class BadLink(ValueError):
    """The link was altered, signed with another key, or has expired."""


def sign_link(secret: str, job_id: str, name: str, expires: datetime) -> str:
    """An opaque token naming one file of one job until ``expires`` (HMAC-SHA256 with the secret key)."""
    body = json.dumps({"j": job_id, "f": name, "e": int(expires.timestamp())}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    mac = hmac.new(secret.encode(), b"extract-link:" + payload.encode(), hashlib.sha256).digest()
    return payload + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def open_link(secret: str, token: str, now: datetime) -> tuple[str, str]:
    """``(job_id, file name)`` of a valid, unexpired token; ``BadLink`` otherwise."""
    payload, _, mac = token.partition(".")
    expected = hmac.new(secret.encode(), b"extract-link:" + payload.encode(), hashlib.sha256).digest()
    try:
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadLink("the link is not one Tenantry issued") from None
    if not hmac.compare_digest(given, expected) or not isinstance(data, dict):
        raise BadLink("the link is not one Tenantry issued")
    if now.timestamp() >= float(data.get("e", 0)):
        raise BadLink("the link has expired; ask for the extract again to get a new one")
    return str(data["j"]), str(data["f"])
