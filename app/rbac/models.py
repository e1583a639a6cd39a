"""Authorization storage: custom roles as Casbin rules in the org's domain, and the per-org version.

Assignments (``g``: member -> role, ``g2``: member -> seat) are not copied here: they are the
``memberships`` rows (role, seat_type, status), read as Casbin rules by ``app/rbac/loader.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id


class CasbinRule(Base):
    """A Casbin policy line. ``p``: (v0 subject, domain, v1 permission), e.g. ``p, role:auditor, org_…,
    audit_logs:read``. Indexed on (ptype, domain): loading one org must not scan every org's rules."""

    __tablename__ = "casbin_rules"
    __table_args__ = (
        Index("ix_casbin_rules_ptype_domain", "ptype", "domain"),
        UniqueConstraint("ptype", "domain", "v0", "v1", name="uq_casbin_rules_line"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(String(8))
    domain: Mapped[str] = mapped_column(String(40))
    v0: Mapped[str] = mapped_column(String(128))
    v1: Mapped[str] = mapped_column(String(128))


class CustomRole(Base):
    """A custom role's name and description; its permissions are ``CasbinRule`` rows."""

    __tablename__ = "custom_roles"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("role"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuthzVersion(Base):
    """The org's authorization version, bumped in the same transaction as any change to its roles, seats or
    memberships (``app/rbac/versioning.py``). No foreign key: it is written in ``before_flush``, possibly
    before the org row itself is inserted."""

    __tablename__ = "authz_versions"
    __table_args__ = (Index("ix_authz_versions_changed_at", "changed_at"),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[float] = mapped_column(Float)  # epoch seconds, for the pollers' window
