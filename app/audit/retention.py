"""Retention: purge each org's events older than its ``audit_retention_days`` (30..3650), oldest first.

Only a prefix of a chain is ever purged (in sequence order, stopping at the first event still inside the
retention period), and the last purged link is kept in ``audit_purge_horizons`` so verification starts
from it: the first retained event's ``prev_hash`` must equal the horizon's hash. Each batch is its own short
transaction holding the chain head's lock, so writers wait for at most one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import PLATFORM_CHAIN, AuditChainHead, AuditEvent, AuditEventTarget, AuditPurgeHorizon
from app.clock import Clock
from app.db import is_postgres, transaction
from app.orgs.models import Organization

EVENTS = AuditEvent.__table__


@dataclass(frozen=True)
class PurgeResult:
    org_id: str
    purged: int
    horizon_seq: int | None


class RetentionPurge:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        batch: int = 5000,
        platform_retention_days: int = 365,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.batch = batch
        self.platform_retention_days = platform_retention_days

    def run(self) -> list[PurgeResult]:
        """Every org's chain by its own retention, and the platform chain (events with no org: platform keys,
        accounts, signing keys) by ``TENANTRY_AUDIT_PLATFORM_RETENTION_DAYS``."""
        with transaction(self.session_factory) as session:
            orgs = session.execute(select(Organization.id, Organization.audit_retention_days)).all()
        results = [self.purge_org(org_id, days) for org_id, days in orgs]
        results.append(self.purge_org(PLATFORM_CHAIN, self.platform_retention_days))
        return [r for r in results if r.purged]

    def purge_org(self, org_id: str, retention_days: int) -> PurgeResult:
        """Purge one chain (an org id, or ``PLATFORM_CHAIN``) past ``retention_days``."""
        cutoff = self.clock.now() - timedelta(days=retention_days)
        total, horizon_seq = 0, None
        while True:
            with transaction(self.session_factory) as session:
                purged, seq = self._purge_batch(session, org_id, cutoff)
            total += purged
            horizon_seq = seq if seq is not None else horizon_seq
            if purged < self.batch:
                return PurgeResult(org_id, total, horizon_seq)

    def _purge_batch(self, session: Session, org_id: str, cutoff: datetime) -> tuple[int, int | None]:
        head_stmt = select(AuditChainHead).where(AuditChainHead.chain == org_id)
        if is_postgres(session):
            head_stmt = head_stmt.with_for_update()
        if session.scalars(head_stmt).one_or_none() is None:
            return 0, None
        horizon = session.get(AuditPurgeHorizon, org_id)
        after = horizon.seq if horizon else 0
        rows = session.execute(
            select(EVENTS.c.seq, EVENTS.c.hash, EVENTS.c.occurred_at)
            .where(EVENTS.c.chain == org_id, EVENTS.c.seq > after)
            .order_by(EVENTS.c.seq)
            .limit(self.batch)
        ).all()
        prefix = 0
        for row in rows:
            if row.occurred_at >= cutoff:
                break
            prefix += 1
        if prefix == 0:
            return 0, None
        last = rows[prefix - 1]
        in_range = (EVENTS.c.chain == org_id, EVENTS.c.seq > after, EVENTS.c.seq <= last.seq)
        session.execute(
            delete(AuditEventTarget).where(
                AuditEventTarget.event_id.in_(select(EVENTS.c.id).where(*in_range))
            )
        )
        session.execute(delete(AuditEvent).where(*in_range))
        now = self.clock.now()
        if horizon is None:
            session.add(
                AuditPurgeHorizon(
                    chain=org_id, seq=last.seq, hash=last.hash, purged_at=now, purged_total=prefix
                )
            )
        else:
            horizon.seq, horizon.hash, horizon.purged_at = last.seq, last.hash, now
            horizon.purged_total += prefix
        return prefix, last.seq
