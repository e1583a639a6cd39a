"""Streaming exports of an org's audit log (CSV or JSON Lines) with flat memory.

Rows are read in keyset batches through a session of the export's own (the request's session is closed
when the view returns, before the body streams), oldest first, up to the signed checkpoint taken when the
export started, so the file ends exactly at a signed head and a customer can verify it
(``app/audit/verify_export.py``).

The JSON columns are read as text and written into the line as they are (JSON stays JSON): decoding and
re-encoding four JSON documents per row was most of an export's time. A verifier parses the line and
canonicalises it, so the whitespace the database puts in its JSON text changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Text
from sqlalchemy.orm import Session, sessionmaker

from app.audit.chain import format_time
from app.audit.models import AuditEvent
from app.audit.search import AuditFilter, iter_batches
from app.audit.subject_keys import Revealer, Shown, SubjectKeyring
from app.control_chars import escape_controls

Format = Literal["csv", "jsonl"]
# Flask adds "; charset=utf-8" to text/* itself: naming it here doubled it.
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
JSON_COLUMNS = ("targets", "context", "changes", "data", "sealed", "redacted")
CSV_COLUMNS = (
    "id", "sequence", "occurred_at", "action", "type", "outcome", "reason",
    "actor_type", "actor_id", "actor_name", "targets", "ip", "user_agent", "request_id",
    "changes", "data", "prev_hash", "hash",
)  # fmt: skip
FORMULA_START = ("=", "+", "-", "@")  # tabs and carriage returns before a formula are escaped by _cell
EVENTS = AuditEvent.__table__


def export_columns(*, csv_cells: bool = True) -> list[ColumnElement[Any]]:
    """The columns a file row is made of, JSON as text; ``csv_cells``: also the user agent and request id
    taken out of ``context`` (only CSV has cells of their own for them)."""
    cols: list[ColumnElement[Any]] = [
        c.cast(Text).label(c.name) if c.name in JSON_COLUMNS else c for c in EVENTS.c
    ]
    if csv_cells:
        cols.append(AuditEvent.context["user_agent"].as_string().label("user_agent"))
        cols.append(AuditEvent.context["request_id"].as_string().label("request_id"))
    return cols


_s = json.JSONEncoder(ensure_ascii=False).encode


def jsonl_line(row: Row[Any], shown: Shown | None = None) -> str:
    """The hashed fields (``app/audit/recorder.hashed_fields``), plus ``type``, ``prev_hash`` and ``hash``:
    each line verifies on its own. Sealed personal values are shown (or ``[erased]``) and ``sealed`` gives,
    per path, the token that was hashed (and its salt while readable); an event erased in place carries
    ``redacted`` (the attested digest of its fields). Neither is hashed. (``app/extracts/rendering.py``
    writes the same bytes faster for rows of one chain; a test holds them equal.)"""
    name, targets, changes, data, extra = row.actor_name, row.targets, row.changes, row.data, ""
    if shown is not None:
        name, targets, changes, data = shown.actor_name, _s(shown.targets), _s(shown.changes), _s(shown.data)
        extra = f',"sealed":{_s(shown.proofs)}'
    if row.redacted is not None:
        extra += f',"redacted":{row.redacted}'
    actor = _s({"type": row.actor_type, "id": row.actor_id, "name": name})
    return (
        f'{{"id":{_s(row.id)},"chain":{_s(row.chain)},"org_id":{_s(row.org_id)},"seq":{row.seq},'
        f'"action":{_s(row.action)},"occurred_at":"{format_time(row.occurred_at)}","actor":{actor},'
        f'"targets":{targets},"context":{row.context},"outcome":{_s(row.outcome)},'
        f'"reason":{_s(row.reason)},"changes":{changes},"data":{data},'
        f'"type":"tenantry.{row.action}.v1","prev_hash":"{row.prev_hash}","hash":"{row.hash}"{extra}}}\n'
    )


def _cell(value: Any) -> str:
    # Control characters (terminal escapes, bidirectional overrides) are shown, never obeyed, by whoever
    # opens the file; events recorded before the request boundary escaped them are covered too.
    text = "" if value is None else escape_controls(str(value))
    # A spreadsheet would run a cell starting with these as a formula (CSV injection): quote it as text.
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_row(row: Row[Any], shown: Shown | None = None) -> list[str]:
    name, targets, changes, data = row.actor_name, row.targets, row.changes, row.data
    if shown is not None:
        name, targets, changes, data = shown.actor_name, _s(shown.targets), _s(shown.changes), _s(shown.data)
    values = (
        row.id, str(row.seq), format_time(row.occurred_at), row.action, f"tenantry.{row.action}.v1",
        row.outcome, row.reason, row.actor_type, row.actor_id, name, targets, row.ip,
        row.user_agent, row.request_id, changes, data, row.prev_hash, row.hash,
    )  # fmt: skip
    return [_cell(v) for v in values]


def export_stream(
    session_factory: sessionmaker[Session],
    org_id: str,
    f: AuditFilter,
    fmt: Format,
    *,
    max_seq: int,
    checkpoint: dict[str, Any] | None,
    keyring: SubjectKeyring | None,
    key: dict[str, Any] | None = None,
    batch: int = 2000,
) -> Iterator[bytes]:
    """The body, one chunk per batch; the JSON Lines file ends with ``{"checkpoint": {...}, "key": {...}}``
    (``key``: the public key document of the key that signed it, app/audit/keyring.py)."""
    session = session_factory()
    revealer = Revealer(session, keyring)
    try:
        if fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\r\n").writerow(CSV_COLUMNS)
            yield buf.getvalue().encode()
        batches = iter_batches(session, org_id, f, batch=batch, max_seq=max_seq, columns=export_columns())
        for rows in batches:
            shown = revealer.batch(rows)
            session.rollback()
            if fmt == "csv":
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\r\n").writerows(
                    csv_row(r, s) for r, s in zip(rows, shown, strict=True)
                )
                chunk = buf.getvalue()
            else:
                chunk = "".join(jsonl_line(r, s) for r, s in zip(rows, shown, strict=True))
            yield chunk.encode()
        if fmt == "jsonl" and checkpoint is not None:
            yield (json.dumps({"checkpoint": checkpoint, "key": key}) + "\n").encode()
    finally:
        session.close()
