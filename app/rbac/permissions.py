"""The authorization rules callers use: ``Authorizer.require``/``can``, and who may grant which role
(``check_grant``, ``check_role_change``).

The rules themselves are Casbin policy (``policies/``); decisions come from the compiled engine
(``app/rbac/engine.py``). Callers never test roles themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import select

from app.credentials.principal import Principal
from app.errors import Forbidden, LastOwner, NotFound
from app.rbac.compiled import UNKNOWN_ORG, Decision
from app.rbac.policy import templates
from app.tenancy import may_act_in

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.rbac.engine import AuthzEngine

OWNER, ADMIN, BILLING, MEMBER = "owner", "admin", "billing", "member"
BUILTIN_ROLES: Final = (OWNER, ADMIN, BILLING, MEMBER)

# The built-in role templates of policies/roles.csv (kept under these names for existing callers).
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = dict(templates().roles)
ADMIN_PERMISSIONS: Final = ROLE_PERMISSIONS[ADMIN]
# Only a platform key may do these: they are billing's and the platform's, not an org's.
PLATFORM_ONLY: Final = frozenset({"orgs:create", "seats:set_limit", "accounts:delete"})


def permissions_of(role: str | None) -> frozenset[str]:
    """A built-in role's permissions (custom roles: ``Authorizer.role_permissions``)."""
    return ROLE_PERMISSIONS.get(role or "", frozenset())


class Authorizer:
    """Decides whether a principal may perform a permission in an org (deny by default).

    Platform keys may do anything; org keys and SCIM tokens act with their role in their own org; member
    sessions get exactly their permissions (role + seat) from the engine. ``bind(session)`` gives an
    authorizer for one unit of work, which reads the org's current version through that session so a member
    whose role was just changed is never judged from an older snapshot.
    """

    def __init__(self, engine: AuthzEngine | None = None, session: Session | None = None) -> None:
        self.engine = engine
        self.session = session

    def bind(self, session: Session) -> Authorizer:
        return Authorizer(self.engine, session)

    def require(self, principal: Principal, org_id: str | None, permission: str) -> None:
        if principal.is_platform:
            return
        if permission in PLATFORM_ONLY:
            raise Forbidden(f"'{permission}' needs a platform API key.")
        if org_id is None or not may_act_in(principal, org_id):  # the tenancy rule; never confirm others
            raise NotFound(f"Organisation {org_id} not found")
        if principal.kind == "user":
            decision = self.member_decision(principal, org_id, permission)
            if decision.reason == UNKNOWN_ORG:
                raise NotFound(f"Organisation {org_id} not found")
            if not decision.allowed:
                raise Forbidden(
                    f"Your role and seat do not allow '{permission}' ({decision.reason}).",
                    reason=decision.reason,
                )
            return
        if permission not in self.role_permissions(org_id, principal.role):
            raise Forbidden(f"Your role ({principal.role}) does not allow '{permission}'.")

    def can(self, principal: Principal, org_id: str | None, permission: str) -> bool:
        try:
            self.require(principal, org_id, permission)
        except (Forbidden, NotFound):
            return False
        return True

    def held(self, principal: Principal, org_id: str) -> frozenset[str] | None:
        """Every permission ``principal`` holds in ``org_id`` (None: a platform key, which holds all)."""
        if principal.is_platform:
            return None
        if not may_act_in(principal, org_id):
            return frozenset()
        if principal.kind != "user":
            return self.role_permissions(org_id, principal.role)
        if self.engine is None or principal.user_id is None:
            return permissions_of(principal.role)
        grant = self.engine.snapshot(org_id, self.current_version(org_id)).grant_of(principal.user_id)
        return grant.permissions if grant is not None else frozenset()

    def member_decision(self, principal: Principal, org_id: str, permission: str) -> Decision:
        if self.engine is None or principal.user_id is None:  # no engine (unit tests): templates only
            allowed = permission in permissions_of(principal.role)
            return Decision(allowed, "granted_by_role" if allowed else "not_granted", 0)
        snapshot = self.engine.snapshot(org_id, self.current_version(org_id))
        return snapshot.decide(principal.user_id, permission)

    def role_permissions(self, org_id: str, role: str | None) -> frozenset[str]:
        if role is None:
            return frozenset()
        if role in ROLE_PERMISSIONS or self.engine is None:
            return permissions_of(role)
        return self.engine.snapshot(org_id, self.current_version(org_id)).role_permissions.get(
            role, frozenset()
        )

    def current_version(self, org_id: str) -> int | None:
        """The org's committed version as this unit of work sees it (None when unbound)."""
        if self.session is None:
            return None
        from app.rbac.models import AuthzVersion

        version = self.session.scalar(select(AuthzVersion.version).where(AuthzVersion.org_id == org_id))
        return int(version or 0)


