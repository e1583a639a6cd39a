"""Claimed domains and their verification state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id

PENDING, VERIFIED, UNVERIFIED = "pending", "verified", "unverified"


class Domain(Base):
    """A name an org claims. ``pending`` until the TXT record is seen; ``verified`` while re-checks find it;
    ``unverified`` once a re-check has missed it for the whole grace period (verify again to restore)."""

    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("org_id", "name"),  # an org claims a name once
        # A name is verified by one org at most, even when two verify at once: the database decides.
        Index(
            "uq_domains_verified_name",
            "name",
            unique=True,
            sqlite_where=text("status = 'verified'"),
            postgresql_where=text("status = 'verified'"),
        ),
        Index("ix_domains_status_next_check", "status", "next_check_at"),  # the re-check job's queue
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("dom"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253))  # ASCII (IDNA A-labels), lower case, no trailing dot
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    token: Mapped[str] = mapped_column(String(64))  # public by design: it is published in DNS
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(32))  # a Reason code, None after a success
    # Re-verification: when the next check is due, and since when the record has been missing (None: found).
    next_check_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
