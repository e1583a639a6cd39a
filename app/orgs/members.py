"""Memberships: an account's place in an organisation (role, seat, status, where it came from).

Who may change a role and the last-owner rule live in ``app/rbac/permissions.py`` (``check_role_change``,
``check_grant``); this service asks it before every change that gives or takes a role: a role change, a
suspension or reactivation, a removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.db import insert_now
from app.errors import AlreadyMember, NotFound, ValidationFailed
from app.ids import new_id
from app.ids import plausible_id as plausible_id  # re-exported: app/orgs/accounts.py imports it from here
from app.orgs.lookup import live_org
from app.orgs.models import Membership, User
from app.orgs.seats import SEAT_TYPES, SeatService
from app.orgs.sessions import SessionService
from app.pagination import decode_cursor, encode_cursor
from app.rbac.permissions import BUILTIN_ROLES, OWNER, Authorizer, check_grant, check_role_change
from app.rbac.service import RoleService

MEMBER_STATUSES = ("active", "suspended")
SEATLESS = "none"


@dataclass(frozen=True)
class MemberFilter:
    role: str | None = None
    seat_type: str | None = None  # a seat type, or SEATLESS
    status: str | None = None
    q: str | None = None  # case-insensitive substring of name or email


@dataclass(frozen=True)
class MemberPage:
    rows: list[tuple[Membership, User]]
    next_cursor: str | None


class MemberService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        seats: SeatService | None = None,
        sessions: SessionService | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.seats = seats or SeatService(session, clock, audit)
        self.sessions = sessions or SessionService(session, clock, 0, audit)
        self.authorizer = authorizer or Authorizer()

    # --- reading -----------------------------------------------------------------------------------------
    def find(self, org_id: str, user_id: str) -> Membership | None:
        return self.session.scalars(
            select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
        ).one_or_none()

    def get(self, org_id: str, member_id: str) -> Membership:
        member = self.session.get(Membership, member_id) if plausible_id(member_id) else None
        if member is None or member.org_id != org_id:
            raise NotFound(f"Member {member_id} not found")
        return member

    def read(self, org_id: str, member_id: str) -> tuple[Membership, User]:
        member = self.get(org_id, member_id)
        return member, self.session.get_one(User, member.user_id)

    def list_members(
        self, org_id: str, filters: MemberFilter, *, limit: int, cursor: str | None
    ) -> MemberPage:
        """One page in id order (ids sort by creation); the cursor is the last id of the previous page."""
        live_org(self.session, org_id)
        stmt = self._filtered(org_id, filters)
        if cursor:
            stmt = stmt.where(Membership.id > decode_cursor(cursor, id_prefix="mem_"))
        rows = [(m, u) for m, u in self.session.execute(stmt.order_by(Membership.id).limit(limit + 1))]
        if len(rows) <= limit:
            return MemberPage(rows, None)
        return MemberPage(rows[:limit], encode_cursor(rows[limit - 1][0].id))

    def _filtered(self, org_id: str, filters: MemberFilter) -> Select[tuple[Membership, User]]:
        stmt = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.org_id == org_id)
        )
        if filters.role:
            stmt = stmt.where(Membership.role == filters.role)
        if filters.seat_type == SEATLESS:
            stmt = stmt.where(Membership.seat_type.is_(None))
        elif filters.seat_type:
            if filters.seat_type not in SEAT_TYPES:
                raise ValidationFailed(
                    f"Unknown seat type {filters.seat_type!r}; use one of {', '.join(SEAT_TYPES)} "
                    f"or '{SEATLESS}' for members without a seat.",
                    errors=[{"field": "seat_type", "message": "unknown seat type"}],
                )
            stmt = stmt.where(Membership.seat_type == filters.seat_type)
        if filters.status:
            stmt = stmt.where(Membership.status == filters.status)
        if filters.q:
            stmt = stmt.where(
                User.email.icontains(filters.q, autoescape=True)
                | User.name.icontains(filters.q, autoescape=True)
            )
        return stmt

    # --- changing ----------------------------------------------------------------------------------------
    def add(
        self,
        org_id: str,
        user: User,
        role: str,
        *,
        source: str,
        new_account: bool = False,
        user_name: str | None = None,
        external_id: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Membership:
        """Add ``user`` to the org with ``role``; 409 when already a member. Seats are taken separately.

        ``new_account``: the account was created in this transaction, so it cannot be a member yet (one query
        saved on SCIM's import path). ``user_name``, ``external_id`` and ``attributes`` are SCIM's, written
        with the row rather than by a second UPDATE."""
        if not new_account and self.find(org_id, user.id) is not None:
            raise AlreadyMember(f"{user.email} is already a member of this organisation.")
        now = self.clock.now()
        member = Membership(
            id=new_id("mem"), org_id=org_id, user_id=user.id, role=role, source=source, status="active",
            user_name=user_name or user.email, external_id=external_id, attributes=attributes or {},
            created_at=now, updated_at=now,
        )  # fmt: skip
        if self.session.new:
            self.session.add(member)  # with the pending rows (its org, say) at the next flush, as always
        else:
            insert_now(self.session, member)  # nothing pending: its account and org are rows (or held)
        self.audit.record(
            AuditAction.MEMBER_ADDED, org_id=org_id,
            targets=[Target("member", member.id), Target("user", user.id, user.email)],
            data={"user_id": user.id, "role": role, "source": source},
        )  # fmt: skip
        return member

    def update(
        self,
        org_id: str,
        member_id: str,
        principal: Principal,
        *,
        role: str | None = None,
        status: str | None = None,
    ) -> Membership:
        """Change role and/or status; suspending ends the member's sessions in this org."""
        self.audit.lock_chain(org_id)
        member = self.get(org_id, member_id)
        if role is not None and role != member.role:
            self.change_role(member, role, principal)
        if status is not None and status != member.status:
            self.change_status(member, status, principal)
        return member

    def change_role(self, member: Membership, role: str, principal: Principal) -> None:
        if not self._role_exists(member.org_id, role):
            raise ValidationFailed(
                f"Unknown role {role!r}; use a built-in role ({', '.join(BUILTIN_ROLES)}) "
                "or one of the organisation's custom roles.",
                errors=[{"field": "role", "message": "unknown role"}],
            )
        self._check_owner_change(member, role, principal)
        before = member.role
        member.role = role
        member.updated_at = self.clock.now()
        self.session.flush()
        self.audit.record(
            AuditAction.MEMBER_ROLE_CHANGED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            changes={"role": {"before": before, "after": role}},
            data={"user_id": member.user_id},
        )

    def change_status(self, member: Membership, status: str, principal: Principal) -> None:
        if status not in MEMBER_STATUSES:
            raise ValidationFailed(
                f"Unknown status {status!r}; use active or suspended.",
                errors=[{"field": "status", "message": "unknown status"}],
            )
        if status == "suspended":
            # A suspended owner holds no power, so suspension is judged like removing the owner role.
            self._check_owner_change(member, None, principal)
        else:  # reactivating gives the role back: the same rule as granting it
            check_grant(principal, self.authorizer, member.org_id, member.role)
        before = member.status
        member.status = status
        member.updated_at = self.clock.now()
        ended = self.sessions.end_for_member(member.user_id, member.org_id) if status == "suspended" else 0
        self.session.flush()
        self.audit.record(
            AuditAction.MEMBER_SUSPENDED if status == "suspended" else AuditAction.MEMBER_REACTIVATED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            changes={"status": {"before": before, "after": status}},
            data={"user_id": member.user_id, "role": member.role, "sessions_ended": ended},
        )

    def remove(self, org_id: str, member_id: str, principal: Principal) -> None:
        """Remove a member: seat freed, sessions in this org ended, row deleted (seat requests with it)."""
        self.audit.lock_chain(org_id)
        member = self.get(org_id, member_id)
        self._check_owner_change(member, None, principal)
        self.end_membership(member, reason="removed")

    def end_membership(self, member: Membership, *, reason: str) -> int:
        """The shared end of a membership (removal, account deletion); callers check the owner rules first.

        Returns the number of sessions ended in the org."""
        seat_type = member.seat_type
        self.seats.release(member, reason=f"member_{reason}")
        ended = self.sessions.end_for_member(member.user_id, member.org_id)
        self.audit.record(
            AuditAction.MEMBER_REMOVED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            data={
                "user_id": member.user_id,
                "role": member.role,
                "seat_type": seat_type,
                "reason": reason,
                "sessions_ended": ended,
            },
        )
        self.session.delete(member)
        self.session.flush()
        return ended

    def _role_exists(self, org_id: str, role: str) -> bool:
        return RoleService(self.session, self.clock, self.audit, self.authorizer).role_exists(org_id, role)

    # --- owner rules -------------------------------------------------------------------------------------
    def _check_owner_change(self, member: Membership, new_role: str | None, principal: Principal) -> None:
        """``new_role`` None: the member stops acting as anything (removed or suspended).

        The caller holds the org's chain lock (``AuditRecorder.lock_chain``), which every writer in the org
        takes first: two owners demoting each other concurrently are serialised and cannot leave none.
        """
        owners_left = 0
        if member.role == OWNER:
            owners_left = 1 + self.other_active_owners(member.org_id, member.id)
        check_role_change(
            principal,
            self.authorizer,
            member.org_id,
            member.role,
            new_role,
            owners_left,
            target_user_id=member.user_id,
        )

    def other_active_owners(self, org_id: str, member_id: str) -> int:
        """Active owners besides ``member_id``: the org must keep at least one who can act."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(
                    Membership.org_id == org_id,
                    Membership.role == OWNER,
                    Membership.status == "active",
                    Membership.id != member_id,
                )
            )
            or 0
        )
