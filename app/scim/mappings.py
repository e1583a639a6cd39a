"""Group mappings: an IdP group grants a role and/or a seat type to its members while they are in it.

Applied in the transaction that changes the group's members, through the one grant rule
(``check_grant`` with the caller's principal: a SCIM token acts as admin, so a mapping never grants owner)
and the seat service. A full seat pool never fails the SCIM request (IdPs retry failures forever): the member
joins without the seat and ``scim_group_mapping.applied`` says ``shortfall``. Owners keep their role.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.errors import Conflict, Forbidden, NotFound, SeatLimitReached, ValidationFailed
from app.orgs.lookup import live_org
from app.orgs.members import MemberService
from app.orgs.models import Membership
from app.orgs.seats import SeatService, check_seat_type
from app.rbac.permissions import MEMBER, OWNER, Authorizer, check_grant
from app.rbac.service import RoleService
from app.scim.models import ScimGroup, ScimGroupMapping, ScimGroupMember

SEAT_REASON: Final = "group_mapping"


class GroupMappingExists(Conflict):
    code, title = "group_mapping_exists", "Group already mapped"


class GroupMappingService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        authorizer: Authorizer,
        *,
        members: MemberService,
        seats: SeatService,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer
        self.members = members
        self.seats = seats

    # --- the admin API -----------------------------------------------------------------------------------
    def create(
        self, org_id: str, group_id: str, role: str | None, seat_type: str | None, principal: Principal
    ) -> ScimGroupMapping:
        if role is None and seat_type is None:
            raise ValidationFailed(
                "A mapping grants a role, a seat type, or both.",
                errors=[{"field": "role", "message": "role or seat_type is required"}],
            )
        live_org(self.session, org_id)
        self.audit.lock_chain(org_id)
        group = self.session.get(ScimGroup, group_id) if group_id.startswith("grp_") else None
        if group is None or group.org_id != org_id:
            raise NotFound(f"Group {group_id} not found")
        if role is not None:
            if not RoleService(self.session, self.clock, self.audit, self.authorizer).role_exists(
                org_id, role
            ):
                raise ValidationFailed(
                    f"Unknown role {role!r}.", errors=[{"field": "role", "message": "unknown role"}]
                )
            check_grant(principal, self.authorizer, org_id, role)
        if seat_type is not None:
            check_seat_type(seat_type)
        if self.for_group(group_id) is not None:
            raise GroupMappingExists(f"Group {group_id} is already mapped; delete that mapping first.")
        mapping = ScimGroupMapping(
            org_id=org_id, group_id=group_id, role=role, seat_type=seat_type, created_at=self.clock.now()
        )
        self.session.add(mapping)
        self.session.flush()
        self.audit.record(
            AuditAction.SCIM_GROUP_MAPPING_CREATED,
            org_id=org_id,
            targets=[Target("group_mapping", mapping.id), Target("group", group.id, group.display_name)],
            data={"group_id": group.id, "role": role, "seat_type": seat_type},
        )
        member_ids = self.session.scalars(
            select(ScimGroupMember.member_id)
            .where(ScimGroupMember.group_id == group.id)
            .order_by("member_id")
        )
        for member_id in list(member_ids):
            self.joined(self.session.get_one(Membership, member_id), group.id, principal)
        return mapping

    def list(self, org_id: str) -> Sequence[ScimGroupMapping]:
        live_org(self.session, org_id)
        return self.session.scalars(
            select(ScimGroupMapping).where(ScimGroupMapping.org_id == org_id).order_by(ScimGroupMapping.id)
        ).all()

    def get(self, org_id: str, mapping_id: str) -> ScimGroupMapping:
        live_org(self.session, org_id)
        mapping = self.session.get(ScimGroupMapping, mapping_id) if mapping_id.startswith("gmap_") else None
        if mapping is None or mapping.org_id != org_id:
            raise NotFound(f"Group mapping {mapping_id} not found")
        return mapping

    def delete(self, org_id: str, mapping_id: str) -> None:
        self.audit.lock_chain(org_id)
        mapping = self.get(org_id, mapping_id)
        self.audit.record(
            AuditAction.SCIM_GROUP_MAPPING_DELETED,
            org_id=org_id,
            targets=[Target("group_mapping", mapping.id), Target("group", mapping.group_id)],
            data={"group_id": mapping.group_id, "role": mapping.role, "seat_type": mapping.seat_type},
        )
        self.session.delete(mapping)
        self.session.flush()

    def shortfall(self, org_id: str) -> dict[str, int]:
        """Per seat type, the active members a group mapping wants seated who hold no such seat (the pool was
        full when they joined or came back): what ``GET /v1/orgs/{org}/seats`` reports as ``shortfall``."""
        wanting = (
            select(ScimGroupMapping.seat_type, Membership.id)
            .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroupMapping.group_id)
            .join(Membership, Membership.id == ScimGroupMember.member_id)
            .where(
                ScimGroupMapping.org_id == org_id,
                ScimGroupMapping.seat_type.is_not(None),
                Membership.org_id == org_id,
                Membership.status == "active",
                or_(Membership.seat_type.is_(None), Membership.seat_type != ScimGroupMapping.seat_type),
            )
            .distinct()
            .subquery()
        )
        rows = self.session.execute(
            select(wanting.c.seat_type, func.count()).group_by(wanting.c.seat_type)
        ).tuples()
        return {str(seat_type): int(count) for seat_type, count in rows}

    def for_group(self, group_id: str) -> ScimGroupMapping | None:
        return self.session.scalars(
            select(ScimGroupMapping).where(ScimGroupMapping.group_id == group_id)
        ).one_or_none()

    # --- applying ---
    def joined(self, member: Membership, group_id: str, principal: Principal) -> None:
        """``member`` is now in ``group_id``: grant its mapping's role and seat."""
        mapping = self.for_group(group_id)
        if mapping is None:
            return
        role_outcome = "unchanged"
        if mapping.role is not None and mapping.role != member.role:
            role_outcome = self._set_role(member, mapping.role, principal, "granted")
        seat_outcome = "none"
        if mapping.seat_type is not None:
            if member.status == "suspended":
                seat_outcome = "member_suspended"
            else:
                try:
                    taken = self.seats.take(member, mapping.seat_type, reason=SEAT_REASON)
                    seat_outcome = "assigned" if taken else "already_held"
                except SeatLimitReached:
                    seat_outcome = "shortfall"
        self._record(member, mapping, "joined", role_outcome, seat_outcome)

    def left(self, member: Membership, mapping: ScimGroupMapping | None, principal: Principal) -> None:
        """``member`` left the mapped group: take back what no other group of theirs still grants."""
        if mapping is None:
            return
        remaining = self._remaining(member.id)
        role_outcome = "unchanged"
        if mapping.role is not None and member.role == mapping.role:
            fallback = next((m.role for m in remaining if m.role is not None), MEMBER)
            if fallback != member.role:
                role_outcome = self._set_role(member, fallback, principal, "restored")
        seat_outcome = "none"
        if mapping.seat_type is not None and member.seat_type == mapping.seat_type:
            if any(m.seat_type == mapping.seat_type for m in remaining):
                seat_outcome = "kept"
            else:
                self.seats.release(member, reason=SEAT_REASON)
                seat_outcome = "released"
        self._record(member, mapping, "left", role_outcome, seat_outcome)

    def reseat(self, member: Membership) -> tuple[str | None, str]:
        """A reactivated member takes the seat its groups map to, if there is room: (seat type, reason)."""
        wanted = next((m.seat_type for m in self._remaining(member.id) if m.seat_type is not None), None)
        if wanted is None:
            return None, "no_seat_mapping"
        try:
            self.seats.take(member, wanted, reason=SEAT_REASON)
        except SeatLimitReached:
            return None, "seat_limit_reached"
        return wanted, SEAT_REASON

    def _remaining(self, member_id: str) -> Sequence[ScimGroupMapping]:
        return self.session.scalars(
            select(ScimGroupMapping)
            .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroupMapping.group_id)
            .where(ScimGroupMember.member_id == member_id)
            .order_by(ScimGroupMapping.id)
        ).all()

    def _set_role(self, member: Membership, role: str, principal: Principal, done: str) -> str:
        if member.role == OWNER:
            return "owner_kept"  # an IdP group never takes the owner role away
        try:
            check_grant(principal, self.authorizer, member.org_id, role)
        except Forbidden:
            return "refused"
        self.members.change_role(member, role, principal)
        return done

    def _record(
        self, member: Membership, mapping: ScimGroupMapping, change: str, role_outcome: str, seat_outcome: str
    ) -> None:
        self.audit.record(
            AuditAction.SCIM_GROUP_MAPPING_APPLIED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("group", mapping.group_id)],
            data={
                "member_id": member.id,
                "user_id": member.user_id,
                "group_id": mapping.group_id,
                "change": change,
                "role": mapping.role,
                "role_outcome": role_outcome,
                "seat_type": mapping.seat_type,
                "seat_outcome": seat_outcome,
            },
        )
