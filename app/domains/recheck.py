"""Re-verification of verified domains, run by ``tenantry worker`` (job ``domains.recheck``).

Each run leases the domains whose check is due (at most ``BATCH``), looks their records up with no
transaction open, then applies each result in its own short transaction through
``DomainService.recheck``; the owners are mailed after the commit (mail is not transactional). Checks are
spread over time because every domain carries its own ``next_check_at``, moved on with jitter after each
success (``RecheckPolicy.next_check``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.container import Container
from app.db import transaction
from app.domains.service import PendingCheck, RecheckOutcome, look_up
from app.domains.txt import ChallengeRecord, unicode_name
from app.mail import Mailer
from app.orgs.models import Membership, Organization, User
from app.rbac.permissions import OWNER

log = logging.getLogger("tenantry.domains.recheck")

BATCH = 200  # domains per run; the job runs every minute


@dataclass(frozen=True)
class VerifiedDomainNotice:
    """What the owners are told: ``failing`` (the grace period started) or ``unverified``."""

    kind: str
    org_name: str
    domain: str
    record: ChallengeRecord
    reason: str
    unverify_after: datetime | None
    withdrawn: tuple[str, ...]
    recipients: tuple[str, ...]


def run(container: Container) -> dict[str, int]:
    """One pass over the due domains; returns how many ended in each result (ok, failing, unverified, …)."""
    with transaction(container.session_factory) as session:
        due = container.services(session).domains.lease_due(BATCH)
    results: Counter[str] = Counter()
    for check in due:
        results[_recheck_one(container, check)] += 1
    return dict(results)


def _recheck_one(container: Container, check: PendingCheck) -> str:
    try:
        verdict = look_up(container.txt_resolver, check)  # no transaction is open while DNS answers
        with transaction(container.session_factory) as session:
            outcome = container.services(session).domains.recheck(check, verdict)
            notice = _notice(session, check, outcome) if outcome.notice else None
    except Exception:  # noqa: BLE001 - one domain's failure must not stop the others; its lease expires
        log.exception("domain re-check failed", extra={"domain_id": check.domain_id})
        return "error"
    log.info(
        "domain re-checked",
        extra={"domain_id": check.domain_id, "org_id": check.org_id, "result": outcome.result},
    )
    if notice is not None:
        notify_owners(container.mailer, notice)
    return outcome.result


def _notice(session: Session, check: PendingCheck, outcome: RecheckOutcome) -> VerifiedDomainNotice:
    org = session.get(Organization, check.org_id)
    owners = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == check.org_id, Membership.role == OWNER, Membership.status == "active")
        .order_by(User.email)
    ).all()
    return VerifiedDomainNotice(
        kind=outcome.notice or "",
        org_name=org.name if org else check.org_id,
        domain=check.name,
        record=check.record,
        reason=outcome.reason.value if outcome.reason else "",
        unverify_after=outcome.unverify_after,
        withdrawn=outcome.withdrawn,
        recipients=tuple(owners),
    )


def notify_owners(mailer: Mailer, notice: VerifiedDomainNotice) -> int:
    """Mail each owner; a failed delivery is logged and never undoes the committed change."""
    if not notice.recipients:
        log.warning("no owner to mail about a domain", extra={"domain": notice.domain, "kind": notice.kind})
    subject, body = message(notice)
    sent = 0
    for to in notice.recipients:
        try:
            mailer.send(to, subject, body)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one owner's mail server must not stop the others
            log.warning("domain notice not delivered", extra={"domain": notice.domain, "error": str(exc)})
    return sent


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "soon"


def message(notice: VerifiedDomainNotice) -> tuple[str, str]:
    name = unicode_name(notice.domain)
    record = f"  Name:  {notice.record.name}\n  Type:  {notice.record.type}\n  Value: {notice.record.value}\n"
    if notice.kind == "failing":
        subject = f"Action needed: the verification record of {name} is missing"
        body = (
            f"Tenantry re-checked {name} for {notice.org_name} and did not find its verification record "
            f"({notice.reason}).\n\nPublish it again:\n{record}\n"
            f"If it is still missing after {_when(notice.unverify_after)}, {name} will no longer be verified "
            f"for {notice.org_name}. If it is the organisation's last verified domain, SSO enforcement and "
            "auto-join will be turned off.\n"
        )
        return subject, body
    withdrawn = (
        ", ".join(notice.withdrawn) if notice.withdrawn else "nothing else (another domain is verified)"
    )
    subject = f"{name} is no longer verified for {notice.org_name}"
    body = (
        f"Tenantry could not find the verification record of {name} for the whole grace period "
        f"({notice.reason}), so {name} is no longer verified for {notice.org_name}.\n\n"
        f"Turned off with it: {withdrawn}.\n\n"
        f"To verify it again, publish the record and choose Verify for the domain:\n{record}"
    )
    return subject, body
