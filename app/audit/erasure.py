"""Erasing a person from the audit log when their account is deleted, in the deletion's transaction.

Two parts (docs/audit-logs.md, "Erasure"):

1. **Crypto-shredding.** Every key of the person's subjects (their user id, and their email address) is
   destroyed: the values sealed under them (app/audit/personal.py) become ``[erased]`` on every read path,
   and no hash changes, because the chain hashes the tokens.
2. **Events recorded before sealing existed** (before revision 0009) hold personal values in clear inside the
   hashed fields. They are erased in place (the value replaced by ``[erased]``); their stored ``hash`` and
   ``prev_hash`` stay, so the chain still links and signed checkpoints still match. Such an event can no
   longer be checked against its hash: it is checked against the SHA-256 of its fields after the erasure,
   recorded in ``audit_redactions`` and attested by the erasure event (``user.deleted`` carries the digest of
   all its redactions, in the platform chain that checkpoints sign). Before erasing, each event is checked
   against its hash, and the result is kept (``intact_before``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.audit import chain as links
from app.audit.chain import content_digest
from app.audit.models import AuditEvent, AuditEventTarget, AuditRedaction
from app.audit.personal import Subject, normalize_email, personal_values, redacted
from app.audit.recorder import AuditRecorder, hashed_fields
from app.clock import Clock

EVENTS = AuditEvent.__table__


def redactions_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """What an erasure event attests: SHA-256 over the sorted ``event_id:digest`` lines of its redactions."""
    lines = "".join(f"{event_id}:{digest}\n" for event_id, digest in sorted(pairs))
    return hashlib.sha256(lines.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Redaction:
    event: AuditEvent
    digest: str
    intact_before: bool


@dataclass(frozen=True)
class ErasurePlan:
    subjects: tuple[Subject, ...]
    redactions: tuple[Redaction, ...]

    def attestation(self) -> dict[str, Any]:
        """The erasure event's ``data`` fields that attest the in-place erasures."""
        return {
            "redacted_events": len(self.redactions),
            "redactions_digest": redactions_digest((r.event.id, r.digest) for r in self.redactions),
        }


class SubjectErasure:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def plan_account(self, user_id: str, email: str, *, invitation_ids: Sequence[str]) -> ErasurePlan:
        """Erase in place the account's clear values in events recorded before sealing: events naming the
        account or its invitations as a target, and events it acted in (in the orgs that name it, and the
        platform chain). Keys are destroyed by :meth:`finish`, after the deletion's own events are
        recorded. Writers of those chains may interleave: only events already recorded are touched, and
        nothing recorded later holds a clear value."""
        subjects = (Subject("user", user_id), Subject("email", normalize_email(email)))
        wanted = set(subjects)
        t = AuditEventTarget.__table__.c
        named = select(t.event_id).where(t.target_id.in_([user_id, *invitation_ids]))
        org_ids = select(t.org_id).where(t.target_id == user_id).distinct()
        acted = (AuditEvent.actor_id == user_id) & or_(
            AuditEvent.org_id.in_(org_ids), AuditEvent.org_id.is_(None)
        )
        candidates = self.session.scalars(
            select(AuditEvent)
            .where(or_(AuditEvent.id.in_(named), acted))
            .order_by(AuditEvent.chain, AuditEvent.seq)
        ).all()
        done: list[Redaction] = []
        for event in candidates:
            fields = hashed_fields(event)
            paths = [pv.path for pv in personal_values(fields) if pv.subject in wanted]
            if not paths:
                continue
            intact = (
                links.link(event.prev_hash, fields) == event.hash
                if event.redacted is None
                else content_digest(fields) == event.redacted.get("digest")
            )
            after = redacted(fields, paths)
            event.actor_name = after["actor"]["name"]
            event.targets, event.changes, event.data = after["targets"], after["changes"], after["data"]
            digest = content_digest(after)
            event.redacted = {"by": None, "digest": digest}
            done.append(Redaction(event, digest, intact))
        self.session.flush()
        return ErasurePlan(subjects, tuple(done))

    def finish(self, plan: ErasurePlan, erasure_event_id: str) -> int:
        """Record the redactions under the erasure event, and destroy the subjects' keys; returns how
        many keys were destroyed."""
        now = self.clock.now()
        for r in plan.redactions:
            r.event.redacted = {"by": erasure_event_id, "digest": r.digest}
            self.session.add(
                AuditRedaction(
                    event_id=r.event.id, erasure_id=erasure_event_id, chain=r.event.chain, seq=r.event.seq,
                    digest=r.digest, intact_before=r.intact_before, redacted_at=now,
                )
            )  # fmt: skip
        keys = self.audit.subject_keys
        destroyed = keys.erase(plan.subjects) if keys is not None else 0
        self.session.flush()
        return destroyed
