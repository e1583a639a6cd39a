"""SCIM groups and their members. A SCIM User is a ``Membership`` (with its ``user_name``, ``external_id`` and
``attributes``) plus the global account: no table of its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.ids import new_id


class ScimGroup(Base):
    __tablename__ = "scim_groups"
    __table_args__ = (
        Index("ix_scim_groups_org_id", "org_id", "id"),  # list pages in id order
        Index("ix_scim_groups_org_display_name", "org_id", "display_name"),
        Index("ix_scim_groups_org_external_id", "org_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("grp"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScimGroupMember(Base):
    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_member", "member_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)


class ScimGroupMapping(Base):
    """An IdP group grants a role and/or a seat type to its members, while they are in it."""

    __tablename__ = "scim_group_mappings"
    __table_args__ = (
        UniqueConstraint("group_id"),
        Index("ix_scim_group_mappings_org_id", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("gmap"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"))
    role: Mapped[str | None] = mapped_column(String(64))
    seat_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
