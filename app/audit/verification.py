"""Bounded verification: each call walks at most ``cap`` events, going on from the newest point a previous
walk verified, and says what it covered. The full walk (``AuditIntegrity.verify``) is the CLI's and the
worker's; its results are stored too.

Where a walk starts: the point (seq, hash) the previous bounded walk of the chain verified up to, if that
event is still retained and still has that hash; otherwise the purge horizon (or the genesis). On the way,
each event's hash (or attested erasure) and link, and every signed checkpoint it passes (signature by a key
that is not revoked, and the event at its seq having its hash) are checked; at the head, the chain head must
be the last event. A walk that finds a broken link stores nothing: the next one starts at the same place.

What it does not catch: an edit *before* the stored point made after the walk passed it. The full
verification (``tenantry audit verify``, and the worker every ``TENANTRY_AUDIT_FULL_VERIFY_INTERVAL``) walks
everything again; ``restart`` makes a bounded walk start over from the horizon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import chain as links
from app.audit.integrity import AuditIntegrity, Verification, checkpoint_json
from app.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditPurgeHorizon,
    AuditRedaction,
    AuditVerification,
)
from app.audit.recorder import hashed_fields
from app.audit.signing import Signer
from app.clock import Clock

EVENTS = AuditEvent.__table__


@dataclass
class Coverage:
    """What one bounded walk covered."""

    chain: str
    ok: bool = True
    from_seq: int | None = None  # the first event checked
    to_seq: int | None = None  # the last event checked
    head_seq: int = 0
    complete: bool = True  # reached the head
    checked: int = 0
    resumed: bool = False  # started from a point a previous walk verified
    checkpoints: list[int] = field(default_factory=list)  # seqs of the signed checkpoints checked on the way
    broken: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None  # the newest checkpoint checked (this walk or before)
    next: str | None = None
    head: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "first_seq": self.from_seq}


class BoundedVerifier:
    def __init__(
        self, session: Session, clock: Clock, signer: Signer, *, cap: int, batch: int = 2000
    ) -> None:
        self.session = session
        self.clock = clock
        self.integrity = AuditIntegrity(session, clock, signer)
        self.cap = cap
        self.batch = batch

    def verify(self, chain: str, *, restart: bool = False) -> Coverage:
        head = self.session.get(AuditChainHead, chain)
        cov = Coverage(chain)
        if head is None or head.seq == 0:
            return cov
        head_seq, head_hash = head.seq, head.hash
        cov.head_seq, cov.head = head_seq, {"seq": head_seq, "hash": head_hash}
        horizon = self.session.get(AuditPurgeHorizon, chain)
        start_seq, start_hash = (horizon.seq + 1, horizon.hash) if horizon else (1, links.GENESIS)
        state = self.session.get(AuditVerification, chain)
        if state is not None and not restart and start_seq - 1 <= state.seq <= head_seq:
            stored = self.session.scalar(
                select(EVENTS.c.hash).where(EVENTS.c.chain == chain, EVENTS.c.seq == state.seq)
            )
            if stored == state.hash or (state.seq == start_seq - 1 and state.hash == start_hash):
                start_seq, start_hash, cov.resumed = state.seq + 1, state.hash, True
                cov.checkpoint = state.checkpoint
        if start_seq > head_seq:
            cov.next = "nothing new since the last verification; the full one runs on the worker or CLI"
            return cov
        end = min(head_seq, start_seq - 1 + self.cap)
        attested = {
            r.event_id: r.digest
            for r in self.session.execute(
                select(AuditRedaction.event_id, AuditRedaction.digest)
                .where(
                    AuditRedaction.chain == chain, AuditRedaction.seq >= start_seq, AuditRedaction.seq <= end
                )
                .order_by(AuditRedaction.redacted_at, AuditRedaction.erasure_id)
            )
        }
        checkpoints = {
            cp.seq: cp
            for cp in self.session.scalars(
                select(AuditCheckpoint)
                .where(
                    AuditCheckpoint.chain == chain,
                    AuditCheckpoint.seq >= start_seq,
                    AuditCheckpoint.seq <= end,
                )
                .order_by(AuditCheckpoint.seq, AuditCheckpoint.id)
            )
            if cp.key_id not in self.integrity.keys.revoked()
        }
        prev_seq, prev_hash, last_id = start_seq - 1, start_hash, ""
        while prev_seq < end:
            rows = self.session.execute(
                select(EVENTS)
                .where(EVENTS.c.chain == chain, EVENTS.c.seq > prev_seq, EVENTS.c.seq <= end)
                .order_by(EVENTS.c.seq)
                .limit(self.batch)
            ).all()
            if not rows:
                return self._fail(cov, prev_seq + 1, "", f"events {prev_seq + 1}..{end} are missing")
            for row in rows:
                if row.redacted is not None and row.id not in attested:
                    attested[row.id] = ""
            if rows[0].seq != prev_seq + 1:
                return self._fail(cov, rows[0].seq, rows[0].id, f"sequence gap: expected {prev_seq + 1}")
            triples = [(hashed_fields(cast(AuditEvent, row)), row.prev_hash, row.hash) for row in rows]
            broken = links.verify(triples, prev_hash, attested)
            if broken is not None:
                return self._fail(cov, broken.seq, broken.event_id, broken.reason)
            for row in rows:
                cp = checkpoints.get(row.seq)
                if cp is not None:
                    if not self.integrity.checkpoint_is_valid(cp) or cp.hash != row.hash:
                        return self._fail(cov, row.seq, row.id, "does not match the signed checkpoint")
                    cov.checkpoints.append(row.seq)
                    cov.checkpoint = checkpoint_json(cp)
            cov.from_seq = start_seq if cov.from_seq is None else cov.from_seq
            cov.checked += len(rows)
            prev_seq, prev_hash, last_id = rows[-1].seq, rows[-1].hash, rows[-1].id
        cov.to_seq = end
        cov.complete = end == head_seq
        if cov.complete and prev_hash != head_hash:
            return self._fail(
                cov, head_seq, last_id, "the chain head does not match the last event (deleted?)"
            )
        self._store(chain, end, prev_hash, cov.checkpoint)
        cov.next = (
            None
            if cov.complete
            else f"call again to verify from seq {end + 1} (at most {self.cap} events per call); "
            "`tenantry audit verify` walks the whole chain"
        )
        return cov

    def _fail(self, cov: Coverage, seq: int, event_id: str, reason: str) -> Coverage:
        cov.ok, cov.complete = False, False
        cov.broken = {"seq": seq, "event_id": event_id, "reason": reason}
        cov.next = "the chain is broken here: run `tenantry audit verify` and investigate"
        return cov

    def _store(self, chain: str, seq: int, hash_: str, checkpoint: dict[str, Any] | None) -> None:
        state = self.session.get(AuditVerification, chain)
        now = self.clock.now()
        if state is None:
            self.session.add(
                AuditVerification(chain=chain, seq=seq, hash=hash_, verified_at=now, checkpoint=checkpoint)
            )
        else:
            state.seq, state.hash, state.verified_at, state.checkpoint = seq, hash_, now, checkpoint
        self.session.flush()


def record_full(session: Session, clock: Clock, result: Verification) -> None:
    """Store a full verification's outcome; an intact chain moves the bounded walk's point to its head."""
    state = session.get(AuditVerification, result.chain)
    now = clock.now()
    if state is None:
        # A broken chain gets a row too (its bounded point at the start), so its outcome is kept.
        state = AuditVerification(chain=result.chain, seq=0, hash=links.GENESIS, verified_at=now)
        session.add(state)
    state.full_verified_at, state.full_ok, state.full_broken = now, result.ok, result.broken
    if result.ok and result.head is not None:
        state.seq, state.hash, state.verified_at = result.head["seq"], result.head["hash"], now
        state.checkpoint = result.checkpoint or state.checkpoint
    session.flush()
