"""Signing keys of access tokens: one current, previous ones published for overlap, revoked ones never."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

NEXT, CURRENT, PREVIOUS, RETIRED, REVOKED = "next", "current", "previous", "retired", "revoked"
KEY_STATES = (NEXT, CURRENT, PREVIOUS, RETIRED, REVOKED)


class SigningKey(Base):
    """A key pair for ES256. ``next`` is published before it signs, so verifiers that cached the JWKS
    already hold it when a rotation makes it ``current``; ``current`` signs; ``previous`` no longer signs but
    stays published (and accepted) until ``publish_until``, when the last token it signed has expired, then
    becomes ``retired``; ``revoked`` tokens are refused at once. The private key is sealed
    (app/crypto/sealing.py) and erased once the key stops signing."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one current and one next key, even when two workers create the first ones at once.
        Index(
            "uq_signing_keys_current",
            "state",
            unique=True,
            sqlite_where=text("state = 'current'"),
            postgresql_where=text("state = 'current'"),
        ),
        Index(
            "uq_signing_keys_next",
            "state",
            unique=True,
            sqlite_where=text("state = 'next'"),
            postgresql_where=text("state = 'next'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    private_key_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]  # when it became current (and started signing)
    rotated_at: Mapped[datetime | None]  # when it stopped being current
    publish_until: Mapped[datetime | None]  # a previous key: when the last token it signed expires
    revoked_at: Mapped[datetime | None]
