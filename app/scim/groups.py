"""SCIM Groups (RFC 7643 §4.2) of an org: IdP groups, their members, and the group mappings applied as
members join and leave (app/scim/mappings.py). Users are app/scim/service.py; both page and sort by the
listing's rules (app/scim/listing.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.errors import NotFound
from app.orgs.models import Membership, User
from app.scim import filter as scim_filter
from app.scim import patch
from app.scim.listing import ListQuery, Page, sort_column, window
from app.scim.mappings import GroupMappingService
from app.scim.models import ScimGroup, ScimGroupMember
from app.scim.resources import GroupRow, group_fields, group_resource
from app.scim.schema import GROUP, GROUP_TYPE
from app.scim.service import check_version

GROUP_COLUMNS: Final[Mapping[str, scim_filter.Column]] = {
    "id": scim_filter.Column(ScimGroup.id, case="exact"),
    "externalid": scim_filter.Column(ScimGroup.external_id, case="exact"),
    "displayname": scim_filter.Column(ScimGroup.display_name),
    "meta.created": scim_filter.Column(ScimGroup.created_at, type="dateTime"),
    "meta.lastmodified": scim_filter.Column(ScimGroup.updated_at, type="dateTime"),
}

GROUP_PINNING_KEYS: Final = frozenset({"id", "externalid", "displayname"})


class ScimGroupService:
    def __init__(
        self, session: Session, clock: Clock, audit: AuditRecorder, *, mappings: GroupMappingService
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.mappings = mappings

    def _group(self, org_id: str, group_id: str) -> ScimGroup:
        group = self.session.get(ScimGroup, group_id) if group_id.startswith("grp_") else None
        if group is None or group.org_id != org_id:
            raise NotFound(f"Group {group_id} not found")
        return group

    def _members_of(self, group_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {g: [] for g in group_ids}
        if not group_ids:
            return found
        for gid, mid, user_name, email in self.session.execute(
            select(ScimGroupMember.group_id, Membership.id, Membership.user_name, User.email)
            .join(Membership, Membership.id == ScimGroupMember.member_id)
            .join(User, User.id == Membership.user_id)
            .where(ScimGroupMember.group_id.in_(group_ids))
            .order_by(Membership.id)
        ):
            found[gid].append((mid, user_name or email))
        return found

    def _group_row(self, group: ScimGroup, with_members: bool = True) -> GroupRow:
        members = self._members_of([group.id])[group.id] if with_members else None
        return GroupRow(
            group.id, group.display_name, group.external_id, group.created_at, group.updated_at, members
        )

    def get_group(self, org_id: str, group_id: str, *, with_members: bool = True) -> GroupRow:
        return self._group_row(self._group(org_id, group_id), with_members)

    def list_groups(self, org_id: str, query: ListQuery, *, with_members: bool = True) -> Page:
        where: list[ColumnElement[bool]] = [ScimGroup.org_id == org_id]
        pinned = False
        if query.filter:
            parsed = scim_filter.parse(query.filter)
            where.append(scim_filter.to_sql(parsed, GROUP_COLUMNS, GROUP))
            pinned = scim_filter.pins(parsed, GROUP_PINNING_KEYS, GROUP)
        order: list[Any] = []
        if query.sort_by:
            column = sort_column(GROUP_COLUMNS, GROUP, query.sort_by)
            order.append(column.desc() if query.sort_order == "descending" else column.asc())
        tie_break = (ScimGroup.id + "") if pinned else ScimGroup.id  # as list_users
        stmt = select(ScimGroup).where(*where).order_by(*order, tie_break)
        total_stmt = select(func.count()).select_from(ScimGroup).where(*where)
        total, rows = window(stmt, lambda: total_stmt, query, self.session)
        groups = [r[0] for r in rows]
        members = self._members_of([g.id for g in groups]) if with_members else {}
        return Page(
            total,
            max(1, query.start_index),
            [
                GroupRow(g.id, g.display_name, g.external_id, g.created_at, g.updated_at, members.get(g.id))
                for g in groups
            ],
        )

    def _known_members(self, org_id: str, member_ids: Sequence[str]) -> list[str]:
        """The ids that are members of this org; others (unknown, or another org's) are not stored."""
        if not member_ids:
            return []
        found = set(
            self.session.scalars(
                select(Membership.id).where(Membership.org_id == org_id, Membership.id.in_(list(member_ids)))
            )
        )
        return [m for m in member_ids if m in found]

    def create_group(self, org_id: str, body: Mapping[str, Any], principal: Principal) -> GroupRow:
        name, external_id, member_ids = group_fields(body, GROUP_TYPE)
        self.audit.lock_chain(org_id)
        now = self.clock.now()
        group = ScimGroup(
            org_id=org_id, display_name=name, external_id=external_id, created_at=now, updated_at=now
        )
        self.session.add(group)
        self.session.flush()
        members = self._known_members(org_id, member_ids)
        self.audit.record(
            AuditAction.SCIM_GROUP_CREATED,
            org_id=org_id,
            targets=[Target("group", group.id, name)],
            data={"display_name": name, "external_id": external_id, "members": len(members)},
        )
        self._set_members(group, members, principal)
        return self._group_row(group)

    def replace_group(
        self, org_id: str, group_id: str, body: Mapping[str, Any], principal: Principal, version: str | None
    ) -> GroupRow:
        self.audit.lock_chain(org_id)
        group = self._group(org_id, group_id)
        check_version(self._group_row(group, with_members=False), version)
        name, external_id, member_ids = group_fields(body, GROUP_TYPE)
        changes: dict[str, Any] = {}
        if name != group.display_name:
            changes["display_name"] = {"before": group.display_name, "after": name}
            group.display_name = name
        if external_id != group.external_id:
            changes["external_id"] = {"before": group.external_id, "after": external_id}
            group.external_id = external_id
        if changes:
            group.updated_at = self.clock.now()
            self.session.flush()
            self.audit.record(
                AuditAction.SCIM_GROUP_RENAMED,
                org_id=org_id,
                targets=[Target("group", group.id, name)],
                changes=changes,
                data={"display_name": name},
            )
        self._set_members(group, self._known_members(org_id, member_ids), principal)
        return self._group_row(group)

    def patch_group(
        self,
        org_id: str,
        group_id: str,
        body: Mapping[str, Any],
        principal: Principal,
        version: str | None,
        base_url: str,
    ) -> GroupRow:
        operations = patch.parse_operations(body)
        row = self.get_group(org_id, group_id)
        check_version(row, version)
        after = patch.apply(group_resource(row, base_url), operations, GROUP_TYPE)
        return self.replace_group(org_id, group_id, after, principal, None)

    def _set_members(self, group: ScimGroup, wanted: Sequence[str], principal: Principal) -> None:
        current = set(
            self.session.scalars(
                select(ScimGroupMember.member_id).where(ScimGroupMember.group_id == group.id)
            )
        )
        added = [m for m in wanted if m not in current]
        removed = sorted(current - set(wanted))
        if not added and not removed:
            return
        for member_id in added:
            self.session.add(ScimGroupMember(group_id=group.id, member_id=member_id))
        if removed:
            self.session.execute(
                delete(ScimGroupMember).where(
                    ScimGroupMember.group_id == group.id, ScimGroupMember.member_id.in_(removed)
                )
            )
        group.updated_at = self.clock.now()
        self.session.flush()
        # Mappings apply after the rows changed, so "the groups a member is still in" is already true.
        mapping = self.mappings.for_group(group.id)
        if mapping is not None:
            for member_id in added:
                self.mappings.joined(self.session.get_one(Membership, member_id), group.id, principal)
            for member_id in removed:
                self.mappings.left(self.session.get_one(Membership, member_id), mapping, principal)
        for action, ids in (
            (AuditAction.SCIM_GROUP_MEMBERS_ADDED, added),
            (AuditAction.SCIM_GROUP_MEMBERS_REMOVED, removed),
        ):
            if ids:
                self.audit.record(
                    action,
                    org_id=group.org_id,
                    targets=[Target("group", group.id, group.display_name)],
                    data={"display_name": group.display_name, "member_ids": list(ids)},
                )

    def delete_group(self, org_id: str, group_id: str, principal: Principal, version: str | None) -> None:
        self.audit.lock_chain(org_id)
        group = self._group(org_id, group_id)
        check_version(self._group_row(group, with_members=False), version)
        count = self.session.scalar(
            select(func.count()).select_from(ScimGroupMember).where(ScimGroupMember.group_id == group.id)
        )
        self.audit.record(
            AuditAction.SCIM_GROUP_DELETED,
            org_id=org_id,
            targets=[Target("group", group.id, group.display_name)],
            data={"display_name": group.display_name, "members": int(count or 0)},
        )
        self._set_members(group, [], principal)  # members leave first: the mapping's grants are taken back
        mapping = self.mappings.for_group(group.id)
        if mapping is not None:
            self.session.delete(mapping)
        self.session.delete(group)
        self.session.flush()
