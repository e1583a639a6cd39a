"""Failed logins and refused authorizations as audit events, without letting a flood fill the store.

Aggregation: failures are grouped per org + action + actor (id, or credential prefix) + reason per
one-minute window (``audit_failure_windows``). The first failure of a group is recorded at once as an
event with ``data.count = 1``; repeats in the same minute only increment the window's counter. When the
window has closed, the worker (``FailureAggregator.flush``) writes one summary event per group with
``data.count`` = the repeats and ``data.aggregated = true``. So N identical failures in a minute are at
most 2 events whose counts add up to N. The key holds no IP, so rotating source addresses does not
multiply events; past ``MAX_GROUPS_PER_MINUTE`` distinct groups in one org and minute, further failures
fold into one overflow group. A failure nobody can attribute to an org (an unknown token) is not recorded.

Each failure is written in its own short transaction: the request's transaction rolls back on 401/403.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.audit.catalogue import AuditAction
from app.audit.chain import format_time
from app.audit.models import AuditFailureWindow
from app.audit.recorder import Actor, AuditRecorder, OutboxConfig, RequestContext, Target
from app.clock import Clock
from app.db import is_postgres, transaction

WINDOW = timedelta(minutes=1)
MAX_GROUPS_PER_MINUTE = 100
KEEP_FLUSHED = timedelta(days=1)
OVERFLOW = Actor("system", None, "many actors")


@dataclass(frozen=True)
class Failure:
    org_id: str
    action: AuditAction
    actor: Actor
    reason: str
    targets: tuple[Target, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def window_start(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def group_key(org_id: str, action: str, actor: Actor, reason: str, start: datetime) -> str:
    parts = [org_id, action, actor.type, actor.id or actor.name or "", reason, format_time(start)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class FailureAggregator:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock, outbox: OutboxConfig) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.outbox = outbox

    def note(self, failure: Failure, context: RequestContext) -> bool:
        """Count one failure; True when it was recorded as an event right away (first of its group)."""
        with transaction(self.session_factory) as session:
            now = self.clock.now()
            start = window_start(now)
            actor, reason = failure.actor, failure.reason[:500]
            key = group_key(failure.org_id, failure.action.value, actor, reason, start)
            if session.get(AuditFailureWindow, key) is None and self._groups(
                session, failure.org_id, start
            ) >= (MAX_GROUPS_PER_MINUTE):
                actor, reason = OVERFLOW, f"more than {MAX_GROUPS_PER_MINUTE} kinds of failure in a minute"
                key = group_key(failure.org_id, failure.action.value, actor, reason, start)
            count = self._bump(session, key, failure, actor, reason, start, context.ip)
            if count != 1:
                return False
            event = AuditRecorder(session, self.clock, actor, context, self.outbox).record(
                failure.action,
                org_id=failure.org_id,
                targets=failure.targets,
                outcome="failure",
                reason=reason,
                data={**failure.data, "count": 1},
            )
            window = session.get(AuditFailureWindow, key)
            assert window is not None
            window.first_event_id = event.id
            return True

    def flush(self) -> int:
        """Write one summary event per closed window that saw repeats; returns how many were written."""
        cutoff = window_start(self.clock.now()) - WINDOW + timedelta(microseconds=1)
        written = 0
        with transaction(self.session_factory) as session:
            due = session.scalars(
                select(AuditFailureWindow)
                .where(AuditFailureWindow.flushed.is_(False), AuditFailureWindow.window_start < cutoff)
                .order_by(AuditFailureWindow.window_start)
                .limit(500)
            ).all()
            for w in due:
                w.flushed = True
                if w.count <= 1:
                    continue
                actor = Actor(w.actor_type, w.actor_id, w.actor_name)  # type: ignore[arg-type]
                AuditRecorder(session, self.clock, actor, RequestContext(ip=w.last_ip), self.outbox).record(
                    AuditAction(w.action),
                    org_id=w.org_id,
                    outcome="failure",
                    reason=w.reason,
                    data={
                        "count": w.count - 1,
                        "aggregated": True,
                        "window_start": format_time(w.window_start),
                        "window_end": format_time(w.window_start + WINDOW),
                        "first_event_id": w.first_event_id,
                    },
                )
                written += 1
            session.execute(
                delete(AuditFailureWindow).where(
                    AuditFailureWindow.flushed.is_(True),
                    AuditFailureWindow.window_start < self.clock.now() - KEEP_FLUSHED,
                )
            )
        return written

    @staticmethod
    def _groups(session: Session, org_id: str, start: datetime) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditFailureWindow)
                .where(AuditFailureWindow.org_id == org_id, AuditFailureWindow.window_start == start)
            )
            or 0
        )

    @staticmethod
    def _bump(
        session: Session,
        key: str,
        failure: Failure,
        actor: Actor,
        reason: str,
        start: datetime,
        ip: str | None,
    ) -> int:
        """Insert the window or increment it, atomically; the count after this failure."""
        dialect_insert = postgresql.insert if is_postgres(session) else sqlite.insert
        ins = dialect_insert(AuditFailureWindow).values(
            key=key,
            org_id=failure.org_id,
            action=failure.action.value,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_name=actor.name,
            reason=reason,
            window_start=start,
            count=1,
            last_ip=ip,
            flushed=False,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["key"],
            set_={"count": AuditFailureWindow.count + 1, "last_ip": ins.excluded.last_ip},
        ).returning(AuditFailureWindow.count)
        return int(session.execute(stmt).scalar_one())
