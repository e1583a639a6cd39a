"""Streaming exports of an org's audit log (CSV or JSON Lines) with flat memory.

Rows are read in keyset batches through a session of the export's own (the request's session is closed
when the view returns, before the body streams), oldest first, up to the signed checkpoint taken when the
export started, so the file ends exactly at a signed head and a customer can verify it
(``app/audit/verify_export.py``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal, cast

from sqlalchemy import Row
from sqlalchemy.orm import Session, sessionmaker

from app.audit.log_schemas import event_json
from app.audit.models import AuditEvent
from app.audit.recorder import hashed_fields
from app.audit.search import AuditFilter, iter_batches

Format = Literal["csv", "jsonl"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CSV_COLUMNS = (
    "id", "sequence", "occurred_at", "action", "type", "outcome", "reason",
    "actor_type", "actor_id", "actor_name", "targets", "ip", "user_agent", "request_id",
    "changes", "data", "prev_hash", "hash",
)  # fmt: skip
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def jsonl_line(row: Row[Any]) -> dict[str, Any]:
    """Exactly the hashed fields, plus ``type``, ``prev_hash`` and ``hash``: a line verifies on its own."""
    line = hashed_fields(cast(AuditEvent, row))
    line["type"] = f"tenantry.{row.action}.v1"
    line["prev_hash"] = row.prev_hash
    line["hash"] = row.hash
    return line


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value, sort_keys=True)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection): quote it as text.
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_row(row: Row[Any]) -> list[str]:
    e = event_json(row)
    values: dict[str, Any] = {
        **{k: e[k] for k in ("id", "sequence", "occurred_at", "action", "type", "outcome", "reason")},
        "actor_type": e["actor"]["type"],
        "actor_id": e["actor"]["id"],
        "actor_name": e["actor"]["name"],
        "targets": e["targets"],
        **e["context"],
        "changes": e["changes"],
        "data": e["data"],
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }
    return [str(values[c]) if isinstance(values[c], int) else _cell(values[c]) for c in CSV_COLUMNS]


def export_stream(
    session_factory: sessionmaker[Session],
    org_id: str,
    f: AuditFilter,
    fmt: Format,
    *,
    max_seq: int,
    checkpoint: dict[str, Any] | None,
    batch: int = 2000,
) -> Iterator[bytes]:
    """The body, one chunk per batch; the JSONL file ends with ``{"checkpoint": {...}}``."""
    session = session_factory()
    try:
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            writer.writerow(CSV_COLUMNS)
            yield buf.getvalue().encode()
        for rows in iter_batches(session, org_id, f, batch=batch, max_seq=max_seq):
            if fmt == "csv":
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\r\n")
                writer.writerows(csv_row(r) for r in rows)
                chunk = buf.getvalue()
            else:
                chunk = "".join(json.dumps(jsonl_line(r), ensure_ascii=False) + "\n" for r in rows)
            yield chunk.encode()
        if fmt == "jsonl" and checkpoint is not None:
            yield (json.dumps({"checkpoint": checkpoint}) + "\n").encode()
    finally:
        session.close()
