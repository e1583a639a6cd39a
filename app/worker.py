"""``tenantry worker``: a small loop running periodic jobs (audit retention, checkpoints, failure summaries,
domain re-verification, SSO metadata refresh and replay-cache purge, data extracts and their retention,
access-token signing key rotation).

Later issues add their jobs (domain re-checks, extracts) with ``register``. Each job runs in its own unit of
work; a failing job is logged and retried at its next interval, never stopping the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.container import Container

log = logging.getLogger("tenantry.worker")


@dataclass(frozen=True)
class Job:
    name: str
    interval: float  # seconds between runs
    run: Callable[[Container], Any]  # returns a short summary for the log


EXTRA_JOBS: list[Job] = []


def register(job: Job) -> None:
    """Add a job to every worker built after this call (other packages' periodic work)."""
    EXTRA_JOBS.append(job)


def _flush_failures(c: Container) -> int:
    from app.audit.failures import FailureAggregator

    return FailureAggregator(c.session_factory, c.clock, c.outbox).flush()


def _checkpoint(c: Container) -> int:
    from app.audit.integrity import AuditIntegrity
    from app.db import transaction

    with transaction(c.session_factory) as session:
        return len(AuditIntegrity(session, c.clock, c.audit_signer).checkpoint_all())


def _retention(c: Container) -> dict[str, int]:
    from app.audit.retention import RetentionPurge

    purge = RetentionPurge(
        c.session_factory, c.clock, platform_retention_days=c.settings.audit_platform_retention_days
    )
    return {r.org_id: r.purged for r in purge.run()}


def _full_verification(c: Container) -> dict[str, bool]:
    """One chain whose last full verification is the oldest (or missing) and older than
    ``TENANTRY_AUDIT_FULL_VERIFY_INTERVAL``, walked whole in one transaction: a run never holds the worker for
    more than one chain, and every chain comes round once per interval. The outcome is stored (a broken chain
    is logged as an error), so the bounded endpoint goes on from an intact chain's head."""
    from datetime import timedelta

    from sqlalchemy import or_, select

    from app.audit.integrity import AuditIntegrity
    from app.audit.models import AuditChainHead, AuditVerification
    from app.audit.verification import record_full
    from app.db import transaction

    with transaction(c.session_factory) as session:
        stale = c.clock.now() - timedelta(seconds=c.settings.audit_full_verify_interval)
        last = AuditVerification.full_verified_at
        chain = session.scalar(
            select(AuditChainHead.chain)
            .outerjoin(AuditVerification, AuditVerification.chain == AuditChainHead.chain)
            .where(or_(last.is_(None), last < stale))
            .order_by(last.is_not(None), last, AuditChainHead.chain)
            .limit(1)
        )
    if chain is None:
        return {}
    with transaction(c.session_factory) as session:
        result = AuditIntegrity(session, c.clock, c.audit_signer).verify(chain)
        record_full(session, c.clock, result)
    if not result.ok:
        log.error("audit chain broken", extra={"chain": chain, "broken": result.broken})
    return {chain: result.ok}


def _domain_rechecks(c: Container) -> dict[str, int]:
    from app.domains import recheck

    return recheck.run(c)


def _sso_metadata(c: Container) -> dict[str, int]:
    from app.sso import refresh

    return refresh.run(c)


def _sso_oidc_discovery(c: Container) -> dict[str, int]:
    from app.sso import oidc_refresh

    return oidc_refresh.run(c)


def _sso_replay_purge(c: Container) -> int:
    return c.saml_replay_cache.purge()


def _extracts(c: Container) -> dict[str, str]:
    return c.extract_runner().run_pending()


def _extract_schedules(c: Container) -> list[str]:
    from app.db import transaction

    with transaction(c.session_factory) as session:
        return c.services(session).extracts.queue_scheduled()


def _extract_retention(c: Container) -> list[str]:
    from app.extracts.runner import expire_files

    return expire_files(c.session_factory, c.clock, c.extract_storage)


def _signing_keys(c: Container) -> dict[str, Any]:
    """Rotate the access tokens' signing key when it is older than the interval; retire previous keys whose
    tokens have all expired (they leave the JWKS)."""
    from datetime import timedelta

    from app.db import transaction

    with transaction(c.session_factory) as session:
        keyring = c.services(session).keyring
        rotated = keyring.rotate_if_due(timedelta(seconds=c.settings.signing_key_rotation_interval))
        return {"rotated": rotated.kid if rotated else None, "retired": keyring.retire_expired()}


def default_jobs(c: Container) -> list[Job]:
    # Failure summaries run before checkpoints so a checkpoint covers them. Domain re-checks run every
    # minute but each domain only when its own next_check_at is due, so the work is spread over the day.
    return [
        Job("audit.failures.flush", 30, _flush_failures),
        Job("audit.retention", 3600, _retention),
        Job("domains.recheck", 60, _domain_rechecks),
        Job("sso.metadata", 300, _sso_metadata),
        Job("sso.oidc_discovery", 300, _sso_oidc_discovery),
        Job("sso.replay_purge", 600, _sso_replay_purge),
        Job("extracts.schedule", 3600, _extract_schedules),
        Job("extracts.run", 5, _extracts),
        Job("extracts.retention", 3600, _extract_retention),
        Job("tokens.signing_keys", 300, _signing_keys),
        Job("audit.checkpoint", c.settings.audit_checkpoint_interval, _checkpoint),
        Job("audit.verify", 60, _full_verification),
        *EXTRA_JOBS,
    ]


class Worker:
    def __init__(
        self,
        container: Container,
        jobs: list[Job] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.container = container
        self.jobs = jobs if jobs is not None else default_jobs(container)
        self.monotonic = monotonic
        self.next_run: dict[str, float] = {}

    def run_job(self, job: Job) -> tuple[bool, Any]:
        started = self.monotonic()
        try:
            summary = job.run(self.container)
        except Exception:  # noqa: BLE001 - one job's failure must not stop the others
            log.exception("job failed", extra={"job": job.name})
            return False, None
        log.info(
            "job done", extra={"job": job.name, "summary": summary, "seconds": self.monotonic() - started}
        )
        return True, summary

    def run_once(self) -> dict[str, Any]:
        """Every job once, in order; the result maps job names to summaries (None when a job failed)."""
        return {job.name: self.run_job(job)[1] for job in self.jobs}

    def run(self, stop: threading.Event, tick: float = 1.0) -> None:
        while not stop.is_set():
            now = self.monotonic()
            for job in self.jobs:
                if self.next_run.get(job.name, 0.0) <= now:
                    self.run_job(job)
                    self.next_run[job.name] = self.monotonic() + job.interval
            stop.wait(tick)
