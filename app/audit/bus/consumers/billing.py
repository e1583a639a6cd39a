"""``tenantry consume billing``: seats in use per org and seat type, from seat and member events.

Idempotent and order-proof, as a consumer of an at-least-once stream must be:

- the inbox (``billing_inbox``) takes each event once, by id and by (org, per-org sequence); a redelivered
  or re-published event finds its row and changes nothing;
- each member's seat is kept with the sequence of the event that set it, and an older event never
  overwrites a newer one (two relays may publish one org's events out of order); ``in_use`` moves only when
  a member's seat really changes, so ``seat.unassigned`` followed by ``member.removed`` counts once;
- the seat limit is kept with its sequence the same way.

Everything for one event is one transaction; the runner acks the message only after it committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.audit.bus.consumers.models import BillingInbox, BillingMemberSeat, BillingSeatUsage
from app.clock import Clock, SystemClock
from app.db import transaction


def action_of(event_type: str) -> str:
    """``tenantry.seat.assigned.v1`` → ``seat.assigned``."""
    return event_type.removeprefix("tenantry.").rsplit(".", 1)[0]


class BillingConsumer:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock | None = None) -> None:
        self.session_factory = session_factory
        self.clock = clock or SystemClock()

    def filter_subjects(self, prefix: str) -> list[str]:
        return [f"{prefix}.*.seat.>", f"{prefix}.*.member.>"]

    def handle(self, event: dict[str, Any], subject: str = "") -> bool:
        """Apply one event; False when it was seen before or concerns no organisation."""
        data = event.get("data") or {}
        org_id = data.get("org_id")
        if not org_id:
            return False
        sequence = int(event["sequence"])
        with transaction(self.session_factory) as session:
            seen = (
                session.get(BillingInbox, event["id"])
                or session.scalars(
                    select(BillingInbox).where(
                        BillingInbox.org_id == org_id, BillingInbox.sequence == sequence
                    )
                ).first()
            )
            if seen is not None:
                return False
            session.add(
                BillingInbox(
                    event_id=event["id"],
                    org_id=org_id,
                    sequence=sequence,
                    type=event["type"],
                    applied_at=self.clock.now(),
                )
            )
            self._apply(session, org_id, sequence, action_of(event["type"]), data)
        return True

    def _apply(self, session: Session, org_id: str, seq: int, action: str, data: dict[str, Any]) -> None:
        details = data.get("details") or {}
        if action == "seat.assigned":
            self._set_seat(session, org_id, details["member_id"], details["seat_type"], seq)
        elif action == "seat.unassigned":
            self._set_seat(session, org_id, details["member_id"], None, seq)
        elif action == "seat.transferred":
            self._set_seat(session, org_id, details["from_member"], None, seq)
            self._set_seat(session, org_id, details["to_member"], details["seat_type"], seq)
        elif action == "member.removed":
            for target in data.get("targets") or []:
                if target.get("type") == "member":
                    self._set_seat(session, org_id, target["id"], None, seq)
        elif action == "seat.limit_changed":
            usage = self._usage(session, org_id, details["seat_type"])
            if seq > usage.limit_sequence:
                usage.limit = int(data["changes"]["limit"]["after"])
                usage.limit_sequence = seq
                usage.updated_at = self.clock.now()
        # other seat and member events (requests, invitations, roles) change no count

    def _set_seat(
        self, session: Session, org_id: str, member_id: str, seat_type: str | None, seq: int
    ) -> None:
        row = session.get(BillingMemberSeat, (org_id, member_id), with_for_update=True)
        if row is None:
            row = BillingMemberSeat(org_id=org_id, member_id=member_id, seat_type=None, sequence=0)
            session.add(row)
        if seq <= row.sequence:
            return  # a newer event already said where this member stands
        before, row.seat_type, row.sequence = row.seat_type, seat_type, seq
        if before == seat_type:
            return
        now = self.clock.now()
        if before is not None:
            usage = self._usage(session, org_id, before)
            usage.in_use, usage.updated_at = usage.in_use - 1, now
        if seat_type is not None:
            usage = self._usage(session, org_id, seat_type)
            usage.in_use, usage.updated_at = usage.in_use + 1, now

    def _usage(self, session: Session, org_id: str, seat_type: str) -> BillingSeatUsage:
        usage = session.get(BillingSeatUsage, (org_id, seat_type), with_for_update=True)
        if usage is None:
            usage = BillingSeatUsage(
                org_id=org_id, seat_type=seat_type, in_use=0, limit=None, limit_sequence=0,
                updated_at=self.clock.now(),
            )  # fmt: skip
            session.add(usage)
            session.flush()
        return usage

    def seats_in_use(self, org_id: str) -> dict[str, int]:
        with self.session_factory() as session:
            rows = session.scalars(select(BillingSeatUsage).where(BillingSeatUsage.org_id == org_id))
            return {row.seat_type: row.in_use for row in rows}
