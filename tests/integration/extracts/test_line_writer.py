"""The extract's JSON Lines writer gives the export's bytes, for every kind of row (sealed personal values,
erased ones, nulls, quotes, non-ASCII, control characters), whatever the column order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from app.audit.catalogue import AuditAction
from app.audit.chain import format_time
from app.audit.export import export_columns, jsonl_line
from app.audit.models import AuditEvent
from app.audit.recorder import Actor, AuditRecorder, RequestContext, Target
from app.audit.subject_keys import Revealer
from app.container import Container
from app.db import transaction
from app.extracts.rendering import LineWriter, utc_text

EVENTS = AuditEvent.__table__


def test_line_writer_writes_the_exports_bytes(container: Container, org: dict[str, Any]) -> None:
    actors = [
        Actor("user", "usr_q", 'Zoë "Quote" \\ Ünïcödé'),
        Actor("api_key", "key_1", "ci\u202e\x1b[31m"),
        Actor("system", None, None),
        Actor("user", "usr_n", None),
    ]
    with transaction(container.session_factory) as session:
        for i, actor in enumerate(actors * 3):
            sealing = container.outbox if i % 2 == 0 else None  # half sealed, half as before sealing existed
            rec = AuditRecorder(session, container.clock, actor, RequestContext(ip="203.0.113.9"), sealing)
            rec.record(
                AuditAction.MEMBER_INVITED if i % 3 else AuditAction.MEMBER_ROLE_CHANGED,
                org_id=org["id"],
                targets=[
                    Target("invitation", f"inv_{i}", f"p{i}@exämple.test"),
                    Target("user", "usr_q", "q@x"),
                ],
                changes={"user_name": {"before": None, "after": "zoë"}} if i % 2 else None,
                data={"email": f"p{i}@exämple.test", "n": i},
                outcome="failure" if i % 4 == 0 else "success",
                reason='nope "x"' if i % 4 == 0 else None,
            )
    for fmt_columns in (export_columns(csv_cells=False), list(reversed(export_columns()))):
        with transaction(container.session_factory) as session:
            rows = (
                session.connection()
                .execute(select(*fmt_columns).where(EVENTS.c.chain == org["id"]).order_by(EVENTS.c.seq))
                .all()
            )
            shown = Revealer(session, container.outbox.keyring).batch(rows)
        assert any(s is not None for s in shown) and any(s is None for s in shown)
        expected = "".join(jsonl_line(r, s) for r, s in zip(rows, shown, strict=True))
        writer = LineWriter(limit=3)  # a small cache that starts over often
        assert writer.render(rows, shown) == expected
        assert writer.render(rows, shown) == expected  # again, with what it remembered


def test_utc_text_is_the_hashed_time_text() -> None:
    moments = [
        datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ]
    for moment in moments:
        assert utc_text(moment) == format_time(moment)
