"""Email one-time codes: one live code per address, stored as an HMAC, single use, a few tries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id


class EmailCode(Base):
    __tablename__ = "email_codes"
    __table_args__ = (Index("ix_email_codes_email", "email", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("emc"))
    email: Mapped[str] = mapped_column(String(320))  # normalised (app/orgs/accounts.py)
    # HMAC-SHA256 of the code under a key derived from TENANTRY_SECRET_KEY: a leaked table does not give
    # the codes away (a plain hash of six digits would, in a millisecond).
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]  # consumed, burnt by too many tries, or replaced by a newer code