# Permissions that only let a person ask for something for themselves: holding a role that carries one gives
# no power over anyone else, so granting such a role does not need them (an admin invites plain members, yet
# has no reason to hold ``seat_requests:create``: admins decide seat requests rather than make them).
SELF_SERVICE: Final = frozenset({"seat_requests:create"})


def permissions_missing(
    principal: Principal, authorizer: Authorizer, org_id: str, permissions: frozenset[str] | set[str]
) -> list[str]:
    """Which of ``permissions`` ``principal`` would give away without holding them (self-service ones
    aside): the core of every grant, whether of a role or of a permission into a custom role."""
    held = authorizer.held(principal, org_id)
    if held is None:  # a platform key holds everything
        return []
    return sorted(set(permissions) - SELF_SERVICE - held)


def grant_missing(principal: Principal, authorizer: Authorizer, org_id: str, role: str) -> list[str]:
    """The permissions of ``role`` that ``principal`` does not hold (empty: it may grant the role)."""
    needed = set(authorizer.role_permissions(org_id, role))
    if role == OWNER:
        needed.add("owners:manage")
    return permissions_missing(principal, authorizer, org_id, needed)


def check_grant(principal: Principal, authorizer: Authorizer, org_id: str, role: str) -> None:
    """The one rule for every path that gives or takes a role: a member's role change, an invitation, an API
    key created or revoked, a SCIM token (it acts as admin), and later SCIM group mappings and SSO JIT.

    A caller may grant, create or revoke only a role whose permissions it holds all of, built-in roles
    included; so only owners touch owners and owner keys (only owners hold ``owners:manage``).
    """
    missing = grant_missing(principal, authorizer, org_id, role)
    if missing:
        if role == OWNER:
            raise Forbidden(
                "Only an owner (who holds 'owners:manage') can grant or take away the owner role, or create "
                "or revoke owner keys.",
                reason="escalation",
                missing=missing,
            )
        raise Forbidden(
            f"The role {role!r} carries {', '.join(repr(p) for p in missing)}, which you do not hold "
            "yourself; ask someone who holds them.",
            reason="escalation",
            missing=missing,
        )


def check_role_change(
    principal: Principal,
    authorizer: Authorizer,
    org_id: str,
    old_role: str | None,
    new_role: str | None,
    owners_left: int,
    *,
    target_user_id: str | None = None,
) -> None:
    """A member's role changes from ``old_role`` to ``new_role`` (None: the membership ends or is suspended).

    The caller must be allowed to take ``old_role`` away and to grant ``new_role`` (``check_grant``); nobody
    changes their own role; the last owner can be neither demoted nor removed. ``owners_left`` counts owners
    before the change. A new membership has ``old_role`` None.
    """
    if old_role == new_role:
        return
    if (
        new_role is not None
        and old_role is not None
        and target_user_id is not None
        and principal.kind == "user"
        and principal.user_id == target_user_id
    ):
        raise Forbidden("You cannot change your own role; ask another admin or owner.", reason="own_role")
    if old_role is not None:
        check_grant(principal, authorizer, org_id, old_role)
    if new_role is not None:
        check_grant(principal, authorizer, org_id, new_role)
    if old_role == OWNER and owners_left <= 1:
        raise LastOwner(
            "This member is the organisation's last owner. Make another member owner first.",
            org_id=org_id,
        )
