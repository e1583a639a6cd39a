"""The pure extract core: span rule, file names, manifest, signed links (no Flask, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.extracts import core
from app.extracts.runner import _by_day

T = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "s3cret"


@pytest.mark.parametrize(
    ("start", "end", "verdict"),
    [
        (T, T + timedelta(days=31), None),
        (T, T + timedelta(days=31, microseconds=1), "too_long"),
        (T, T + timedelta(seconds=1), None),
        (T, T, "to"),
        (T + timedelta(hours=1), T, "to"),
        (T.replace(tzinfo=None), T + timedelta(days=1), "from"),
    ],
)
def test_the_span_rule(start: datetime, end: datetime, verdict: str | None) -> None:
    if verdict is None:
        core.check_span(start, end, 31)
        return
    with pytest.raises(core.SpanError) as caught:
        core.check_span(start, end, 31)
    if verdict == "too_long":
        assert caught.value.too_long and "31 days" in str(caught.value)
    else:
        assert not caught.value.too_long and caught.value.field == verdict


@pytest.mark.parametrize(
    ("fmt", "compression", "name", "media"),
    [
        ("jsonl", "gzip", "audit_logs-2026-03-09.jsonl.gz", "application/gzip"),
        ("jsonl", "none", "audit_logs-2026-03-09.jsonl", "application/x-ndjson"),
        ("csv", "none", "audit_logs-2026-03-09.csv", "text/csv"),
    ],
)
def test_one_file_per_utc_day(fmt: core.Format, compression: core.Compression, name: str, media: str) -> None:
    assert core.file_name("audit_logs", date(2026, 3, 9), fmt, compression) == name
    assert core.media_type(fmt, compression) == media
    late = datetime(2026, 3, 10, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # 23:30 UTC on the 9th
    assert core.day_of(late) == date(2026, 3, 9)


def test_the_manifest_counts_rows_and_carries_the_checkpoint() -> None:
    files = [
        core.FileEntry("a", "2026-03-01", 3, 10, "ab" * 32, 2, 4),
        core.FileEntry("b", "2026-03-02", 4, 12, "cd" * 32, 5, 8),
    ]
    cp = {"chain": "org_x", "seq": 8, "hash": "h", "time": "t", "key_id": "k", "signature": "s"}
    doc = core.manifest(
        job_id="ext_1", org_id="org_x", source="audit_logs", fmt="jsonl", compression="gzip",
        start=T, end=T + timedelta(days=2), files=files, checkpoint=cp, created_at=T,
    )  # fmt: skip
    assert doc["rows"] == 7 and doc["checkpoint"] == cp and doc["from"] == "2026-03-01T00:00:00Z"
    assert [core.FileEntry.of(f) for f in doc["files"]] == files


def test_a_signed_link_opens_until_it_expires_and_only_unaltered() -> None:
    token = core.sign_link(SECRET, "ext_1", "manifest.json", T + timedelta(minutes=10))
    assert core.open_link(SECRET, token, T) == ("ext_1", "manifest.json")
    with pytest.raises(core.BadLink, match="expired"):
        core.open_link(SECRET, token, T + timedelta(minutes=10))
    with pytest.raises(core.BadLink):
        core.open_link("another-secret", token, T)
    payload, _, mac = token.partition(".")
    forged = core.sign_link(SECRET, "ext_2", "manifest.json", T + timedelta(minutes=10)).partition(".")[0]
    with pytest.raises(core.BadLink):
        core.open_link(SECRET, forged + "." + mac, T)
    with pytest.raises(core.BadLink):
        core.open_link(SECRET, "not a token", T)


def test_percent() -> None:
    assert [core.percent(0, 8), core.percent(3, 8), core.percent(8, 8), core.percent(0, 0)] == [
        0.0, 37.5, 100.0, 100.0,
    ]  # fmt: skip


def test_rows_go_to_their_day_s_file_and_never_back_to_an_earlier_one() -> None:
    def row(seq: int, day: int, hour: int) -> Any:
        return SimpleNamespace(seq=seq, occurred_at=datetime(2026, 3, day, hour, tzinfo=UTC))

    rows = [row(1, 1, 9), row(2, 1, 23), row(3, 2, 0), row(4, 1, 23), row(5, 4, 8)]  # seq 4: a skewed clock
    groups = [(day.isoformat(), [r.seq for r in group]) for day, group in _by_day(cast(Any, rows), None)]
    assert groups == [("2026-03-01", [1, 2]), ("2026-03-02", [3, 4]), ("2026-03-04", [5])]
    # A batch continuing an open day: a row of an earlier day stays in the open file.
    later = [(d.isoformat(), [r.seq for r in g]) for d, g in _by_day(cast(Any, rows[:2]), "2026-03-02")]
    assert later == [("2026-03-02", [1, 2])]
