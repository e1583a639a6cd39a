"""Rows of the audit log as extract bytes: the audit export's own line and row formats, one part at a time.

A part is compressed on its own: gzip members concatenate into a valid gzip file (RFC 1952 §2.2), so a day
file is its parts joined, and a resumed job never rewrites what an earlier checkpoint stored.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from app.audit.export import CSV_COLUMNS, csv_row, jsonl_line
from app.audit.subject_keys import Shown
from app.extracts.core import Compression, Format


def render_part(
    rows: Sequence[Row[Any]],
    shown: Sequence[Shown | None],
    fmt: Format,
    compression: Compression,
    *,
    header: bool,
) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        if header:
            writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_row(r, s) for r, s in zip(rows, shown, strict=True))
        data = buf.getvalue().encode()
    else:
        data = "".join(jsonl_line(r, s) for r, s in zip(rows, shown, strict=True)).encode()
    # mtime=0: the same rows always give the same bytes, so a part rewritten after a takeover is identical.
    return gzip.compress(data, compresslevel=6, mtime=0) if compression == "gzip" else data
