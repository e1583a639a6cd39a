"""Roles of an org: the built-in templates and the org's custom roles (Casbin ``p`` rules in its domain)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.models import ApiKey
from app.credentials.principal import Principal
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.orgs.lookup import live_org
from app.orgs.models import Invitation, Membership
from app.rbac.models import CasbinRule, CustomRole
from app.rbac.permissions import ROLE_PERMISSIONS, Authorizer, permissions_missing
from app.rbac.policy import catalogue, custom_role_grantable, role_subject, templates

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")


@dataclass(frozen=True)
class RoleView:
    name: str
    description: str
    builtin: bool
    permissions: list[str]


@dataclass(frozen=True)
class EffectivePermissions:
    member_id: str
    user_id: str
    role: str
    seat_type: str | None
    status: str
    role_permissions: list[str]
    seat_permissions: list[str]

    @property
    def permissions(self) -> list[str]:
        return sorted(set(self.role_permissions) | set(self.seat_permissions))


BUILTIN_DESCRIPTIONS = {
    "owner": "Everything, including deleting the organisation, billing and granting owner.",
    "admin": "Manages members, invitations, seats, roles, SSO, SCIM, domains, keys and audit logs.",
    "billing": "Billing and seats, read-only elsewhere.",
    "member": "Uses the products; reads the organisation and its members.",
}


class RoleService:
    def __init__(self, session: Session, clock: Clock, audit: AuditRecorder, authorizer: Authorizer) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer

    # --- reading -----------------------------------------------------------------------------------------
    def role_exists(self, org_id: str, role: str) -> bool:
        """A built-in role, or a custom role of this org (what member and invitation changes accept)."""
        return role in ROLE_PERMISSIONS or self._custom(org_id, role) is not None

    def list_roles(self, org_id: str) -> list[RoleView]:
        live_org(self.session, org_id)
        out = [self._builtin(name) for name in ROLE_PERMISSIONS]
        customs = self.session.scalars(
            select(CustomRole).where(CustomRole.org_id == org_id).order_by(CustomRole.name)
        ).all()
        rules = self._rules(org_id)
        for role in customs:
            out.append(RoleView(role.name, role.description, False, sorted(rules.get(role.name, ()))))
        return out

    def get_role(self, org_id: str, name: str) -> RoleView:
        live_org(self.session, org_id)
        if name in ROLE_PERMISSIONS:
            return self._builtin(name)
        role = self._custom(org_id, name)
        if role is None:
            raise NotFound(f"Role {name!r} not found")
        return RoleView(role.name, role.description, False, sorted(self._rules(org_id).get(name, ())))

    def effective(self, org_id: str, member_id: str) -> EffectivePermissions:
        live_org(self.session, org_id)
        member = self.session.get(Membership, member_id) if len(member_id) <= 64 else None
        if member is None or member.org_id != org_id:
            raise NotFound(f"Member {member_id} not found")
        if member.status != "active":
            role_perms: frozenset[str] = frozenset()
            seat_perms: frozenset[str] = frozenset()
        else:
            role_perms = self.authorizer.role_permissions(org_id, member.role)
            seat_perms = templates().seats.get(member.seat_type or "", frozenset())
        return EffectivePermissions(
            member.id, member.user_id, member.role, member.seat_type, member.status,
            sorted(role_perms), sorted(seat_perms),
        )  # fmt: skip

    # --- changing ----------------------------------------------------------------------------------------
    def create(
        self, org_id: str, principal: Principal, name: str, description: str, permissions: list[str]
    ) -> RoleView:
        live_org(self.session, org_id)
        if name in ROLE_PERMISSIONS:
            raise Conflict(f"{name!r} is a built-in role.", reason="builtin_role")
        if not ROLE_NAME.match(name):
            raise ValidationFailed(
                "A role name is 2 to 63 lowercase letters, digits, '-' or '_', starting with a letter.",
                errors=[{"field": "name", "message": "invalid role name"}],
            )
        if self._custom(org_id, name) is not None:
            raise Conflict(f"The role {name!r} already exists.", reason="role_exists")
        perms = self._grantable(org_id, principal, permissions)
        now = self.clock.now()
        role = CustomRole(org_id=org_id, name=name, description=description, created_at=now, updated_at=now)
        self.session.add(role)
        self.session.add_all(self._rule(org_id, name, p) for p in sorted(perms))
        self.session.flush()
        self.audit.record(
            AuditAction.ROLE_CREATED, org_id=org_id, targets=[Target("role", role.id, name)],
            data={"name": name, "permissions": sorted(perms)},
        )  # fmt: skip
        return RoleView(name, description, False, sorted(perms))

    def update(
        self,
        org_id: str,
        principal: Principal,
        name: str,
        *,
        description: str | None = None,
        permissions: list[str] | None = None,
    ) -> RoleView:
        role = self._editable(org_id, name)
        before = self._rules(org_id).get(name, set())
        changes: dict[str, dict[str, object]] = {}
        if description is not None and description != role.description:
            changes["description"] = {"before": role.description, "after": description}
            role.description = description
        after = before
        if permissions is not None:
            after = self._grantable(org_id, principal, permissions)
            if after != before:
                changes["permissions"] = {"before": sorted(before), "after": sorted(after)}
                self.session.execute(
                    delete(CasbinRule).where(
                        CasbinRule.ptype == "p",
                        CasbinRule.domain == org_id,
                        CasbinRule.v0 == role_subject(name),
                        CasbinRule.v1.in_(sorted(before - after)),
                    )
                )
                self.session.add_all(self._rule(org_id, name, p) for p in sorted(after - before))
        if changes:
            role.updated_at = self.clock.now()  # dirty role row: the org's authz version is bumped
            self.session.flush()
            self.audit.record(
                AuditAction.ROLE_UPDATED, org_id=org_id, targets=[Target("role", role.id, name)],
                changes=changes,
            )  # fmt: skip
        return RoleView(name, role.description, False, sorted(after))

    def delete(self, org_id: str, name: str) -> None:
        role = self._editable(org_id, name)
        in_use = self._uses(org_id, name)
        if in_use:
            raise Conflict(
                f"The role {name!r} is in use ({in_use}); give those a different role first.",
                reason="role_in_use",
            )
        for rule in self.session.scalars(
            select(CasbinRule).where(
                CasbinRule.ptype == "p", CasbinRule.domain == org_id, CasbinRule.v0 == role_subject(name)
            )
        ):
            self.session.delete(rule)
        self.session.delete(role)
        self.session.flush()
        self.audit.record(AuditAction.ROLE_DELETED, org_id=org_id, targets=[Target("role", role.id, name)])

    # --- helpers -----------------------------------------------------------------------------------------
    def _uses(self, org_id: str, name: str) -> str:
        members = self.session.scalar(
            select(func.count()).select_from(Membership).where(
                Membership.org_id == org_id, Membership.role == name
            )
        )  # fmt: skip
        invitations = self.session.scalar(
            select(func.count()).select_from(Invitation).where(
                Invitation.org_id == org_id, Invitation.role == name, Invitation.status == "pending"
            )
        )  # fmt: skip
        keys = self.session.scalar(
            select(func.count()).select_from(ApiKey).where(
                ApiKey.org_id == org_id, ApiKey.role == name, ApiKey.revoked_at.is_(None)
            )
        )  # fmt: skip
        parts = [f"{n} {what}" for n, what in ((members, "members"), (invitations, "pending invitations"),
                                              (keys, "API keys")) if n]  # fmt: skip
        return ", ".join(parts)

    def _grantable(self, org_id: str, principal: Principal, permissions: list[str]) -> set[str]:
        known, grantable = catalogue(), custom_role_grantable()
        errors = []
        for i, perm in enumerate(permissions):
            if perm not in known:
                errors.append({"field": f"permissions.{i}", "message": f"unknown permission {perm!r}"})
            elif perm not in grantable:
                errors.append(
                    {"field": f"permissions.{i}", "message": f"{perm!r} cannot be granted by a custom role"}
                )
        if errors:
            raise ValidationFailed("Some permissions cannot be used in a custom role.", errors=errors)
        missing = permissions_missing(principal, self.authorizer, org_id, set(permissions))
        if missing:
            raise Forbidden(
                f"You cannot grant '{missing[0]}': you do not hold it yourself.",
                reason="escalation",
                missing=missing,
            )
        return set(permissions)

    def _rules(self, org_id: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for v0, v1 in self.session.execute(
            select(CasbinRule.v0, CasbinRule.v1).where(CasbinRule.ptype == "p", CasbinRule.domain == org_id)
        ):
            out.setdefault(v0.removeprefix("role:"), set()).add(v1)
        return out

    @staticmethod
    def _rule(org_id: str, name: str, permission: str) -> CasbinRule:
        return CasbinRule(ptype="p", domain=org_id, v0=role_subject(name), v1=permission)

    def _custom(self, org_id: str, name: str) -> CustomRole | None:
        return self.session.scalars(
            select(CustomRole).where(CustomRole.org_id == org_id, CustomRole.name == name)
        ).one_or_none()

    def _editable(self, org_id: str, name: str) -> CustomRole:
        live_org(self.session, org_id)
        if name in ROLE_PERMISSIONS:
            raise Conflict(f"{name!r} is a built-in role and cannot be changed.", reason="builtin_role")
        role = self._custom(org_id, name)
        if role is None:
            raise NotFound(f"Role {name!r} not found")
        return role

    def _builtin(self, name: str) -> RoleView:
        return RoleView(name, BUILTIN_DESCRIPTIONS.get(name, ""), True, sorted(ROLE_PERMISSIONS[name]))
