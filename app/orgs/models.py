"""Organisations, global accounts, memberships, invitations, seats and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("org"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    audit_logs_enabled: Mapped[bool] = mapped_column(default=True)
    audit_retention_days: Mapped[int] = mapped_column(default=365)
    sso_enforced: Mapped[bool] = mapped_column(default=False)
    # off | invite_only | auto_join; anything but off needs a verified domain (app/domains/service.py).
    auto_join: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    # accept | refuse: SCIM identities (userName, emails) outside the org's verified domains (app/scim).
    scim_outside_domains: Mapped[str] = mapped_column(String(16), default="accept", server_default="accept")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class User(Base):
    """A global account: one email (case-folded), any number of organisations."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("usr"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        Index("ix_memberships_org_id", "org_id", "id"),  # member lists: keyset pages in id order
        Index("ix_memberships_org_seat", "org_id", "seat_type"),
        Index("ix_memberships_org_role", "org_id", "role"),
        Index("ix_memberships_user", "user_id"),
        # SCIM lookups (userName eq, externalId eq) answer from an index at any org size.
        Index("uq_memberships_org_user_name", "org_id", "user_name", unique=True),
        Index("ix_memberships_org_external_id", "org_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mem"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(64))
    seat_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    source: Mapped[str] = mapped_column(String(16), default="invitation")
    external_id: Mapped[str | None] = mapped_column(String(255))
    # SCIM userName, case-folded (RFC 7643 §4.1: case-insensitive, unique in the org); the account email for
    # members who did not come through SCIM.
    user_name: Mapped[str | None] = mapped_column(String(320))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        # At most one pending invitation per email and org.
        Index(
            "uq_invitations_pending_email",
            "org_id",
            "email",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("inv"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(64))
    seat_type: Mapped[str | None] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    invited_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    # The mail for the current token: pending (not tried yet), sent, failed (the admin can resend).
    delivery: Mapped[str] = mapped_column(String(16), default="pending")
    sent_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[datetime | None]


class SeatPool(Base):
    """The seats of one type an organisation paid for; the row is the lock for assignments."""

    __tablename__ = "seat_pools"
    __table_args__ = (UniqueConstraint("org_id", "seat_type"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    seat_type: Mapped[str] = mapped_column(String(32))
    limit: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class SeatRequest(Base):
    __tablename__ = "seat_requests"
    __table_args__ = (
        Index("ix_seat_requests_org_status", "org_id", "status"),
        # At most one pending request per member and seat type, even when two arrive at once.
        Index(
            "uq_seat_requests_pending_member",
            "membership_id",
            "seat_type",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sreq"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    membership_id: Mapped[str] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"))
    seat_type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(1000))  # why it was denied, when it was


class LoginSession(Base):
    """A member's login session; ending a membership revokes its sessions."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_org", "user_id", "org_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ses"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # How the holder proved control of the account (``invitation_email``: a mailed invitation token created
    # it; ``session``: an existing session of the account; later ``sso``, ``email_code``). NULL: no proof
    # (sessions opened before 0002): such a session acts in its org only, never on the account itself.
    account_proof: Mapped[str | None] = mapped_column(String(32))
