"""Searching an org's audit log: filters → SQL, and keyset pages newest first by ``(occurred_at, id)``.

Keyset, not offset: a page is "the ``limit`` events just older than the cursor's (occurred_at, id)", so
events written while a caller pages (newer ones) never shift the pages it has not read yet. Each filter has
an index that keeps this order (``ix_audit_events_org_*`` on audit_events, ``audit_event_targets`` for
targets), so a page reads about ``limit`` index entries whatever the filter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, false, select, tuple_
from sqlalchemy.orm import Session

import app.json_input as json_input
from app.audit.catalogue import AuditAction
from app.audit.models import AuditEvent, AuditEventTarget
from app.audit.subject_keys import Revealer, Shown, SubjectKeyring
from app.errors import AuditLogsDisabled, NotFound, ValidationFailed
from app.orgs.models import Organization

EVENTS = AuditEvent.__table__
TARGETS = AuditEventTarget.__table__
Direction = Literal["newest_first", "oldest_first"]


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    actor: str | None = None
    actor_type: str | None = None
    target: str | None = None
    target_type: str | None = None
    outcome: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a keyset page starts: strictly past this (occurred_at, id)."""

    occurred_at: datetime
    id: str


def encode_cursor(pos: Position) -> str:
    raw = json.dumps({"v": 1, "t": pos.occurred_at.isoformat(), "i": pos.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data: Any = json_input.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("i"), str):
            raise ValueError("shape")
        when = datetime.fromisoformat(str(data["t"]))
        if when.tzinfo is None or len(data["i"]) > 36:
            raise ValueError("time zone or id")
        return Position(when.astimezone(UTC), data["i"])
    except (binascii.Error, ValueError, UnicodeError, TypeError, KeyError, RecursionError):
        raise ValidationFailed(
            "The cursor is not valid. Pass the previous page's next_cursor unchanged, or omit it.",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        ) from None


def action_clause(action: str) -> ColumnElement[bool]:
    """Exact (``member.invited``) or a prefix ending in ``*`` or ``.`` (``member.*``, ``member.``).

    A prefix expands to the catalogue's matching actions (the catalogue is closed), so the query is an
    ``IN`` list the action index serves on any collation, where ``LIKE 'x%'`` needs a C collation.
    """
    if not action.endswith(("*", ".")):
        return EVENTS.c.action == action
    prefix = action.rstrip("*")
    matches = sorted(a.value for a in AuditAction if a.value.startswith(prefix))
    return EVENTS.c.action.in_(matches) if matches else false()


def where_clauses(org_id: str, f: AuditFilter) -> list[ColumnElement[bool]]:
    c = EVENTS.c
    clauses: list[ColumnElement[bool]] = [c.org_id == org_id]
    if f.since is not None:
        clauses.append(c.occurred_at >= f.since)
    if f.until is not None:
        clauses.append(c.occurred_at < f.until)
    if f.action:
        clauses.append(action_clause(f.action))
    if f.actor:
        clauses.append(c.actor_id == f.actor)
    if f.actor_type:
        clauses.append(c.actor_type == f.actor_type)
    if f.outcome:
        clauses.append(c.outcome == f.outcome)
    if f.ip:
        clauses.append(c.ip == f.ip)
    return clauses


def keyset_query(
    org_id: str,
    f: AuditFilter,
    *,
    after: Position | None,
    limit: int,
    direction: Direction = "newest_first",
    max_seq: int | None = None,
    columns: Sequence[ColumnElement[Any]] | None = None,
) -> Select[Any]:
    """The next ``limit`` matching rows past ``after``.

    With a target filter the query is driven by ``audit_event_targets`` (its index is ordered by
    (occurred_at, event_id) per target), joined to the events: a rare target costs as little as a common
    one. An event naming the same target twice comes back twice, next to each other: ``unique_rows``.
    """
    c = EVENTS.c
    clauses = where_clauses(org_id, f)
    if max_seq is not None:
        clauses.append(c.seq <= max_seq)
    query = select(*columns) if columns is not None else select(EVENTS)
    if f.target or f.target_type:
        t = TARGETS.c
        query = query.select_from(TARGETS.join(EVENTS, c.id == t.event_id))
        clauses.append(t.org_id == org_id)
        if f.target:
            clauses.append(t.target_id == f.target)
        if f.target_type:
            clauses.append(t.target_type == f.target_type)
        if f.since is not None:
            clauses.append(t.occurred_at >= f.since)
        if f.until is not None:
            clauses.append(t.occurred_at < f.until)
        time_col, id_col = t.occurred_at, t.event_id
    else:
        time_col, id_col = c.occurred_at, c.id
    if after is not None:
        key = tuple_(time_col, id_col)
        clauses.append(
            key < (after.occurred_at, after.id)
            if direction == "newest_first"
            else key > (after.occurred_at, after.id)
        )
    order = (time_col.desc(), id_col.desc()) if direction == "newest_first" else (time_col, id_col)
    return query.where(*clauses).order_by(*order).limit(limit)


def unique_rows(rows: Sequence[Row[Any]]) -> list[Row[Any]]:
    """Drop repeats of one event (adjacent: they share the sort key)."""
    out: list[Row[Any]] = []
    for row in rows:
        if not out or out[-1].id != row.id:
            out.append(row)
    return out


class AuditLogSearch:
    """Reads an org's audit log for its admins; refuses while the org has turned the log off."""

    def __init__(self, session: Session, keyring: SubjectKeyring | None = None) -> None:
        self.session = session
        self.keyring = keyring

    def require_enabled(self, org_id: str) -> Organization:
        org = self.session.get(Organization, org_id)
        if org is None or org.deleted_at is not None:
            raise NotFound(f"Organisation {org_id} not found")
        if not org.audit_logs_enabled:
            raise AuditLogsDisabled(
                "Audit logs are turned off for this organisation (events are still recorded). "
                'An admin can turn them on with PATCH /v1/orgs/{org} {"audit_logs_enabled": true}.'
            )
        return org

    def page(
        self, org_id: str, f: AuditFilter, *, cursor: str | None, limit: int
    ) -> tuple[Sequence[Row[Any]], list[Shown | None], str | None]:
        """One page newest first, what to show of each row's sealed values, and the cursor of the next page
        (None on the last)."""
        self.require_enabled(org_id)
        after = decode_cursor(cursor) if cursor else None
        query = keyset_query(org_id, f, after=after, limit=limit + 1)
        raw = self.session.connection().execute(query).all()  # Core rows: no ORM loading cost
        more = len(raw) > limit
        rows = unique_rows(raw)[:limit]
        nxt = encode_cursor(Position(rows[-1].occurred_at, rows[-1].id)) if more and rows else None
        return rows, Revealer(self.session, self.keyring).batch(rows), nxt


def iter_batches(
    session: Session,
    org_id: str,
    f: AuditFilter,
    *,
    batch: int = 2000,
    direction: Direction = "oldest_first",
    max_seq: int | None = None,
    columns: Sequence[ColumnElement[Any]] | None = None,
) -> Iterator[Sequence[Row[Any]]]:
    """Every matching event in keyset batches, each read in its own short transaction (flat memory,
    and no long read transaction holding SQLite's write lock or PostgreSQL's vacuum horizon)."""
    after: Position | None = None
    while True:
        raw = (
            session.connection()
            .execute(
                keyset_query(
                    org_id, f, after=after, limit=batch, direction=direction, max_seq=max_seq, columns=columns
                )
            )
            .all()
        )
        session.rollback()
        if not raw:
            return
        rows = unique_rows(raw)
        yield rows
        if len(raw) < batch:
            return
        after = Position(rows[-1].occurred_at, rows[-1].id)
