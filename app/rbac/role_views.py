"""``/v1/orgs/{org}/roles`` (built-in and custom roles) and a member's effective permissions."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.rbac.schemas import MemberPermissionsOut, RoleCreate, RoleList, RoleOut, RoleUpdate
from app.rbac.service import RoleView
from app.web import authenticate, services


def _out(role: RoleView) -> RoleOut:
    return RoleOut(
        name=role.name, description=role.description, builtin=role.builtin, permissions=role.permissions
    )


@operation(v1, "/orgs/<org_id>/roles", "GET", summary="List roles", tag="roles", permission="roles:read",
           response=RoleList)  # fmt: skip
def list_roles(org_id: str) -> RoleList:
    return RoleList(data=[_out(r) for r in services().roles.list_roles(org_id)])


@operation(
    v1,
    "/orgs/<org_id>/roles",
    "POST",
    summary="Create a custom role",
    tag="roles",
    permission="roles:manage",
    body=RoleCreate,
    response=RoleOut,
    status=201,
    errors=(403, 409, 422),
    description="Permissions come from the catalogue (policies/permissions.csv); seat and owner-only "
    "permissions cannot be in a custom role, and you can only grant what you hold.",
)
def create_role(org_id: str, body: RoleCreate) -> RoleOut:
    role = services().roles.create(org_id, authenticate(), body.name, body.description, body.permissions)
    return _out(role)


@operation(v1, "/orgs/<org_id>/roles/<role>", "GET", summary="Read a role", tag="roles",
           permission="roles:read", response=RoleOut)  # fmt: skip
def get_role(org_id: str, role: str) -> RoleOut:
    return _out(services().roles.get_role(org_id, role))


@operation(
    v1,
    "/orgs/<org_id>/roles/<role>",
    "PATCH",
    summary="Edit a custom role",
    tag="roles",
    permission="roles:manage",
    body=RoleUpdate,
    response=RoleOut,
    errors=(403, 409, 422),
    description="Built-in roles cannot be edited (409 builtin_role).",
)
def update_role(org_id: str, role: str, body: RoleUpdate) -> RoleOut:
    updated = services().roles.update(
        org_id, authenticate(), role, description=body.description, permissions=body.permissions
    )
    return _out(updated)


@operation(
    v1,
    "/orgs/<org_id>/roles/<role>",
    "DELETE",
    summary="Delete a custom role",
    tag="roles",
    permission="roles:manage",
    status=204,
    errors=(409,),
    description="Built-in roles and roles still held by members, pending invitations or API keys: 409.",
)
def delete_role(org_id: str, role: str) -> None:
    services().roles.delete(org_id, role)


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>/permissions",
    "GET",
    summary="A member's effective permissions (role + seat)",
    tag="roles",
    permission="members:read",
    response=MemberPermissionsOut,
)
def member_permissions(org_id: str, member_id: str) -> MemberPermissionsOut:
    e = services().roles.effective(org_id, member_id)
    return MemberPermissionsOut(
        member_id=e.member_id, user_id=e.user_id, role=e.role, seat_type=e.seat_type, status=e.status,
        permissions=e.permissions, role_permissions=e.role_permissions, seat_permissions=e.seat_permissions,
    )  # fmt: skip
