"""The billing consumer's own tables: its inbox, each member's seat, and seats in use per org and type.

They live in Tenantry's schema for the reference implementation; a real billing service keeps them in its
own database, written in the same transaction as its inbox row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class BillingInbox(Base):
    """Every event applied, once: by id, and by (org, per-org sequence)."""

    __tablename__ = "billing_inbox"
    __table_args__ = (UniqueConstraint("org_id", "sequence"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(100))
    applied_at: Mapped[datetime]


class BillingMemberSeat(Base):
    """The seat a member holds as last reported (``None``: none), with the sequence that said so."""

    __tablename__ = "billing_member_seats"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seat_type: Mapped[str | None] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(BigInteger)


class BillingSeatUsage(Base):
    """Seats in use per org and seat type, and the limit as last set."""

    __tablename__ = "billing_seat_usage"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seat_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    in_use: Mapped[int] = mapped_column(Integer, default=0)
    limit: Mapped[int | None] = mapped_column(Integer)
    limit_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
