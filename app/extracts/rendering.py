"""Rows of the audit log as extract bytes: the audit export's own line and row formats, one part at a time.

A part is compressed on its own: gzip members concatenate into a valid gzip file (RFC 1952 §2.2), so a day
file is its parts joined, and a resumed job never rewrites what an earlier checkpoint stored.

JSON Lines are written by :class:`LineWriter`, byte for byte the export's ``jsonl_line`` (a test holds them
equal) but made for millions of rows of one chain: columns read by position instead of by name, the values
that repeat (chain, org, action, outcome, reason, actor type) encoded once, the actor object built from its
three encoded strings instead of encoding a dict. That was most of an extract's time (profiled on 200k rows:
the line took 17 of 31 s, the actor dict alone 2.5 s).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import Row

from app.audit.chain import format_time
from app.audit.export import CSV_COLUMNS, csv_row
from app.audit.subject_keys import Shown
from app.extracts.core import Compression, Format


def render_part(
    rows: Sequence[Row[Any]],
    shown: Sequence[Shown | None],
    fmt: Format,
    compression: Compression,
    *,
    header: bool,
    lines: LineWriter | None = None,
) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        if header:
            writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_row(r, s) for r, s in zip(rows, shown, strict=True))
        data = buf.getvalue().encode()
    else:
        data = (lines or LineWriter()).render(rows, shown).encode()
    # mtime=0: the same rows always give the same bytes, so a part rewritten after a takeover is identical.
    return gzip.compress(data, compresslevel=6, mtime=0) if compression == "gzip" else data


_s = json.JSONEncoder(ensure_ascii=False).encode
ZERO = timedelta(0)
# The columns a line is made of, in the order LineWriter unpacks them (by name: the select's order is free).
LINE_COLUMNS = (
    "id", "chain", "org_id", "seq", "action", "occurred_at", "actor_type", "actor_id", "actor_name",
    "targets", "context", "outcome", "reason", "changes", "data", "prev_hash", "hash", "redacted",
)  # fmt: skip


def utc_text(moment: datetime) -> str:
    """``app/audit/chain.format_time``'s text, by ``isoformat`` (several times faster than ``strftime``)."""
    if moment.utcoffset() == ZERO:
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
    return format_time(moment)


class LineWriter:
    """JSON Lines of audit rows, the same bytes as ``app/audit/export.jsonl_line``. Remembers encoded values
    that repeat (bounded: past ``limit`` entries it starts over), so keep one per job or worker."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._enc: dict[str | None, str] = {}
        self._pick: Any = None
        self._keys: tuple[str, ...] = ()

    def _const(self, value: str | None) -> str:
        found = self._enc.get(value)
        if found is None:
            if len(self._enc) >= self.limit:
                self._enc.clear()
            found = self._enc[value] = _s(value)
        return found

    def render(self, rows: Sequence[Row[Any]], shown: Sequence[Shown | None]) -> str:
        if not rows:
            return ""
        keys = tuple(rows[0]._fields)
        if keys != self._keys:
            self._keys, self._pick = keys, itemgetter(*(keys.index(c) for c in LINE_COLUMNS))
        pick, known, const, out = self._pick, self._enc.get, self._const, []
        for row, sh in zip(rows, shown, strict=True):
            (
                id_, chain, org_id, seq, action, occurred_at, actor_type, actor_id, name,
                targets, context, outcome, reason, changes, data, prev_hash, hash_, redacted,
            ) = pick(row)  # fmt: skip
            extra = ""
            if sh is not None:
                name, targets, changes, data = sh.actor_name, _s(sh.targets), _s(sh.changes), _s(sh.data)
                extra = f',"sealed":{_s(sh.proofs)}'
            if redacted is not None:
                extra += f',"redacted":{redacted}'
            actor_id_json = "null" if actor_id is None else _s(actor_id)
            name_json = "null" if name is None else _s(name)
            out.append(
                f'{{"id":"{id_}","chain":{known(chain) or const(chain)},'
                f'"org_id":{known(org_id) or const(org_id)},"seq":{seq},'
                f'"action":{known(action) or const(action)},"occurred_at":"{utc_text(occurred_at)}",'
                f'"actor":{{"type": {known(actor_type) or const(actor_type)}, "id": {actor_id_json}, '
                f'"name": {name_json}}},"targets":{targets},"context":{context},'
                f'"outcome":{known(outcome) or const(outcome)},"reason":{known(reason) or const(reason)},'
                f'"changes":{changes},"data":{data},'
                f'"type":"tenantry.{action}.v1","prev_hash":"{prev_hash}","hash":"{hash_}"{extra}}}\n'
            )
        return "".join(out)
