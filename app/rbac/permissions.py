"""The authorization rules, in one place: roles, their permissions, and who may grant what.

The authorization issue turns these templates into Casbin policy (``policies/``); callers use
``Authorizer.require`` and ``check_role_change`` and never test roles themselves.
"""

from __future__ import annotations

from typing import Final

from app.credentials.principal import Principal
from app.errors import Forbidden, LastOwner, NotFound

OWNER, ADMIN, BILLING, MEMBER = "owner", "admin", "billing", "member"
BUILTIN_ROLES: Final = (OWNER, ADMIN, BILLING, MEMBER)

ADMIN_PERMISSIONS: Final = frozenset(
    {
        "org:read", "org:update",
        "members:read", "members:update", "members:remove",
        "invitations:read", "invitations:create", "invitations:revoke",
        "seats:read", "seats:assign", "seat_requests:read", "seat_requests:decide",
        "roles:read", "roles:manage",
        "api_keys:manage", "scim:manage", "sso:manage", "domains:manage",
        "audit_logs:read", "extracts:manage",
    }
)  # fmt: skip
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    OWNER: ADMIN_PERMISSIONS | {"org:delete", "owners:manage", "billing:manage"},
    ADMIN: ADMIN_PERMISSIONS,
    BILLING: frozenset({"org:read", "members:read", "seats:read", "seat_requests:read", "billing:manage"}),
    MEMBER: frozenset({"org:read", "members:read", "seat_requests:create"}),
}
# Only a platform key may do these: they are billing's and the platform's, not an org's.
PLATFORM_ONLY: Final = frozenset({"orgs:create", "seats:set_limit", "accounts:delete"})


def permissions_of(role: str | None) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role or "", frozenset())


class Authorizer:
    """Decides whether a principal may perform a permission in an org (deny by default)."""

    def require(self, principal: Principal, org_id: str | None, permission: str) -> None:
        if principal.is_platform:
            return
        if permission in PLATFORM_ONLY:
            raise Forbidden(f"'{permission}' needs a platform API key.")
        if org_id is None or principal.org_id != org_id:
            # Never confirm that another org exists.
            raise NotFound(f"Organisation {org_id} not found")
        if permission not in permissions_of(principal.role):
            raise Forbidden(f"Your role ({principal.role}) does not allow '{permission}'.")

    def can(self, principal: Principal, org_id: str | None, permission: str) -> bool:
        try:
            self.require(principal, org_id, permission)
        except (Forbidden, NotFound):
            return False
        return True


def check_role_change(
    principal: Principal,
    authorizer: Authorizer,
    org_id: str,
    old_role: str | None,
    new_role: str | None,
    owners_left: int,
) -> None:
    """Only owners grant or take away owner; the last owner can be neither demoted nor removed.

    ``new_role`` None means the membership ends; ``owners_left`` counts owners before the change.
    """
    if OWNER in (old_role, new_role) and old_role != new_role:
        authorizer.require(principal, org_id, "owners:manage")
    if old_role == OWNER and new_role != OWNER and owners_left <= 1:
        raise LastOwner(
            "This member is the organisation's last owner. Make another member owner first.",
            org_id=org_id,
        )
