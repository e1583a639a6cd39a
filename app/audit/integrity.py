"""Tamper evidence for stored chains: verification (first broken link) and signed checkpoints of heads.

What each check catches: an edited row (its hash no longer matches its content), a deleted or inserted
row (a sequence gap or a ``prev_hash`` that does not link), deleted newest rows (the chain head no longer
matches the last event), and a chain recomputed after an edit by someone with database access but without
the signing key (the event at a signed checkpoint's ``seq`` no longer has the signed ``hash``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import chain as links
from app.audit.erasure import redactions_digest
from app.audit.keyring import REVOKED, SigningKeyring
from app.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditPurgeHorizon,
    AuditRedaction,
)
from app.audit.recorder import hashed_fields
from app.audit.signing import Signer, statement, verify_signature
from app.clock import Clock

EVENTS = AuditEvent.__table__


def checkpoint_json(cp: AuditCheckpoint) -> dict[str, Any]:
    return {
        "chain": cp.chain,
        "seq": cp.seq,
        "hash": cp.hash,
        "time": links.format_time(cp.signed_at),
        "key_id": cp.key_id,
        "signature": cp.signature,
    }


@dataclass
class Verification:
    chain: str
    ok: bool = True
    checked: int = 0
    first_seq: int | None = None
    start: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    broken: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def fail(self, seq: int, event_id: str, reason: str) -> Verification:
        if self.ok:
            self.ok, self.broken = False, {"seq": seq, "event_id": event_id, "reason": reason}
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "ok": self.ok,
            "checked": self.checked,
            "first_seq": self.first_seq,
            "start": self.start,
            "head": self.head,
            "broken": self.broken,
            "checkpoint": self.checkpoint,
        }


class AuditIntegrity:
    def __init__(self, session: Session, clock: Clock, signer: Signer) -> None:
        self.session = session
        self.clock = clock
        self.keys = SigningKeyring(session, clock, signer)

    # -- checkpoints --------------------------------------------------------------------------------

    def latest_checkpoint(
        self, chain: str, *, at_most: int | None = None, trusted: bool = False
    ) -> AuditCheckpoint | None:
        """The newest checkpoint of ``chain`` (``trusted``: signed by a key that is not revoked)."""
        stmt = select(AuditCheckpoint).where(AuditCheckpoint.chain == chain)
        if at_most is not None:
            stmt = stmt.where(AuditCheckpoint.seq <= at_most)
        if trusted and (revoked := self.keys.revoked()):
            stmt = stmt.where(AuditCheckpoint.key_id.not_in(revoked))
        return self.session.scalars(
            stmt.order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
        ).first()

    def checkpoint(self, chain: str) -> AuditCheckpoint | None:
        """Sign the chain's current head, unless the latest checkpoint already covers it."""
        head = self.session.get(AuditChainHead, chain)
        if head is None or head.seq == 0:
            return None
        signer = self.keys.active_signer()
        latest = self.latest_checkpoint(chain)
        if latest is not None and (latest.seq, latest.hash, latest.key_id) == (
            head.seq,
            head.hash,
            signer.key_id,
        ):
            return latest
        now = self.clock.now()
        cp = AuditCheckpoint(
            chain=chain,
            seq=head.seq,
            hash=head.hash,
            signed_at=now,
            key_id=signer.key_id,
            signature=signer.sign(statement(chain, head.seq, head.hash, links.format_time(now))),
        )
        self.session.add(cp)
        self.session.flush()
        return cp

    def checkpoint_at(self, chain: str, seq: int, hash_: str) -> AuditCheckpoint:
        """Sign a past link of ``chain`` (an extract's last row), unless a checkpoint already names it.
        Like :meth:`checkpoint` it trusts the stored hash; verification is what catches an edited chain."""
        existing = self.session.scalars(
            select(AuditCheckpoint).where(
                AuditCheckpoint.chain == chain, AuditCheckpoint.seq == seq, AuditCheckpoint.hash == hash_
            )
        ).first()
        signer = self.keys.active_signer()
        if existing is not None and existing.key_id == signer.key_id:
            return existing
        now = self.clock.now()
        cp = AuditCheckpoint(
            chain=chain,
            seq=seq,
            hash=hash_,
            signed_at=now,
            key_id=signer.key_id,
            signature=signer.sign(statement(chain, seq, hash_, links.format_time(now))),
        )
        self.session.add(cp)
        self.session.flush()
        return cp

    def checkpoint_all(self) -> list[AuditCheckpoint]:
        chains = self.session.scalars(select(AuditChainHead.chain).order_by(AuditChainHead.chain)).all()
        return [cp for c in chains if (cp := self.checkpoint(c)) is not None]

    def checkpoint_is_valid(self, cp: AuditCheckpoint) -> bool:
        message = statement(cp.chain, cp.seq, cp.hash, links.format_time(cp.signed_at))
        found = self.keys.public_key(cp.key_id)
        if found is None or found[1] == REVOKED:
            return False
        return verify_signature(found[0], message, cp.signature)

    # -- verification -------------------------------------------------------------------------------

    def chains(self) -> list[str]:
        return list(self.session.scalars(select(AuditChainHead.chain).order_by(AuditChainHead.chain)))

    def span(self, chain: str) -> int:
        """How many retained events a full verification of ``chain`` walks (for a progress bar)."""
        head = self.session.get(AuditChainHead, chain)
        horizon = self.session.get(AuditPurgeHorizon, chain)
        return max(0, (head.seq if head else 0) - (horizon.seq if horizon else 0))

    def verify(
        self, chain: str, *, batch: int = 2000, progress: Callable[[int], None] | None = None
    ) -> Verification:
        """Walk the retained part of ``chain`` in sequence order up to the head read at the start;
        ``progress`` is told how many events each batch held."""
        result = Verification(chain)
        head = self.session.get(AuditChainHead, chain)
        if head is None:
            return result
        head_seq, head_hash = head.seq, head.hash
        result.head = {"seq": head_seq, "hash": head_hash}
        horizon = self.session.get(AuditPurgeHorizon, chain)
        start_seq, start_hash = (horizon.seq + 1, horizon.hash) if horizon else (1, links.GENESIS)
        result.start = {"seq": start_seq - 1, "hash": start_hash}
        cp = self.latest_checkpoint(chain, at_most=head_seq, trusted=True)
        if cp is not None:
            result.checkpoint = checkpoint_json(cp)
            if not self.checkpoint_is_valid(cp):
                result.notes.append("the latest checkpoint's signature does not verify with its key")
                return result.fail(cp.seq, "", "checkpoint signature invalid (or signed by an unknown key)")
        seen: dict[str, Any] = {"last": None, "cp_hash": None}
        # Events erased in place: their content must have the digest their erasure attests.
        attested: dict[str, str] = {
            r.event_id: r.digest
            for r in self.session.execute(
                select(AuditRedaction.event_id, AuditRedaction.digest)
                .where(AuditRedaction.chain == chain)
                .order_by(AuditRedaction.redacted_at, AuditRedaction.erasure_id)
            )
        }
        erasures: dict[str, tuple[int, str]] = {}  # erasure event id → (seq, the digest it attests)

        def walk() -> Iterator[tuple[Mapping[str, Any], str, str]]:
            after = start_seq - 1
            while True:
                rows = self.session.execute(
                    select(EVENTS)
                    .where(EVENTS.c.chain == chain, EVENTS.c.seq > after, EVENTS.c.seq <= head_seq)
                    .order_by(EVENTS.c.seq)
                    .limit(batch)
                ).all()
                for row in rows:
                    if result.first_seq is None:
                        result.first_seq = row.seq
                    result.checked += 1
                    seen["last"] = (row.seq, row.id, row.hash)
                    if cp is not None and row.seq == cp.seq:
                        seen["cp_hash"] = (row.id, row.hash)
                    if row.redacted is not None and row.id not in attested:
                        attested[row.id] = ""  # claims an erasure nobody attested: never matches
                    if row.action == "user.deleted" and "redactions_digest" in (row.data or {}):
                        erasures[row.id] = (row.seq, str(row.data["redactions_digest"]))
                    yield hashed_fields(cast(AuditEvent, row)), row.prev_hash, row.hash
                if progress is not None:
                    progress(len(rows))
                if len(rows) < batch:
                    return
                after = rows[-1].seq

        events = walk()
        first = next(events, None)
        if first is None:
            if head_seq >= start_seq:
                return result.fail(start_seq, "", f"events {start_seq}..{head_seq} are missing")
            return result
        fields = first[0]
        if int(fields["seq"]) != start_seq:
            return result.fail(
                int(fields["seq"]),
                str(fields["id"]),
                f"sequence gap: expected {start_seq} after the purge horizon",
            )
        broken = links.verify(_chain_with(first, events), start_hash, attested)
        if broken is not None:
            return result.fail(broken.seq, broken.event_id, broken.reason)
        for event_id, (seq, claimed) in erasures.items():
            pairs = self.session.execute(
                select(AuditRedaction.event_id, AuditRedaction.digest).where(
                    AuditRedaction.erasure_id == event_id
                )
            ).all()
            if redactions_digest((p.event_id, p.digest) for p in pairs) != claimed:
                return result.fail(seq, event_id, "the erasures it attests were changed")
        last_seq, last_id, last_hash = seen["last"]
        if last_seq != head_seq or last_hash != head_hash:
            return result.fail(head_seq, last_id, "the chain head does not match the last event (deleted?)")
        if cp is not None and cp.seq >= start_seq:
            if seen["cp_hash"] is None or seen["cp_hash"][1] != cp.hash:
                event_id = seen["cp_hash"][0] if seen["cp_hash"] else ""
                return result.fail(cp.seq, event_id, "does not match the signed checkpoint (chain rewritten)")
        return result


def _chain_with(
    first: tuple[Mapping[str, Any], str, str], rest: Iterator[tuple[Mapping[str, Any], str, str]]
) -> Iterator[tuple[Mapping[str, Any], str, str]]:
    yield first
    yield from rest
